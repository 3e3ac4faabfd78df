/* The test harness every test links: counted checks, one shared tolerance
 * helper for numerical comparisons, temp folders, and a closing line
 * "N passed, N failed" with a non-zero exit on any failure (77 = skipped). */
#ifndef VAE_CHECK_H
#define VAE_CHECK_H

#include <stddef.h>

#include "vae/vae.h"

extern int check_passed, check_failed;

#define CHECK(cond) check_true((cond), #cond, __FILE__, __LINE__)
#define CHECK_MSG(cond, ...) check_msg((cond), __FILE__, __LINE__, __VA_ARGS__)
int check_true(int ok, const char *expr, const char *file, int line);
int check_msg(int ok, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* |got - ref| <= atol + rtol * |ref| elementwise; NaN never matches.
 * Returns 1 when every element matches. Prints the worst offenders.
 * check_close counts one pass/fail; check_close_quiet only reports. */
int check_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol);
int check_close_d(const char *what, const double *got, const double *ref, size_t n, double atol, double rtol);
int tol_close(const double *got, const double *ref, size_t n, double atol, double rtol,
              size_t *worst_index, double *worst_excess);

/* substring check on a message, e.g. an error text */
int check_contains(const char *what, const char *haystack, const char *needle);

/* A fresh empty folder under $TMPDIR (or /tmp), removed by check_cleanup. */
const char *check_tmpdir(void);
/* path inside the temp folder; static buffer rotated over 8 slots */
const char *check_path(const char *name);
/* write bytes to a file; returns 0 on success */
int check_write(const char *path, const void *data, size_t len);
/* Writes DIR/PREFIX-images-idx3-ubyte and DIR/PREFIX-labels-idx1-ubyte: n
 * images of rows x cols, each a bright blurry disc at a random place (a fixed
 * LCG from seed), so a model has something to learn. 0 on success. */
int check_write_blobs(const char *dir, const char *prefix, unsigned n, int rows, int cols, unsigned seed);
/* entries of a folder other than . and ..; -1 if it cannot be read */
int check_count_entries(const char *dir);
/* $VAE_SOURCE_DIR or "." */
const char *check_source_dir(void);

/* Prints "name: N passed, N failed" and returns the exit code (0 or 1).
 * check_skip prints the reason and returns 77, which ctest reports as skipped. */
int check_done(const char *name);
int check_skip(const char *name, const char *why);
/* A part of a test that cannot run here (a missing tool): says why, and
 * check_done then returns 77 (skipped) when nothing failed, so a skipped
 * part is never reported as a pass. */
void check_skip_part(const char *why);

/* Activations (every layer, the first B rows of a) positive in one
 * precision and zero in the other after a forward pass of m in fp32 and in
 * bf16: ReLUs that bf16 rounding moves across their kink, where a gradient
 * comparison is meaningless. -1 when out of memory. m->precision is kept. */
long check_relu_flips(Vae *m, VaeActs *a, int B, int use_eps);

#endif
