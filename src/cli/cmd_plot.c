/* vae plot: training curves of run folders (their metrics.csv), or columns
 * of a CSV table (a sweep's results.csv) against another column. The
 * drawing is in the library (vae/curves.h, vae/plot.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "vae/curves.h"
#include "vae/plot.h"

#define DEFAULT_Y "test_loss,test_recon,test_kl"

int cli_plot_format(const CommandSpec *cmd, const char *path, int *fmt) {
    PlotFormat f;
    VaeError err;
    struct stat sb;
    if (plot_format_from_path(path, &f, &err) == VAE_OK) {
        *fmt = (int)f;
        return 0;
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return runtime_error("%s: is a directory", path);
    return usage_error(cmd, "-o", "%s", err.msg);
}

int cmd_plot(int argc, char **argv) {
    const char *out = "curves.png", *csv = NULL, *x = NULL, *y = DEFAULT_Y, *group = NULL, *title = NULL;
    int width = 0, height = 0;
    const char *runs[CURVES_MAX_RUNS];
    int n_runs = 0;
    Opt opts[] = {
        {"out", 'o', OPT_STRING, &out, 0, 0, 0, "PATH", "curves.png", "output image: .png, .svg or .pdf", NULL, 0},
        {"csv", 0, OPT_STRING, &csv, 0, 0, 0, "PATH", "none", "plot columns of this CSV table instead of run folders", NULL, 0},
        {"x", 0, OPT_STRING, &x, 0, 0, 0, "COLUMN", "none", "with --csv: the column on the x axis (numeric or names)", NULL, 0},
        {"y", 0, OPT_STRING, &y, 0, 0, 0, "LIST", DEFAULT_Y, "with --csv: comma-separated columns, one panel each (1..6)", NULL, 0},
        {"group", 0, OPT_STRING, &group, 0, 0, 0, "COLUMN", "none", "with --csv: one line per value of this column", NULL, 0},
        {"title", 0, OPT_STRING, &title, 0, 0, 0, "TEXT", "a description", "title above the panels", NULL, 0},
        {"width", 0, OPT_INT, &width, PLOT_MIN_SIDE, PLOT_MAX_SIDE, 0, "W", "by the panels", "figure width (pixels; points for SVG/PDF)", NULL, 0},
        {"height", 0, OPT_INT, &height, PLOT_MIN_SIDE, PLOT_MAX_SIDE, 0, "H", "by the panels", "figure height", NULL, 0},
        OPT_END,
    };
    CommandSpec cmd = {
        "plot", "", "vae plot RUN_DIR... [-o PATH]\n       vae plot --csv TABLE --x COLUMN [--y LIST] [--group COLUMN] [-o PATH]",
        "With run folders: the training curves from each RUN_DIR/metrics.csv (a path to a metrics.csv\n"
        "file also works): loss, reconstruction and KL per image against epoch, train solid and test\n"
        "dashed, and a test NLL panel when a test_nll column is present. Several runs are overlaid in\n"
        "different colours and named by their folder in the legend (at most 10).\n"
        "With --csv: one panel per --y column against the --x column of a table such as a sweep's\n"
        "results.csv (scripts/report.py writes one): x numeric (points joined in order) or names\n"
        "(in order of first appearance); --group draws one line per value of a column; rows with an\n"
        "empty field (an unfinished run) are left out.\n"
        "The format follows the extension of -o: .png, .svg or .pdf. vae train writes RUN/curves.png\n"
        "after every epoch itself.",
        "vae plot runs/z2 runs/z20 -o curves.png", opts};
    int rc = opt_parse_operands(&cmd, argc, argv, runs, CURVES_MAX_RUNS, &n_runs);
    if (rc) return rc == 1 ? 0 : rc;
    int fmt;
    if ((rc = cli_plot_format(&cmd, out, &fmt)) != 0) return rc;
    VaeError err;
    CurvesOptions co = {width, height, title};
    if (csv) {
        if (n_runs > 0) return usage_error(&cmd, NULL, "give either run folders or --csv, not both");
        if (!x) return usage_error(&cmd, "--x", "--csv needs the column for the x axis");
        /* the --y list, split in a copy */
        static char ybuf[1024];
        const char *ycols[CURVES_MAX_Y];
        int n_y = 0;
        if (strlen(y) >= sizeof ybuf) return usage_error(&cmd, "--y", "is too long");
        snprintf(ybuf, sizeof ybuf, "%s", y);
        for (char *p = ybuf;;) {
            char *comma = strchr(p, ',');
            if (comma) *comma = '\0';
            if (!*p) return usage_error(&cmd, "--y", "'%s' has an empty column name", y);
            if (n_y == CURVES_MAX_Y) return usage_error(&cmd, "--y", "'%s' has more than %d columns", y, CURVES_MAX_Y);
            ycols[n_y++] = p;
            if (!comma) break;
            p = comma + 1;
        }
        if (table_plot_write(out, csv, x, ycols, n_y, group, &co, &err) != VAE_OK) return runtime_error("%s", err.msg);
        return 0;
    }
    const char *csv_only = x ? "--x" : group ? "--group" : opt_given(&cmd, "y") ? "--y" : NULL;
    if (csv_only) return usage_error(&cmd, csv_only, "only applies with --csv");
    if (n_runs == 0) return usage_error(&cmd, NULL, "needs at least one run folder (or --csv TABLE)");
    if (curves_write(out, runs, n_runs, &co, &err) != VAE_OK) return runtime_error("%s", err.msg);
    return 0;
}
