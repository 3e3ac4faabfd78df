/* Implementation of the test harness (see check.h). */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

int check_passed, check_failed;
static char tmpdir[4096];

int check_true(int ok, const char *expr, const char *file, int line) {
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
    }
    return ok;
}

int check_msg(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        check_passed++;
        return ok;
    }
    check_failed++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return ok;
}

int tol_close(const double *got, const double *ref, size_t n, double atol, double rtol,
              size_t *worst_index, double *worst_excess) {
    int ok = 1;
    double worst = -INFINITY;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - ref[i]);
        double lim = atol + rtol * fabs(ref[i]);
        double excess = isnan(d) ? INFINITY : d - lim;
        if (!(d <= lim)) ok = 0;
        if (excess > worst) {
            worst = excess;
            wi = i;
        }
    }
    if (worst_index) *worst_index = wi;
    if (worst_excess) *worst_excess = worst;
    return ok;
}

int check_close_d(const char *what, const double *got, const double *ref, size_t n, double atol, double rtol) {
    size_t wi = 0;
    double ex = 0;
    int ok = tol_close(got, ref, n, atol, rtol, &wi, &ex);
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL %s: element %zu of %zu: got %.9g, want %.9g (atol %g, rtol %g)\n",
                what, wi, n, got[wi], ref[wi], atol, rtol);
    }
    return ok;
}

int check_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol) {
    double *g = malloc((n ? n : 1) * sizeof *g), *r = malloc((n ? n : 1) * sizeof *r);
    if (!g || !r) {
        free(g);
        free(r);
        check_failed++;
        fprintf(stderr, "FAIL %s: out of memory\n", what);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        g[i] = got[i];
        r[i] = ref[i];
    }
    int ok = check_close_d(what, g, r, n, atol, rtol);
    free(g);
    free(r);
    return ok;
}

int check_contains(const char *what, const char *haystack, const char *needle) {
    int ok = haystack && needle && strstr(haystack, needle) != NULL;
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL %s: \"%s\" does not contain \"%s\"\n", what, haystack ? haystack : "(null)", needle);
    }
    return ok;
}

static void remove_tmpdir(void) {
    if (!tmpdir[0]) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

const char *check_tmpdir(void) {
    if (tmpdir[0]) return tmpdir;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/vae-test-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(remove_tmpdir);
    return tmpdir;
}

const char *check_path(const char *name) {
    static char slots[8][4200];
    static int next;
    char *p = slots[next++ % 8];
    snprintf(p, sizeof slots[0], "%s/%s", check_tmpdir(), name);
    return p;
}

int check_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    return (w == len && rc == 0) ? 0 : -1;
}

static void put_be32(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int check_write_blobs(const char *dir, const char *prefix, unsigned n, int rows, int cols, unsigned seed) {
    size_t len = 16 + (size_t)n * rows * cols;
    unsigned char *img = malloc(len), *lab = malloc(8 + (size_t)n);
    if (!img || !lab) {
        free(img);
        free(lab);
        return -1;
    }
    put_be32(img, 0x803);
    put_be32(img + 4, n);
    put_be32(img + 8, (unsigned)rows);
    put_be32(img + 12, (unsigned)cols);
    put_be32(lab, 0x801);
    put_be32(lab + 4, n);
    unsigned s = seed;
    int r2 = (rows < cols ? rows : cols) * (rows < cols ? rows : cols) / 8 + 2;   /* disc radius^2 */
    for (unsigned i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        int cy = (int)((s >> 8) % (unsigned)rows), cx = (int)((s >> 16) % (unsigned)cols);
        lab[8 + i] = (unsigned char)((s >> 24) % 10);
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) {
                int d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                int v = d2 < r2 ? 255 - 230 * d2 / r2 : 0;
                img[16 + (size_t)i * rows * cols + (size_t)y * cols + x] = (unsigned char)v;
            }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    int rc = check_write(path, img, len);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    rc |= check_write(path, lab, 8 + (size_t)n);
    free(img);
    free(lab);
    return rc;
}

int check_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

const char *check_source_dir(void) {
    const char *s = getenv("VAE_SOURCE_DIR");
    return (s && *s) ? s : ".";
}

static int parts_skipped;

void check_skip_part(const char *why) {
    printf("skipped part: %s\n", why);
    parts_skipped++;
}

int check_done(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    if (check_passed + check_failed == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    if (check_failed) return 1;
    if (parts_skipped) {
        printf("%s: %d part%s skipped (see above): reported as skipped\n", name, parts_skipped,
               parts_skipped == 1 ? "" : "s");
        return 77;
    }
    return 0;
}

int check_skip(const char *name, const char *why) {
    printf("%s: skipped: %s\n", name, why);
    return 77;
}

/* Activations positive in one precision and zero in the other over the
   batch in a: ReLUs that bf16 rounding moves across their kink. */
long check_relu_flips(Vae *m, VaeActs *a, int B, int use_eps) {
    size_t total = 0;
    for (int l = 0; l < m->lay.n_layers; l++)
        total += (size_t)B * m->lay.layers[l].c * m->lay.layers[l].h * m->lay.layers[l].w;
    unsigned char *pos = malloc(total);
    if (!pos) return -1;
    VaePrecision keep = m->precision;
    VaeLoss L;
    long flips = 0;
    for (int pass = 0; pass < 2; pass++) {
        m->precision = pass ? VAE_PREC_BF16 : VAE_PREC_FP32;
        vae_forward(m, a, B, use_eps, 0, &L);
        size_t o = 0;
        for (int l = 0; l < m->lay.n_layers; l++) {
            size_t n = (size_t)B * m->lay.layers[l].c * m->lay.layers[l].h * m->lay.layers[l].w;
            for (size_t i = 0; i < n; i++, o++) {
                unsigned char p = a->act[l][i] > 0.0f;
                if (pass == 0) pos[o] = p;
                else flips += p != pos[o];
            }
        }
    }
    m->precision = keep;
    free(pos);
    return flips;
}
