/* Encoding and decoding many images through a fixed-size activation buffer
 * give what one pass over all of them gives (within the shared tolerance: the
 * GEMMs see other batch shapes, so BLAS may round differently), in the right
 * order, for every chunk size including 1 and ones that do not divide n; and
 * encode-then-decode equals the forward pass with z = mu (what reconstruct
 * draws). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/latent.h"

enum { ROWS = 6, COLS = 5, N = 23, ZD = 3 };

int main(void) {
    VaeError err;
    VaeConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rows = ROWS;
    cfg.cols = COLS;
    cfg.zdim = ZD;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 11;
    cfg.hidden[1] = 7;
    cfg.loss = VAE_LOSS_BCE;
    cfg.alpha = cfg.beta = 1.0f;
    Vae m;
    if (vae_init(&m, &cfg, &err) != VAE_OK) {
        fprintf(stderr, "vae_init: %s\n", err.msg);
        return 1;
    }
    Rng r;
    rng_seed(&r, 3);
    vae_init_params(&m, &r);
    int D = m.in_dim;

    /* N random images as IDX pixels */
    IdxImages im = {0};
    im.count = N;
    im.rows = ROWS;
    im.cols = COLS;
    im.pixels = malloc((size_t)N * D);
    for (int i = 0; i < N * D; i++) im.pixels[i] = (uint8_t)rng_below(&r, 256);

    /* one-shot references */
    VaeActs a;
    CHECK(vae_acts_init(&a, &m, N, &err) == VAE_OK);
    float mu_ref[N * ZD], z[N * ZD], x_ref[N * ROWS * COLS], rec_ref[N * ROWS * COLS];
    idx_gather(&im, NULL, 0, N, a.x);
    vae_encode_mean(&m, &a, N, mu_ref);
    rng_normal(&r, z, N * ZD);
    vae_decode(&m, &a, z, N);
    memcpy(x_ref, a.xhat, sizeof x_ref);
    VaeLoss unused;
    vae_forward(&m, &a, N, 0, 0, &unused);
    memcpy(rec_ref, a.xhat, sizeof rec_ref);
    vae_acts_free(&a);

    const int chunks[] = {1, 4, 5, N - 1, N, 1000};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        char what[64];
        float mu[N * ZD], x[N * ROWS * COLS];
        memset(mu, 0xff, sizeof mu); /* NaN: every row must be written */
        memset(x, 0xff, sizeof x);
        CHECK(latent_encode_means(&m, &im, NULL, 0, N, chunks[c], mu, &err) == VAE_OK);
        snprintf(what, sizeof what, "encode, chunk %d", chunks[c]);
        check_close(what, mu, mu_ref, N * ZD, 1e-5, 1e-4);
        CHECK(latent_decode(&m, z, N, chunks[c], x, &err) == VAE_OK);
        snprintf(what, sizeof what, "decode, chunk %d", chunks[c]);
        check_close(what, x, x_ref, N * D, 1e-5, 1e-4);
        /* encode-then-decode is the reconstruction of the forward pass with z = mu */
        CHECK(latent_decode(&m, mu, N, chunks[c], x, &err) == VAE_OK);
        snprintf(what, sizeof what, "reconstruction, chunk %d", chunks[c]);
        check_close(what, x, rec_ref, N * D, 1e-5, 1e-4);
    }

    /* index lists and offsets pick the right images: reversed order, and a
       window starting at `first` */
    uint32_t rev[N];
    for (int i = 0; i < N; i++) rev[i] = (uint32_t)(N - 1 - i);
    float mu_rev[N * ZD], mu_ref_rev[N * ZD];
    CHECK(latent_encode_means(&m, &im, rev, 0, N, 4, mu_rev, &err) == VAE_OK);
    for (int i = 0; i < N; i++) memcpy(mu_ref_rev + i * ZD, mu_ref + (N - 1 - i) * ZD, ZD * sizeof(float));
    check_close("encode by index", mu_rev, mu_ref_rev, N * ZD, 1e-5, 1e-4);
    float mu_win[10 * ZD];
    CHECK(latent_encode_means(&m, &im, NULL, 7, 10, 3, mu_win, &err) == VAE_OK);
    check_close("encode from first = 7", mu_win, mu_ref + 7 * ZD, 10 * ZD, 1e-5, 1e-4);

    /* nothing to do, and a bad chunk */
    CHECK(latent_decode(&m, z, 0, 4, NULL, &err) == VAE_OK);
    CHECK(latent_decode(&m, z, N, 0, x_ref, &err) == VAE_ERR);
    CHECK(check_contains("chunk 0", err.msg, "chunk"));
    CHECK(latent_encode_means(&m, &im, NULL, 0, N, -1, mu_ref, &err) == VAE_ERR);

    free(im.pixels);
    vae_free(&m);
    return check_done("test_latent_chunked");
}
