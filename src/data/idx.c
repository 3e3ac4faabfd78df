/* IDX (MNIST format) loading: one validating reader shared by files and memory
 * buffers, raw or gzip (recognised by the 1f 8b magic), plus the uint8 -> float
 * batch gather used by training and the standard split loader. */
#include "vae/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_CHUNK ((size_t)1 << 18)          /* file read buffer: 256 KiB */
#define IDX_MAX_DATA ((uint64_t)4 << 30)     /* sanity cap on the payload: 4 GiB */
#define IDX_MIN_CAP ((size_t)1 << 20)        /* first allocation when the size is unknown */

/* A byte source: raw input (memory or FILE) seen through a window, optionally
 * inflated. Errors are reported as "<name>: <problem>". */
typedef struct {
    const char *name;
    VaeError *err;
    FILE *fp;              /* NULL for memory input */
    uint8_t *chunk;        /* read buffer for file input */
    const uint8_t *in;     /* unread raw bytes of the current window */
    size_t in_len;
    int in_eof;            /* no raw bytes left after the window */
    uint64_t raw_size;     /* total raw bytes when known (memory, regular file), else 0 */
    int gz;                /* input is gzip */
    z_stream zs;
    int zs_live;           /* inflateInit2 succeeded: needs inflateEnd */
    int z_done;            /* last gzip member ended and no input follows */
    int failed;            /* a read or zlib error was reported (not a format problem) */
    uint32_t expect_count; /* when not 0: the count the header must give (the labels'), checked
                              before the data is allocated or inflated */
    int count_mismatch;    /* the header gave another count: dims[0] holds it */
} Src;

#define IDX_DRAIN_MAX ((size_t)256 << 20)   /* how far a bad gzip file is read for a zlib error */

/* Makes sure the raw window holds bytes unless the input is exhausted. */
static int raw_refill(Src *s) {
    if (s->in_len > 0 || s->in_eof) return VAE_OK;
    if (!s->fp) {
        s->in_eof = 1;
        return VAE_OK;
    }
    size_t n = fread(s->chunk, 1, IDX_CHUNK, s->fp);
    if (n == 0) {
        if (ferror(s->fp)) {
            s->failed = 1;
            return vae_fail(s->err, "%s: read error: %s", s->name, strerror(errno));
        }
        s->in_eof = 1;
        return VAE_OK;
    }
    s->in = s->chunk;
    s->in_len = n;
    return VAE_OK;
}

/* Looks at the first raw bytes to decide between raw and gzip. */
static int src_start(Src *s) {
    if (raw_refill(s) != VAE_OK) return VAE_ERR;
    if (s->in_len == 0) return vae_fail(s->err, "%s: empty file", s->name);
    if (s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
        memset(&s->zs, 0, sizeof s->zs);
        int r = inflateInit2(&s->zs, 16 + MAX_WBITS);
        if (r != Z_OK) return vae_fail(s->err, "%s: zlib init failed: %s", s->name, zError(r));
        s->zs_live = 1;
        s->gz = 1;
    }
    return VAE_OK;
}

static void src_end(Src *s) {
    if (s->zs_live) inflateEnd(&s->zs);
    s->zs_live = 0;
}

/* Reads up to `want` decoded bytes into dst; *got < want means end of data. */
static int src_read(Src *s, uint8_t *dst, size_t want, size_t *got) {
    size_t have = 0;
    if (!s->gz) {
        while (have < want) {
            if (raw_refill(s) != VAE_OK) return VAE_ERR;
            if (s->in_len == 0) break;
            size_t take = s->in_len < want - have ? s->in_len : want - have;
            memcpy(dst + have, s->in, take);
            s->in += take;
            s->in_len -= take;
            have += take;
        }
        *got = have;
        return VAE_OK;
    }
    while (have < want && !s->z_done) {
        if (raw_refill(s) != VAE_OK) return VAE_ERR;
        if (s->in_len == 0) {
            s->failed = 1;
            return vae_fail(s->err, "%s: corrupt gzip data: stream truncated (unexpected end of compressed data)", s->name);
        }
        uInt avail_in = s->in_len > UINT_MAX ? UINT_MAX : (uInt)s->in_len;
        uInt avail_out = want - have > UINT_MAX ? UINT_MAX : (uInt)(want - have);
        s->zs.next_in = (Bytef *)s->in;   /* zlib does not write through next_in */
        s->zs.avail_in = avail_in;
        s->zs.next_out = dst + have;
        s->zs.avail_out = avail_out;
        int r = inflate(&s->zs, Z_NO_FLUSH);
        size_t used = avail_in - s->zs.avail_in, made = avail_out - s->zs.avail_out;
        s->in += used;
        s->in_len -= used;
        have += made;
        if (r == Z_STREAM_END) {
            /* another gzip member may follow (concatenated .gz files are valid) */
            if (raw_refill(s) != VAE_OK) return VAE_ERR;
            if (s->in_len == 0) s->z_done = 1;
            else inflateReset(&s->zs);
        } else if (r == Z_BUF_ERROR && used == 0 && made == 0) {
            s->failed = 1;
            return vae_fail(s->err, "%s: corrupt gzip data: no progress (unexpected end of compressed data)", s->name);
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
            s->failed = 1;
            return vae_fail(s->err, "%s: corrupt gzip data: %s", s->name, s->zs.msg ? s->zs.msg : zError(r));
        }
    }
    *got = have;
    return VAE_OK;
}

/* Reads and checks an IDX header and payload of unsigned bytes with
 * `want_dims` dimensions (3 = images, 1 = labels). On success dims[0..want_dims)
 * hold the sizes and *data a malloc'ed payload of their product. The buffer
 * grows with the data actually present, so a lying header cannot make us
 * allocate much more than the input really holds. */
static int read_idx_checked(Src *s, int want_dims, uint32_t *dims, uint8_t **data) {
    const char *what = want_dims == 3 ? "images" : "labels";
    uint8_t head[16];
    size_t got = 0;
    *data = NULL;
    if (src_start(s) != VAE_OK) return VAE_ERR;
    if (src_read(s, head, 4, &got) != VAE_OK) return VAE_ERR;
    if (got == 0) return vae_fail(s->err, "%s: empty file (no data after gzip decompression)", s->name);
    if (got < 4) return vae_fail(s->err, "%s: not an IDX file: only %zu bytes, too short for the magic number", s->name, got);
    if (head[0] != 0 || head[1] != 0)
        return vae_fail(s->err, "%s: not an IDX file: magic bytes %02x %02x %02x %02x, expected 00 00 08 0%d",
                        s->name, head[0], head[1], head[2], head[3], want_dims);
    if (head[2] != 0x08)
        return vae_fail(s->err, "%s: element type 0x%02x is not unsigned byte (0x08)", s->name, head[2]);
    if (head[3] != want_dims) {
        if (want_dims == 3 && head[3] == 1)
            return vae_fail(s->err, "%s: expected 3 dims for images, found 1 — is this a label file?", s->name);
        if (want_dims == 1 && head[3] == 3)
            return vae_fail(s->err, "%s: expected 1 dim for labels, found 3 — is this an image file?", s->name);
        return vae_fail(s->err, "%s: expected %d dim%s for %s, found %d", s->name, want_dims,
                        want_dims == 1 ? "" : "s", what, head[3]);
    }
    size_t head_len = 4 + 4 * (size_t)want_dims;
    if (src_read(s, head + 4, head_len - 4, &got) != VAE_OK) return VAE_ERR;
    if (got < head_len - 4)
        return vae_fail(s->err, "%s: truncated header: need %zu bytes, found %zu", s->name, head_len, 4 + got);

    size_t total = 1;
    int overflow = 0;
    for (int i = 0; i < want_dims; i++) {
        const uint8_t *p = head + 4 + 4 * i;   /* big-endian u32 */
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (!overflow && vae_mul_size(total, dims[i], &total) != 0) overflow = 1;
    }
    if (overflow)
        return vae_fail(s->err, "%s: sizes in the header overflow (%s %u x %u x %u)", s->name, what, dims[0],
                        want_dims > 1 ? dims[1] : 1, want_dims > 2 ? dims[2] : 1);
    if (dims[0] == 0) return vae_fail(s->err, "%s: header says 0 %s", s->name, what);
    if (s->expect_count && dims[0] != s->expect_count) {
        s->count_mismatch = 1;
        return vae_fail(s->err, "%s: %u %s, expected %u", s->name, dims[0], what, s->expect_count);
    }
    if (want_dims == 3 && (dims[1] == 0 || dims[2] == 0))
        return vae_fail(s->err, "%s: zero rows or columns (%u x %u)", s->name, dims[1], dims[2]);
    if ((uint64_t)total > IDX_MAX_DATA)
        return vae_fail(s->err, "%s: header says %zu bytes of data, over the 4 GiB limit (sizes in the header overflow?)",
                        s->name, total);

    /* first allocation: exact when the raw size is known, else a guess that grows */
    size_t cap;
    if (!s->gz && s->raw_size > 0) {
        uint64_t rest = s->raw_size > head_len ? s->raw_size - head_len : 0;
        cap = rest < total ? (size_t)rest + 1 : total;
    } else {
        uint64_t guess = s->raw_size * 8 > IDX_MIN_CAP ? s->raw_size * 8 : IDX_MIN_CAP;
        cap = guess < total ? (size_t)guess : total;
    }
    uint8_t *buf = malloc(cap);
    if (!buf) return vae_fail(s->err, "%s: out of memory for %zu bytes", s->name, cap);
    size_t have = 0;
    for (;;) {
        if (src_read(s, buf + have, cap - have, &got) != VAE_OK) goto fail;
        have += got;
        if (have < cap || have == total) break;
        size_t next = cap > total / 2 ? total : cap * 2;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            vae_fail(s->err, "%s: out of memory for %zu bytes", s->name, next);
            goto fail;
        }
        buf = grown;
        cap = next;
    }
    if (have < total) {
        vae_fail(s->err, "%s: truncated: header says %zu bytes of data, found %zu", s->name, total, have);
        goto fail;
    }
    if (cap != total) {   /* only when the raw size guess was off: keep exactly `total` */
        uint8_t *fit = realloc(buf, total);
        if (fit) buf = fit;
    }

    /* the data must end exactly where the header says (reading on also makes zlib check the CRC) */
    size_t extra = 0;
    uint8_t scratch[4096];
    do {
        if (src_read(s, scratch, sizeof scratch, &got) != VAE_OK) goto fail;
        extra += got;
    } while (got == sizeof scratch);
    if (extra > 0) {
        vae_fail(s->err, "%s: %zu trailing bytes after the data", s->name, extra);
        goto fail;
    }
    *data = buf;
    return VAE_OK;
fail:
    free(buf);
    return VAE_ERR;
}

/* A corrupt gzip stream can inflate to plausible-looking garbage that fails a
 * format check before zlib notices (the CRC comes last). When a gzip input
 * fails such a check, read on (within a bound) and report zlib's complaint
 * instead, since that is the real problem. */
static int read_idx(Src *s, int want_dims, uint32_t *dims, uint8_t **data) {
    int rc = read_idx_checked(s, want_dims, dims, data);
    /* a count that disagrees is the answer itself: nothing more is inflated */
    if (rc == VAE_OK || !s->gz || s->failed || s->count_mismatch || !s->err) return rc;
    VaeError format_err = *s->err;
    uint8_t scratch[4096];
    size_t got = 0, drained = 0;
    do {
        if (src_read(s, scratch, sizeof scratch, &got) != VAE_OK) return VAE_ERR;   /* err now holds zlib's message */
        drained += got;
    } while (got == sizeof scratch && drained < IDX_DRAIN_MAX);
    *s->err = format_err;
    return VAE_ERR;
}

static int parse_mem(const uint8_t *buf, size_t len, const char *name, VaeError *err, int want_dims, uint32_t *dims,
                     uint8_t **data) {
    Src s = {0};
    s.name = name ? name : "(memory)";
    s.err = err;
    s.in = buf;
    s.in_len = buf ? len : 0;
    s.raw_size = s.in_len;
    int rc = read_idx(&s, want_dims, dims, data);
    src_end(&s);
    return rc;
}

static int load_file(const char *path, VaeError *err, int want_dims, uint32_t *dims, uint8_t **data,
                     uint32_t expect_count, int *count_mismatch) {
    if (!path) return vae_fail(err, "(null): no path given");
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vae_fail(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vae_fail(err, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return vae_fail(err, "%s: is a directory, not an IDX file", path);
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return vae_fail(err, "%s: %s", path, strerror(e));
    }
    Src s = {0};
    s.name = path;
    s.err = err;
    s.fp = fp;
    s.raw_size = S_ISREG(st.st_mode) && st.st_size > 0 ? (uint64_t)st.st_size : 0;
    s.expect_count = expect_count;
    s.chunk = malloc(IDX_CHUNK);
    int rc = s.chunk ? read_idx(&s, want_dims, dims, data) : vae_fail(err, "%s: out of memory", path);
    src_end(&s);
    free(s.chunk);
    fclose(fp);
    if (count_mismatch) *count_mismatch = s.count_mismatch;
    return rc;
}

static void fill_images(IdxImages *out, const uint32_t *dims, uint8_t *data) {
    out->pixels = data;
    out->count = dims[0];
    out->rows = dims[1];
    out->cols = dims[2];
}

int idx_load_images(IdxImages *out, const char *path, VaeError *err) {
    uint32_t dims[3];
    uint8_t *data;
    memset(out, 0, sizeof *out);
    if (load_file(path, err, 3, dims, &data, 0, NULL) != VAE_OK) return VAE_ERR;
    fill_images(out, dims, data);
    return VAE_OK;
}

int idx_load_labels(IdxLabels *out, const char *path, VaeError *err) {
    uint32_t dims[1];
    uint8_t *data;
    memset(out, 0, sizeof *out);
    if (load_file(path, err, 1, dims, &data, 0, NULL) != VAE_OK) return VAE_ERR;
    out->labels = data;
    out->count = dims[0];
    return VAE_OK;
}

int idx_parse_images(IdxImages *out, const uint8_t *buf, size_t len, const char *name, VaeError *err) {
    uint32_t dims[3];
    uint8_t *data;
    memset(out, 0, sizeof *out);
    if (parse_mem(buf, len, name, err, 3, dims, &data) != VAE_OK) return VAE_ERR;
    fill_images(out, dims, data);
    return VAE_OK;
}

int idx_parse_labels(IdxLabels *out, const uint8_t *buf, size_t len, const char *name, VaeError *err) {
    uint32_t dims[1];
    uint8_t *data;
    memset(out, 0, sizeof *out);
    if (parse_mem(buf, len, name, err, 1, dims, &data) != VAE_OK) return VAE_ERR;
    out->labels = data;
    out->count = dims[0];
    return VAE_OK;
}

void idx_images_free(IdxImages *im) {
    if (!im) return;
    free(im->pixels);
    memset(im, 0, sizeof *im);
}

void idx_labels_free(IdxLabels *lb) {
    if (!lb) return;
    free(lb->labels);
    memset(lb, 0, sizeof *lb);
}

/* The training hot path: out (n, rows*cols). Division (not multiplication by
 * 1/255) so that pixel k maps exactly to the float nearest k/255. */
void idx_gather(const IdxImages *im, const uint32_t *index, uint32_t first, uint32_t n, float *out) {
    const size_t d = (size_t)im->rows * im->cols;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *restrict src = im->pixels + (size_t)(index ? index[i] : first + i) * d;
        float *restrict dst = out + (size_t)i * d;
        for (size_t j = 0; j < d; j++) dst[j] = (float)src[j] / 255.0f;
    }
}

/* Finds dir/name or dir/name.gz (plain first) and writes the one that exists
 * into path; errors name the plain path. */
static int find_split_file(char *path, size_t size, const char *dir, const char *name, VaeError *err) {
    int n = snprintf(path, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n + 3 >= size) return vae_fail(err, "%s: folder path too long", dir);
    struct stat st;
    if (stat(path, &st) == 0 || errno != ENOENT) return VAE_OK;   /* exists, or let the loader report why not */
    memcpy(path + n, ".gz", 4);
    if (stat(path, &st) == 0 || errno != ENOENT) return VAE_OK;
    path[n] = '\0';
    return vae_fail(err, "%s: missing (also tried .gz); run scripts/get-data.sh", path);
}

int idx_load_split(IdxSplit *out, const char *dir, IdxSplitKind which, VaeError *err) {
    memset(out, 0, sizeof *out);
    if (!dir) return vae_fail(err, "(null): no data folder given");
    const char *prefix = which == IDX_TEST ? "t10k" : "train";
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    if (find_split_file(out->images_path, sizeof out->images_path, dir, name, err) != VAE_OK) goto fail;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (find_split_file(out->labels_path, sizeof out->labels_path, dir, name, err) != VAE_OK) goto fail;
    /* the small labels file first: the images' count is checked against it
       from their header, before megabytes are allocated or inflated */
    if (idx_load_labels(&out->labels, out->labels_path, err) != VAE_OK) goto fail;
    uint32_t dims[3];
    uint8_t *pixels;
    int mismatch = 0;
    if (load_file(out->images_path, err, 3, dims, &pixels, out->labels.count, &mismatch) != VAE_OK) {
        if (mismatch)
            vae_fail(err, "%s: %u images but %s has %u labels", out->images_path, dims[0], out->labels_path,
                     out->labels.count);
        goto fail;
    }
    fill_images(&out->images, dims, pixels);
    /* a conditional model reads an image's label next to its pixels */
    out->images.labels = out->labels.labels;
    return VAE_OK;
fail:
    idx_split_free(out);
    return VAE_ERR;
}

void idx_split_free(IdxSplit *s) {
    if (!s) return;
    idx_images_free(&s->images);
    idx_labels_free(&s->labels);
}
