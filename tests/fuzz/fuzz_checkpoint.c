/* libFuzzer target for the checkpoint loader: the input is parsed as a
 * checkpoint with and without the training state; anything accepted must be
 * a consistent model (and state) and is freed; a refusal must say why and
 * leave nothing allocated. */
#include <stdint.h>
#include <stdlib.h>

#include "vae/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_model(const Vae *m) {
    if (!m->params || m->n_params == 0 || m->lay.n_tensors < 4) abort();
    /* touch the last moment: the block must hold 4 * n_params floats */
    volatile float last = m->adam_v[m->n_params - 1];
    (void)last;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    VaeError err;
    Vae m;
    TrainState st;
    err.msg[0] = '\0';
    if (checkpoint_parse(data, size, "fuzz", &m, &st, &err) == VAE_OK) {
        check_model(&m);
        if ((st.epoch_step > 0) != (st.order != NULL)) abort();
        for (uint32_t i = 0; i < st.n_order; i++)
            if (st.order[i] >= st.n_order) abort();
        vae_free(&m);
        train_state_free(&st);
    } else if (m.params || st.order || err.msg[0] == '\0') {
        abort();
    }
    err.msg[0] = '\0';
    if (checkpoint_parse(data, size, "fuzz", &m, NULL, &err) == VAE_OK) {
        check_model(&m);
        vae_free(&m);
    } else if (m.params || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
