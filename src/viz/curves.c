/* Training curves from metrics.csv and column-against-column plots of a
 * table (see include/vae/curves.h): read with vae/csv.h, drawn with
 * vae/plot.h. */
#include "vae/curves.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vae/csv.h"
#include "vae/plot.h"

const char *const CURVE_COLUMN_NAMES[CURVE_COLS] = {"train_loss", "train_recon", "train_kl", "test_loss",
                                                    "test_recon", "test_kl",     "test_nll"};

void run_metrics_free(RunMetrics *m) {
    free(m->block);
    memset(m, 0, sizeof *m);
}

int run_metrics_load(const char *path, RunMetrics *m, VaeError *err) {
    memset(m, 0, sizeof *m);
    CsvTable t;
    if (csv_read(path, &t, err) != VAE_OK) return VAE_ERR;
    int col[CURVE_COLS], ecol = csv_column(&t, "epoch");
    int rc = VAE_OK;
    if (ecol < 0) rc = vae_fail(err, "%s: no 'epoch' column in the header (not a vae metrics.csv?)", path);
    for (int k = 0; k < CURVE_COLS && rc == VAE_OK; k++) {
        col[k] = csv_column(&t, CURVE_COLUMN_NAMES[k]);
        if (col[k] < 0 && k != CURVE_TEST_NLL)
            rc = vae_fail(err, "%s: no '%s' column in the header (not a vae metrics.csv?)", path,
                          CURVE_COLUMN_NAMES[k]);
    }
    if (rc == VAE_OK && t.n_rows == 0) rc = vae_fail(err, "%s: no epochs yet (only a header)", path);
    if (rc == VAE_OK) {
        m->block = malloc((size_t)t.n_rows * (CURVE_COLS + 1) * sizeof(double));
        if (!m->block) rc = vae_fail(err, "%s: out of memory", path);
    }
    if (rc != VAE_OK) {
        csv_free(&t);
        return VAE_ERR;
    }
    m->n = t.n_rows;
    m->epoch = m->block;
    for (int k = 0; k < CURVE_COLS; k++) m->v[k] = m->block + (size_t)(k + 1) * t.n_rows;
    m->has_nll = col[CURVE_TEST_NLL] >= 0;
    for (int r = 0; r < t.n_rows && rc == VAE_OK; r++) {
        /* line numbers count the header as line 1 */
        const char *e = csv_cell(&t, r, ecol);
        double ep;
        if (csv_number(e, &ep) != 0 || ep < 1 || ep != floor(ep)) {
            rc = vae_fail(err, "%s: line %d: epoch '%s' is not a positive integer", path, r + 2, e);
            break;
        }
        if (r > 0 && ep <= m->epoch[r - 1]) {
            rc = vae_fail(err, "%s: line %d: epoch %.0f does not follow epoch %.0f", path, r + 2, ep, m->epoch[r - 1]);
            break;
        }
        m->epoch[r] = ep;
        for (int k = 0; k < CURVE_COLS; k++) {
            m->v[k][r] = NAN;
            if (col[k] < 0) continue;
            const char *s = csv_cell(&t, r, col[k]);
            if (k == CURVE_TEST_NLL && !*s) continue;   /* NLL need not be measured every epoch */
            if (csv_number(s, &m->v[k][r]) != 0) {
                rc = vae_fail(err, "%s: line %d, column %s: '%s' is not a finite number", path, r + 2,
                              CURVE_COLUMN_NAMES[k], s);
                break;
            }
        }
    }
    csv_free(&t);
    if (rc != VAE_OK) run_metrics_free(m);
    return rc;
}

/* The name of a run in the legend: its folder's last component. */
static void run_name(const char *run, char *out, size_t len) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", run);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    const char *suffix = "/metrics.csv";
    size_t sl = strlen(suffix);
    if (n > sl && strcmp(buf + n - sl, suffix) == 0) buf[n -= sl] = '\0';
    else if (strcmp(buf, "metrics.csv") == 0) snprintf(buf, sizeof buf, ".");
    const char *slash = strrchr(buf, '/');
    /* a name longer than the legend's slot is cut and marked */
    int w = snprintf(out, len, "%s", slash && slash[1] ? slash + 1 : buf);
    if (w > 0 && (size_t)w >= len && len >= 4) memcpy(out + len - 4, "...", 4);
}

static void metrics_path(const char *run, char *out, size_t len) {
    struct stat sb;
    if (stat(run, &sb) == 0 && S_ISREG(sb.st_mode))
        snprintf(out, len, "%s", run);
    else
        snprintf(out, len, "%s%smetrics.csv", run, run[0] && run[strlen(run) - 1] == '/' ? "" : "/");
}

int curves_write(const char *out, const char *const *runs, int n, const CurvesOptions *o, VaeError *err) {
    if (n < 1 || n > CURVES_MAX_RUNS) return vae_fail(err, "plot: %d runs (1..%d in one plot)", n, CURVES_MAX_RUNS);
    RunMetrics ms[CURVES_MAX_RUNS];
    char names[CURVES_MAX_RUNS][256];
    memset(ms, 0, sizeof ms);
    int rc = VAE_OK, nll = 0;
    for (int i = 0; i < n && rc == VAE_OK; i++) {
        char path[4200];
        metrics_path(runs[i], path, sizeof path);
        rc = run_metrics_load(path, &ms[i], err);
        run_name(runs[i], names[i], sizeof names[i]);
        nll |= rc == VAE_OK && ms[i].has_nll;
    }
    if (rc == VAE_OK) {
        /* panels: loss, reconstruction, KL, and test NLL when any run has it;
           lines: every run in its colour, train solid, test dashed */
        static const char *const titles[4] = {"loss", "reconstruction", "KL", "test NLL"};
        int n_panels = nll ? 4 : 3;
        PlotLine lines[4][2 * CURVES_MAX_RUNS];
        PlotPanel panels[4];
        memset(panels, 0, sizeof panels);
        for (int p = 0; p < n_panels; p++) {
            int nl = 0;
            for (int i = 0; i < n; i++) {
                for (int test = 0; test < 2; test++) {
                    int k = p < 3 ? (test ? CURVE_TEST_LOSS : CURVE_TRAIN_LOSS) + p : CURVE_TEST_NLL;
                    if (p == 3 && !test) continue;
                    PlotLine *L = &lines[p][nl++];
                    memset(L, 0, sizeof *L);
                    L->x = ms[i].epoch;
                    L->y = ms[i].v[k];
                    L->n = ms[i].n;
                    L->color = i;
                    L->dashed = test;
                    L->markers = ms[i].n <= 30;
                }
            }
            panels[p].title = titles[p];
            panels[p].xlabel = "epoch";
            panels[p].ylabel = p == 0 ? "per image" : NULL;
            panels[p].lines = lines[p];
            panels[p].n_lines = nl;
            panels[p].integer_x = 1;
        }
        PlotKey keys[CURVES_MAX_RUNS + 2];
        int nk = 0;
        int solo = n == 1;
        if (!solo)
            for (int i = 0; i < n; i++) keys[nk++] = (PlotKey){names[i], i, PLOT_KEY_LINE};
        keys[nk++] = (PlotKey){"train", solo ? 0 : -1, PLOT_KEY_LINE};
        keys[nk++] = (PlotKey){"test", solo ? 0 : -1, PLOT_KEY_DASHED};
        char title[400];
        if (solo)
            snprintf(title, sizeof title, "%s: training curves", names[0]);
        else
            snprintf(title, sizeof title, "training curves of %d runs", n);
        PlotFigure f = {0};
        f.cols = n_panels == 4 ? 2 : 3;
        f.width = o && o->width ? o->width : n_panels == 4 ? 1000 : 1200;
        f.height = o && o->height ? o->height : n_panels == 4 ? 760 : 420;
        f.title = o && o->title ? o->title : title;
        f.panels = panels;
        f.n_panels = n_panels;
        f.keys = keys;
        f.n_keys = nk;
        rc = plot_write(out, &f, NULL, err);
    }
    for (int i = 0; i < n; i++) run_metrics_free(&ms[i]);
    return rc;
}

int train_write_curves(const char *run_dir, VaeError *err) {
    char out[4200];
    snprintf(out, sizeof out, "%s/curves.png", run_dir);
    const char *runs[1] = {run_dir};
    return curves_write(out, runs, 1, NULL, err);
}

/* ---- a table's columns against another column ---- */

typedef struct {
    double x, y;
} XY;

static int cmp_xy(const void *a, const void *b) {
    double p = ((const XY *)a)->x, q = ((const XY *)b)->x;
    return p < q ? -1 : p > q;
}

/* index of s in list[0..n), appending it when new (n grows); -1 when full */
static int intern(const char **list, int *n, int max, const char *s) {
    for (int i = 0; i < *n; i++)
        if (strcmp(list[i], s) == 0) return i;
    if (*n == max) return -1;
    list[*n] = s;
    return (*n)++;
}

int table_plot_write(const char *out, const char *csv_path, const char *xcol, const char *const *ycols, int n_y,
                     const char *group, const CurvesOptions *o, VaeError *err) {
    if (n_y < 1 || n_y > CURVES_MAX_Y) return vae_fail(err, "plot: %d columns to plot (1..%d)", n_y, CURVES_MAX_Y);
    CsvTable t;
    if (csv_read(csv_path, &t, err) != VAE_OK) return VAE_ERR;
    int rc = VAE_OK;
    int xc = csv_column(&t, xcol), gc = group ? csv_column(&t, group) : -1, yc[CURVES_MAX_Y];
    const char *missing = xc < 0 ? xcol : group && gc < 0 ? group : NULL;
    for (int k = 0; k < n_y && !missing; k++)
        if ((yc[k] = csv_column(&t, ycols[k])) < 0) missing = ycols[k];
    if (missing) {
        char have[512] = "";
        size_t used = 0;
        for (int j = 0; j < t.n_cols && used < sizeof have - 1; j++)
            used += (size_t)snprintf(have + used, sizeof have - used, "%s%s", j ? ", " : "", t.cells[j]);
        rc = vae_fail(err, "%s: no column '%s' (it has: %s)", csv_path, missing, have);
    }
    if (rc == VAE_OK && t.n_rows == 0) rc = vae_fail(err, "%s: no rows (only a header)", csv_path);
    /* categorical x when any non-empty x field is not a number */
    int numeric = 1;
    for (int r = 0; r < t.n_rows && rc == VAE_OK; r++) {
        double v;
        const char *s = csv_cell(&t, r, xc);
        if (*s && csv_number(s, &v) != 0) numeric = 0;
    }
    const char *cats[PLOT_MAX_TICKS], *groups[CURVES_MAX_RUNS];
    int n_cats = 0, n_groups = 0;
    XY *pts = NULL;
    double *xs = NULL;
    if (rc == VAE_OK) {
        pts = malloc((size_t)t.n_rows * sizeof *pts * (size_t)n_y * CURVES_MAX_RUNS);
        xs = malloc((size_t)t.n_rows * 2 * sizeof *xs * (size_t)n_y * CURVES_MAX_RUNS);
        if (!pts || !xs) rc = vae_fail(err, "%s: out of memory", csv_path);
    }
    /* pts[(k * G + g) * rows + i]: the points of column k, group g */
    int count[CURVES_MAX_Y][CURVES_MAX_RUNS];
    memset(count, 0, sizeof count);
    for (int r = 0; r < t.n_rows && rc == VAE_OK; r++) {
        const char *xs_ = csv_cell(&t, r, xc);
        if (!*xs_) continue;
        double x;
        if (numeric) {
            csv_number(xs_, &x);
        } else {
            int c = intern(cats, &n_cats, PLOT_MAX_TICKS, xs_);
            if (c < 0) {
                rc = vae_fail(err, "%s: column %s has more than %d distinct values", csv_path, xcol, PLOT_MAX_TICKS);
                break;
            }
            x = c;
        }
        int g = 0;
        if (gc >= 0 && (g = intern(groups, &n_groups, CURVES_MAX_RUNS, csv_cell(&t, r, gc))) < 0) {
            rc = vae_fail(err, "%s: column %s has more than %d distinct values", csv_path, group, CURVES_MAX_RUNS);
            break;
        }
        for (int k = 0; k < n_y; k++) {
            const char *s = csv_cell(&t, r, yc[k]);
            double y;
            if (!*s) continue;
            if (csv_number(s, &y) != 0) {
                rc = vae_fail(err, "%s: line %d, column %s: '%s' is not a finite number", csv_path, r + 2, ycols[k], s);
                break;
            }
            XY *p = &pts[((size_t)k * CURVES_MAX_RUNS + g) * t.n_rows + count[k][g]++];
            p->x = x;
            p->y = y;
        }
    }
    if (gc < 0) n_groups = 1;
    if (rc == VAE_OK) {
        PlotPanel panels[CURVES_MAX_Y];
        PlotLine lines[CURVES_MAX_Y][CURVES_MAX_RUNS];
        memset(panels, 0, sizeof panels);
        memset(lines, 0, sizeof lines);
        for (int k = 0; k < n_y; k++) {
            for (int g = 0; g < n_groups; g++) {
                size_t base = ((size_t)k * CURVES_MAX_RUNS + g) * t.n_rows;
                XY *p = pts + base;
                int c = count[k][g];
                if (numeric) qsort(p, (size_t)c, sizeof *p, cmp_xy);
                double *lx = xs + 2 * base, *ly = lx + c;
                for (int i = 0; i < c; i++) lx[i] = p[i].x, ly[i] = p[i].y;
                PlotLine *L = &lines[k][g];
                L->x = lx;
                L->y = ly;
                L->n = c;
                L->color = g;
                L->markers = 1;
            }
            panels[k].title = ycols[k];
            panels[k].xlabel = xcol;
            panels[k].lines = lines[k];
            panels[k].n_lines = n_groups;
            if (!numeric) {
                panels[k].xcats = cats;
                panels[k].n_xcats = n_cats;
            }
        }
        char names[CURVES_MAX_RUNS][128];
        PlotKey keys[CURVES_MAX_RUNS];
        for (int g = 0; gc >= 0 && g < n_groups; g++) {
            snprintf(names[g], sizeof names[g], "%s=%s", group, groups[g]);
            keys[g] = (PlotKey){names[g], g, PLOT_KEY_LINE};
        }
        char title[300];
        snprintf(title, sizeof title, "against %s", xcol);
        int cols = n_y <= 3 ? n_y : (n_y == 4 ? 2 : 3);
        int rows = (n_y + cols - 1) / cols;
        PlotFigure f = {0};
        f.cols = cols;
        f.width = o && o->width ? o->width : 380 * cols + (gc >= 0 ? 160 : 0) + 20;
        f.height = o && o->height ? o->height : 340 * rows + 50;
        f.title = o && o->title ? o->title : title;
        f.panels = panels;
        f.n_panels = n_y;
        f.keys = keys;
        f.n_keys = gc >= 0 ? n_groups : 0;
        rc = plot_write(out, &f, NULL, err);
    }
    free(pts);
    free(xs);
    csv_free(&t);
    return rc;
}
