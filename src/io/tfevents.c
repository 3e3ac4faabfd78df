/* TensorBoard event files (see include/vae/tfevents.h): a byte buffer, the
 * protobuf varint / fixed / length-delimited encodings for the few fields an
 * Event needs, and the TFRecord frame around each. */
#include "vae/tfevents.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vae/fileio.h"

#define EVENTS_MAX_BYTES (1u << 30)

/* ---- CRC-32C, byte-wise with a table built once ---- */

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t crc32c(const void *data, size_t len) {
    if (!crc_ready) crc_init();
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t tfrecord_masked_crc(const void *data, size_t len) {
    uint32_t c = crc32c(data, len);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- a growable buffer and protobuf encodings ---- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom;
} Buf;

static void put(Buf *b, const void *data, size_t n) {
    if (b->oom || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void varint(Buf *b, uint64_t v) {
    uint8_t out[10];
    int n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) out[n] |= 0x80;
        n++;
    } while (v);
    put(b, out, (size_t)n);
}

static void le(Buf *b, uint64_t v, int bytes) {
    uint8_t out[8];
    for (int i = 0; i < bytes; i++) out[i] = (uint8_t)(v >> (8 * i));
    put(b, out, (size_t)bytes);
}

/* field keys: (number << 3) | wire type (0 varint, 1 fixed64, 2 bytes, 5 fixed32) */
static void key(Buf *b, int field, int wire) { varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

static void bytes_field(Buf *b, int field, const void *data, size_t n) {
    key(b, field, 2);
    varint(b, n);
    put(b, data, n);
}

static void sub_field(Buf *b, int field, Buf *sub) {
    bytes_field(b, field, sub->p, sub->len);
    b->oom |= sub->oom;
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

static void double_field(Buf *b, int field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    key(b, field, 1);
    le(b, u, 8);
}

static void float_field(Buf *b, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    key(b, field, 5);
    le(b, u, 4);
}

/* the TFRecord frame of one serialised message */
static void record(Buf *file, const Buf *msg) {
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)msg->len >> (8 * i));
    put(file, len, 8);
    le(file, tfrecord_masked_crc(len, 8), 4);
    put(file, msg->p, msg->len);
    le(file, tfrecord_masked_crc(msg->p, msg->len), 4);
    file->oom |= msg->oom;
}

/* ---- the writer ---- */

static int write_appended(const char *path, const Buf *add, int fresh, VaeError *err) {
    uint8_t *old = NULL;
    size_t old_len = 0;
    if (!fresh && vae_read_file(path, &old, &old_len, EVENTS_MAX_BYTES, err) != VAE_OK) return VAE_ERR;
    Buf all = {0};
    put(&all, old, old_len);
    put(&all, add->p, add->len);
    free(old);
    int rc = all.oom ? vae_fail(err, "%s: out of memory", path) : vae_write_file(path, all.p, all.len, err);
    free(all.p);
    return rc;
}

int tb_open(TbWriter *w, const char *dir, VaeError *err) {
    if (vae_make_dirs(dir, err) != VAE_OK) return VAE_ERR;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* two runs started in the same second (a quick --resume) must not share a file */
    struct stat sb;
    for (int k = 1;; k++) {
        int n = k == 1 ? snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s", dir, (long long)ts.tv_sec, host)
                       : snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s.%d", dir,
                                  (long long)ts.tv_sec, host, k);
        if (n >= (int)sizeof w->path) return vae_fail(err, "%s: path too long", dir);
        if (stat(w->path, &sb) != 0) break;
        if (k == 1000) return vae_fail(err, "%s: too many event files of this second", dir);
    }
    Buf ev = {0}, file = {0};
    double_field(&ev, 1, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
    static const char version[] = "brain.Event:2";
    bytes_field(&ev, 3, version, sizeof version - 1);
    record(&file, &ev);
    int rc = file.oom ? vae_fail(err, "%s: out of memory", w->path) : write_appended(w->path, &file, 1, err);
    free(ev.p);
    free(file.p);
    return rc;
}

int tb_add(TbWriter *w, long step, double wall_time, const TbScalar *s, int n_s, const TbImage *im, int n_im,
           VaeError *err) {
    Buf summary = {0};
    for (int i = 0; i < n_s; i++) {
        Buf v = {0};
        bytes_field(&v, 1, s[i].tag, strlen(s[i].tag));
        float_field(&v, 2, s[i].value);
        sub_field(&summary, 1, &v);
    }
    for (int i = 0; i < n_im; i++) {
        Buf img = {0}, v = {0};
        key(&img, 1, 0), varint(&img, (uint64_t)im[i].height);
        key(&img, 2, 0), varint(&img, (uint64_t)im[i].width);
        key(&img, 3, 0), varint(&img, (uint64_t)im[i].colorspace);
        bytes_field(&img, 4, im[i].png, im[i].png_len);
        bytes_field(&v, 1, im[i].tag, strlen(im[i].tag));
        sub_field(&v, 4, &img);
        sub_field(&summary, 1, &v);
    }
    Buf ev = {0}, file = {0};
    double_field(&ev, 1, wall_time);
    key(&ev, 2, 0), varint(&ev, (uint64_t)step);
    sub_field(&ev, 5, &summary);
    record(&file, &ev);
    int rc = file.oom ? vae_fail(err, "%s: out of memory", w->path) : write_appended(w->path, &file, 0, err);
    free(ev.p);
    free(file.p);
    return rc;
}

int tb_png_info(const uint8_t *png, size_t len, int *width, int *height, int *colorspace, VaeError *err) {
    static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 33 || memcmp(png, magic, 8) != 0 || memcmp(png + 12, "IHDR", 4) != 0)
        return vae_fail(err, "not a PNG file");
    uint32_t w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | (uint32_t)png[18] << 8 | png[19];
    uint32_t h = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | (uint32_t)png[22] << 8 | png[23];
    int depth = png[24], type = png[25];
    /* PNG colour types 0 gray, 4 gray+alpha, 2 RGB, 6 RGBA */
    int cs = type == 0 ? 1 : type == 4 ? 2 : type == 2 ? 3 : type == 6 ? 4 : 0;
    if (depth != 8 || !cs || w == 0 || h == 0 || w > 1u << 24 || h > 1u << 24)
        return vae_fail(err, "a PNG that is not 8-bit gray or RGB(A)");
    *width = (int)w;
    *height = (int)h;
    *colorspace = cs;
    return VAE_OK;
}
