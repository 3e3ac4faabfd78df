/* What `vae train --tensorboard DIR` logs after each epoch, through the event
 * file writer of vae/tfevents.h. */
#ifndef VAE_TENSORBOARD_H
#define VAE_TENSORBOARD_H

#include "vae/tfevents.h"
#include "vae/train.h"

/* The scalars train/{loss,recon,kl} and test/{loss,recon,kl,loss_mu,recon_mu}
 * at step = the epoch, and, when images is set, RUN_DIR/sample-NN.png and
 * RUN_DIR/recon-NN.png (the grids train has just written) as the images
 * "samples" and "reconstructions", in one Event. */
int tb_write_epoch(TbWriter *w, const TrainEpoch *e, const char *run_dir, int images, VaeError *err);

#endif
