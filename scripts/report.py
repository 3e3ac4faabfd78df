#!/usr/bin/python3
"""Writes results.csv and report.md for a sweep folder made by scripts/sweep-*.sh.

Reads SWEEP/runs.tsv (the settings of each run) and, for each run folder,
eval.json (test-set metrics from `vae eval --json`) and metrics.csv (training
history). report.md has one table per group of runs and, per run, the
reconstructions and samples side by side, linked by relative path.
Standard library only: `/usr/bin/python3 scripts/report.py SWEEP`.
"""
import argparse
import csv
import json
import os
import sys

COLUMNS = ["run", "group", "zdim", "loss", "alpha", "beta", "epochs_done", "limit",
           "test_recon", "test_kl", "test_loss", "test_recon_plus_kl", "test_loss_mu",
           "test_recon_mu", "train_seconds", "status"]

GROUP_TITLES = {
    "mse": "loss = alpha * SSE + beta * KL (zdim 20)",
    "bce": "beta-VAE: loss = BCE + beta * KL (zdim 20)",
    "zdim": "loss = 0.5 * SSE + 0.5 * KL, by latent size",
}


def read_run(sweep, row):
    d = os.path.join(sweep, row["run"])
    out = dict(row)
    out["status"] = "missing"
    out["epochs_done"] = 0
    out["train_seconds"] = ""
    mpath = os.path.join(d, "metrics.csv")
    if os.path.exists(mpath):
        with open(mpath, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows:
            out["epochs_done"] = max(int(r["epoch"]) for r in rows)
            out["train_seconds"] = "%.1f" % sum(float(r["train_seconds"]) for r in rows)
        out["status"] = "training"
    epath = os.path.join(d, "eval.json")
    if os.path.exists(epath) and int(out["epochs_done"]) >= 1:
        with open(epath) as f:
            e = json.load(f)
        out["test_recon"] = "%.4f" % e["recon"]
        out["test_kl"] = "%.4f" % e["kl"]
        out["test_loss"] = "%.4f" % e["loss"]
        out["test_recon_plus_kl"] = "%.4f" % (e["recon"] + e["kl"])
        out["test_loss_mu"] = "%.4f" % e["loss_mu"]
        out["test_recon_mu"] = "%.4f" % e["recon_mu"]
        out["status"] = "done" if int(out["epochs_done"]) >= int(row["epochs"]) else "partial"
    return out


def img(sweep, run, name, alt):
    path = os.path.join(sweep, run, name)
    if not os.path.exists(path):
        return "(none)"
    return "![%s](%s/%s)" % (alt, run, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", help="sweep folder with runs.tsv")
    ap.add_argument("--title", default="sweep")
    ap.add_argument("--data", default="")
    ap.add_argument("--command", default="")
    a = ap.parse_args()
    tsv = os.path.join(a.sweep, "runs.tsv")
    try:
        with open(tsv, newline="") as f:
            runs = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        print("report.py: %s: %s" % (tsv, e.strerror), file=sys.stderr)
        return 1
    results = [read_run(a.sweep, r) for r in runs]

    tmp = os.path.join(a.sweep, "results.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in results:
            w.writerow({k: r.get(k, "") for k in COLUMNS})
    os.replace(tmp, os.path.join(a.sweep, "results.csv"))

    L = ["# %s" % a.title, ""]
    if a.command:
        L += ["Made by `%s`%s. Test-set numbers are means per image over the whole test set "
              "(`vae eval`): *recon* is the reconstruction term (SSE or BCE summed over pixels) with one "
              "sampled z, *KL* the KL divergence to N(0, I), *loss* = alpha * recon + beta * KL (the "
              "objective the run minimised), *recon + KL* the unweighted sum (the negative ELBO for BCE), "
              "and *recon (z = mu)* the reconstruction from the mean. *train s* is the time of the "
              "training loops." % (a.command, " on `%s`" % a.data if a.data else ""), ""]
    groups = []
    for r in results:
        if r["group"] not in groups:
            groups.append(r["group"])
    for g in groups:
        L += ["## %s" % GROUP_TITLES.get(g, g), ""]
        L += ["| run | zdim | recon term | alpha | beta | epochs | recon | KL | loss | recon + KL | recon (z = mu) | train s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            if r["group"] != g:
                continue
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["run"], r["zdim"], r["loss"], r["alpha"], r["beta"], r["epochs_done"],
                r.get("test_recon", "-"), r.get("test_kl", "-"), r.get("test_loss", "-"),
                r.get("test_recon_plus_kl", "-"), r.get("test_recon_mu", "-"), r["train_seconds"] or "-"))
        L.append("")
        L += ["Reconstructions (rows of test images, each followed by a row of their reconstructions from "
              "z = mu) and samples (z ~ N(0, I), the same z for every run):", ""]
        L += ["| run | reconstructions | samples |", "|---|---|---|"]
        for r in results:
            if r["group"] == g:
                L.append("| %s | %s | %s |" % (r["run"], img(a.sweep, r["run"], "recon.png", "reconstructions"),
                                             img(a.sweep, r["run"], "sample.png", "samples")))
        L.append("")
        views = [r for r in results if r["group"] == g and
                 os.path.exists(os.path.join(a.sweep, r["run"], "scatter.png"))]
        if views:
            L += ["Latent space: test-set means coloured by label (the means themselves for zdim 2, "
                  "else a t-SNE map of 2,000 of them, seed 1)%s:" % (
                      "; for zdim 2 also the decoded grid over Gaussian quantiles of the plane"
                      if any(os.path.exists(os.path.join(a.sweep, r["run"], "manifold.png")) for r in views)
                      else ""), ""]
            for r in views:
                line = "**%s** %s" % (r["run"], img(a.sweep, r["run"], "scatter.png", "latent scatter"))
                if os.path.exists(os.path.join(a.sweep, r["run"], "manifold.png")):
                    line += " %s" % img(a.sweep, r["run"], "manifold.png", "manifold")
                L += [line, ""]
    missing = [r["run"] for r in results if r["status"] != "done"]
    if missing:
        L += ["Not finished: %s (rerun the sweep command to continue them)." % ", ".join(missing), ""]
    tmp = os.path.join(a.sweep, "report.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(L))
    os.replace(tmp, os.path.join(a.sweep, "report.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
