/* The command-layer wrappers of the loader (vae/loader.h): print the error the
 * library returns and give the exit status. */
#include <stdio.h>

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
