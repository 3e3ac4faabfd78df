/* vae_read_file: returns exactly the bytes written, and refuses folders,
 * missing files and files above the cap with a message naming the path. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/fileio.h"

int main(void) {
    VaeError err;
    uint8_t *buf;
    size_t len;
    const char *p = check_path("data.bin");
    uint8_t bytes[1000];
    for (int i = 0; i < 1000; i++) bytes[i] = (uint8_t)(i * 31 + 5);
    CHECK(check_write(p, bytes, sizeof bytes) == 0);

    CHECK(vae_read_file(p, &buf, &len, 1000, &err) == VAE_OK);
    CHECK(len == 1000 && buf && memcmp(buf, bytes, 1000) == 0);
    free(buf);

    /* one byte over the cap */
    CHECK(vae_read_file(p, &buf, &len, 999, &err) == VAE_ERR);
    CHECK(buf == NULL);
    check_contains("too large", err.msg, p);
    check_contains("too large", err.msg, "limit of 999 bytes");

    CHECK(vae_read_file(check_tmpdir(), &buf, &len, 1000, &err) == VAE_ERR);
    check_contains("directory", err.msg, check_tmpdir());
    check_contains("directory", err.msg, "directory");

    const char *missing = check_path("missing.bin");
    CHECK(vae_read_file(missing, &buf, &len, 1000, &err) == VAE_ERR);
    check_contains("missing", err.msg, missing);
    check_contains("missing", err.msg, "No such file or directory");

    /* an empty file gives a valid (freeable) buffer of length 0 */
    const char *pe = check_path("empty.bin");
    CHECK(check_write(pe, "", 0) == 0);
    CHECK(vae_read_file(pe, &buf, &len, 10, &err) == VAE_OK && len == 0 && buf != NULL);
    free(buf);
    return check_done("test_fileio_read");
}
