/* adam_update against torch.optim.Adam: tests/fixtures/reference_adam.json
 * holds, for two settings (default, and lr 0.05 / betas 0.8, 0.95 / eps 1e-4),
 * a start vector, five gradients of growing scale (with zeros) and the
 * parameters torch produced after each step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "check.h"
#include "vae/adam.h"

#define MAXN 64

static int load(const cJSON *arr, float *out, int *n) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > MAXN) return -1;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v)) return -1;
        out[i++] = (float)v->valuedouble;
    }
    *n = i;
    return 0;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/reference_adam.json", check_source_dir());
    FILE *f = fopen(path, "rb");
    if (!CHECK_MSG(f != NULL, "%s: cannot open", path)) return check_done("test_adam_reference");
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    if (!CHECK_MSG(root != NULL, "%s: not valid JSON", path)) return check_done("test_adam_reference");
    const cJSON *run;
    int runs = 0;
    cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(root, "runs")) {
        AdamConfig c = {(float)num(run, "lr"), (float)num(run, "beta1"), (float)num(run, "beta2"),
                        (float)num(run, "eps")};
        float p[MAXN], g[MAXN], m[MAXN] = {0}, v[MAXN] = {0}, want[MAXN];
        int n = 0, ng = 0, nw = 0;
        if (!CHECK(load(cJSON_GetObjectItemCaseSensitive(run, "p0"), p, &n) == 0 && n > 0)) break;
        const cJSON *grads = cJSON_GetObjectItemCaseSensitive(run, "grads");
        const cJSON *after = cJSON_GetObjectItemCaseSensitive(run, "params_after");
        int steps = cJSON_GetArraySize(grads);
        CHECK(steps == 5 && cJSON_GetArraySize(after) == steps);
        for (int t = 1; t <= steps; t++) {
            if (!CHECK(load(cJSON_GetArrayItem(grads, t - 1), g, &ng) == 0 && ng == n)) break;
            if (!CHECK(load(cJSON_GetArrayItem(after, t - 1), want, &nw) == 0 && nw == n)) break;
            adam_update(p, g, m, v, (size_t)n, &c, t);
            char what[96];
            snprintf(what, sizeof what, "run %d (lr %g) step %d", runs, c.lr, t);
            /* same gradients on both sides: only float rounding of p (~1e-7) */
            check_close(what, p, want, (size_t)n, 2e-7, 1e-6);
        }
        runs++;
    }
    CHECK(runs == 2);
    cJSON_Delete(root);
    return check_done("test_adam_reference");
}
