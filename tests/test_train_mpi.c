/* Data-parallel training over MPI gives the single-process results: the
 * same run (same global --batch and seed) under `mpirun -np 2` (and -np 3,
 * uneven shares, a last batch of one image that leaves a rank empty) and in
 * one process, for the mlp, conv, resnet and conditional models, dynamic
 * binarization and the per-dimension KL path (--warmup, --free-bits): the
 * training and test metrics agree within the shared tolerance (1e-3
 * relative: the gradients are summed in another order, so never bit for
 * bit). 1 rank x 2 threads against 2 ranks x 1 thread too. A checkpoint
 * written under MPI resumes in one process and the other way round, and
 * both land where the uninterrupted run does. Skips (77) without an MPI
 * build or without mpirun. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static const char *const KEYS[] = {"train_loss", "train_recon", "train_kl", "loss", "recon", "kl", "loss_mu"};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static char g_data[4200];

/* runs `PREFIX VAE train ARGS`, parses its one JSON line into got[] */
static int run_train(const char *prefix, const char *args, double *got, int *ranks) {
    const char *bin = getenv("VAE_BIN");
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s '%s' train --data '%s' --no-images --json %s 2>%s/stderr", prefix, bin, g_data,
             args, check_tmpdir());
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    int rc = pclose(f);
    cJSON *o = rc == 0 ? cJSON_Parse(buf) : NULL;
    if (!o) {
        printf("'%s' failed (status %d); stderr:\n", cmd, rc);
        char show[9000];
        snprintf(show, sizeof show, "head -c 3000 %s/stderr", check_tmpdir());
        if (system(show) != 0) printf("(no stderr)\n");
        return -1;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, KEYS[i]);
        got[i] = cJSON_IsNumber(v) ? v->valuedouble : -1e300;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "ranks");
    *ranks = cJSON_IsNumber(r) ? r->valueint : -1;
    cJSON_Delete(o);
    return 0;
}

static char g_mpirun[3][512];   /* prefixes for 1 (no launcher), 2 and 3 ranks */

/* one case: the same training in one process and under 2 (and 3) ranks */
static void same_as_single(const char *name, const char *args, int try_three) {
    double one[N_KEYS], two[N_KEYS], three[N_KEYS];
    char a[8192];
    int ranks;
    snprintf(a, sizeof a, "%s --threads 1 --out '%s/%s-1'", args, check_tmpdir(), name);
    if (!CHECK_MSG(run_train("", a, one, &ranks) == 0, "%s: one process trains", name)) return;
    snprintf(a, sizeof a, "%s --threads 1 --out '%s/%s-2'", args, check_tmpdir(), name);
    if (!CHECK_MSG(run_train(g_mpirun[1], a, two, &ranks) == 0, "%s: 2 ranks train", name)) return;
    CHECK_MSG(ranks == 2, "%s: the JSON says 2 ranks (%d)", name, ranks);
    for (size_t i = 0; i < N_KEYS; i++) printf("%-12s %-11s 1 process %.6f  2 ranks %.6f\n", name, KEYS[i], one[i], two[i]);
    char what[256];
    snprintf(what, sizeof what, "%s: 2 ranks = 1 process", name);
    check_close_d(what, two, one, N_KEYS, 1e-4, 1e-3);
    if (!try_three) return;
    snprintf(a, sizeof a, "%s --threads 1 --out '%s/%s-3'", args, check_tmpdir(), name);
    if (!CHECK_MSG(run_train(g_mpirun[2], a, three, &ranks) == 0, "%s: 3 ranks train", name)) return;
    CHECK_MSG(ranks == 3, "%s: the JSON says 3 ranks (%d)", name, ranks);
    snprintf(what, sizeof what, "%s: 3 ranks = 1 process", name);
    check_close_d(what, three, one, N_KEYS, 1e-4, 1e-3);
}

int main(void) {
    const char *bin = getenv("VAE_BIN");
    if (!bin || !*bin) return check_skip("test_train_mpi", "VAE_BIN is not set");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' --version | grep -q '^MPI: none'", bin);
    if (system(cmd) == 0) return check_skip("test_train_mpi", "this vae was built without MPI (libopenmpi-dev)");
    if (system("command -v mpirun >/dev/null 2>&1") != 0) return check_skip("test_train_mpi", "mpirun is not installed");

    /* one machine, as root in a container: oversubscribe 2 cores, no binding,
       no single-copy shared memory (containers forbid ptrace) */
    for (int n = 2; n <= 3; n++)
        snprintf(g_mpirun[n - 1], sizeof g_mpirun[n - 1],
                 "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --oversubscribe --bind-to none %s -np %d",
                 getuid() == 0 ? "--allow-run-as-root" : "", n);

    snprintf(g_data, sizeof g_data, "%s/blobs", check_tmpdir());
    mkdir(g_data, 0777);
    if (check_write_blobs(g_data, "train", 600, 16, 16, 3) || check_write_blobs(g_data, "t10k", 200, 16, 16, 4)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_train_mpi");
    }

    /* 501 images in batches of 50: the last batch has one image, so one rank's share is empty */
#define MLP "--hidden 32 --zdim 3 --batch 50 --limit 501 --seed 3"
    const char *mlp = MLP " --epochs 2";
    same_as_single("mlp", mlp, 1);
    same_as_single("conv", "--arch conv --channels 4,8 --hidden 16 --zdim 3 --batch 64 --epochs 1 --seed 4", 0);
    same_as_single("resnet", "--arch resnet --channels 4 --hidden 16 --zdim 2 --batch 64 --epochs 1 --seed 5", 0);
    same_as_single("cond-bin", "--conditional --hidden 32 --zdim 3 --batch 64 --binarize dynamic --epochs 1 --seed 6", 0);
    /* the KL per dimension over the whole step (summed over the ranks) */
    same_as_single("warmup-fb", "--hidden 32 --zdim 3 --batch 50 --limit 513 --warmup 1 --free-bits 0.3 --epochs 2 --seed 7",
                   1);

    /* per-core workers against ranks: 1 process x 2 threads, 2 ranks x 1 thread */
    double t2[N_KEYS], r2[N_KEYS];
    char a[8192];
    int ranks;
    snprintf(a, sizeof a, "%s --threads 2 --out '%s/t2'", mlp, check_tmpdir());
    CHECK_MSG(run_train("", a, t2, &ranks) == 0, "1 process x 2 threads trains");
    snprintf(a, sizeof a, "%s --threads 1 --out '%s/r2'", mlp, check_tmpdir());
    CHECK_MSG(run_train(g_mpirun[1], a, r2, &ranks) == 0, "2 ranks x 1 thread train");
    check_close_d("2 ranks x 1 thread = 1 process x 2 threads", r2, t2, N_KEYS, 1e-4, 1e-3);

    /* checkpoints are interchangeable: 1 epoch under one kind, the second
       under the other, against the uninterrupted 2 epochs in one process */
    double full[N_KEYS], x[N_KEYS];
    snprintf(a, sizeof a, "%s --threads 1 --out '%s/full'", mlp, check_tmpdir());
    CHECK_MSG(run_train("", a, full, &ranks) == 0, "the uninterrupted run");
    const char *first[2] = {g_mpirun[1], ""}, *second[2] = {"", g_mpirun[2]};
    const char *what[2] = {"2 ranks, then resumed in 1 process", "1 process, then resumed under 3 ranks"};
    for (int k = 0; k < 2; k++) {
        snprintf(a, sizeof a, MLP " --epochs 1 --threads 1 --out '%s/resume%d'", check_tmpdir(), k);
        if (!CHECK_MSG(run_train(first[k], a, x, &ranks) == 0, "%s: the first epoch", what[k])) continue;
        snprintf(a, sizeof a, "--resume '%s/resume%d/model.safetensors' --epochs 2 --threads 1", check_tmpdir(), k);
        if (!CHECK_MSG(run_train(second[k], a, x, &ranks) == 0, "%s: the second epoch", what[k])) continue;
        check_close_d(what[k], x, full, N_KEYS, 1e-4, 1e-3);
    }
    return check_done("test_train_mpi");
}
