/* Scatter plots of labelled 2-D points into an RGB image: filled discs in the
 * tab10 colours, a framed plot box with the axis ranges printed at its
 * corners, an optional title, and a legend of the classes. Text is drawn with
 * stb_easy_font (quads rasterised here). Written with image_write_png. */
#ifndef VAE_PLOT_H
#define VAE_PLOT_H

#include <stdint.h>
#include "vae/common.h"

#define PLOT_MAX_CLASSES 10

/* matplotlib's tab10 palette; class k is drawn in PLOT_PALETTE[k] */
extern const uint8_t PLOT_PALETTE[PLOT_MAX_CLASSES][3];
/* background and frame colours */
extern const uint8_t PLOT_BACKGROUND[3];

typedef struct {
    int width, height;              /* whole image in pixels, 800 x 640 */
    int radius;                     /* disc radius in pixels, 2 */
    const char *title;              /* printed above the box; NULL = none */
    int n_classes;                  /* legend entries, 1..PLOT_MAX_CLASSES, 10 */
    const char *const *class_names; /* n_classes names; NULL = "0", "1", ... */
} PlotStyle;

/* Where things landed, in pixels (x right, y down; rectangles inclusive). */
typedef struct {
    int box_x0, box_y0, box_x1, box_y1;         /* the frame of the plot box */
    int legend_x0, legend_y0, legend_x1, legend_y1;
    double xmin, xmax, ymin, ymax;              /* data range shown */
} PlotLayout;

void plot_default_style(PlotStyle *s);

/* The data range is the points' bounding box widened by 5% of its size on
 * every side (by 1 when a side has zero extent). A point (x, y) is drawn
 * centred on the pixel
 *   px = box_x0 + round((x - xmin) / (xmax - xmin) * (box_x1 - box_x0))
 *   py = box_y1 - round((y - ymin) / (ymax - ymin) * (box_y1 - box_y0))
 * (y grows upwards). Points are drawn in order, so later ones cover earlier
 * ones; a label outside 0..n_classes-1 is drawn grey and not in the legend.
 * rgb must hold width * height * 3 bytes. Errors: bad style or sizes (image
 * below 200 x 150 or above 8192 x 8192), n < 1, a non-finite coordinate. */
int plot_scatter_render(const PlotStyle *s, const double *xy, const int *labels, int n, uint8_t *rgb,
                        PlotLayout *layout, VaeError *err);

/* Renders and writes a PNG (atomically); layout may be NULL. */
int plot_scatter_png(const char *path, const PlotStyle *s, const double *xy, const int *labels, int n,
                     PlotLayout *layout, VaeError *err);

#endif
