/* The command-layer wrappers of the loader (vae/loader.h): print the error the
 * library returns and give the exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "vae/loader.h"

int cli_load_model(const char *path, Vae *m, char *dataset, size_t dlen) {
    VaeError err;
    if (loader_model(path, m, dataset, dlen, &err) != VAE_OK) return runtime_error("%s", err.msg);
    return 0;
}

const char *cli_pick_data(const char *given, const char *from_ckpt) {
    return loader_pick_data(given, from_ckpt);
}

int cli_load_test_split(IdxSplit *test, const char *dir, const Vae *m) {
    VaeError err;
    if (loader_test_split(test, dir, m, &err) != VAE_OK) return runtime_error("%s", err.msg);
    return 0;
}

const char *const ARCH_NAMES[] = {"mlp", "conv", "resnet", NULL};
const char *const MODEL_KIND_NAMES[] = {"vae", "eae", NULL};

void cli_model_defaults(VaeConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->zdim = 20;
    cfg->arch = VAE_ARCH_MLP;
    cfg->n_hidden = 1;
    cfg->hidden[0] = 400;
    cfg->n_channels = 2;
    cfg->channels[0] = 32;
    cfg->channels[1] = 64;
    cfg->loss = VAE_LOSS_BCE;
    cfg->alpha = 1.0f;
    cfg->beta = 1.0f;
    cfg->model = VAE_MODEL_VAE;
    cfg->lambda = 1.0f;
    cfg->knn = 5;
    cfg->bn_momentum = 0.1f;
}

void cli_model_finish(const CommandSpec *cmd, VaeConfig *cfg, int arch) {
    cfg->arch = (VaeArch)arch;
    if (arch != VAE_ARCH_MLP && !opt_given(cmd, "hidden")) {
        cfg->n_hidden = 1;
        cfg->hidden[0] = 256;
    }
    if (arch == VAE_ARCH_MLP) {
        cfg->n_channels = 0;
        memset(cfg->channels, 0, sizeof cfg->channels);
    }
}

int cli_model_options_fit(const CommandSpec *cmd, const VaeConfig *cfg) {
    /* an option the architecture has no use for is refused, not dropped in
       silence (cli_model_finish clears an mlp's channel list), as the eae's
       options are for a vae */
    if (cfg->arch == VAE_ARCH_MLP && opt_given(cmd, "channels"))
        return usage_error(cmd, "--channels", "applies to --arch conv and resnet only (an mlp has no convolutions)");
    if (cfg->arch != VAE_ARCH_MLP && cfg->hidden_act == VAE_ACT_TANH)
        return usage_error(cmd, "--activation", "tanh applies to --arch mlp only (conv and resnet use ReLU)");
    if (cfg->model != VAE_MODEL_EAE)
        for (const char *eae_only[] = {"lambda", "knn", "bn-momentum", NULL}, **o = eae_only; *o; o++)
            if (opt_given(cmd, *o)) {
                char name[32];
                snprintf(name, sizeof name, "--%s", *o);
                return usage_error(cmd, name, "applies to --model eae only");
            }
    return 0;
}

int cli_model_check(const CommandSpec *cmd, const VaeConfig *cfg) {
    int f = 1 << cfg->n_channels;
    if (cfg->arch != VAE_ARCH_MLP && (cfg->rows % f != 0 || cfg->cols % f != 0))
        return usage_error(cmd, "--channels", "%d entries need image sides divisible by 2^%d = %d, but the images "
                           "are %dx%d (use fewer entries)", cfg->n_channels, cfg->n_channels, f, cfg->rows, cfg->cols);
    VaeLayout *lay = malloc(sizeof *lay);
    if (!lay) return runtime_error("out of memory");
    VaeError err;
    int rc = vae_layout(cfg, lay, &err);
    free(lay);
    if (rc != VAE_OK) return usage_error(cmd, "--arch", "%s", err.msg);
    return 0;
}

void cli_wrote(const char *path, int stdout_busy) {
    struct stat a, b;
    /* -o /dev/stdout: the line would land inside the picture */
    if (!stdout_busy && (strcmp(path, "-") == 0 ||
                         (fstat(STDOUT_FILENO, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
                          a.st_ino == b.st_ino)))
        stdout_busy = 1;
    fprintf(stdout_busy ? stderr : stdout, "wrote %s\n", path);
}

/* ---- no output on an input ----
 * Compared as files (device and inode, through symbolic links), not as
 * strings: "m.safetensors", "./m.safetensors" and a link to it are one file. */

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* the data file of dir that out is, or NULL; name[] receives its path */
static const char *data_file_at(const char *dir, const char *out, char *name, size_t size) {
    static const char *const files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    if (!dir) return NULL;
    for (int i = 0; i < 4; i++)
        for (int gz = 0; gz < 2; gz++) {
            if ((size_t)snprintf(name, size, "%s/%s%s", dir, files[i], gz ? ".gz" : "") >= size) continue;
            if (cli_same_file(out, name)) return name;
        }
    return NULL;
}

int cli_check_output(const CommandSpec *cmd, const char *opt, const char *out, const char *model,
                     const char *data_dir) {
    if (!out || strcmp(out, "-") == 0) return 0;
    if (model && cli_same_file(out, model))
        return usage_error(cmd, opt, "%s is the checkpoint this command reads (%s); choose another output", out,
                           model);
    char name[8192];
    if (data_file_at(data_dir, out, name, sizeof name))
        return usage_error(cmd, opt, "%s is the data file %s that this command reads; choose another output", out,
                           name);
    return 0;
}
