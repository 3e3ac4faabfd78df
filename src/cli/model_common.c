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
