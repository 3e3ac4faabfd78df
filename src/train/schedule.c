/* Learning-rate decay, KL warm-up and free bits (see vae/schedule.h). */
#include "vae/schedule.h"

#include <math.h>

int schedule_lr_stage(long epoch) {
    long end = 0, len = 1;
    for (int i = 0; i < SCHEDULE_LR_STAGES; i++, len *= 3) {
        end += len;
        if (epoch < end) return i;
    }
    return SCHEDULE_LR_STAGES - 1;
}

float schedule_lr(float base, int lr_decay, long epoch) {
    if (!lr_decay) return base;
    return (float)((double)base * pow(10.0, -(double)schedule_lr_stage(epoch) / 7.0));
}

double schedule_kl_weight(int warmup, long epoch, long step, long steps) {
    if (warmup <= 0) return 1.0;
    double t = ((double)epoch + (steps > 0 ? (double)step / (double)steps : 0.0)) / (double)warmup;
    return t < 1.0 ? t : 1.0;
}

double schedule_kl_scales(const double *kl_mean, int Z, float free_bits, double w, float *scale) {
    double term = 0.0;
    for (int j = 0; j < Z; j++) {
        int above = free_bits <= 0.0f || kl_mean[j] > (double)free_bits;
        scale[j] = above ? (float)w : 0.0f;
        term += w * (above ? kl_mean[j] : (double)free_bits);
    }
    return term;
}
