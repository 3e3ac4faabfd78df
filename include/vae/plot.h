/* Figures that are not image grids, drawn with cairo: one or more panels of
 * axes (names, 1-2-5 tick values, a title) holding line series and/or a
 * labelled 2-D scatter, a legend at the right, anti-aliased text, and a
 * colour-blind-safe palette. The output format follows the file name:
 * .png, .svg or .pdf; files are written atomically (vae_write_file). */
#ifndef VAE_PLOT_H
#define VAE_PLOT_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"

#define PLOT_PALETTE_SIZE 10
#define PLOT_MAX_CLASSES PLOT_PALETTE_SIZE
#define PLOT_MAX_PANELS 8
#define PLOT_MAX_TICKS 16
#define PLOT_MIN_SIDE 200
#define PLOT_MAX_SIDE 8192

/* Okabe & Ito's eight colours (blue, orange, bluish green, vermillion, sky
 * blue, reddish purple, black, yellow; distinguishable with every common
 * colour-vision deficiency), then grey and Tol's wine for classes 8 and 9.
 * Yellow is late because thin yellow lines are hard to see on white. */
extern const uint8_t PLOT_PALETTE[PLOT_PALETTE_SIZE][3];
/* background (white) and the grey of scatter points whose label has no class */
extern const uint8_t PLOT_BACKGROUND[3];
extern const uint8_t PLOT_OTHER[3];

typedef enum { PLOT_FMT_PNG, PLOT_FMT_SVG, PLOT_FMT_PDF } PlotFormat;

/* The format from the file name's extension (.png, .svg, .pdf, any case);
 * PNG for an existing device or pipe without one (-o /dev/stdout). Anything
 * else: VAE_ERR, "PATH: unknown image format '.x' (the name must end in .png,
 * .svg or .pdf)". */
int plot_format_from_path(const char *path, PlotFormat *fmt, VaeError *err);

/* Tick values for an axis over [lo, hi]: the multiples of step inside the
 * range, step = (hi - lo) / target rounded to 1, 2, 5 or 10 x 10^k (mantissa
 * below 1.5 -> 1, below 3 -> 2, below 7 -> 5, else 10), which gives between
 * about target * 2/3 and target * 3/2 ticks. Returns the number of ticks
 * written (at most max), 0 for a range that is empty, reversed or not finite. */
int plot_nice_ticks(double lo, double hi, int target, double *ticks, int max, double *step);
/* A tick label with as many decimals as the step needs ("0.25", "1e+04"). */
void plot_format_tick(double v, double step, char *buf, size_t len);

/* One curve: n points (x[i], y[i]); a non-finite y leaves a gap. */
typedef struct {
    const char *name;         /* legend text; NULL: not in the legend */
    const double *x, *y;
    int n;
    int color;                /* index into PLOT_PALETTE (taken mod the size) */
    int dashed;               /* dashed instead of solid */
    int markers;              /* a dot at every point */
} PlotLine;

typedef struct {
    const char *title, *xlabel, *ylabel;   /* each may be NULL */
    const PlotLine *lines;
    int n_lines;
    /* a scatter of n_points points xy (n_points, 2), point i in the colour of
       class labels[i] (grey when outside 0..PLOT_MAX_CLASSES-1) */
    const double *xy;
    const int *labels;
    int n_points;
    /* categorical x axis: x = 0..n_xcats-1 are drawn as these names */
    const char *const *xcats;
    int n_xcats;
    int integer_x;            /* x ticks at whole numbers only (epochs) */
} PlotPanel;

typedef enum { PLOT_KEY_LINE, PLOT_KEY_DASHED, PLOT_KEY_DISC } PlotKeyKind;

/* A legend entry: a short line, dashed line or disc in a colour, then text. */
typedef struct {
    const char *name;
    int color;                /* palette index; -1 = dark grey (for a style key) */
    PlotKeyKind kind;
} PlotKey;

typedef struct {
    int width, height;        /* pixels for PNG, points (1/72 in) for SVG and PDF */
    const char *title;        /* above everything; NULL = none */
    int cols;                 /* panels per row (0 = all in one row) */
    const PlotPanel *panels;
    int n_panels;             /* 1..PLOT_MAX_PANELS */
    const PlotKey *keys;      /* legend at the right; n_keys 0 = none */
    int n_keys;
    double radius;            /* scatter disc radius (0: a dot about one pixel wide) */
} PlotFigure;

/* Where things landed, in the device units of the figure (x right, y down). */
typedef struct {
    double x0, y0, x1, y1;                /* the plot area (inside the axes) */
    double xmin, xmax, ymin, ymax;        /* the data range shown */
    int n_xticks, n_yticks;
    double xticks[PLOT_MAX_TICKS], yticks[PLOT_MAX_TICKS];
} PlotPanelLayout;

typedef struct {
    int n_panels;
    PlotPanelLayout panel[PLOT_MAX_PANELS];
    double legend_x0, legend_y0, legend_x1, legend_y1;   /* all 0 without keys */
    double title_y1;                      /* bottom of the title band (0 without a title) */
} PlotLayout;

/* Data ranges: the finite points' bounding box widened by 5% of its size on
 * every side (by 0.5 when a side has zero extent; [0, 1] with no data). A
 * point (x, y) of a panel is drawn at
 *   px = x0 + (x - xmin) / (xmax - xmin) * (x1 - x0)
 *   py = y1 - (y - ymin) / (ymax - ymin) * (y1 - y0).
 * Renders the figure into a malloc'd buffer in the given format (caller frees
 * *out). layout may be NULL. Errors: sizes out of PLOT_MIN_SIDE..PLOT_MAX_SIDE,
 * no panels, a non-finite scatter coordinate or x value, cairo failures. */
int plot_render(const PlotFigure *f, PlotFormat fmt, uint8_t **out, size_t *out_len, PlotLayout *layout,
                VaeError *err);

/* Frees cairo's and fontconfig's caches (fonts, patterns) once nothing is
 * drawn any more, so leak checkers see a clean exit; the vae binary calls it
 * at exit. Does nothing when no figure was drawn. */
void plot_shutdown(void);

/* Renders in the format of path's extension and writes it atomically. */
int plot_write(const char *path, const PlotFigure *f, PlotLayout *layout, VaeError *err);

/* ---- the labelled scatter of latent means (vae scatter) ---- */

typedef struct {
    int width, height;              /* 800 x 640 */
    double radius;                  /* disc radius, 2 */
    const char *title;              /* NULL = none */
    const char *xlabel, *ylabel;    /* axis names; NULL = none */
    int n_classes;                  /* legend entries, 1..PLOT_MAX_CLASSES, 10 */
    const char *const *class_names; /* n_classes names; NULL = "0", "1", ... */
} PlotStyle;

void plot_default_style(PlotStyle *s);

/* One panel of discs coloured by label with a legend of the classes; the
 * format follows path. Errors: as plot_render, n < 1, bad n_classes. */
int plot_scatter_write(const char *path, const PlotStyle *s, const double *xy, const int *labels, int n,
                       PlotLayout *layout, VaeError *err);

#endif
