/* The KL of each latent dimension over a data set, ranking and traversing
 * the informative ones, and a labelled grid to show the traversals. */
#include "vae/latent_dims.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vae/fileio.h"
#include "vae/latent.h"

int latent_dim_kl(Vae *m, const IdxImages *im, uint32_t n, int chunk, double *kl, VaeError *err) {
    int Z = m->cfg.zdim;
    if (n < 1 || chunk < 1) return vae_fail(err, "latent_dim_kl: no images");
    if ((uint32_t)chunk > n) chunk = (int)n;
    VaeActs a;
    if (vae_acts_init(&a, m, chunk, err) != VAE_OK) return VAE_ERR;
    float *mu = malloc((size_t)chunk * Z * sizeof(float));
    float *lv = malloc((size_t)chunk * Z * sizeof(float));
    double *sum = calloc((size_t)Z, sizeof(double));
    if (!mu || !lv || !sum) {
        free(mu);
        free(lv);
        free(sum);
        vae_acts_free(&a);
        return vae_fail(err, "out of memory for the KL of %d latent dimensions", Z);
    }
    for (uint32_t first = 0; first < n; first += (uint32_t)chunk) {
        int B = n - first < (uint32_t)chunk ? (int)(n - first) : chunk;
        idx_gather(im, NULL, first, (uint32_t)B, a.x);
        vae_set_labels(m, &a, im->labels, NULL, first, B);   /* a conditional encoder reads them */
        vae_encode(m, &a, B, mu, lv);
        for (int i = 0; i < B; i++)
            for (int j = 0; j < Z; j++) {
                double u = mu[(size_t)i * Z + j], l = lv[(size_t)i * Z + j];
                sum[j] += 0.5 * (u * u + exp(l) - 1.0 - l);
            }
    }
    int bad = -1;
    for (int j = 0; j < Z; j++) {
        kl[j] = sum[j] / (double)n;
        if (!isfinite(kl[j]) && bad < 0) bad = j;
    }
    free(mu);
    free(lv);
    free(sum);
    vae_acts_free(&a);
    if (bad >= 0)
        return vae_fail(err, "the KL of latent dimension %d over %u test images is not finite: the model's parameters "
                        "overflow float32", bad, n);
    return VAE_OK;
}

void latent_rank_dims(const double *kl, int zdim, int *order) {
    for (int j = 0; j < zdim; j++) order[j] = j;
    /* insertion sort: stable, and zdim is small */
    for (int i = 1; i < zdim; i++) {
        int d = order[i], k = i;
        while (k > 0 && kl[order[k - 1]] < kl[d]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = d;
    }
}

int latent_pick_dims(const double *kl, int zdim, int top, double min_kl, int *dims) {
    int *order = malloc((size_t)(zdim > 0 ? zdim : 1) * sizeof(int));
    if (!order || zdim < 1) {
        free(order);
        return 0;
    }
    latent_rank_dims(kl, zdim, order);
    int n = 0;
    for (int r = 0; r < zdim && n < top; r++)
        if (r == 0 || kl[order[r]] >= min_kl) dims[n++] = order[r];
    free(order);
    return n;
}

int latent_traverse_fill(int zdim, int steps, const int *dims, int n_dims, double scale, const float *center,
                         float *z, VaeError *err) {
    if (steps < 2) return vae_fail(err, "a traversal needs at least 2 steps");
    if (n_dims < 1) return vae_fail(err, "no latent dimension to traverse");
    if (!(scale > 0) || !isfinite(scale)) return vae_fail(err, "traversal scale %g is not a positive number", scale);
    for (int r = 0; r < n_dims; r++)
        if (dims[r] < 0 || dims[r] >= zdim)
            return vae_fail(err, "latent dimension %d does not exist (the model has 0..%d)", dims[r], zdim - 1);
    double *q = malloc((size_t)steps * sizeof(double));
    if (!q) return vae_fail(err, "out of memory");
    latent_quantile_grid(steps, q);
    for (int r = 0; r < n_dims; r++)
        for (int k = 0; k < steps; k++) {
            float *t = z + ((size_t)r * steps + k) * zdim;
            memcpy(t, center, (size_t)zdim * sizeof(float));
            t[dims[r]] = (float)(center[dims[r]] + scale * q[k]);
        }
    free(q);
    return VAE_OK;
}

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom;
} PngBuf;

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int length) {
    PngBuf *b = closure;
    if (b->len + length > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->len + length) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, length);
    b->len += length;
    return CAIRO_STATUS_SUCCESS;
}

#define LABEL_FONT_SIZE 11.0
#define LABEL_MARGIN 6

int image_write_labelled_rows_png(const char *path, const float *imgs, int n_rows, int ncols, int rows, int cols,
                                  int pad, const char *const *labels, int *label_width, VaeError *err) {
    if (n_rows < 1 || ncols < 1 || rows < 1 || cols < 1 || pad < 0 || rows > 4096 || cols > 4096 || n_rows > 4096 ||
        ncols > 4096 || pad > 64)
        return vae_fail(err, "%s: a labelled grid of %d x %d tiles of %dx%d is out of range", path, n_rows, ncols,
                        rows, cols);
    /* measure the labels on a scratch surface */
    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(scratch);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, LABEL_FONT_SIZE);
    double widest = 0;
    for (int r = 0; r < n_rows; r++) {
        cairo_text_extents_t te;
        cairo_text_extents(cr, labels[r] ? labels[r] : "", &te);
        if (te.x_advance > widest) widest = te.x_advance;
    }
    cairo_destroy(cr);
    cairo_surface_destroy(scratch);
    int lw = (int)ceil(widest) + 2 * LABEL_MARGIN;
    int gw = ncols * (cols + pad) + pad, W = lw + gw, H = n_rows * (rows + pad) + pad;

    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return vae_fail(err, "%s: cairo cannot make a %dx%d image", path, W, H);
    }
    cairo_surface_flush(surf);
    unsigned char *data = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    memset(data, 0, (size_t)stride * H);   /* black, as the pad of image grids */
    size_t D = (size_t)rows * cols;
    for (int r = 0; r < n_rows; r++)
        for (int c = 0; c < ncols; c++) {
            const float *img = imgs + ((size_t)r * ncols + c) * D;
            int x0 = lw + pad + c * (cols + pad), y0 = pad + r * (rows + pad);
            for (int y = 0; y < rows; y++) {
                uint32_t *line = (uint32_t *)(data + (size_t)(y0 + y) * stride) + x0;
                for (int x = 0; x < cols; x++) {
                    float v = img[(size_t)y * cols + x];
                    v = isnan(v) ? 0.0f : v < 0 ? 0.0f : v > 1 ? 1.0f : v;
                    uint32_t g = (uint32_t)floorf(v * 255.0f + 0.5f);
                    line[x] = g << 16 | g << 8 | g;
                }
            }
        }
    cairo_surface_mark_dirty(surf);
    cr = cairo_create(surf);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, LABEL_FONT_SIZE);
    cairo_set_source_rgb(cr, 1, 1, 1);
    for (int r = 0; r < n_rows; r++) {
        cairo_font_extents_t fe;
        cairo_font_extents(cr, &fe);
        double mid = pad + r * (rows + pad) + rows / 2.0;
        cairo_move_to(cr, LABEL_MARGIN, mid + (fe.ascent - fe.descent) / 2.0);
        cairo_show_text(cr, labels[r] ? labels[r] : "");
    }
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    PngBuf b = {0};
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_write_to_png_stream(surf, png_write, &b);
    cairo_surface_destroy(surf);
    if (st != CAIRO_STATUS_SUCCESS) {
        free(b.p);
        return vae_fail(err, "%s: %s", path, b.oom ? "out of memory for the PNG" : cairo_status_to_string(st));
    }
    int rc = vae_write_file(path, b.p, b.len, err);
    free(b.p);
    if (rc == VAE_OK && label_width) *label_width = lw;
    return rc;
}

int latent_label_histograms(const float *x, const int *labels, int n, int n_classes, int bins, double *lo,
                            double *hi, double *share, VaeError *err) {
    if (n < 1 || n_classes < 1 || bins < 1) return vae_fail(err, "a histogram needs values, classes and bins");
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) return vae_fail(err, "value %d is not finite", i);
        if (x[i] < a) a = x[i];
        if (x[i] > b) b = x[i];
    }
    if (a == b) a -= 0.5, b += 0.5;
    *lo = a;
    *hi = b;
    long *count = calloc((size_t)n_classes, sizeof(long));
    if (!count) return vae_fail(err, "out of memory");
    memset(share, 0, (size_t)n_classes * bins * sizeof(double));
    for (int i = 0; i < n; i++) {
        int c = labels[i];
        if (c < 0 || c >= n_classes) continue;
        int k = (int)((x[i] - a) / (b - a) * bins);
        if (k >= bins) k = bins - 1;   /* the maximum falls in the last bin */
        share[(size_t)c * bins + k] += 1;
        count[c]++;
    }
    for (int c = 0; c < n_classes; c++)
        for (int k = 0; k < bins; k++)
            if (count[c]) share[(size_t)c * bins + k] /= (double)count[c];
    free(count);
    return VAE_OK;
}
