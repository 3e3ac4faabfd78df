/* One training epoch as a TensorBoard Event (see include/vae/tensorboard.h):
 * the epoch's numbers as scalars, the grid PNGs train wrote as images. */
#include "vae/tensorboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vae/fileio.h"

int tb_write_epoch(TbWriter *w, const TrainEpoch *e, const char *run_dir, int images, VaeError *err) {
    TbScalar s[] = {
        {"train/loss", (float)e->train_loss},   {"train/recon", (float)e->train_recon},
        {"train/kl", (float)e->train_kl},       {"test/loss", (float)e->test.loss},
        {"test/recon", (float)e->test.recon},   {"test/kl", (float)e->test.kl},
        {"test/loss_mu", (float)e->test.loss_mu}, {"test/recon_mu", (float)e->test.recon_mu},
    };
    TbImage im[2] = {{"samples", NULL, 0, 0, 0, 0}, {"reconstructions", NULL, 0, 0, 0, 0}};
    uint8_t *png[2] = {NULL, NULL};
    int n_im = 0, rc = VAE_OK;
    if (images) {
        static const char *const names[2] = {"sample", "recon"};
        for (int i = 0; i < 2 && rc == VAE_OK; i++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s-%02d.png", run_dir, names[i], e->epoch);
            rc = vae_read_file(path, &png[i], &im[i].png_len, 64u << 20, err);
            if (rc == VAE_OK && tb_png_info(png[i], im[i].png_len, &im[i].width, &im[i].height, &im[i].colorspace,
                                            err) != VAE_OK)
                rc = vae_fail(err, "%s: %s", path, err->msg);
            im[i].png = png[i];
        }
        n_im = 2;
    }
    if (rc == VAE_OK) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rc = tb_add(w, e->epoch, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec, s, (int)(sizeof s / sizeof s[0]),
                    im, n_im, err);
    }
    free(png[0]);
    free(png[1]);
    return rc;
}
