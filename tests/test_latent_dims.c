/* Informative latent dimensions: the per-dimension KL over a data set
 * (against a one-image-at-a-time reference in double, and summing to the KL
 * that vae_evaluate reports), a dimension switched off in the encoder's head
 * having KL exactly 0 and being left out, the ranking and picking rules,
 * traversals of chosen dimensions, and the labelled grid read back from PNG. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_png.h"

#include "check.h"
#include "vae/eval.h"
#include "vae/latent.h"
#include "vae/latent_dims.h"
#include "vae/rng.h"

enum { ROWS = 6, COLS = 5, N = 37, ZD = 4 };

int main(void) {
    VaeError err;
    VaeConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rows = ROWS;
    cfg.cols = COLS;
    cfg.zdim = ZD;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 9;
    cfg.loss = VAE_LOSS_BCE;
    cfg.alpha = cfg.beta = 1.0f;
    Vae m;
    if (vae_init(&m, &cfg, &err) != VAE_OK) {
        fprintf(stderr, "vae_init: %s\n", err.msg);
        return 1;
    }
    Rng r;
    rng_seed(&r, 5);
    vae_init_params(&m, &r);
    /* dimension 2 switched off: the rows of the head that give mu_2 and
       log s2_2 are zero, so mu_2 = 0 and s2_2 = 1 for every image */
    const VaeTensor *hw = vae_find_tensor(&m, "head.weight"), *hb = vae_find_tensor(&m, "head.bias");
    CHECK(hw && hb);
    if (!hw || !hb) return check_done("test_latent_dims");
    int H = hw->shape[1];
    for (int row = 2; row < 2 * ZD; row += ZD) {
        memset(m.params + hw->offset + (size_t)row * H, 0, (size_t)H * sizeof(float));
        m.params[hb->offset + row] = 0;
    }
    int D = m.in_dim;
    IdxImages im = {0};
    im.count = N;
    im.rows = ROWS;
    im.cols = COLS;
    im.pixels = malloc((size_t)N * D);
    for (int i = 0; i < N * D; i++) im.pixels[i] = (uint8_t)rng_below(&r, 256);

    double kl[ZD];
    CHECK(latent_dim_kl(&m, &im, N, 7, kl, &err) == VAE_OK);
    /* reference: one image at a time, the formula in double */
    double ref[ZD] = {0};
    VaeActs a1;
    CHECK(vae_acts_init(&a1, &m, 1, &err) == VAE_OK);
    for (int i = 0; i < N; i++) {
        float mu[ZD], lv[ZD];
        idx_gather(&im, NULL, (uint32_t)i, 1, a1.x);
        vae_encode(&m, &a1, 1, mu, lv);
        for (int j = 0; j < ZD; j++) ref[j] += (mu[j] * (double)mu[j] + exp((double)lv[j]) - 1 - lv[j]) / 2 / N;
    }
    vae_acts_free(&a1);
    check_close_d("per-dimension KL against a one-image reference", kl, ref, ZD, 1e-6, 1e-4);
    CHECK_MSG(kl[2] == 0.0, "the switched-off dimension has KL %g, want exactly 0", kl[2]);
    for (int j = 0; j < ZD; j++)
        if (j != 2) CHECK_MSG(kl[j] > 1e-4, "dimension %d is used (KL %g)", j, kl[j]);
    /* the sum over dimensions is the KL term of the evaluation */
    VaeActs a;
    CHECK(vae_acts_init(&a, &m, 10, &err) == VAE_OK);
    EvalMetrics e;
    vae_evaluate(&m, &a, &im, N, 1, &e);
    vae_acts_free(&a);
    double sum = 0;
    for (int j = 0; j < ZD; j++) sum += kl[j];
    check_close_d("sum of the per-dimension KL = vae_evaluate's KL", &sum, &e.kl, 1, 1e-6, 1e-4);
    int dims[ZD];
    int nd = latent_pick_dims(kl, ZD, 10, 1e-6, dims);
    CHECK_MSG(nd == 3, "3 informative dimensions picked, got %d", nd);
    for (int k = 0; k < nd; k++) CHECK_MSG(dims[k] != 2, "the switched-off dimension is not picked");
    for (int k = 1; k < nd; k++) CHECK_MSG(kl[dims[k - 1]] >= kl[dims[k]], "picked by decreasing KL");
    CHECK(latent_dim_kl(&m, &im, 0, 7, kl, &err) == VAE_ERR);

    /* ranking and picking on known values */
    const double k5[5] = {0.1, 3, 0, 3, 2};
    int order[5];
    latent_rank_dims(k5, 5, order);
    CHECK_MSG(order[0] == 1 && order[1] == 3 && order[2] == 4 && order[3] == 0 && order[4] == 2,
              "rank by decreasing KL, ties by index: %d %d %d %d %d", order[0], order[1], order[2], order[3], order[4]);
    int p[5];
    CHECK(latent_pick_dims(k5, 5, 3, 0.05, p) == 3 && p[0] == 1 && p[1] == 3 && p[2] == 4);
    CHECK(latent_pick_dims(k5, 5, 10, 2.5, p) == 2 && p[0] == 1 && p[1] == 3);
    const double zero[3] = {0, 0, 0};
    CHECK_MSG(latent_pick_dims(zero, 3, 10, 0.1, p) == 1 && p[0] == 0, "at least one dimension is picked");

    /* traversals: row r changes only dimension dims[r], by scale * q_k */
    enum { S = 5 };
    double q[S];
    latent_quantile_grid(S, q);
    const float c[ZD] = {0.5f, -1.0f, 2.0f, 0.25f};
    const int td[2] = {2, 0};
    float z[2 * S * ZD];
    CHECK(latent_traverse_fill(ZD, S, td, 2, 2.0, c, z, &err) == VAE_OK);
    int ok = 1;
    for (int row = 0; row < 2; row++)
        for (int k = 0; k < S; k++)
            for (int j = 0; j < ZD; j++) {
                float want = j == td[row] ? (float)(c[j] + 2.0 * q[k]) : c[j];
                ok &= z[(row * S + k) * ZD + j] == want;
            }
    CHECK_MSG(ok, "traversal values");
    const int bad_dim[1] = {ZD};
    CHECK(latent_traverse_fill(ZD, S, bad_dim, 1, 1.0, c, z, &err) == VAE_ERR);
    CHECK(check_contains("a dimension out of range", err.msg, "does not exist"));
    CHECK(latent_traverse_fill(ZD, S, td, 2, 0.0, c, z, &err) == VAE_ERR);
    CHECK(latent_traverse_fill(ZD, 1, td, 2, 1.0, c, z, &err) == VAE_ERR);

    /* the labelled grid: 2 rows of 3 tiles of 6x5, pad 2 */
    float imgs[6 * ROWS * COLS];
    for (int i = 0; i < 6 * ROWS * COLS; i++) imgs[i] = (float)((i * 37) % 101) / 100.0f;
    imgs[3] = NAN;
    imgs[4] = 1.5f;
    const char *labels[2] = {"z2  KL 3.14", "z0  KL 0.50"};
    const char *path = check_path("rows.png");
    int lw = 0;
    CHECK(image_write_labelled_rows_png(path, imgs, 2, 3, ROWS, COLS, 2, labels, &lw, &err) == VAE_OK);
    int w = 0, h = 0, ch = 0;
    unsigned char *px = stbi_load(path, &w, &h, &ch, 3);
    CHECK(px != NULL);
    if (px) {
        CHECK_MSG(lw > 20 && w == lw + 3 * (COLS + 2) + 2 && h == 2 * (ROWS + 2) + 2, "size %dx%d, label column %d", w, h,
                  lw);
        int bad = 0;
        for (int t = 0; t < 6; t++)
            for (int y = 0; y < ROWS; y++)
                for (int x = 0; x < COLS; x++) {
                    float v = imgs[(size_t)t * ROWS * COLS + y * COLS + x];
                    int want = isnan(v) || v <= 0 ? 0 : v >= 1 ? 255 : (int)floor(v * 255 + 0.5);
                    int X = lw + 2 + (t % 3) * (COLS + 2) + x, Y = 2 + (t / 3) * (ROWS + 2) + y;
                    const unsigned char *q3 = px + ((size_t)Y * w + X) * 3;
                    if (q3[0] != want || q3[1] != want || q3[2] != want) bad++;
                }
        CHECK_MSG(bad == 0, "%d tile pixels differ from round(clamp(v) * 255)", bad);
        for (int row = 0; row < 2; row++) {
            int lit = 0;
            for (int y = 2 + row * (ROWS + 2); y < 2 + row * (ROWS + 2) + ROWS; y++)
                for (int x = 0; x < lw; x++) lit += px[((size_t)y * w + x) * 3] > 128;
            CHECK_MSG(lit > 5, "row %d has its label drawn (%d bright pixels)", row, lit);
        }
        stbi_image_free(px);
    }
    free(im.pixels);
    vae_free(&m);
    return check_done("test_latent_dims");
}
