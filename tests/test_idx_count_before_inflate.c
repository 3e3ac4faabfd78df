/* A split whose image count disagrees with its label count is refused from
 * the images' header, before their data is allocated or inflated: here the
 * gzip stream is damaged right after the header, so a loader that inflated
 * first would report the damage instead of the counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "check.h"
#include "vae/idx.h"

int main(void) {
    const char *dir = check_path("data");
    CHECK(mkdir(dir, 0777) == 0);
    char p[4200];
    /* 3 labels */
    uint8_t labels[11] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir);
    CHECK(check_write(p, labels, sizeof labels) == 0);
    /* a gzip stream whose header says 100000 images of 28x28 (78 MB), then
       the first 16 KB of pixels, then garbage (the header is read without
       reaching it: zlib stops inside the pixels' block) */
    static uint8_t head[16 + 16384] = {0, 0, 8, 3, 0, 1, 0x86, 0xa0, 0, 0, 0, 28, 0, 0, 0, 28};
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    uint8_t out[256];
    zs.next_in = head;
    zs.avail_in = sizeof head;
    zs.next_out = out;
    zs.avail_out = sizeof out;
    CHECK(deflate(&zs, Z_SYNC_FLUSH) == Z_OK);
    size_t n = sizeof out - zs.avail_out;
    deflateEnd(&zs);
    uint8_t file[512];
    memcpy(file, out, n);
    for (int i = 0; i < 200; i++) file[n + i] = (uint8_t)(0xA5 ^ (i * 37));
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    CHECK(check_write(p, file, n + 200) == 0);

    IdxSplit s;
    VaeError err;
    CHECK(idx_load_split(&s, dir, IDX_TEST, &err) == VAE_ERR);
    check_contains("counts", err.msg, "100000 images but");
    check_contains("counts", err.msg, "has 3 labels");
    CHECK(s.images.pixels == NULL && s.labels.labels == NULL);
    return check_done("test_idx_count_before_inflate");
}
