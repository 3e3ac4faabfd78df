/* Opening a trained model for use: checkpoint (full or weights only), its data
 * folder, and a test split checked against the model's image size. */
#include "vae/loader.h"

#include <stdio.h>
#include <string.h>

#include "vae/checkpoint.h"

int loader_model(const char *path, Vae *m, char *dataset, size_t dlen, VaeError *err) {
    TrainState st;
    VaeError first;
    if (checkpoint_load(path, m, &st, &first) == VAE_OK) {
        /* a path is never cut short: the caller's buffer must hold it */
        int too_long = dataset && dlen && (size_t)snprintf(dataset, dlen, "%s", st.dataset) >= dlen;
        train_state_free(&st);
        if (!too_long) return VAE_OK;
        vae_free(m);
        return vae_fail(err, "%s: the data path it records is longer than %zu bytes", path, dlen - 1);
    }
    /* a weights-only checkpoint has no training state; load it without one,
       and report that attempt's error, which names what is wrong with the
       weights rather than the missing state */
    if (checkpoint_load(path, m, NULL, err) == VAE_OK) {
        if (dataset && dlen) dataset[0] = '\0';
        return VAE_OK;
    }
    return VAE_ERR;
}

const char *loader_pick_data(const char *given, const char *from_ckpt) {
    if (given) return given;
    if (from_ckpt && from_ckpt[0]) return from_ckpt;
    return LOADER_DEFAULT_DATA;
}

int loader_test_split(IdxSplit *test, const char *dir, const Vae *m, VaeError *err) {
    memset(test, 0, sizeof *test);
    if (idx_load_split(test, dir, IDX_TEST, err) != VAE_OK) return VAE_ERR;
    if ((int)test->images.rows != m->cfg.rows || (int)test->images.cols != m->cfg.cols) {
        vae_fail(err, "%s: images are %ux%u but the model was trained on %dx%d", test->images_path,
                 test->images.rows, test->images.cols, m->cfg.rows, m->cfg.cols);
        idx_split_free(test);
        return VAE_ERR;
    }
    /* a conditional model has a one-hot slot for each of its classes only */
    for (uint32_t i = 0; m->cfg.n_classes > 0 && i < test->labels.count; i++)
        if (test->labels.labels[i] >= m->cfg.n_classes) {
            vae_fail(err, "%s: label %u of image %u is outside the model's %d classes", test->labels_path,
                     test->labels.labels[i], i, m->cfg.n_classes);
            idx_split_free(test);
            return VAE_ERR;
        }
    return VAE_OK;
}
