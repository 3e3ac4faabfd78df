/* Training and evaluation give the same numbers, within tolerance, with
 * OpenBLAS's AVX2 (Haswell) and AVX-512 (SkylakeX) kernels: the kernel set
 * vae picks by itself changes rounding, not results. Runs the vae binary
 * under OPENBLAS_CORETYPE=Haswell and =SkylakeX (read by OpenBLAS only at
 * load, hence separate processes). Skips where the CPU lacks AVX-512. Never
 * asserts bit-equality: the two kernel sets round differently. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/blas.h"

static const char *const CORES[2] = {"Haswell", "SkylakeX"};
static const char *const KEYS[] = {"train_loss", "train_kl", "loss", "recon", "kl", "loss_mu"};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

/* runs `OPENBLAS_CORETYPE=core VAE args`, parses its one JSON line */
static cJSON *run_json(const char *core, const char *args) {
    const char *bin = getenv("VAE_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=%s '%s' %s 2>/dev/null", core, bin, args);
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    int rc = pclose(f);
    if (rc != 0) {
        printf("'%s' failed (status %d)\n", cmd, rc);
        return NULL;
    }
    return cJSON_Parse(buf);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1e300;
}

int main(void) {
    if (!vae_cpu_has_avx512()) return check_skip("test_blas_kernel_sets", "this CPU lacks AVX-512: one kernel set only");
    const char *bin = getenv("VAE_BIN");
    if (!bin || !*bin) return check_skip("test_blas_kernel_sets", "VAE_BIN is not set");

    char data[4200];
    snprintf(data, sizeof data, "%s/blobs", check_tmpdir());
    mkdir(data, 0777);
    if (check_write_blobs(data, "train", 2000, 14, 14, 3) || check_write_blobs(data, "t10k", 400, 14, 14, 4)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_blas_kernel_sets");
    }

    /* the same training run (2 epochs, 64 Adam steps) under each kernel set */
    double got[2][N_KEYS];
    char model[2][4300];
    for (int c = 0; c < 2; c++) {
        char args[9000];
        snprintf(model[c], sizeof model[c], "%s/run-%s/model.safetensors", check_tmpdir(), CORES[c]);
        snprintf(args, sizeof args,
                 "train --data '%s' --out '%s/run-%s' --epochs 2 --batch 64 --threads 1 --seed 5 --no-images --json",
                 data, check_tmpdir(), CORES[c]);
        cJSON *o = run_json(CORES[c], args);
        CHECK_MSG(o != NULL, "vae train under OPENBLAS_CORETYPE=%s printed JSON", CORES[c]);
        if (!o) return check_done("test_blas_kernel_sets");
        /* the variable took effect: the runs really used different kernels */
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "blas_kernels");
        CHECK_MSG(cJSON_IsString(k) && strcmp(k->valuestring, CORES[c]) == 0, "train ran the %s kernels (got %s)",
                  CORES[c], cJSON_IsString(k) ? k->valuestring : "nothing");
        for (size_t i = 0; i < N_KEYS; i++) got[c][i] = num(o, KEYS[i]);
        cJSON_Delete(o);
    }
    for (size_t i = 0; i < N_KEYS; i++) printf("%-11s Haswell %.6f  SkylakeX %.6f\n", KEYS[i], got[0][i], got[1][i]);
    /* 64 Adam steps let the rounding differences grow a little; a real
       difference between the kernel sets (a wrong transpose, a dropped
       accumulation) moves these by whole nats */
    check_close_d("training metrics, SkylakeX vs Haswell", got[1], got[0], N_KEYS, 1e-3, 2e-3);

    /* one checkpoint evaluated under both kernel sets: only rounding differs */
    double ev[2][4];
    for (int c = 0; c < 2; c++) {
        char args[9000];
        snprintf(args, sizeof args, "eval --model '%s' --data '%s' --threads 1 --json", model[0], data);
        cJSON *o = run_json(CORES[c], args);
        CHECK_MSG(o != NULL, "vae eval under OPENBLAS_CORETYPE=%s printed JSON", CORES[c]);
        if (!o) return check_done("test_blas_kernel_sets");
        ev[c][0] = num(o, "loss");
        ev[c][1] = num(o, "recon");
        ev[c][2] = num(o, "kl");
        ev[c][3] = num(o, "loss_mu");
        cJSON_Delete(o);
    }
    check_close_d("evaluation of one checkpoint, SkylakeX vs Haswell", ev[1], ev[0], 4, 1e-5, 1e-5);
    return check_done("test_blas_kernel_sets");
}
