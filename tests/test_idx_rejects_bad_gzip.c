/* Broken gzip input is refused with a zlib error, not misread: a stream cut
 * short at several points, a flipped byte in the compressed data (caught by
 * inflate or by the CRC), and garbage after a complete member. */
#include "test_idx_util.h"
#include "vae/idx.h"

static void expect_fail(const uint8_t *b, size_t len, const char *needle, const char *what) {
    const char *p = check_path("bad.gz");
    CHECK(check_write(p, b, len) == 0);
    IdxImages im;
    VaeError err = {{0}};
    CHECK_MSG(idx_load_images(&im, p, &err) == VAE_ERR, "%s: file accepted", what);
    CHECK(im.pixels == NULL);
    check_contains(what, err.msg, needle);
    check_contains(what, err.msg, p);
    VaeError err2 = {{0}};
    CHECK_MSG(idx_parse_images(&im, b, len, "mem.gz", &err2) == VAE_ERR, "%s: memory accepted", what);
    check_contains(what, err2.msg, needle);
}

int main(void) {
    size_t ilen;
    uint8_t *img = tidx_make(20, 28, 28, &ilen);
    const char *good = check_path("good.gz");
    CHECK(tidx_write_gz(good, img, ilen) == 0);
    size_t glen;
    uint8_t *gz = tidx_read_all(good, &glen);
    CHECK(gz && glen > 40);
    if (!gz || glen <= 40) return check_done("test_idx_rejects_bad_gzip");

    /* truncated: lose the 8-byte trailer, half the stream, all but the gzip header */
    expect_fail(gz, glen - 8, "corrupt gzip data", "cut before the trailer");
    expect_fail(gz, glen - 1, "corrupt gzip data", "cut one byte short");
    expect_fail(gz, glen / 2, "corrupt gzip data", "cut in half");
    expect_fail(gz, 12, "corrupt gzip data", "gzip header only");

    /* corrupted: flip bits in the CRC (last 8 bytes: CRC32, ISIZE), and in the deflate data */
    uint8_t *bad = malloc(glen + 16);
    CHECK(bad != NULL);
    if (bad) {
        memcpy(bad, gz, glen);
        bad[glen - 8] ^= 0x01;
        expect_fail(bad, glen, "corrupt gzip data: incorrect data check", "CRC flipped");
        memcpy(bad, gz, glen);
        bad[glen - 2] ^= 0x40;
        expect_fail(bad, glen, "corrupt gzip data: incorrect length check", "ISIZE flipped");
        /* a flipped byte in the middle of the deflate data: the exact zlib
         * complaint depends on where it lands, but it must be a gzip error */
        int all = 1;
        for (size_t pos = 10; pos < glen - 8; pos += (glen - 18) / 7 + 1) {
            memcpy(bad, gz, glen);
            bad[pos] ^= 0xff;
            IdxImages im;
            VaeError err = {{0}};
            int rc = idx_parse_images(&im, bad, glen, "flip", &err);
            if (rc == VAE_OK) idx_images_free(&im);
            if (rc != VAE_ERR || !strstr(err.msg, "flip: corrupt gzip data")) {
                all = 0;
                fprintf(stderr, "flip at %zu: rc %d, \"%s\"\n", pos, rc, err.msg);
            }
        }
        CHECK_MSG(all, "a corrupted deflate byte went unnoticed");
        /* garbage after a complete member is not a second member */
        memcpy(bad, gz, glen);
        memcpy(bad + glen, "garbage!", 8);
        expect_fail(bad, glen + 8, "corrupt gzip data", "trailing garbage");
    }
    free(bad);
    free(gz);
    free(img);
    return check_done("test_idx_rejects_bad_gzip");
}
