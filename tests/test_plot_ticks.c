/* Tick values and labels of the plotting module against hand-worked cases
 * and the properties a 1-2-5 axis must have over many random ranges, and the
 * output format chosen by the file name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/plot.h"

static void case_ticks(double lo, double hi, int target, const double *want, int n_want, double want_step) {
    double t[PLOT_MAX_TICKS], step = 0;
    int n = plot_nice_ticks(lo, hi, target, t, PLOT_MAX_TICKS, &step);
    char what[96];
    snprintf(what, sizeof what, "ticks of [%g, %g]", lo, hi);
    CHECK_MSG(n == n_want, "%s: %d ticks, expected %d", what, n, n_want);
    if (n == n_want) check_close_d(what, t, want, (size_t)n, 1e-12, 1e-9);
    check_close_d("step", &step, &want_step, 1, 0, 1e-12);
}

static void case_label(double v, double step, const char *want) {
    char buf[64];
    plot_format_tick(v, step, buf, sizeof buf);
    CHECK_MSG(strcmp(buf, want) == 0, "label of %.17g (step %g): '%s', expected '%s'", v, step, buf, want);
}

int main(void) {
    /* (hi - lo) / target rounded to 1, 2, 5, 10 x 10^k */
    case_ticks(0, 10, 6, (double[]){0, 2, 4, 6, 8, 10}, 6, 2);                 /* 1.67 -> 2 */
    case_ticks(0.13, 0.87, 6, (double[]){0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, 7, 0.1); /* 0.123 -> 0.1 */
    case_ticks(-4.3, 1.8, 6, (double[]){-4, -3, -2, -1, 0, 1}, 6, 1);          /* 1.02 -> 1 */
    case_ticks(1e4, 6e4, 6, (double[]){1e4, 2e4, 3e4, 4e4, 5e4, 6e4}, 6, 1e4); /* 8333 -> 10000 */
    case_ticks(-0.003, 0.0021, 5, (double[]){-0.003, -0.002, -0.001, 0, 0.001, 0.002}, 6, 0.001);
    case_ticks(0.9, 15.1, 6, (double[]){2, 4, 6, 8, 10, 12, 14}, 7, 2);        /* 2.37 -> 2 */
    case_ticks(0, 25, 6, (double[]){0, 5, 10, 15, 20, 25}, 6, 5);              /* 4.17 -> 5 */
    /* degenerate ranges give no ticks */
    double t[PLOT_MAX_TICKS], step;
    CHECK(plot_nice_ticks(1, 1, 6, t, PLOT_MAX_TICKS, &step) == 0);
    CHECK(plot_nice_ticks(2, 1, 6, t, PLOT_MAX_TICKS, &step) == 0);
    CHECK(plot_nice_ticks(NAN, 1, 6, t, PLOT_MAX_TICKS, &step) == 0);
    CHECK(plot_nice_ticks(0, INFINITY, 6, t, PLOT_MAX_TICKS, &step) == 0);

    /* properties over random ranges: inside the range, equally spaced by a
       1-2-5 step, none missing at either end, a readable count */
    srand(7);
    int bad = 0;
    for (int it = 0; it < 2000 && bad < 5; it++) {
        double mag = pow(10.0, (rand() % 13) - 6);
        double lo = ((double)rand() / RAND_MAX - 0.5) * 20 * mag;
        double hi = lo + ((double)rand() / RAND_MAX + 0.01) * 10 * mag;
        int n = plot_nice_ticks(lo, hi, 6, t, PLOT_MAX_TICKS, &step);
        double m = step / pow(10.0, floor(log10(step) + 1e-9));
        int ok = n >= 3 && n <= 10 && (fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9);
        for (int i = 0; ok && i < n; i++) {
            ok &= t[i] >= lo - 1e-9 * step && t[i] <= hi + 1e-9 * step;
            ok &= fabs(t[i] / step - round(t[i] / step)) < 1e-6;
            if (i) ok &= fabs(t[i] - t[i - 1] - step) < 1e-6 * step;
        }
        ok = ok && t[0] - step < lo && t[n - 1] + step > hi;
        if (!ok) bad++;
        CHECK_MSG(ok, "[%.17g, %.17g]: %d ticks, step %g", lo, hi, n, step);
    }

    case_label(0.2, 0.1, "0.2");
    case_label(0.30000000000000004, 0.1, "0.3");
    case_label(-0.0, 1, "0");
    case_label(2.5, 0.5, "2.5");
    case_label(0.25, 0.25, "0.25");
    case_label(3, 1, "3");
    case_label(20000, 10000, "20000");
    case_label(1e7, 5e6, "1e+07");
    case_label(-0.002, 0.001, "-0.002");

    /* the format is the extension's, in any case; anything else is refused */
    PlotFormat f;
    VaeError err = {{0}};
    CHECK(plot_format_from_path("a.png", &f, &err) == VAE_OK && f == PLOT_FMT_PNG);
    CHECK(plot_format_from_path("dir/B.SVG", &f, &err) == VAE_OK && f == PLOT_FMT_SVG);
    CHECK(plot_format_from_path("x.y/c.Pdf", &f, &err) == VAE_OK && f == PLOT_FMT_PDF);
    /* a device has no extension: PNG */
    CHECK(plot_format_from_path("/dev/null", &f, &err) == VAE_OK && f == PLOT_FMT_PNG);
    CHECK(plot_format_from_path("c.jpg", &f, &err) == VAE_ERR);
    check_contains("jpg", err.msg, "c.jpg: unknown image format '.jpg'");
    CHECK(plot_format_from_path("plot", &f, &err) == VAE_ERR);
    CHECK(plot_format_from_path("d.png/plot", &f, &err) == VAE_ERR);
    CHECK(plot_format_from_path("c.png.txt", &f, &err) == VAE_ERR);
    check_contains("names the choices", err.msg, ".png, .svg or .pdf");
    return check_done("test_plot_ticks");
}
