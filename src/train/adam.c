/* Adam with bias correction, step for step as torch.optim.Adam (PyTorch
 * 1.13, single-tensor path, no weight decay, no amsgrad):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)          */
#include "vae/adam.h"

#include <math.h>

#include "vae/vecmath.h"

VAE_HOT int adam_update(float *p, const float *g, float *m, float *v, size_t n,
                 const AdamConfig *cfg, long t) {
    float b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps;
    /* the bias corrections in double, as PyTorch computes them in Python */
    double bc1 = 1.0 - pow((double)b1, (double)t);
    double bc2 = 1.0 - pow((double)b2, (double)t);
    float step_size = (float)((double)cfg->lr / bc1);
    float inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    float one_b1 = 1.0f - b1, one_b2 = 1.0f - b2;
    int nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        /* g - g is NaN exactly when g is inf or NaN; an integer OR vectorizes */
        nonfinite |= (gi - gi) != 0.0f;
        float mi = b1 * m[i] + one_b1 * gi;
        float vi = b2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * (mi / (sqrtf(vi) * inv_bc2_sqrt + eps));
    }
    return !nonfinite;
}
