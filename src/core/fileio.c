/* Whole-file reads with a size cap, and atomic whole-file writes (temp file in
 * the same folder, fsync, rename, fsync of the folder), so an interrupted or
 * failed save never leaves a partial file under the requested name. Through
 * a symbolic link, the file it names is replaced the same way in its own
 * folder; stale temp files of dead writers are removed by the next write. */
#include "vae/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

static int write_parts(int fd, const VaeBytes *parts, int n) {
    for (int i = 0; i < n; i++) {
        int e = write_all(fd, parts[i].data, parts[i].len);
        if (e) return e;
    }
    return 0;
}

/* An existing non-regular target (device, pipe, terminal), or a link through
 * /proc or /dev/fd (/dev/stdout): written in place, as renaming over it
 * would replace the device node or the link itself. */
static int write_direct(const char *path, const VaeBytes *parts, int n, int flags, VaeError *err) {
    int fd = open(path, O_WRONLY | flags, 0666);
    if (fd < 0) return vae_fail(err, "%s: %s", path, strerror(errno));
    int e = write_parts(fd, parts, n);
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

/* ---- temp files ----
 * "<name>.tmp-<pid>-XXXXXX" beside the target. A write killed with -9 (or a
 * power cut) leaves one behind; the next write into the same folder removes
 * those whose process is gone, and only those: a temp of a live process
 * (another vae writing there now) is left alone. */

/* pid in a temp file's name, or 0 when the name is not one of ours */
static long temp_owner(const char *name) {
    const char *t = NULL;
    for (const char *p = strstr(name, ".tmp-"); p; p = strstr(p + 1, ".tmp-")) t = p;
    if (!t) return 0;
    const char *d = t + 5, *q = d;
    while (*q >= '0' && *q <= '9') q++;
    if (q == d || q - d > 9 || *q != '-' || strlen(q + 1) != 6) return 0;
    for (const char *c = q + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) return 0;
    return strtol(d, NULL, 10);
}

static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = temp_owner(e->d_name);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p) continue;
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) unlink(p);
    }
    closedir(d);
}

/* folder part of path into dir ("." for a bare name) */
static int folder_of(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) return snprintf(dir, size, ".") < (int)size ? 0 : -1;
    if (slash == path) return snprintf(dir, size, "/") < (int)size ? 0 : -1;
    size_t n = (size_t)(slash - path);
    if (n >= size) return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

/* Follows a chain of symbolic links to the path of the file it names (which
 * may not exist yet). Returns 1 when the chain passes through /proc or
 * /dev/fd: such a "link" (/dev/stdout -> /proc/self/fd/1 -> a pipe, a
 * terminal, the file the shell opened) is an open descriptor, not a name to
 * rename over, so it is written in place. 0 with the path in out; -1 on error
 * with errno set. */
static int resolve_links(const char *path, char *out, size_t size) {
    char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX];
    if ((size_t)snprintf(cur, sizeof cur, "%s", path) >= sizeof cur) return errno = ENAMETOOLONG, -1;
    for (int hops = 0;; hops++) {
        if (strncmp(cur, "/proc/", 6) == 0 || strncmp(cur, "/dev/fd/", 8) == 0) return 1;
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) break;
        if (hops == 40) return errno = ELOOP, -1;
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) return -1;
        link[n] = '\0';
        if (link[0] == '/') {
            memcpy(cur, link, (size_t)n + 1);
        } else {
            if (folder_of(cur, dir, sizeof dir) != 0) return errno = ENAMETOOLONG, -1;
            if ((size_t)snprintf(cur, sizeof cur, "%s/%s", dir, link) >= sizeof cur) return errno = ENAMETOOLONG, -1;
        }
    }
    if ((size_t)snprintf(out, size, "%s", cur) >= size) return errno = ENAMETOOLONG, -1;
    return 0;
}

/* Writes data to target through a temp file in target's folder, fsync,
 * rename, fsync of the folder. `shown` is the path the caller asked for, used
 * in messages. */
static int write_atomic(const char *shown, const char *target, const VaeBytes *parts, int n, VaeError *err) {
    struct stat sb;
    int exists = stat(target, &sb) == 0;
    /* an existing file keeps its permissions; a new one gets 0666 & ~umask */
    mode_t mode = exists ? (sb.st_mode & 07777) : new_file_mode();
    char dir[PATH_MAX];
    if (folder_of(target, dir, sizeof dir) == 0) remove_stale_temps(dir);
    char suffix[48];
    snprintf(suffix, sizeof suffix, ".tmp-%ld-XXXXXX", (long)getpid());
    size_t plen = strlen(target), tlen;
    if (vae_add_size(plen, strlen(suffix) + 1, &tlen) != 0) return vae_fail(err, "%s: path too long", shown);
    char *tmp = malloc(tlen);
    if (!tmp) return vae_fail(err, "%s: out of memory", shown);
    snprintf(tmp, tlen, "%s%s", target, suffix);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return vae_fail(err, "%s: %s", shown, strerror(e));
    }
    int e = write_parts(fd, parts, n);
    const char *what = "";
    if (!e && fchmod(fd, mode) != 0) e = errno, what = " (setting permissions)";
    if (!e && fsync(fd) != 0) e = errno, what = " (fsync)";
    if (close(fd) != 0 && !e) e = errno, what = " (close)";
    if (!e && rename(tmp, target) != 0) e = errno, what = " (rename)";
    if (e) {
        unlink(tmp);
        free(tmp);
        return vae_fail(err, "%s: %s%s", shown, strerror(e), what);
    }
    free(tmp);
    e = sync_folder(target);
    if (e) return vae_fail(err, "%s: %s (fsync of the folder)", shown, strerror(e));
    return VAE_OK;
}

int vae_write_file(const char *path, const void *data, size_t len, VaeError *err) {
    VaeBytes one = {data, len};
    return vae_write_file_parts(path, &one, 1, err);
}

int vae_write_file_parts(const char *path, const VaeBytes *parts, int n, VaeError *err) {
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return vae_fail(err, "%s: is a directory", path);
        /* a link to a device, pipe or terminal, or an open descriptor: in place */
        if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) return write_direct(path, parts, n, 0, err);
        char target[PATH_MAX];
        int r = resolve_links(path, target, sizeof target);
        if (r < 0) return vae_fail(err, "%s: %s (following the symbolic link)", path, strerror(errno));
        if (r == 1) return write_direct(path, parts, n, O_CREAT | O_TRUNC, err);
        /* the file the link names is replaced atomically in its own folder,
           and the link stays: a failed write leaves the old file whole */
        return write_atomic(path, target, parts, n, err);
    }
    int exists = stat(path, &sb) == 0;
    if (exists && S_ISDIR(sb.st_mode)) return vae_fail(err, "%s: is a directory", path);
    if (exists && !S_ISREG(sb.st_mode)) return write_direct(path, parts, n, 0, err);
    return write_atomic(path, path, parts, n, err);
}

int vae_make_dirs(const char *dir, VaeError *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return vae_fail(err, "%s: path too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return vae_fail(err, "%s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return vae_fail(err, "%s: %s", buf, strerror(errno));
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) return vae_fail(err, "%s: not a directory", dir);
    return VAE_OK;
}
