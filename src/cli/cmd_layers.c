/* vae layers: the layer list of a model — of a checkpoint (--model) or of
 * the architecture options `vae train` takes — as a table, or with --json as
 * the JSON that the checkpoint stores and the PyTorch twin reads
 * (scripts/reference/vae_torch.py builds its nn.Module from it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vae/checkpoint.h"

static void shape_str(char *buf, size_t len, int c, int h, int w, int spatial) {
    if (spatial) snprintf(buf, len, "%dx%dx%d", c, h, w);
    else snprintf(buf, len, "%d", c);
}

static void print_table(const VaeConfig *cfg, const VaeLayout *lay) {
    char hid[128], ch[128];
    vae_hidden_str(cfg, hid, sizeof hid);
    vae_channels_str(cfg, ch, sizeof ch);
    printf("arch %s, images %dx%d, zdim %d, hidden %s%s%s: %zu parameters\n", vae_arch_name(cfg->arch), cfg->rows,
           cfg->cols, cfg->zdim, hid, ch[0] ? ", channels " : "", ch, lay->n_params);
    printf("%3s  %-17s %-12s %-8s %-12s %-12s %-5s %s\n", "#", "kind", "name", "inputs", "in", "out", "act", "params");
    for (int i = 0; i < lay->n_layers; i++) {
        const VaeLayer *l = &lay->layers[i];
        char ins[32], in[32], out[32];
        int in_sp = l->kind == LAYER_CONV2D || l->kind == LAYER_CONVT2D || l->kind == LAYER_FLATTEN ||
                    ((l->kind == LAYER_RELU || l->kind == LAYER_ADD) && l->spatial);
        ins[0] = '\0';
        for (int k = 0; k < l->n_in; k++) {
            size_t u = strlen(ins);
            int j = l->in[k];
            if (j == VAE_INPUT_X) snprintf(ins + u, sizeof ins - u, "%sx", k ? "," : "");
            else if (j == VAE_INPUT_Y) snprintf(ins + u, sizeof ins - u, "%sy", k ? "," : "");
            else snprintf(ins + u, sizeof ins - u, "%s%d", k ? "," : "", j);
        }
        shape_str(in, sizeof in, l->ic, l->ih, l->iw, in_sp);
        shape_str(out, sizeof out, l->c, l->h, l->w, l->spatial);
        size_t np = 0;
        for (int p = 0; p < l->n_params; p++) np += lay->tensors[l->param[p]].size;
        printf("%3d  %-17s %-12s %-8s %-12s %-12s %-5s %zu\n", i, vae_layer_ops[l->kind].name, l->name[0] ? l->name : "-",
               ins, in, out, vae_act_name(l->act), np);
    }
}

int cmd_layers(int argc, char **argv) {
    VaeConfig model;
    cli_model_defaults(&model);
    const char *ckpt = NULL;
    int arch = VAE_ARCH_MLP, rows = 28, cols = 28, json = 0, kind = VAE_MODEL_VAE;
    Opt opts[] = {
        {"model", 'm', OPT_STRING, &ckpt, 0, 0, 0, "PATH", "none", "describe this checkpoint instead of the options below", NULL, 0},
        OPT_ARCH(&arch),
        OPT_HIDDEN_LIST(&model),
        OPT_CHANNEL_LIST(&model),
        {"zdim", 'z', OPT_INT, &model.zdim, 1, 4096, 0, "Z", "20", "latent dimensions", NULL, 0},
        {"rows", 0, OPT_INT, &rows, 1, 65536, 0, "N", "28", "image height", NULL, 0},
        {"cols", 0, OPT_INT, &cols, 1, 65536, 0, "N", "28", "image width", NULL, 0},
        {"classes", 0, OPT_INT, &model.n_classes, 0, VAE_MAX_CLASSES, 0, "N", "0", "conditional model with N label classes (0: unconditional)", NULL, 0},
        OPT_MODEL_KIND("model-kind", &kind),
        OPT_EAE_LAMBDA(&model),
        OPT_EAE_KNN(&model),
        OPT_EAE_MOMENTUM(&model),
        {"json", 0, OPT_FLAG, &json, 0, 0, 0, NULL, "off", "print the layer list as JSON (the checkpoint's 'layers')", NULL, 0},
        OPT_END,
    };
    CommandSpec cmd = {"layers", "", "vae layers [--model PATH | --arch A --hidden LIST --channels LIST --zdim Z --rows N --cols N] [--json]",
                       "Prints the layer list of a model: each layer's kind, parameter name, inputs, input and\n"
                       "output shape (CxHxW or features), fused activation and parameter count. With --json,\n"
                       "the JSON stored in the checkpoint's metadata ('layers'), which the PyTorch twin\n"
                       "(scripts/reference/) reads to build the same model.",
                       "vae layers --arch conv --zdim 2 --json", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    /* the layer list only: a model described from the options is laid out,
       never allocated (a model too large for this machine's memory, e.g.
       --arch resnet --channels 4096,4096, still has a layer list to show) */
    VaeConfig cfg;
    VaeLayout *lay = malloc(sizeof *lay);
    if (!lay) return runtime_error("out of memory");
    if (ckpt) {
        for (const Opt *o = opts; o->name; o++)
            if (o->seen && strcmp(o->name, "model") != 0 && strcmp(o->name, "json") != 0) {
                free(lay);
                return usage_error(&cmd, "--model", "cannot be combined with --%s (the checkpoint decides)", o->name);
            }
        Vae m;
        if (cli_load_model(ckpt, &m, NULL, 0)) {
            free(lay);
            return EXIT_RUNTIME;
        }
        cfg = m.cfg;
        *lay = m.lay;
        vae_free(&m);
    } else {
        cli_model_finish(&cmd, &model, arch);
        model.model = (VaeModelKind)kind;
        model.rows = rows;
        model.cols = cols;
        VaeError err;
        if ((rc = cli_model_options_fit(&cmd, &model)) != 0 || (rc = cli_model_check(&cmd, &model)) != 0) {
            free(lay);
            return rc;
        }
        cfg = model;
        if (vae_layout(&cfg, lay, &err) != VAE_OK) {
            free(lay);
            return runtime_error("%s", err.msg);
        }
    }
    if (json) {
        char *s = vae_layout_json(&cfg, lay);
        if (!s) {
            free(lay);
            return runtime_error("out of memory");
        }
        printf("%s\n", s);
        free(s);
    } else {
        print_table(&cfg, lay);
    }
    free(lay);
    return 0;
}
