/* Golden test against the PyTorch twin of the model: for each fixture
 * tests/fixtures/reference_<case>.json (written by
 * scripts/reference/make_fixture.py) load torch's weights, inputs and eps,
 * run vae_forward / vae_backward and compare the loss terms, xhat and every
 * gradient; then run two adam_update steps on torch's gradients and compare
 * the parameters with torch.optim.Adam's. Finally show that the comparison
 * can fail: a perturbed gradient must be rejected.
 * Where bf16 GEMMs run (vae/gemm.h), every fixture is run again with the
 * model in bf16 and compared at the bf16 tolerances below; elsewhere that
 * part says why it did not run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "check.h"
#include "vae/adam.h"
#include "vae/vae.h"

/* Tolerances. The fixtures record torch's own float32 gradient error against
 * float64 (at most ~2e-7 absolute over the three cases); ours is of the same
 * size, so two float32 implementations differ by < ~5e-7. atol 2e-6 leaves
 * a 4x margin while a wrong factor anywhere (the gradients are 1e-3..3 in
 * size) is still far outside; rtol 1e-4 covers the largest gradients. */
#define GRAD_ATOL 2e-6
#define GRAD_RTOL 1e-4
/* loss sums of up to ~300 against torch's float64 evaluation of the same
 * float32 weights: float32 rounding over a few hundred terms */
#define LOSS_ATOL 1e-5
#define LOSS_RTOL 1e-5
#define XHAT_ATOL 1e-6
#define XHAT_RTOL 1e-5
/* Adam on identical gradients: only float rounding of p (~1e-8) differs */
#define ADAM_ATOL 1e-7
#define ADAM_RTOL 1e-6
/* bf16 GEMM inputs: each product carries a relative error of up to 2^-7
 * (8 significant bits per input, tests/test_gemm_bf16.c), independent from
 * term to term, and a gradient goes through a chain of 3-6 GEMMs (forward
 * and backward). Over these fixtures the largest error is 1.2% of the
 * tensor's largest gradient (0.01 fails four elements, 0.02 none); the
 * tolerance, BF16_GRAD_REL of that scale plus the same relative term, keeps
 * a margin of two, and the bf16 self-check shows that gradients 10% off are
 * rejected. Loss sums: each term within BF16_LOSS_REL of the whole loss. */
#define BF16_GRAD_REL 0.025
#define BF16_LOSS_REL 2e-3
#define BF16_XHAT_ATOL 4e-3

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static double num(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* a small non-negative integer field, or -1 (never casts NaN to int) */
static int small_int(const cJSON *o, const char *key) {
    double d = num(o, key);
    return d >= 0 && d <= 1e6 ? (int)d : -1;
}

/* Copies a JSON number array of exactly n elements into out; 0 on success. */
static int load_floats(const cJSON *arr, float *out, size_t n, const char *what) {
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n) {
        CHECK_MSG(0, "%s: expected an array of %zu numbers", what, n);
        return -1;
    }
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v)) {
            CHECK_MSG(0, "%s: element %zu is not a number", what, i);
            return -1;
        }
        out[i++] = (float)v->valuedouble;
    }
    return 0;
}

/* Fills a flat block with the same layout as m->params from {name: values};
 * every tensor of the model must be present. */
static int load_named(const Vae *m, const cJSON *obj, float *block, const char *what) {
    char w[160];
    for (int t = 0; t < m->lay.n_tensors; t++) {
        const VaeTensor *T = &m->lay.tensors[t];
        snprintf(w, sizeof w, "%s %s", what, T->name);
        if (load_floats(get(obj, T->name), block + T->offset, T->size, w) != 0) return -1;
    }
    return 0;
}

static int config_from_json(const cJSON *c, VaeConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    const cJSON *hid = get(c, "hidden"), *loss = get(c, "loss"), *arch = get(c, "arch"), *ch = get(c, "channels");
    if (!cJSON_IsArray(hid) || !cJSON_IsString(loss)) return -1;
    /* fixtures from before the conv models have no arch: an MLP */
    int a = cJSON_IsString(arch) ? vae_arch_parse(arch->valuestring) : VAE_ARCH_MLP;
    if (a < 0) return -1;
    cfg->arch = (VaeArch)a;
    cfg->n_channels = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : 0;
    if (cfg->n_channels > VAE_MAX_CHANNELS) return -1;
    for (int i = 0; i < cfg->n_channels; i++) {
        const cJSON *h = cJSON_GetArrayItem(ch, i);
        if (!cJSON_IsNumber(h) || !(h->valuedouble >= 1 && h->valuedouble <= 1e6)) return -1;
        cfg->channels[i] = (int)h->valuedouble;
    }
    cfg->rows = small_int(c, "rows");
    cfg->cols = small_int(c, "cols");
    cfg->zdim = small_int(c, "zdim");
    cfg->n_hidden = cJSON_GetArraySize(hid);
    if (cfg->n_hidden < 1 || cfg->n_hidden > VAE_MAX_HIDDEN) return -1;
    for (int i = 0; i < cfg->n_hidden; i++) {
        const cJSON *h = cJSON_GetArrayItem(hid, i);
        if (!cJSON_IsNumber(h) || !(h->valuedouble >= 1 && h->valuedouble <= 1e6)) return -1;
        cfg->hidden[i] = (int)h->valuedouble;
    }
    cfg->loss = strcmp(loss->valuestring, "mse") == 0 ? VAE_LOSS_MSE : VAE_LOSS_BCE;
    cfg->alpha = (float)num(c, "alpha");
    cfg->beta = (float)num(c, "beta");
    /* conditional / entropic cases; absent in the older fixtures */
    const cJSON *kind = get(c, "model");
    cfg->model = cJSON_IsString(kind) && strcmp(kind->valuestring, "eae") == 0 ? VAE_MODEL_EAE : VAE_MODEL_VAE;
    cfg->n_classes = cJSON_IsNumber(get(c, "n_classes")) ? small_int(c, "n_classes") : 0;
    if (cfg->model == VAE_MODEL_EAE) {
        cfg->lambda = (float)num(c, "lambda");
        cfg->knn = small_int(c, "knn");
        cfg->bn_momentum = (float)num(c, "bn_momentum");
    }
    return 0;
}

/* The golden comparison must be able to fail: nudge one gradient just past
 * the tolerance and require tol_close to reject it (not counted as a failure). */
static void self_check(const float *got, const float *ref, size_t n, double atol) {
    double *g = malloc(n * sizeof *g), *r = malloc(n * sizeof *r);
    if (!g || !r) {
        CHECK_MSG(0, "self-check: out of memory");
        free(g);
        free(r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        g[i] = got[i];
        r[i] = ref[i];
    }
    CHECK(tol_close(g, r, n, atol, GRAD_RTOL, NULL, NULL) == 1);
    size_t k = n / 2;
    g[k] = r[k] + 1.5 * (atol + GRAD_RTOL * fabs(r[k]));
    size_t wi = 0;
    CHECK(tol_close(g, r, n, atol, GRAD_RTOL, &wi, NULL) == 0);
    CHECK(wi == k);
    free(g);
    free(r);
}

static void run_fixture(const char *name, VaePrecision prec) {
    const int bf16 = prec == VAE_PREC_BF16;
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/reference_%s.json", check_source_dir(), name);
    char *text = read_text(path);
    if (!CHECK_MSG(text != NULL, "%s: cannot read", path)) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!CHECK_MSG(root != NULL, "%s: not valid JSON", path)) return;

    VaeConfig cfg;
    Vae m;
    VaeActs a;
    VaeError err;
    int B = small_int(get(root, "config"), "batch");
    int ok_model = 0, ok_acts = 0;
    float *ref = NULL;
    if (!CHECK_MSG(config_from_json(get(root, "config"), &cfg) == 0 && B >= 1, "%s: bad config", path)) goto done;
    ok_model = CHECK_MSG(vae_init(&m, &cfg, &err) == VAE_OK, "%s: vae_init: %s", path, err.msg);
    if (!ok_model) goto done;
    m.precision = prec;
    ok_acts = CHECK_MSG(vae_acts_init(&a, &m, B, &err) == VAE_OK, "%s: acts: %s", path, err.msg);
    if (!ok_acts) goto done;
    ref = malloc(m.n_params * sizeof *ref);
    if (!CHECK(ref != NULL)) goto done;

    /* weights by name, with their shapes checked against our layout */
    const cJSON *tensors = get(root, "tensors"), *t;
    CHECK_MSG(cJSON_GetArraySize(tensors) == m.lay.n_tensors, "%s: %d tensors, model has %d", path,
              cJSON_GetArraySize(tensors), m.lay.n_tensors);
    cJSON_ArrayForEach(t, tensors) {
        const cJSON *nm = get(t, "name"), *shape = get(t, "shape");
        const VaeTensor *T = cJSON_IsString(nm) ? vae_find_tensor(&m, nm->valuestring) : NULL;
        if (!CHECK_MSG(T != NULL, "%s: unknown tensor", path)) goto done;
        int same = cJSON_GetArraySize(shape) == T->ndim;
        for (int d = 0; same && d < T->ndim; d++) same = (int)cJSON_GetArrayItem(shape, d)->valuedouble == T->shape[d];
        if (!CHECK_MSG(same, "%s: tensor %s has another shape", path, T->name)) goto done;
        if (load_floats(get(t, "values"), m.params + T->offset, T->size, T->name) != 0) goto done;
    }
    int D = m.in_dim, Z = cfg.zdim;
    if (load_floats(get(root, "x"), a.x, (size_t)B * D, "x") != 0) goto done;
    if (load_floats(get(root, "eps"), a.eps, (size_t)B * Z, "eps") != 0) goto done;
    if (cfg.n_classes > 0) {
        const cJSON *lab = get(root, "labels");
        uint8_t labels[256];
        if (!CHECK_MSG(cJSON_GetArraySize(lab) == B && B <= 256, "%s: labels", path)) goto done;
        for (int i = 0; i < B; i++) labels[i] = (uint8_t)cJSON_GetArrayItem(lab, i)->valuedouble;
        CHECK_MSG(vae_set_labels(&m, &a, labels, NULL, 0, B) == -1, "%s: a label is out of range", path);
    }

    /* A gradient that is zero in exact arithmetic but sums large terms (a
     * bias in front of the entropic autoencoder's batch norm, whose mean the
     * norm removes) is float32 rounding noise in both implementations. The
     * fixture records how far torch's float32 gradients are from its float64
     * ones; the absolute tolerance is twice that when it exceeds GRAD_ATOL. */
    double atol = GRAD_ATOL, f32err = num(root, "f32_grad_max_abs_error_vs_f64");
    if (isfinite(f32err) && 2 * f32err > atol) atol = 2 * f32err;
    char what[200];
    const cJSON *ev;
    int k = 0;
    cJSON_ArrayForEach(ev, get(root, "evals")) {
        int use_eps = cJSON_IsTrue(get(ev, "use_eps"));
        const char *tag = use_eps ? "eps" : "z=mu";
        VaeLoss L;
        vae_zero_grad(&m);
        vae_forward(&m, &a, B, use_eps, 1, &L);
        double got[3] = {L.recon, L.kl, L.loss};
        double want[3] = {num(ev, "recon_sum"), num(ev, "kl_sum"), num(ev, "loss_sum")};
        snprintf(what, sizeof what, "%s %s %s: recon, kl, loss sums", name, vae_precision_name(prec), tag);
        /* bf16: each term within BF16_LOSS_REL of the whole loss (a small KL
           comes out of GEMMs whose error scales with their inputs, not with it) */
        double latol = bf16 ? BF16_LOSS_REL * fabs(want[2]) : LOSS_ATOL;
        check_close_d(what, got, want, 3, latol, bf16 ? BF16_LOSS_REL : LOSS_RTOL);
        float *xh = malloc((size_t)B * D * sizeof *xh);
        if (!CHECK(xh != NULL)) goto done;
        if (load_floats(get(ev, "xhat"), xh, (size_t)B * D, "xhat") == 0) {
            snprintf(what, sizeof what, "%s %s %s: xhat", name, vae_precision_name(prec), tag);
            check_close(what, a.xhat, xh, (size_t)B * D, bf16 ? BF16_XHAT_ATOL : XHAT_ATOL, XHAT_RTOL);
        }
        free(xh);
        /* bf16 can move a pre-activation near 0 across a ReLU's kink, which
           switches the unit and changes gradients by their own size: no
           tolerance covers that, so such a case compares its forward pass
           only (the gradients are covered by tests/test_vae_gradcheck.c on
           cases without one) */
        long flips = bf16 ? check_relu_flips(&m, &a, B, use_eps) : 0;
        if (flips != 0) {
            CHECK_MSG(flips > 0, "%s: out of memory", name);
            printf("%s bf16 %s: %ld ReLU(s) within bf16 rounding of 0: gradients not compared\n", name, tag, flips);
            k++;
            continue;
        }
        if (bf16) vae_forward(&m, &a, B, use_eps, 1, &L);   /* again, after the flip count's passes */
        vae_backward(&m, &a, B);
        if (load_named(&m, get(ev, "grads"), ref, "grads") != 0) goto done;
        int off_fp32 = 0;   /* bf16: some gradient outside the fp32 tolerance */
        for (int i = 0; i < m.lay.n_tensors; i++) {
            const VaeTensor *T = &m.lay.tensors[i];
            snprintf(what, sizeof what, "%s %s %s: grad %s", name, vae_precision_name(prec), tag, T->name);
            if (!bf16) {
                check_close(what, m.grads + T->offset, ref + T->offset, T->size, atol, GRAD_RTOL);
                continue;
            }
            double scale = 0;
            for (size_t j = 0; j < T->size; j++) scale = fmax(scale, fabs(ref[T->offset + j]));
            check_close(what, m.grads + T->offset, ref + T->offset, T->size, BF16_GRAD_REL * scale, BF16_GRAD_REL);
            double *g = malloc(T->size * sizeof *g), *r = malloc(T->size * sizeof *r);
            if (!CHECK(g && r)) {
                free(g);
                free(r);
                goto done;
            }
            for (size_t j = 0; j < T->size; j++) g[j] = m.grads[T->offset + j], r[j] = ref[T->offset + j];
            off_fp32 |= !tol_close(g, r, T->size, atol, GRAD_RTOL, NULL, NULL);
            free(g);
            free(r);
        }
        if (bf16) CHECK_MSG(off_fp32, "%s %s: bf16 gradients all within the fp32 tolerance: did bf16 run?", name, tag);
        if (bf16) {
            /* the bf16 comparison can fail: every gradient 10% too large is rejected */
            int caught = 0;
            for (int i = 0; i < m.lay.n_tensors && !caught; i++) {
                const VaeTensor *T = &m.lay.tensors[i];
                double *g = malloc(T->size * sizeof *g), *r = malloc(T->size * sizeof *r), scale = 0;
                if (!CHECK(g && r)) {
                    free(g);
                    free(r);
                    goto done;
                }
                for (size_t j = 0; j < T->size; j++) {
                    g[j] = 1.1 * ref[T->offset + j];
                    r[j] = ref[T->offset + j];
                    scale = fmax(scale, fabs(r[j]));
                }
                caught = scale > 0 && !tol_close(g, r, T->size, BF16_GRAD_REL * scale, BF16_GRAD_REL, NULL, NULL);
                free(g);
                free(r);
            }
            CHECK_MSG(caught, "%s %s: gradients 10%% off pass the bf16 tolerance", name, tag);
        }
        if (k++ == 0 && !bf16) self_check(m.grads, ref, m.n_params, atol);
    }
    CHECK_MSG(k >= 1, "%s: no evaluations", path);
    if (bf16) goto done;   /* Adam is fp32 in both precisions: checked once */

    /* Adam from torch's gradients of the first evaluation, so the optimizer
     * is compared alone (a gradient of ~1e-8 could differ in sign between two
     * float32 implementations, and Adam's first step turns that into +-lr). */
    const cJSON *adam = get(root, "adam");
    AdamConfig ac = {(float)num(adam, "lr"), (float)num(adam, "beta1"), (float)num(adam, "beta2"),
                     (float)num(adam, "eps")};
    if (load_named(&m, get(cJSON_GetArrayItem(get(root, "evals"), 0), "grads"), m.grads, "grads") != 0) goto done;
    memset(m.adam_m, 0, m.n_params * sizeof(float));
    memset(m.adam_v, 0, m.n_params * sizeof(float));
    const cJSON *step;
    int n_steps = 0;
    cJSON_ArrayForEach(step, get(adam, "steps")) {
        long ts = small_int(step, "t");
        adam_update(m.params, m.grads, m.adam_m, m.adam_v, m.n_params, &ac, ts);
        if (load_named(&m, get(step, "params"), ref, "adam params") != 0) goto done;
        for (int i = 0; i < m.lay.n_tensors; i++) {
            const VaeTensor *T = &m.lay.tensors[i];
            snprintf(what, sizeof what, "%s: %s after Adam step %ld", name, T->name, ts);
            check_close(what, m.params + T->offset, ref + T->offset, T->size, ADAM_ATOL, ADAM_RTOL);
        }
        n_steps++;
    }
    CHECK_MSG(n_steps == 2, "%s: expected 2 Adam steps, found %d", path, n_steps);

done:
    free(ref);
    if (ok_acts) vae_acts_free(&a);
    if (ok_model) vae_free(&m);
    cJSON_Delete(root);
}

int main(void) {
    static const char *const cases[] = {"bce", "mse", "bce_beta4", "conv", "conv_b1", "resnet", "cvae",
                                        "cvae_conv", "eae", "eae_resnet_cond"};
    const size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) run_fixture(cases[i], VAE_PREC_FP32);
    char why[200];
    if (vae_bf16_available(why, sizeof why)) {
        /* The entropic autoencoders are left out in bf16: their batch norm
           over the fixtures' 3-4 images divides by the spread of a handful of
           values and their kNN entropy picks neighbours by distance, so
           bf16's 2^-8 moves gradients by O(1) there. */
        for (size_t i = 0; i < n; i++)
            if (strncmp(cases[i], "eae", 3) != 0) run_fixture(cases[i], VAE_PREC_BF16);
    } else {
        printf("bf16 cases not run: %s\n", why);
    }
    return check_done("test_vae_reference");
}
