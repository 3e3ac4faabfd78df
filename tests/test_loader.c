/* Opening a model for use: full and weights-only checkpoints load (the data
 * folder comes from the training state when there is one), a broken file is
 * refused with its path, and the test split must have the model's image size
 * (non-square sizes included; rows and columns swapped is a mismatch). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/loader.h"

static int make_model(Vae *m, int rows, int cols, VaeError *err) {
    VaeConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rows = rows;
    cfg.cols = cols;
    cfg.zdim = 2;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 8;
    cfg.loss = VAE_LOSS_BCE;
    cfg.alpha = cfg.beta = 1.0f;
    if (vae_init(m, &cfg, err) != VAE_OK) return VAE_ERR;
    Rng r;
    rng_seed(&r, 1);
    vae_init_params(m, &r);
    return VAE_OK;
}

int main(void) {
    VaeError err;
    const char *data = check_path("data");
    if (mkdir(data, 0755) != 0 || check_write_blobs(data, "t10k", 9, 12, 16, 5) != 0) {
        fprintf(stderr, "cannot write test data under %s\n", data);
        return 1;
    }

    Vae m, back;
    CHECK(make_model(&m, 12, 16, &err) == VAE_OK);

    /* full checkpoint: the data folder comes back */
    const char *full = check_path("full.safetensors"), *weights = check_path("weights.safetensors");
    TrainState st;
    memset(&st, 0, sizeof st);
    st.lr = 1e-3f;
    st.batch = 4;
    st.seed = 1;
    st.epochs = 1;
    rng_seed(&st.rng, 1);
    snprintf(st.dataset, sizeof st.dataset, "%s", data);
    CHECK(checkpoint_save(full, &m, &st, &err) == VAE_OK);
    char ds[256] = "unchanged";
    CHECK_MSG(loader_model(full, &back, ds, sizeof ds, &err) == VAE_OK, "%s", err.msg);
    CHECK(strcmp(ds, data) == 0);
    CHECK(back.n_params == m.n_params && memcmp(back.params, m.params, m.n_params * sizeof(float)) == 0);
    vae_free(&back);

    /* weights only: loads, no data folder */
    CHECK(checkpoint_save(weights, &m, NULL, &err) == VAE_OK);
    CHECK(loader_model(weights, &back, ds, sizeof ds, &err) == VAE_OK);
    CHECK(ds[0] == '\0');
    vae_free(&back);
    CHECK(strcmp(loader_pick_data(NULL, ds), LOADER_DEFAULT_DATA) == 0);
    CHECK(strcmp(loader_pick_data(NULL, data), data) == 0);
    CHECK(strcmp(loader_pick_data("given", data), "given") == 0);

    /* a file that is not a checkpoint, and one that is missing */
    const char *junk = check_path("junk.safetensors");
    CHECK(check_write(junk, "not a checkpoint at all", 23) == 0);
    CHECK(loader_model(junk, &back, ds, sizeof ds, &err) == VAE_ERR);
    CHECK(check_contains("junk", err.msg, junk));
    CHECK(loader_model(check_path("missing.safetensors"), &back, NULL, 0, &err) == VAE_ERR);
    CHECK(check_contains("missing", err.msg, "missing.safetensors"));

    /* the test split: 12x16 matches, a 16x12 model does not */
    IdxSplit test;
    CHECK(loader_test_split(&test, data, &m, &err) == VAE_OK);
    CHECK(test.images.count == 9 && test.images.rows == 12 && test.images.cols == 16);
    idx_split_free(&test);
    Vae swapped;
    CHECK(make_model(&swapped, 16, 12, &err) == VAE_OK);
    CHECK(loader_test_split(&test, data, &swapped, &err) == VAE_ERR);
    CHECK(check_contains("size mismatch", err.msg, "images are 12x16 but the model was trained on 16x12"));
    CHECK(check_contains("size mismatch names the file", err.msg, "t10k-images-idx3-ubyte"));
    CHECK(test.images.pixels == NULL && test.labels.labels == NULL);
    CHECK(loader_test_split(&test, check_path("nowhere"), &m, &err) == VAE_ERR);
    CHECK(check_contains("no folder", err.msg, "nowhere"));
    vae_free(&swapped);
    vae_free(&m);
    return check_done("test_loader");
}
