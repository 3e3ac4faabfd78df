/* The importance-weighted estimate against an independent PyTorch
 * computation (scripts/reference/iw_reference.py, float64, full Gaussian
 * densities): same weights, binary images and eps from the fixture
 * tests/fixtures/iw_reference.json; per-image log p^(x) and mean log w must
 * agree to 1e-4 relative (the bar; float32 GEMMs land near 1e-7).
 * Then shows the comparison can fail: one eps changed moves the answer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "check.h"
#include "vae/fileio.h"
#include "vae/iwae.h"
#include "vae/vae.h"

#define RTOL 1e-4

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int int_field(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e7 ? (int)v->valuedouble : -1;
}

/* n numbers of a JSON array into out (float or double); 0 on success */
static int read_floats(const cJSON *arr, size_t n, float *f, double *d) {
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n) return -1;
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v)) return -1;
        if (f) f[i] = (float)v->valuedouble;
        if (d) d[i] = v->valuedouble;
        i++;
    }
    return 0;
}

static void run_case(const cJSON *c) {
    const char *name = cJSON_GetStringValue(get(c, "name"));
    const char *act = cJSON_GetStringValue(get(c, "activation"));
    VaeConfig cfg = {0};
    cfg.rows = int_field(c, "rows");
    cfg.cols = int_field(c, "cols");
    cfg.zdim = int_field(c, "zdim");
    cfg.loss = VAE_LOSS_BCE;
    cfg.alpha = cfg.beta = 1.0f;
    const cJSON *hid = get(c, "hidden"), *h;
    cJSON_ArrayForEach(h, hid) cfg.hidden[cfg.n_hidden++] = (int)h->valuedouble;
    int n = int_field(c, "n"), K = int_field(c, "K");
    if (!CHECK_MSG(name && act && (strcmp(act, "relu") == 0 || strcmp(act, "tanh") == 0) && n > 0 && K > 0,
                   "fixture case is well formed"))
        return;
    cfg.hidden_act = strcmp(act, "tanh") == 0 ? VAE_ACT_TANH : VAE_ACT_RELU;
    Vae m;
    VaeError err;
    if (!CHECK_MSG(vae_init(&m, &cfg, &err) == VAE_OK, "%s: vae_init: %s", name, err.msg)) return;
    int D = m.in_dim, Z = cfg.zdim, loaded = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, get(c, "tensors")) {
        const VaeTensor *vt = vae_find_tensor(&m, cJSON_GetStringValue(get(t, "name")));
        if (vt && read_floats(get(t, "values"), vt->size, m.params + vt->offset, NULL) == 0) loaded++;
    }
    CHECK_MSG(loaded == m.lay.n_tensors, "%s: loaded %d of %d tensors", name, loaded, m.lay.n_tensors);
    float *x = malloc((size_t)n * D * sizeof *x), *eps = malloc((size_t)n * K * Z * sizeof *eps);
    double *ref = malloc((size_t)n * 4 * sizeof *ref);
    double *ref_elbo = ref + n, *logp = ref + 2 * n, *elbo = ref + 3 * n;
    if (!x || !eps || !ref) {
        CHECK_MSG(0, "out of memory");
        goto out;
    }
    if (!CHECK_MSG(read_floats(get(c, "x"), (size_t)n * D, x, NULL) == 0 &&
                       read_floats(get(c, "eps"), (size_t)n * K * Z, eps, NULL) == 0 &&
                       read_floats(get(c, "logp"), (size_t)n, NULL, ref) == 0 &&
                       read_floats(get(c, "elbo"), (size_t)n, NULL, ref_elbo) == 0,
                   "%s: fixture arrays", name))
        goto out;
    /* twice: all samples in one pass, and in passes of 3 rows (K > rows) */
    for (int rows = 1024; rows >= 3; rows = rows == 1024 ? 3 : 0) {
        IwConfig ic = {0};
        ic.K = K;
        ic.threads = 2;
        ic.rows = rows;
        ic.eps = eps;
        IwResult r;
        char what[96];
        if (!CHECK_MSG(vae_iw_estimate(&m, x, n, &ic, logp, elbo, &r, &err) == VAE_OK, "%s: %s", name, err.msg))
            goto out;
        snprintf(what, sizeof what, "%s rows %d: log p^(x) vs torch", name, rows);
        check_close_d(what, logp, ref, (size_t)n, 0.0, RTOL);
        snprintf(what, sizeof what, "%s rows %d: mean log w vs torch", name, rows);
        check_close_d(what, elbo, ref_elbo, (size_t)n, 0.0, RTOL);
    }
    /* the comparison can fail: other draws for one image change its estimate */
    {
        for (int i = 0; i < K * Z; i++) eps[i] += 0.5f;
        IwConfig ic = {0};
        ic.K = K;
        ic.threads = 1;
        ic.eps = eps;
        IwResult r;
        vae_iw_estimate(&m, x, n, &ic, logp, elbo, &r, &err);
        size_t wi;
        double we;
        CHECK_MSG(!tol_close(logp, ref, (size_t)n, 0.0, RTOL, &wi, &we), "%s: a changed eps is detected", name);
    }
out:
    free(x);
    free(eps);
    free(ref);
    vae_free(&m);
}

int main(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/iw_reference.json", check_source_dir());
    uint8_t *buf = NULL;
    size_t len = 0;
    VaeError err;
    if (vae_read_file(path, &buf, &len, 16u << 20, &err) != VAE_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return check_done("test_iwae_reference");
    }
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    int cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(root, "cases")) {
        run_case(c);
        cases++;
    }
    CHECK_MSG(cases >= 2, "the fixture has its cases (ReLU and tanh)");
    cJSON_Delete(root);
    return check_done("test_iwae_reference");
}
