/* vae_write_file on regular paths: creates and replaces files atomically,
 * refuses a missing folder, and after an injected write failure leaves the
 * previous content intact with no temp files behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/fileio.h"

static int file_equals(const char *path, const void *want, size_t len) {
    uint8_t *buf;
    size_t n;
    VaeError err;
    if (vae_read_file(path, &buf, &n, 1 << 26, &err) != VAE_OK) return 0;
    int same = n == len && (len == 0 || memcmp(buf, want, len) == 0);
    free(buf);
    return same;
}

int main(void) {
    VaeError err;
    const char *dir = check_tmpdir();
    const char *p = check_path("out.bin");

    /* new file: content and the usual 0666 & ~umask permissions */
    mode_t mask = umask(022);
    CHECK(vae_write_file(p, "hello", 5, &err) == VAE_OK);
    CHECK(file_equals(p, "hello", 5));
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    umask(mask);

    /* replacing a file keeps its permissions and swaps the content */
    CHECK(chmod(p, 0600) == 0);
    CHECK(vae_write_file(p, "second version", 14, &err) == VAE_OK);
    CHECK(file_equals(p, "second version", 14));
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK(check_count_entries(dir) == 1);

    /* an empty file is fine */
    const char *pe = check_path("empty.bin");
    CHECK(vae_write_file(pe, "", 0, &err) == VAE_OK);
    CHECK(file_equals(pe, "", 0));

    /* missing folder: an error naming the path, nothing created */
    const char *pm = check_path("no-such-folder/out.bin");
    CHECK(vae_write_file(pm, "x", 1, &err) == VAE_ERR);
    check_contains("missing folder", err.msg, pm);
    check_contains("missing folder", err.msg, "No such file or directory");
    CHECK(check_count_entries(dir) == 2);

    /* a folder as the target is refused */
    CHECK(vae_write_file(dir, "x", 1, &err) == VAE_ERR);
    check_contains("folder target", err.msg, "directory");

    /* injected ENOSPC on the first and on a later write of a large file:
     * the old content survives and the temp file is gone */
    size_t big = (size_t)3 << 20; /* three 1 MiB write chunks */
    uint8_t *data = malloc(big);
    CHECK(data != NULL);
    if (data) {
        for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 7);
        for (int when = 1; when <= 3; when++) {
            vae_fileio_fail_after = when;
            int rc = vae_write_file(p, data, big, &err);
            CHECK_MSG(rc == VAE_ERR, "failure injected at write %d was not reported", when);
            check_contains("injected failure", err.msg, "No space left on device");
            check_contains("injected failure", err.msg, p);
            CHECK(file_equals(p, "second version", 14));
            CHECK_MSG(check_count_entries(dir) == 2, "temp file left behind after failure at write %d", when);
        }
        CHECK(vae_fileio_fail_after == 0);
        /* the hook fires once: the next write succeeds */
        CHECK(vae_write_file(p, data, big, &err) == VAE_OK);
        CHECK(file_equals(p, data, big));
        free(data);
    }
    return check_done("test_fileio_atomic_write");
}
