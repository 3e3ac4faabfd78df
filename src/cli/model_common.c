/* Loading a checkpoint for the commands that use one, and choosing the data
 * folder: --data if given, else the folder recorded in the checkpoint. */
#include <stdio.h>

#include "cli.h"
#include "vae/checkpoint.h"

int cli_load_model(const char *path, Vae *m, char *dataset, size_t dlen) {
    TrainState st;
    VaeError err;
    if (checkpoint_load(path, m, &st, &err) == VAE_OK) {
        if (dataset) snprintf(dataset, dlen, "%s", st.dataset);
        train_state_free(&st);
        return 0;
    }
    /* a weights-only checkpoint has no training state; load it without one */
    VaeError err2;
    if (checkpoint_load(path, m, NULL, &err2) == VAE_OK) {
        if (dataset && dlen) dataset[0] = '\0';
        return 0;
    }
    return runtime_error("%s", err2.msg);
}

const char *cli_pick_data(const char *given, const char *from_ckpt) {
    if (given) return given;
    if (from_ckpt && from_ckpt[0]) return from_ckpt;
    return "data/mnist";
}
