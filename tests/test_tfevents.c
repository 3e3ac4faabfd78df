/* TensorBoard event files at the byte level: CRC-32C against the RFC 3720
 * vectors, TFRecord frames whose lengths and masked CRCs a bitwise CRC here
 * confirms, and Events whose protobuf bytes equal the encoding worked out by
 * hand from the field numbers; PNG headers; two writers in one second get two
 * files. (tests/cli_tensorboard.sh decodes the files with protoc and
 * python3-protobuf.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/fileio.h"
#include "vae/image.h"
#include "vae/tfevents.h"

static uint32_t crc_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}
static uint32_t rd32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static int has_bytes(const uint8_t *m, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(m + i, s, k) == 0) return 1;
    return 0;
}

/* checks the frame at *pos and returns the message's bytes */
static const uint8_t *frame(const uint8_t *d, size_t len, size_t *pos, size_t *msg_len) {
    if (*pos + 12 > len) return NULL;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | d[*pos + i];
    uint32_t c = crc_bitwise(d + *pos, 8);
    CHECK_MSG(rd32(d + *pos + 8) == ((c >> 15 | c << 17) + 0xa282ead8u), "length CRC at %zu", *pos);
    if (*pos + 16 + n > len) return NULL;
    const uint8_t *m = d + *pos + 12;
    c = crc_bitwise(m, n);
    CHECK_MSG(rd32(m + n) == ((c >> 15 | c << 17) + 0xa282ead8u), "data CRC at %zu", *pos);
    *pos += 16 + n;
    *msg_len = n;
    return m;
}

int main(void) {
    /* RFC 3720 B.4 vectors and the usual check value */
    uint8_t buf[32];
    CHECK(crc32c("123456789", 9) == 0xE3069283u);
    memset(buf, 0, 32);
    CHECK(crc32c(buf, 32) == 0x8A9136AAu);
    memset(buf, 0xFF, 32);
    CHECK(crc32c(buf, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    CHECK(crc32c(buf, 32) == 0x46DD794Eu);
    uint32_t c = 0xE3069283u;
    CHECK(tfrecord_masked_crc("123456789", 9) == ((c >> 15 | c << 17) + 0xa282ead8u));

    /* a grid PNG to embed */
    const char *dir = check_tmpdir();
    char png_path[4200], tb_dir[4200];
    snprintf(png_path, sizeof png_path, "%s/g.png", dir);
    snprintf(tb_dir, sizeof tb_dir, "%s/tb/sub", dir);
    uint8_t px[6 * 4];
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(i * 10);
    VaeError err = {{0}};
    CHECK(image_write_png(png_path, px, 6, 4, 1, &err) == VAE_OK);
    uint8_t *png = NULL;
    size_t png_len = 0;
    CHECK(vae_read_file(png_path, &png, &png_len, 1 << 20, &err) == VAE_OK);
    int w = 0, h = 0, cs = 0;
    CHECK(png && tb_png_info(png, png_len, &w, &h, &cs, &err) == VAE_OK && w == 6 && h == 4 && cs == 1);
    CHECK(tb_png_info((const uint8_t *)"GIF89a not a png at all, no........", 36, &w, &h, &cs, &err) == VAE_ERR);

    TbWriter tw, tw2;
    CHECK_MSG(tb_open(&tw, tb_dir, &err) == VAE_OK, "tb_open: %s", err.msg);
    CHECK(strstr(tw.path, "/tb/sub/events.out.tfevents.") != NULL);
    CHECK(tb_open(&tw2, tb_dir, &err) == VAE_OK && strcmp(tw.path, tw2.path) != 0);
    TbScalar s = {"train/loss", 1.5f};
    TbImage im = {"samples", png, png_len, 6, 4, 1};
    CHECK(tb_add(&tw, 300, 2.0, &s, 1, NULL, 0, &err) == VAE_OK);
    CHECK(tb_add(&tw, 1, 4.0, NULL, 0, &im, 1, &err) == VAE_OK);

    uint8_t *d = NULL;
    size_t len = 0, pos = 0, n = 0;
    CHECK(vae_read_file(tw.path, &d, &len, 1 << 20, &err) == VAE_OK);
    const uint8_t *m = d ? frame(d, len, &pos, &n) : NULL;
    /* Event{wall_time (1, fixed64), file_version (3, bytes) "brain.Event:2"} */
    CHECK(m && n == 9 + 2 + 13 && m[0] == 0x09 && m[9] == 0x1a && m[10] == 13 && memcmp(m + 11, "brain.Event:2", 13) == 0);
    m = d ? frame(d, len, &pos, &n) : NULL;
    /* Event{wall_time 2.0, step 300 = varint ac 02, summary (5) {value (1) {tag (1) "train/loss", simple_value (2, fixed32) 1.5}}} */
    static const uint8_t want1[] = {0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 0xac, 0x02, 0x2a, 0x13, 0x0a, 0x11, 0x0a, 0x0a,
                                    't', 'r', 'a', 'i', 'n', '/', 'l', 'o', 's', 's', 0x15, 0, 0, 0xc0, 0x3f};
    CHECK_MSG(m && n == sizeof want1 && memcmp(m, want1, n) == 0, "scalar event: %zu bytes", n);
    m = d ? frame(d, len, &pos, &n) : NULL;
    /* Event{wall_time 4.0, step 1, summary {value {tag "samples", image (4) {height 4, width 6, colorspace 1, png}}}} */
    if (m && n > 30) {
        static const uint8_t head[] = {0x09, 0, 0, 0, 0, 0, 0, 0x10, 0x40, 0x10, 0x01, 0x2a};
        CHECK(memcmp(m, head, sizeof head) == 0);
        const uint8_t *img = m + n - png_len;
        CHECK_MSG(memcmp(img, png, png_len) == 0, "the PNG is the last field's bytes");
        /* image message: 08 04 10 06 18 01 22 <len varint> png */
        const uint8_t *p = img - 1;
        while (p > m && (p[-1] & 0x80)) p--;   /* back over the length varint */
        CHECK(p - 7 > m && memcmp(p - 7, (const uint8_t[]){0x08, 0x04, 0x10, 0x06, 0x18, 0x01, 0x22}, 7) == 0);
        CHECK(has_bytes(m, n, "\x0a\x07samples"));
    } else {
        CHECK_MSG(0, "no image event");
    }
    CHECK_MSG(pos == len, "%zu bytes after the last record", len - pos);
    free(d);
    free(png);

    /* a path under a file cannot be made */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/g.png/tb", dir);
    CHECK(tb_open(&tw, bad, &err) == VAE_ERR);
    check_contains("not a dir", err.msg, "g.png");
    return check_done("test_tfevents");
}
