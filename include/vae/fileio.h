/* Whole-file reading with a size cap, and atomic writing: a regular (or new)
 * target is written to a temp file "<target>.tmp-<pid>-XXXXXX" in the same
 * folder, flushed, fsynced and renamed over it, then the folder is fsynced,
 * so a crash or full disk never leaves a partial file under the requested
 * name. A symbolic link is resolved and the file it names is replaced the
 * same way in that file's folder (the link stays a link). Temp files left by
 * a killed writer (its pid gone) are removed by the next write into the
 * folder. A target that exists and is not a regular file (/dev/stdout, a
 * pipe, /dev/full), or a link through /proc or /dev/fd, is written directly. */
#ifndef VAE_FILEIO_H
#define VAE_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"

/* Reads all of path into a malloc'd *buf (caller frees). Refuses files larger
 * than max_len, directories and unreadable paths with a message naming path. */
int vae_read_file(const char *path, uint8_t **buf, size_t *len, size_t max_len, VaeError *err);

int vae_write_file(const char *path, const void *data, size_t len, VaeError *err);

/* One piece of a file written from several buffers. */
typedef struct {
    const void *data;
    size_t len;
} VaeBytes;

/* vae_write_file of the parts back to back, without first copying them into
 * one buffer (a checkpoint's tensors are written from the model itself). */
int vae_write_file_parts(const char *path, const VaeBytes *parts, int n, VaeError *err);

/* Test hook: when > 0, the n-th write() issued by vae_write_file fails with
 * ENOSPC (counting down across calls). 0 disables it. */
extern int vae_fileio_fail_after;

/* mkdir -p: the folder and its parents; VAE_ERR if it is not a folder afterwards. */
int vae_make_dirs(const char *dir, VaeError *err);

#endif
