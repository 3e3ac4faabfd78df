/* Data-parallel training across processes: the few MPI collectives a
 * training run needs (vae/train.h), behind one small interface that also
 * builds without MPI (then every process is a world of one).
 *
 * MPI is only initialised when the process was started by an MPI launcher
 * (mpirun/mpiexec of Open MPI or MPICH, Slurm's srun): plain `vae train`
 * never calls MPI_Init, so it starts as fast as before and needs no
 * launcher. Every call is made from the main thread (MPI_THREAD_FUNNELED:
 * the workers' hook runs on the calling thread, vae/pool.h). */
#ifndef VAE_DIST_H
#define VAE_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "vae/common.h"
#include "vae/vae.h"

typedef struct VaeDist {
    int rank, size;                 /* 0 and 1 in a single process */
    int local_size;                 /* ranks on this machine (they share its cores) */
    int initialized;                /* MPI_Init ran (and MPI_Finalize is due) */
} VaeDist;

/* 1 when this binary was built with MPI. */
int vae_dist_built(void);
/* "Open MPI v4.1.4, ..." (first line) or "none" */
const char *vae_dist_library(void);
/* The world size an MPI launcher announced in the environment
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE/PMIX_RANK, SLURM_NTASKS with
 * PMI), 0 when not launched by one; *rank gets the announced rank (0 if
 * unknown). Works in a build without MPI too (to refuse a parallel launch). */
int vae_dist_launched(int *rank);
/* A world of one, or MPI's world when launched by an MPI launcher. */
int vae_dist_init(VaeDist *d, int *argc, char ***argv, VaeError *err);
void vae_dist_finalize(VaeDist *d);
/* After start-up: stops every rank (MPI_Abort) with this exit status. */
void vae_dist_abort(const VaeDist *d, int code);

/* In-place sums over the ranks (MPI_Allreduce, MPI_IN_PLACE). Every rank
 * gets the same bits. VAE_ERR only when MPI reports a failure. */
int vae_dist_sum_f(const VaeDist *d, float *v, size_t n, VaeError *err);
int vae_dist_sum_d(const VaeDist *d, double *v, size_t n, VaeError *err);
/* In-place maxima over the ranks (a stop request, rank 0's decisions). */
int vae_dist_max_i(const VaeDist *d, int *v, int n, VaeError *err);
/* rank 0's bytes to every rank */
int vae_dist_bcast(const VaeDist *d, void *buf, size_t bytes, VaeError *err);

/* Start-up agreement, called by every rank with its own status: VAE_OK
 * when every rank is fine; otherwise VAE_ERR on every rank, with the message
 * of the lowest failing rank in err (tagged with its rank). */
int vae_dist_agree(const VaeDist *d, int rc, VaeError *err);
/* The same for the command layer: an exit code and the text the rank would
 * print. Returns the lowest failing rank's code (0 if none) and copies that
 * rank's text (else rank 0's) into text. */
int vae_dist_agree_text(const VaeDist *d, int code, char *text, size_t cap);
/* VAE_OK when every rank holds the same `len` bytes (their CRC32 and length
 * equal rank 0's); else VAE_ERR on every rank naming the first rank whose
 * copy of `what` differs. */
int vae_dist_same(const VaeDist *d, const void *buf, size_t len, const char *what, VaeError *err);

/* The training step's hook (TrainGradHook, ctx = the VaeDist): sums the
 * gradient block and the loss sums over the ranks, one MPI_Allreduce each. */
int vae_dist_grad_hook(Vae *m, VaeLoss *loss, void *ctx, VaeError *err);
/* TrainSumHook: sums n doubles over the ranks (ctx = the VaeDist). */
int vae_dist_sum_hook(double *v, int n, void *ctx, VaeError *err);

#endif
