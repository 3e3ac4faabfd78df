/* The MPI collectives of data-parallel training (vae/dist.h). Built with
 * MPI when CMake found it (VAE_HAVE_MPI); otherwise every process is a
 * world of one and the collectives are identities. */
#include "vae/dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#ifdef VAE_HAVE_MPI
#include <mpi.h>
#endif

/* ---- what the launcher says (no MPI call) ---- */

/* a whole number >= 0 from the environment, or -1 */
static long env_count(const char *name) {
    const char *s = getenv(name);
    if (!s || !*s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == '\0' && v >= 0 && v < INT_MAX ? v : -1;
}

int vae_dist_launched(int *rank) {
    /* Open MPI's mpirun; MPICH's hydra and Slurm's PMI/PMI2; PMIx (Open MPI
       4, srun --mpi=pmix), whose size Slurm also gives as SLURM_NTASKS */
    static const char *const PAIRS[][2] = {{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"},
                                           {"PMI_SIZE", "PMI_RANK"},
                                           {"PMIX_SIZE", "PMIX_RANK"}};
    *rank = 0;
    for (size_t i = 0; i < sizeof PAIRS / sizeof PAIRS[0]; i++) {
        long size = env_count(PAIRS[i][0]), r = env_count(PAIRS[i][1]);
        if (size >= 1) {
            *rank = r > 0 ? (int)r : 0;
            return (int)size;
        }
    }
    long r = env_count("PMIX_RANK");
    if (r >= 0) {
        long size = env_count("SLURM_NTASKS");
        *rank = (int)r;
        return size >= 1 ? (int)size : INT_MAX;   /* launched; the size is MPI's to say */
    }
    return 0;
}

static int world_of_one(VaeDist *d) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    d->local_size = 1;
    return VAE_OK;
}

#ifdef VAE_HAVE_MPI

int vae_dist_built(void) { return 1; }

const char *vae_dist_library(void) {
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(v, &len) != MPI_SUCCESS) return "MPI (version unknown)";
    v[strcspn(v, "\n,")] = '\0';
    return v;
}

static int mpi_fail(VaeError *err, const char *what, int code) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", code);
    return vae_fail(err, "MPI %s: %s", what, msg);
}

int vae_dist_init(VaeDist *d, int *argc, char ***argv, VaeError *err) {
    int rank;
    int launched = vae_dist_launched(&rank);
    world_of_one(d);
    /* a world of one needs no MPI: plain `vae train` starts as before */
    if (launched <= 1) return VAE_OK;
    int provided = 0, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return vae_fail(err, "MPI_Init_thread failed (error %d)", rc);
    d->initialized = 1;
    /* failures come back as codes (and then stop every rank), not as MPI's own abort */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    if (provided < MPI_THREAD_FUNNELED) return vae_fail(err, "this MPI library provides no thread support");
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &d->local_size);
        MPI_Comm_free(&local);
    }
    return VAE_OK;
}

void vae_dist_finalize(VaeDist *d) {
    if (d->initialized) MPI_Finalize();
    d->initialized = 0;
}

void vae_dist_abort(const VaeDist *d, int code) {
    if (d->initialized) MPI_Abort(MPI_COMM_WORLD, code);
}

/* MPI counts are ints: large buffers go in pieces */
#define CHUNK (1 << 28)

int vae_dist_sum_f(const VaeDist *d, float *v, size_t n, VaeError *err) {
    if (d->size <= 1) return VAE_OK;
    for (size_t i = 0; i < n; i += CHUNK) {
        int c = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, v + i, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "all-reduce of the gradients", rc);
    }
    return VAE_OK;
}

int vae_dist_sum_d(const VaeDist *d, double *v, size_t n, VaeError *err) {
    if (d->size <= 1) return VAE_OK;
    for (size_t i = 0; i < n; i += CHUNK) {
        int c = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, v + i, c, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "all-reduce of the loss sums", rc);
    }
    return VAE_OK;
}

int vae_dist_max_i(const VaeDist *d, int *v, int n, VaeError *err) {
    if (d->size <= 1) return VAE_OK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? VAE_OK : mpi_fail(err, "all-reduce of the stop flags", rc);
}

int vae_dist_bcast(const VaeDist *d, void *buf, size_t bytes, VaeError *err) {
    if (d->size <= 1) return VAE_OK;
    for (size_t i = 0; i < bytes; i += CHUNK) {
        int c = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        int rc = MPI_Bcast((char *)buf + i, c, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "broadcast of the parameters", rc);
    }
    return VAE_OK;
}

/* the lowest rank for which bad is set, or -1 (every rank gets the same) */
static int lowest(const VaeDist *d, int bad, int *out) {
    int v = bad ? d->rank : INT_MAX;
    int rc = MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    *out = v == INT_MAX ? -1 : v;
    return rc;
}

int vae_dist_agree(const VaeDist *d, int rc, VaeError *err) {
    if (d->size <= 1) return rc;
    int who, mrc = lowest(d, rc != VAE_OK, &who);
    if (mrc != MPI_SUCCESS) return mpi_fail(err, "start-up check", mrc);
    if (who < 0) return VAE_OK;
    VaeError e;
    if (d->rank == who) {
        if (err) e = *err;
        else snprintf(e.msg, sizeof e.msg, "failed");
    }
    e.msg[sizeof e.msg - 1] = '\0';
    mrc = MPI_Bcast(e.msg, (int)sizeof e.msg, MPI_CHAR, who, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) return mpi_fail(err, "start-up check", mrc);
    e.msg[sizeof e.msg - 1] = '\0';
    return vae_fail(err, "%s (rank %d of %d)", e.msg, who, d->size);
}

int vae_dist_agree_text(const VaeDist *d, int code, char *text, size_t cap) {
    if (d->size <= 1 || cap == 0) return code;
    int who;
    if (lowest(d, code != 0, &who) != MPI_SUCCESS) return code ? code : 1;
    int root = who < 0 ? 0 : who, msg[2] = {code, (int)strnlen(text, cap - 1)};
    MPI_Bcast(msg, 2, MPI_INT, root, MPI_COMM_WORLD);
    MPI_Bcast(text, msg[1], MPI_CHAR, root, MPI_COMM_WORLD);
    text[msg[1]] = '\0';
    return who < 0 ? 0 : msg[0];
}

int vae_dist_same(const VaeDist *d, const void *buf, size_t len, const char *what, VaeError *err) {
    if (d->size <= 1) return VAE_OK;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < len; i += 1u << 30) {
        size_t c = len - i < (1u << 30) ? len - i : (1u << 30);
        crc = crc32(crc, (const Bytef *)buf + i, (uInt)c);
    }
    unsigned long long mine[2] = {(unsigned long long)len, (unsigned long long)crc}, ref[2] = {mine[0], mine[1]};
    int rc = MPI_Bcast(ref, 2, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(err, "start-up check", rc);
    int who;
    rc = lowest(d, mine[0] != ref[0] || mine[1] != ref[1], &who);
    if (rc != MPI_SUCCESS) return mpi_fail(err, "start-up check", rc);
    if (who < 0) return VAE_OK;
    return vae_fail(err, "rank %d's %s differ from rank 0's (size or CRC32); every rank must read the same", who,
                    what);
}

#else /* no MPI: a world of one */

int vae_dist_built(void) { return 0; }
const char *vae_dist_library(void) { return "none"; }

int vae_dist_init(VaeDist *d, int *argc, char ***argv, VaeError *err) {
    int rank, launched = vae_dist_launched(&rank);
    world_of_one(d);
    if (launched > 1)
        return vae_fail(err, "this vae was built without MPI, so %d copies started by an MPI launcher would each train "
                        "alone; rebuild with libopenmpi-dev installed (cmake -DVAE_MPI=ON)", launched);
    return VAE_OK;
}

void vae_dist_finalize(VaeDist *d) { (void)d; }
void vae_dist_abort(const VaeDist *d, int code) { (void)d, (void)code; }
int vae_dist_sum_f(const VaeDist *d, float *v, size_t n, VaeError *err) { return VAE_OK; }
int vae_dist_sum_d(const VaeDist *d, double *v, size_t n, VaeError *err) { return VAE_OK; }
int vae_dist_max_i(const VaeDist *d, int *v, int n, VaeError *err) { return VAE_OK; }
int vae_dist_bcast(const VaeDist *d, void *buf, size_t bytes, VaeError *err) { return VAE_OK; }
int vae_dist_agree(const VaeDist *d, int rc, VaeError *err) { return rc; }
int vae_dist_agree_text(const VaeDist *d, int code, char *text, size_t cap) { return code; }
int vae_dist_same(const VaeDist *d, const void *buf, size_t len, const char *what, VaeError *err) { return VAE_OK; }

#endif

int vae_dist_grad_hook(Vae *m, VaeLoss *loss, void *ctx, VaeError *err) {
    const VaeDist *d = ctx;
    if (vae_dist_sum_f(d, m->grads, m->n_params, err) != VAE_OK) return VAE_ERR;
    double s[3] = {loss->loss, loss->recon, loss->kl};
    if (vae_dist_sum_d(d, s, 3, err) != VAE_OK) return VAE_ERR;
    loss->loss = s[0];
    loss->recon = s[1];
    loss->kl = s[2];
    return VAE_OK;
}

int vae_dist_sum_hook(double *v, int n, void *ctx, VaeError *err) {
    return vae_dist_sum_d(ctx, v, (size_t)n, err);
}
