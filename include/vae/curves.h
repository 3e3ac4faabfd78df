/* Plots of numbers that training and sweeps write as CSV: the training
 * curves of one or more run folders (their metrics.csv: loss, reconstruction
 * and KL against epoch, train solid and test dashed, and the test NLL when a
 * test_nll column is there), and any columns of a table such as a sweep's
 * results.csv against another column (numeric or categorical), one line per
 * group. Drawn with vae/plot.h; the format follows the output's extension. */
#ifndef VAE_CURVES_H
#define VAE_CURVES_H

#include "vae/common.h"

#define CURVES_MAX_RUNS 10
#define CURVES_MAX_Y 6

enum { CURVE_TRAIN_LOSS, CURVE_TRAIN_RECON, CURVE_TRAIN_KL, CURVE_TEST_LOSS, CURVE_TEST_RECON, CURVE_TEST_KL,
       CURVE_TEST_NLL, CURVE_COLS };

/* The columns of metrics.csv that are plotted, in the enum's order. */
extern const char *const CURVE_COLUMN_NAMES[CURVE_COLS];

/* One run's history: n epochs, each column (n) values; test NLL values are
 * NaN where the column is missing or a field is empty. */
typedef struct {
    int n;
    double *epoch;
    double *v[CURVE_COLS];
    int has_nll;
    double *block;   /* owns every array above */
} RunMetrics;

/* Reads a metrics.csv. Errors name the path: unreadable, not CSV, a missing
 * column, a field that is not a number, epochs that do not increase, no rows. */
int run_metrics_load(const char *path, RunMetrics *m, VaeError *err);
void run_metrics_free(RunMetrics *m);

typedef struct {
    int width, height;       /* 0 = chosen from the number of panels */
    const char *title;       /* NULL = a default */
} CurvesOptions;

/* Training curves of n (1..CURVES_MAX_RUNS) runs, each a run folder holding
 * metrics.csv (or a path to a metrics.csv file itself); runs are named by
 * their folder's name in the legend. */
int curves_write(const char *out, const char *const *runs, int n, const CurvesOptions *o, VaeError *err);

/* RUN_DIR/curves.png from RUN_DIR/metrics.csv (what `vae train` calls after
 * every epoch). */
int train_write_curves(const char *run_dir, VaeError *err);

/* Columns ycols (1..CURVES_MAX_Y, one panel each) of the table at csv_path
 * against column xcol. x is numeric when every non-empty x field is a
 * number (points joined in order of x), else categorical (in order of first
 * appearance). group (may be NULL): one line per distinct value of that
 * column, named "GROUP=value" in the legend. Rows with an empty x or y are
 * left out of that panel (an unfinished run); any other field that is not
 * a number is an error. */
int table_plot_write(const char *out, const char *csv_path, const char *xcol, const char *const *ycols, int n_y,
                     const char *group, const CurvesOptions *o, VaeError *err);

#endif
