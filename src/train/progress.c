/* Formatting of the training progress line to a terminal width, and the ETA
 * of the whole run. */
#include "vae/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void progress_duration(char *buf, size_t cap, double secs) {
    if (!(secs >= 0) || !isfinite(secs)) {
        snprintf(buf, cap, "?");
        return;
    }
    long s = (long)(secs + 0.5);
    if (s < 60) snprintf(buf, cap, "%lds", s);
    else if (s < 3600) snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else if (s < 100L * 3600) snprintf(buf, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(buf, cap, "%ldh", s / 3600);
}

double progress_run_eta(const TrainProgress *p, double elapsed, double epoch_secs, double eval_secs) {
    double epoch_left = p->eta_seconds > 0 ? p->eta_seconds : 0;
    double eval = eval_secs > 0 ? eval_secs : 0;
    double per_epoch = epoch_secs;
    if (per_epoch < 0) {
        /* no whole epoch measured yet: this epoch's pace, steps * (elapsed / step) */
        if (p->step <= 0 || p->steps <= 0 || !(elapsed >= 0)) return -1;
        per_epoch = elapsed / (double)p->step * (double)p->steps + eval;
    }
    int later = p->epochs - p->epoch;
    if (later < 0) later = 0;
    return epoch_left + eval + (double)later * per_epoch;
}

/* Appends to buf; returns -1 (and leaves buf as it was) when it would pass `limit` columns. */
static int put(char *buf, size_t cap, size_t *len, int limit, const char *fmt, const char *s) {
    char part[128];
    int k = snprintf(part, sizeof part, fmt, s);
    if (k < 0 || *len + (size_t)k > (size_t)limit || *len + (size_t)k + 1 > cap) return -1;
    memcpy(buf + *len, part, (size_t)k + 1);
    *len += (size_t)k;
    return 0;
}

size_t progress_format(char *buf, size_t cap, int width, const ProgressView *v) {
    if (!cap) return 0;
    buf[0] = '\0';
    int limit = width - 1;
    if (limit < 1) return 0;
    const TrainProgress *p = &v->p;
    char ep[48], steps[48], loss[48], rate[48], eta_e[24], eta_r[24], eta[80], eta_short[64];
    snprintf(ep, sizeof ep, "%d/%d", p->epoch, p->epochs);
    snprintf(steps, sizeof steps, "%ld/%ld", p->step, p->steps);
    snprintf(loss, sizeof loss, "%.3f", p->loss);
    snprintf(rate, sizeof rate, "%.0f img/s", p->images_per_sec);
    progress_duration(eta_e, sizeof eta_e, p->eta_seconds);
    progress_duration(eta_r, sizeof eta_r, v->run_eta);
    if (v->evaluating)
        snprintf(eta, sizeof eta, "run ETA %s", eta_r);
    else
        snprintf(eta, sizeof eta, "ETA %s, run %s", eta_e, eta_r);
    snprintf(eta_short, sizeof eta_short, "%s/%s", v->evaluating ? "-" : eta_e, eta_r);

    /* layouts from the fullest to the barest; the first that fits wins */
    for (int layout = 0; layout < 5; layout++) {
        size_t len = 0;
        int fail = 0;
        buf[0] = '\0';
        int words = layout < 3, with_rate = layout < 1, with_bar = layout < 2;
        const char *gap = layout == 0 ? "  " : " ";
        fail |= put(buf, cap, &len, limit, words ? "epoch %s " : "%s ", ep);
        /* the parts after the bar, measured first so the bar takes what is left */
        char tail[256];
        size_t tl = 0;
        tail[0] = '\0';
        if (v->evaluating) {
            fail |= put(tail, sizeof tail, &tl, 255, "%s", layout < 4 ? "evaluating test set..." : "eval...");
        } else {
            fail |= put(tail, sizeof tail, &tl, 255, "%s", steps);
            char f[16];
            snprintf(f, sizeof f, words ? "%sloss %%s" : "%s%%s", gap);
            fail |= put(tail, sizeof tail, &tl, 255, f, loss);
            if (with_rate) fail |= put(tail, sizeof tail, &tl, 255, "  %s", rate);
        }
        char f2[16];
        snprintf(f2, sizeof f2, "%s%%s", v->evaluating ? "  " : gap);
        fail |= put(tail, sizeof tail, &tl, 255, f2, words ? eta : eta_short);
        if (fail) continue;
        if (with_bar && !v->evaluating) {
            int room = limit - (int)len - (int)tl - 3;   /* "[" "]" and a space */
            if (room < 6) continue;
            if (room > 30) room = 30;
            int filled = p->steps > 0 ? (int)((long long)room * p->step / p->steps) : 0;
            char bar[40];
            for (int i = 0; i < room; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
            bar[room] = '\0';
            if (put(buf, cap, &len, limit, "[%s] ", bar)) continue;
        }
        if (put(buf, cap, &len, limit, "%s", tail)) continue;
        return len;
    }
    /* narrower than the barest layout: cut it */
    snprintf(buf, cap, "%s %s", ep, v->evaluating ? "eval" : steps);
    size_t len = strlen(buf);
    if (len > (size_t)limit) {
        len = (size_t)limit;
        buf[len] = '\0';
    }
    return len;
}
