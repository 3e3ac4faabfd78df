/* The one-line progress display of a training run, as text that fits a
 * terminal of a given width (the command layer finds the width and redraws
 * it with '\r'). Pure formatting, so a test can check every width. */
#ifndef VAE_PROGRESS_H
#define VAE_PROGRESS_H

#include <stddef.h>
#include "vae/train.h"

/* What the line shows; times in seconds, negative = unknown. */
typedef struct {
    TrainProgress p;            /* epoch, step, running loss, images/s, this epoch's ETA */
    double run_eta;             /* the whole run (remaining epochs and their evaluations) */
    int evaluating;             /* the training steps of the epoch are done; the test set runs */
} ProgressView;

/* Writes the line into buf (cap bytes, NUL-terminated) using at most width-1
 * columns, so the cursor never reaches the last column and a redraw never
 * wraps. Drops parts in order as the width shrinks: the rate, the bar, the
 * words; below ~20 columns the line is cut. Returns the length written. */
size_t progress_format(char *buf, size_t cap, int width, const ProgressView *v);

/* ETA of the whole run: what is left of this epoch's training, this epoch's
 * evaluation and every later epoch. elapsed: seconds of this epoch's training
 * so far; epoch_secs: the measured wall time of a whole earlier epoch
 * (training, evaluation, files); eval_secs: of an earlier evaluation and its
 * files. Either may be negative (not measured yet): then this epoch's pace
 * stands in for an epoch and evaluation counts as free. Negative = unknown. */
double progress_run_eta(const TrainProgress *p, double elapsed, double epoch_secs, double eval_secs);

/* "42s", "3m05s", "2h07m". */
void progress_duration(char *buf, size_t cap, double secs);

#endif
