/* The latent space in bulk: quantile grids, manifold and interpolation
 * layouts, and chunked encoding/decoding through one activation buffer. */
#include "vae/latent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double latent_normal_quantile(double p) {
    if (!(p >= 0.0 && p <= 1.0)) return NAN;
    if (p == 0.0) return -INFINITY;
    if (p == 1.0) return INFINITY;
    /* Bisection on Phi(x) = erfc(-x / sqrt 2) / 2, which erfc gives to full
       relative precision in both tails. Slow next to a rational
       approximation, but exact to double precision, and manifold grids need
       a few dozen values. 200 halvings of [-40, 40] reach the spacing of
       doubles long before the end; Phi(-40) underflows to 0 < p. */
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid == lo || mid == hi) break;
        if (0.5 * erfc(-mid / sqrt(2.0)) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

void latent_quantile_grid(int steps, double *q) {
    for (int k = 0; k < steps; k++)
        q[k] = latent_normal_quantile(LATENT_GRID_P_LO +
                                      (LATENT_GRID_P_HI - LATENT_GRID_P_LO) * (double)k / (double)(steps - 1));
}

int latent_manifold_rows(int zdim, int steps, int dims) {
    if (zdim == 1) return 1;
    if (zdim == 2) return steps;
    return dims > 0 && dims < zdim ? dims : zdim;
}

int latent_manifold_fill(int zdim, int steps, int dims, const float *center, float *z, VaeError *err) {
    if (zdim < 1) return vae_fail(err, "manifold: latent size %d (must be >= 1)", zdim);
    if (steps < 2) return vae_fail(err, "manifold: %d steps (must be >= 2)", steps);
    if (zdim > 2 && !center) return vae_fail(err, "manifold: zdim %d needs a centre to traverse around", zdim);
    double *q = malloc((size_t)steps * sizeof(double));
    if (!q) return vae_fail(err, "manifold: out of memory for %d quantiles", steps);
    latent_quantile_grid(steps, q);
    int rows = latent_manifold_rows(zdim, steps, dims);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < steps; k++) {
            float *zz = z + ((size_t)r * steps + k) * (size_t)zdim;
            if (zdim == 1) {
                zz[0] = (float)q[k];
            } else if (zdim == 2) {
                zz[0] = (float)q[k];
                zz[1] = (float)q[steps - 1 - r];
            } else {
                memcpy(zz, center, (size_t)zdim * sizeof(float));
                zz[r] = center[r] + (float)q[k];
            }
        }
    free(q);
    return VAE_OK;
}

void latent_interpolate(const float *a, const float *b, int zdim, int steps, float *z) {
    for (int k = 0; k < steps; k++) {
        float *zz = z + (size_t)k * zdim;
        /* the ends are copied, not computed, so they are a and b exactly */
        if (k == 0) {
            memcpy(zz, a, (size_t)zdim * sizeof(float));
        } else if (k == steps - 1) {
            memcpy(zz, b, (size_t)zdim * sizeof(float));
        } else {
            float t = (float)k / (float)(steps - 1);
            for (int j = 0; j < zdim; j++) zz[j] = (1.0f - t) * a[j] + t * b[j];
        }
    }
}

int latent_encode_means(Vae *m, const IdxImages *im, const uint32_t *index, uint32_t first, uint32_t n,
                        int chunk, float *mu, VaeError *err) {
    if (n == 0) return VAE_OK;
    if (chunk < 1) return vae_fail(err, "encode: chunk of %d images (must be >= 1)", chunk);
    if ((uint32_t)chunk > n) chunk = (int)n;
    VaeActs a;
    if (vae_acts_init_forward(&a, m, chunk, err) != VAE_OK) return VAE_ERR;
    int Z = m->cfg.zdim;
    for (uint32_t done = 0; done < n; done += (uint32_t)chunk) {
        int B = n - done < (uint32_t)chunk ? (int)(n - done) : chunk;
        idx_gather(im, index ? index + done : NULL, first + done, (uint32_t)B, a.x);
        vae_set_labels(m, &a, im->labels, index ? index + done : NULL, first + done, B);
        float *out = mu + (size_t)done * Z;
        vae_encode_mean(m, &a, B, out);
        /* finite weights whose products overflow float32 give inf/NaN codes:
           refuse them rather than write or draw them */
        for (size_t i = 0; i < (size_t)B * Z; i++)
            if (!isfinite(out[i])) {
                uint32_t img = index ? index[done + i / Z] : first + done + (uint32_t)(i / Z);
                vae_acts_free(&a);
                return vae_fail(err, "the latent mean of test image %u is not finite (%g): the model's parameters "
                                "overflow float32", img, (double)out[i]);
            }
    }
    vae_acts_free(&a);
    return VAE_OK;
}

int latent_decode(Vae *m, const float *z, size_t n, int chunk, float *imgs, VaeError *err) {
    return latent_decode_labeled(m, z, NULL, n, chunk, imgs, err);
}

int latent_decode_labeled(Vae *m, const float *z, const uint8_t *labels, size_t n, int chunk, float *imgs,
                          VaeError *err) {
    if (n == 0) return VAE_OK;
    if (chunk < 1) return vae_fail(err, "decode: chunk of %d latent vectors (must be >= 1)", chunk);
    if ((size_t)chunk > n) chunk = (int)n;
    VaeActs a;
    if (vae_acts_init_forward(&a, m, chunk, err) != VAE_OK) return VAE_ERR;
    size_t D = (size_t)m->in_dim, Z = (size_t)m->cfg.zdim;
    for (size_t done = 0; done < n; done += (size_t)chunk) {
        int B = n - done < (size_t)chunk ? (int)(n - done) : chunk;
        vae_set_labels(m, &a, labels, NULL, (uint32_t)done, B);
        vae_decode(m, &a, z + done * Z, B);
        for (size_t i = 0; i < (size_t)B * D; i++)
            if (isnan(a.xhat[i])) {
                vae_acts_free(&a);
                return vae_fail(err, "decoded image %zu is not a number at pixel %zu: the model's parameters overflow "
                                "float32", done + i / D, i % D);
            }
        memcpy(imgs + done * D, a.xhat, (size_t)B * D * sizeof(float));
    }
    vae_acts_free(&a);
    return VAE_OK;
}
