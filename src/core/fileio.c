/* Whole-file reads with a size cap, and atomic whole-file writes (temp file in
 * the same folder, fsync, rename, fsync of the folder), so an interrupted or
 * failed save never leaves a partial file under the requested name. */
#include "vae/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int vae_fileio_fail_after = 0;

/* Writes are issued in chunks so a short write or an injected failure can
 * land in the middle of a large file, as it would on a full disk. */
#define WRITE_CHUNK ((size_t)1 << 20)

int vae_read_file(const char *path, uint8_t **buf, size_t *len, size_t max_len, VaeError *err) {
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vae_fail(err, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return vae_fail(err, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return vae_fail(err, "%s: is a directory, not a file", path);
    }
    /* a regular file says its size up front; pipes and devices are read until
     * EOF, growing the buffer, and still stop at max_len */
    size_t cap = 4096;
    if (S_ISREG(sb.st_mode)) {
        if ((uintmax_t)sb.st_size > (uintmax_t)max_len) {
            close(fd);
            return vae_fail(err, "%s: file is %jd bytes, more than the limit of %zu bytes", path,
                            (intmax_t)sb.st_size, max_len);
        }
        cap = (size_t)sb.st_size + 1; /* +1 so EOF is seen without growing */
    }
    uint8_t *p = malloc(cap);
    if (!p) {
        close(fd);
        return vae_fail(err, "%s: out of memory for %zu bytes", path, cap);
    }
    size_t used = 0;
    for (;;) {
        if (used == cap) {
            if (cap > max_len) {
                free(p);
                close(fd);
                return vae_fail(err, "%s: file is more than the limit of %zu bytes", path, max_len);
            }
            size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            if (ncap > max_len && max_len < SIZE_MAX) ncap = max_len + 1;
            uint8_t *q = realloc(p, ncap);
            if (!q) {
                free(p);
                close(fd);
                return vae_fail(err, "%s: out of memory for %zu bytes", path, ncap);
            }
            p = q;
            cap = ncap;
        }
        ssize_t r = read(fd, p + used, cap - used);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(p);
            close(fd);
            return vae_fail(err, "%s: %s", path, strerror(e));
        }
        if (r == 0) break;
        used += (size_t)r;
    }
    close(fd);
    if (used > max_len) {
        free(p);
        return vae_fail(err, "%s: file is more than the limit of %zu bytes", path, max_len);
    }
    *buf = p;
    *len = used;
    return VAE_OK;
}

/* write() with the test hook: the n-th call fails with ENOSPC */
static ssize_t hooked_write(int fd, const void *p, size_t n) {
    if (vae_fileio_fail_after > 0 && --vae_fileio_fail_after == 0) {
        errno = ENOSPC;
        return -1;
    }
    return write(fd, p, n);
}

/* All of data to fd, through short writes and EINTR; 0 or an errno value. */
static int write_all(int fd, const uint8_t *data, size_t len) {
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < WRITE_CHUNK ? len - done : WRITE_CHUNK;
        ssize_t w = hooked_write(fd, data + done, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (w == 0) return ENOSPC; /* no progress: treat as a full device */
        done += (size_t)w;
    }
    return 0;
}

/* An existing non-regular target (device, pipe, terminal) or a symbolic link:
 * written in place. Renaming over a link would replace the link itself, and
 * /dev/stdout is a link (through /proc) to whatever stdout is, so links are
 * followed and the file they name is truncated and written. */
static int write_direct(const char *path, const void *data, size_t len, int flags, VaeError *err) {
    int fd = open(path, O_WRONLY | flags, 0666);
    if (fd < 0) return vae_fail(err, "%s: %s", path, strerror(errno));
    int e = write_all(fd, data, len);
    if (e) {
        close(fd);
        return vae_fail(err, "%s: %s", path, strerror(e));
    }
    if (close(fd) != 0) return vae_fail(err, "%s: %s", path, strerror(errno));
    return VAE_OK;
}

/* The permission bits a plain open(O_CREAT, 0666) would give: 0644 under the
 * usual umask 022. umask can only be read by setting it, so it is restored
 * at once. */
static mode_t new_file_mode(void) {
    mode_t mask = umask(022);
    umask(mask);
    return (mode_t)(0666 & ~mask);
}

/* fsync of the folder holding path, so the rename itself is durable. Some
 * file systems refuse fsync on folders (EINVAL); that is not an error. */
static int sync_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (slash == path) {
        snprintf(dir, sizeof dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return errno;
    int e = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) e = errno;
    close(fd);
    return e;
}

int vae_write_file(const char *path, const void *data, size_t len, VaeError *err) {
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return vae_fail(err, "%s: is a directory", path);
        return write_direct(path, data, len, O_CREAT | O_TRUNC, err);
    }
    int exists = stat(path, &sb) == 0;
    if (exists && S_ISDIR(sb.st_mode)) return vae_fail(err, "%s: is a directory", path);
    if (exists && !S_ISREG(sb.st_mode)) return write_direct(path, data, len, 0, err);

    /* an existing file keeps its permissions; a new one gets 0666 & ~umask */
    mode_t mode = exists ? (sb.st_mode & 07777) : new_file_mode();
    size_t plen = strlen(path), tlen;
    if (vae_add_size(plen, sizeof ".tmp-XXXXXX", &tlen) != 0) return vae_fail(err, "%s: path too long", path);
    char *tmp = malloc(tlen);
    if (!tmp) return vae_fail(err, "%s: out of memory", path);
    snprintf(tmp, tlen, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return vae_fail(err, "%s: %s", path, strerror(e));
    }
    int e = write_all(fd, data, len);
    const char *what = "";
    if (!e && fchmod(fd, mode) != 0) e = errno, what = " (setting permissions)";
    if (!e && fsync(fd) != 0) e = errno, what = " (fsync)";
    if (close(fd) != 0 && !e) e = errno, what = " (close)";
    if (!e && rename(tmp, path) != 0) e = errno, what = " (rename)";
    if (e) {
        unlink(tmp);
        free(tmp);
        return vae_fail(err, "%s: %s%s", path, strerror(e), what);
    }
    free(tmp);
    e = sync_folder(path);
    if (e) return vae_fail(err, "%s: %s (fsync of the folder)", path, strerror(e));
    return VAE_OK;
}
