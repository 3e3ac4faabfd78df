/* Training schedules from the likelihood literature, as pure functions of
 * where the run stands (epoch, step inside the epoch), so a resumed run
 * continues them exactly:
 *   --lr-decay (Burda et al. 2015): stage i = 0..7 lasts 3^i epochs with
 *       lr = base * 10^(-i/7) (base 1e-3 in the paper: 1e-3, 7.2e-4, ...,
 *       1e-4); 3280 epochs in all; later epochs stay at stage 7.
 *   --warmup N: the KL weight rises linearly per step from 0 to beta over
 *       the first N epochs: w = min(1, (epoch + step / steps) / N), where
 *       epoch counts completed epochs and step the steps taken in this one.
 *   --free-bits L (Kingma et al. 2016): the KL term of the objective is
 *       sum_j max(L, KL_j) with KL_j the batch mean of dimension j's KL, so a
 *       dimension below L gets no KL gradient. */
#ifndef VAE_SCHEDULE_H
#define VAE_SCHEDULE_H

#define SCHEDULE_LR_STAGES 8

/* The stage (0..7) of a 0-based epoch under --lr-decay. */
int schedule_lr_stage(long epoch);
/* The learning rate of a 0-based epoch: base without decay. */
float schedule_lr(float base, int lr_decay, long epoch);
/* The warm-up factor in [0, 1] for the step taken after `step` steps of
 * epoch `epoch` (0-based) with `steps` steps per epoch; 1 when warmup <= 0. */
double schedule_kl_weight(int warmup, long epoch, long step, long steps);
/* Per-dimension weights of the KL gradient: scale[j] = w when there are no
 * free bits or kl_mean[j] > free_bits, else 0. Returns the KL term of the
 * objective, w * sum_j max(free_bits, kl_mean[j]) (the plain KL sum times w
 * when free_bits is 0). */
double schedule_kl_scales(const double *kl_mean, int Z, float free_bits, double w, float *scale);

#endif
