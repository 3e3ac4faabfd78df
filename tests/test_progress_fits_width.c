/* The training progress line fits the terminal: for every width from 1 to 200
 * columns and a range of runs (epoch 15/15 at 469 steps, 100000 epochs,
 * millions of steps, the evaluation phase), the line takes at most width-1
 * columns (a redraw never wraps), and at 80 and 60 columns it still shows the
 * bar, the loss, and the ETA of the epoch and of the whole run. The run ETA
 * is checked against hand-computed values. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "vae/progress.h"

static ProgressView view(int epoch, int epochs, long step, long steps, double loss, double rate, double eta,
                         double run, int evaluating) {
    ProgressView v;
    memset(&v, 0, sizeof v);
    v.p.epoch = epoch;
    v.p.epochs = epochs;
    v.p.step = step;
    v.p.steps = steps;
    v.p.loss = loss;
    v.p.images_per_sec = rate;
    v.p.eta_seconds = eta;
    v.run_eta = run;
    v.evaluating = evaluating;
    return v;
}

int main(void) {
    ProgressView cases[] = {
        view(15, 15, 469, 469, 104.888, 35192, 0, 0, 0),     /* the line of the issue: 81 columns before */
        view(3, 15, 120, 469, 131.5, 18000, 2.5, 41.2, 0),
        view(99999, 100000, 1234567, 9999999, 123456.789, 9.9e6, 3.6e5 * 1.5, 9.9e7, 0),
        view(15, 15, 469, 469, 104.888, 35192, 0, 3.2, 1),
        view(1, 1, 1, 1, -0.0, 0, -1, -1, 0),
    };
    int overflow = 0;
    char buf[512];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int w = 1; w <= 200; w++) {
            size_t len = progress_format(buf, sizeof buf, w, &cases[c]);
            if (len != strlen(buf) || (int)len > (w > 1 ? w - 1 : 0)) {
                if (overflow++ < 5) printf("width %d, case %zu: %zu columns: \"%s\"\n", w, c, strlen(buf), buf);
            }
        }
    CHECK_MSG(overflow == 0, "%d lines did not fit their width", overflow);

    for (int w = 60; w <= 80; w += 20) {
        progress_format(buf, sizeof buf, w, &cases[0]);
        printf("%2d: |%s|\n", w, buf);
        CHECK_MSG(strstr(buf, "15/15") && strstr(buf, "469/469") && strstr(buf, "104.888"),
                  "width %d: epoch, step and loss shown: \"%s\"", w, buf);
        CHECK_MSG(strstr(buf, "ETA 0s") != NULL, "width %d: the epoch's ETA is shown: \"%s\"", w, buf);
        CHECK_MSG(strstr(buf, "run 0s") != NULL, "width %d: the run's ETA is shown: \"%s\"", w, buf);
        progress_format(buf, sizeof buf, w, &cases[1]);
        printf("%2d: |%s|\n", w, buf);
        CHECK_MSG(strstr(buf, "ETA 3s") && strstr(buf, "run 41s"), "width %d: both ETAs: \"%s\"", w, buf);
        progress_format(buf, sizeof buf, w, &cases[3]);
        printf("%2d: |%s|\n", w, buf);
        CHECK_MSG(strstr(buf, "evaluating") != NULL && strstr(buf, "run ETA 3s") != NULL,
                  "width %d: the evaluation phase is named, with the run's ETA: \"%s\"", w, buf);
    }
    progress_format(buf, sizeof buf, 80, &cases[0]);
    CHECK_MSG(strstr(buf, "35192 img/s") != NULL && strchr(buf, '[') && strchr(buf, ']'),
              "80 columns: the bar and the rate are shown: \"%s\"", buf);

    char d[32];
    const struct { double s; const char *want; } durs[] = {{0, "0s"}, {59.4, "59s"}, {61, "1m01s"}, {3599, "59m59s"},
                                                           {3600, "1h00m"}, {7500, "2h05m"}, {-1, "?"}, {NAN, "?"}};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        progress_duration(d, sizeof d, durs[i].s);
        CHECK_MSG(strcmp(d, durs[i].want) == 0, "duration %g -> \"%s\", want \"%s\"", durs[i].s, d, durs[i].want);
    }

    /* run ETA: epoch 1 of 15, step 100 of 469 after 10 s, 36.9 s left in the epoch;
       nothing measured: 36.9 + 14 epochs * (10 / 100 * 469 s) */
    ProgressView v = view(1, 15, 100, 469, 0, 0, 36.9, 0, 0);
    double got = progress_run_eta(&v.p, 10.0, -1, -1), want = 36.9 + 14 * 46.9;
    CHECK_MSG(fabs(got - want) < 1e-9, "run ETA from this epoch's pace: %g, want %g", got, want);
    /* measured: a whole epoch 50 s, its evaluation 5 s; epoch 3 of 15 */
    v = view(3, 15, 100, 469, 0, 0, 30, 0, 0);
    got = progress_run_eta(&v.p, 10.0, 50, 5);
    want = 30 + 5 + 12 * 50;
    CHECK_MSG(fabs(got - want) < 1e-9, "run ETA from measured epochs: %g, want %g", got, want);
    v = view(15, 15, 469, 469, 0, 0, 0, 0, 0);
    got = progress_run_eta(&v.p, 10.0, 50, 5);
    CHECK_MSG(fabs(got - 5) < 1e-9, "last epoch, last step: only its evaluation is left: %g", got);
    v = view(1, 15, 0, 469, 0, 0, 0, 0, 0);
    CHECK_MSG(progress_run_eta(&v.p, 0, -1, -1) < 0, "before the first step the run ETA is unknown");
    return check_done("test_progress_fits_width");
}
