/* Adam (Kingma & Ba) with bias correction, as PyTorch's torch.optim.Adam
 * (no weight decay, no amsgrad): one flat loop over every parameter. */
#ifndef VAE_ADAM_H
#define VAE_ADAM_H

#include <stddef.h>

typedef struct {
    float lr, beta1, beta2, eps;
} AdamConfig;

/* t is the 1-based step number after increment. Updates p, m, v in place.
 * Returns 1 when every gradient was finite, 0 otherwise (checked in the same
 * pass, so a caller that gets 0 must discard the parameters: they are NaN). */
int adam_update(float *p, const float *g, float *m, float *v, size_t n,
                 const AdamConfig *cfg, long t);

/* As adam_update with the gradient g = g[0] + g[1] + ... + g[n_g-1], added
 * in that order (so the result depends on n_g but never on timing), and
 * every g[w] cleared to zero in the same pass, ready for the next step's
 * accumulation. With n_g == 1 the update is bit for bit adam_update's.
 * Elements are independent: callers may split [0, n) across threads. */
int adam_update_sum(float *p, float *const *g, int n_g, float *m, float *v, size_t n,
                    const AdamConfig *cfg, long t);

#endif
