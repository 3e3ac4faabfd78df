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

#endif
