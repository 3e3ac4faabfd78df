/* Status codes and error messages shared by every module of the core library.
 * Library functions never print, exit or abort on bad input: they return
 * VAE_ERR and leave "<path or subject>: <what is wrong>" in a VaeError. */
#ifndef VAE_COMMON_H
#define VAE_COMMON_H

#include <stddef.h>

#define VAE_OK 0
#define VAE_ERR (-1)

typedef struct {
    char msg[512];
} VaeError;

/* Formats a message into err (which may be NULL) and returns VAE_ERR, so a
 * failing path reads `return vae_fail(err, "%s: truncated", path);`. */
int vae_fail(VaeError *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Seconds on the monotonic clock, for timing and progress. */
double vae_now_seconds(void);

/* Overflow-checked size arithmetic: returns 0 and sets *out, or -1 on overflow. */
int vae_mul_size(size_t a, size_t b, size_t *out);
int vae_add_size(size_t a, size_t b, size_t *out);

#endif
