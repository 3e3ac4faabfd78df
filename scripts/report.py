#!/usr/bin/python3
"""Writes results.csv and report.md for a sweep folder made by scripts/sweep-*.sh.

Reads SWEEP/runs.tsv (the runs and the settings the sweep asked for) and, for
each run folder, the settings the run really had from its checkpoint
(scripts/run_settings.py), eval.json (test-set metrics from `vae eval
--json`) and metrics.csv (training history). Runs the sweep found trained with
other settings (SWEEP/settings-mismatch.tsv) and runs of FEW_EPOCHS epochs or
fewer are marked. report.md has one table per group of runs, the group's test
numbers plotted against its swept setting and its runs' training curves
overlaid (drawn by `vae plot` when --bin names the binary, into
SWEEP/figures/), and, per run, the reconstructions and samples side by side,
linked by relative path.
Standard library only: `/usr/bin/python3 scripts/report.py SWEEP`.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_settings  # noqa: E402

COLUMNS = ["run", "group", "arch", "hidden", "channels", "lr", "zdim", "loss", "alpha", "beta", "epochs_done",
           "limit", "batch", "seed", "data", "settings_from", "settings_differ",
           "test_recon", "test_kl", "test_loss", "test_recon_plus_kl", "test_loss_mu",
           "test_recon_mu", "train_seconds", "status"]

# a model trained this many epochs or fewer draws grey blobs: its pictures are
# marked as not a result
FEW_EPOCHS = 3
# settings shared by the runs of a group are said once; those that vary get a column
COMMON_KEYS = [("data", "data"), ("limit", "limit"), ("lr", "lr"), ("batch", "batch"), ("seed", "seed"),
               ("arch", "arch"), ("hidden", "hidden"), ("channels", "channels")]

# the study table also quotes every number per batch of this many images, the
# scale course reports often use (a sum over the batch instead of a mean)
BATCH_SCALE = 128
# a run whose KL is below this many nats per image has collapsed to the prior
COLLAPSED_KL = 0.5
FAMILIES = {"mlp-": "simple MLP (400)", "deep-": "deeper MLP (512,256,128)", "conv-": "convolutional",
            "resnet-": "residual"}
# the reconstruction term by its name in the README (`--loss mse` is the SSE)
TERM_NAMES = {"mse": "SSE", "bce": "BCE"}

GROUP_TITLES = {
    "mse": "loss = alpha * SSE + beta * KL (zdim 20)",
    "bce": "beta-VAE: loss = BCE + beta * KL (zdim 20)",
    "zdim": "loss = 0.5 * SSE + 0.5 * KL, by latent size",
    "study": "BCE + KL by architecture and latent size",
}


def read_run(sweep, row, mismatch):
    d = os.path.join(sweep, row["run"])
    out = dict(row)
    out["status"] = "missing"
    out["epochs_done"] = 0
    out["train_seconds"] = ""
    out["settings_from"] = "sweep command"
    out["settings_differ"] = mismatch.get(row["run"], "")
    ckpt = os.path.join(d, "model.safetensors")
    if os.path.exists(ckpt):
        # what the run really had, whatever the sweep command says
        try:
            st = run_settings.settings(ckpt)
        except (OSError, ValueError) as e:
            print("report.py: %s" % e, file=sys.stderr)
        else:
            for key in ("zdim", "loss", "alpha", "beta", "lr", "batch", "seed", "arch", "hidden", "channels",
                        "data"):
                out[key] = st[key]
            out["lr"] = "%g" % run_settings.f32(st["lr"])
            out["limit"] = st["limit"] if st["limit"] not in ("", "0") else "all"
            out["settings_from"] = "checkpoint"
    mpath = os.path.join(d, "metrics.csv")
    if os.path.exists(mpath):
        with open(mpath, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows:
            out["epochs_done"] = max(int(r["epoch"]) for r in rows)
            out["train_seconds"] = "%.1f" % sum(float(r["train_seconds"]) for r in rows)
        out["status"] = "training"
    # a run that stopped on a non-finite loss says so in its log
    lpath = os.path.join(d, "train.log")
    if os.path.exists(lpath):
        with open(lpath, errors="replace") as f:
            stops = [l.strip() for l in f if "not finite" in l]
        if stops:
            out["stopped"] = stops[-1]
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
    if out["status"] != "done" and "stopped" in out:
        out["status"] = "diverged"
    return out


def img(sweep, run, name, alt):
    path = os.path.join(sweep, run, name)
    if not os.path.exists(path):
        return "(none)"
    return "![%s](%s/%s)" % (alt, run, name)


def family(run):
    for prefix, name in FAMILIES.items():
        if run.startswith(prefix):
            return name
    return run


def num(r, key):
    try:
        return float(r[key])
    except (KeyError, TypeError, ValueError):
        return None


def study_section(sweep, results):
    """The architecture study: one table (per image and per 128-image batch),
    what the numbers say, and every model's pictures."""
    L = ["| model | arch | hidden | zdim | epochs | total | recon | KL | total / %d | recon / %d | KL / %d "
         "| recon (z = mu) | train s |" % (BATCH_SCALE, BATCH_SCALE, BATCH_SCALE),
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        cells = [r["run"], r.get("arch", "") or "mlp", r.get("hidden", "") or "default", r["zdim"],
                 str(r["epochs_done"]) if r["status"] != "diverged" else "diverged"]
        for key in ("test_loss", "test_recon", "test_kl"):
            v = num(r, key)
            cells.append("%.2f" % v if v is not None else "-")
        for key in ("test_loss", "test_recon", "test_kl"):
            v = num(r, key)
            cells.append("%.0f" % (v * BATCH_SCALE) if v is not None else "-")
        v = num(r, "test_recon_mu")
        cells.append("%.2f" % v if v is not None else "-")
        cells.append(r["train_seconds"] or "-")
        L.append("| " + " | ".join(cells) + " |")
    L += ["", "Per image: means over the test set (one sampled z per image; *total* = recon + KL, "
          "the negative ELBO). Per %d-image batch: the same numbers times %d." % (BATCH_SCALE, BATCH_SCALE), ""]
    # what the numbers say, computed rather than written by hand
    done = [r for r in results if num(r, "test_recon") is not None]
    notes = []
    for z in sorted({r["zdim"] for r in done}, key=int):
        at = [r for r in done if r["zdim"] == z]
        best_recon = min(at, key=lambda r: num(r, "test_recon"))
        best_kl = min(at, key=lambda r: num(r, "test_kl"))
        best_total = min(at, key=lambda r: num(r, "test_loss"))
        notes.append("- zdim %s: lowest reconstruction error: %s (%.2f); lowest KL: %s (%.2f); lowest total: "
                     "%s (%.2f)." % (z, best_recon["run"], num(best_recon, "test_recon"), best_kl["run"],
                                     num(best_kl, "test_kl"), best_total["run"], num(best_total, "test_loss")))
    for r in done:
        if num(r, "test_kl") < COLLAPSED_KL:
            notes.append("- %s (%s, zdim %s) collapsed to the prior: KL %.3f nats per image, so its decoder "
                         "ignores z and draws about the same image for every input." % (
                             r["run"], family(r["run"]), r["zdim"], num(r, "test_kl")))
    for r in results:
        if r["status"] == "diverged":
            notes.append("- %s (%s, zdim %s) diverged and was stopped: `%s`" % (
                r["run"], family(r["run"]), r["zdim"], r["stopped"].replace("`", "'")))
    if done and not any(num(r, "test_kl") < COLLAPSED_KL for r in done):
        notes.append("- No run collapsed to the prior (every KL >= %.1f nats per image)." % COLLAPSED_KL)
    if notes:
        L += ["What the numbers say:", ""] + notes + [""]
    L += ["Each model: test images (odd rows) and their reconstructions from z = mu (even rows); 64 samples "
          "z ~ N(0, I) (seed 1); and the latent space decoded over Gaussian quantiles (zdim 1: a strip of 20, "
          "z growing to the right; zdim 2: a 20 x 20 grid, z0 growing to the right and z1 upwards).", "",
          "| model | reconstructions | samples | strip / manifold |", "|---|---|---|---|"]
    for r in results:
        L.append("| %s | %s | %s | %s |" % (r["run"], img(sweep, r["run"], "recon.png", "reconstructions"),
                                           img(sweep, r["run"], "sample.png", "samples"),
                                           img(sweep, r["run"], "manifold.png", "latent manifold")))
    L.append("")
    return L


# the column each group's figure has on its x axis (study: the family, one line per zdim)
GROUP_X = {"zdim": "zdim", "bce": "beta", "mse": "beta", "study": "family"}
PLOTTED = ["test_loss", "test_recon", "test_kl"]


def plot(vae, args, what):
    """Runs `vae plot ARGS`; True when it wrote its figure."""
    try:
        p = subprocess.run([vae, "plot"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        print("report.py: %s: %s (no %s)" % (vae, e.strerror, what), file=sys.stderr)
        return False
    if p.returncode != 0:
        print("report.py: no %s: %s" % (what, p.stderr.strip()), file=sys.stderr)
    return p.returncode == 0


def group_figures(sweep, g, rows, vae):
    """The group's test numbers against its swept setting (`vae plot --csv`)
    and the training curves of its runs overlaid (`vae plot RUN...`), as
    figures/<group>-*.png; returns the report lines that show them."""
    if not vae:
        return []
    fig = os.path.join(sweep, "figures")
    os.makedirs(fig, exist_ok=True)
    L = []
    x = GROUP_X.get(g)
    done = [r for r in rows if num(r, "test_loss") is not None]
    if x and len(done) >= 2:
        table = os.path.join(fig, "%s.csv" % g)
        with open(table + ".tmp", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", x, "zdim"] + PLOTTED)
            for r in done:
                xv = r["run"].split("-")[0] if x == "family" else r[x]
                w.writerow([r["run"], xv, r["zdim"]] + [r[k] for k in PLOTTED])
        os.replace(table + ".tmp", table)
        out = "%s-%s.png" % (g, x)
        args = ["--csv", table, "--x", x, "--y", ",".join(PLOTTED), "-o", os.path.join(fig, out),
                "--title", "%s: test loss, reconstruction and KL against %s" % (GROUP_TITLES.get(g, g), x)]
        if x == "family":
            args += ["--group", "zdim"]
        if plot(vae, args, "plot against %s" % x):
            L += ["Test-set loss, reconstruction and KL (per image, one sampled z) against %s%s:" % (
                x, ", one line per latent size" if x == "family" else ""), "",
                  "![against %s](figures/%s)" % (x, out), ""]
    runs = [r["run"] for r in rows if os.path.exists(os.path.join(sweep, r["run"], "metrics.csv"))][:10]
    if runs:
        out = "%s-curves.png" % g
        if plot(vae, [os.path.join(sweep, r) for r in runs] + ["-o", os.path.join(fig, out)], "curves"):
            L += ["Training curves (train solid, test dashed):", "", "![training curves](figures/%s)" % out, ""]
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", help="sweep folder with runs.tsv")
    ap.add_argument("--title", default="sweep")
    ap.add_argument("--data", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--bin", default="", help="the vae binary, for the figures (none: no figures)")
    a = ap.parse_args()
    tsv = os.path.join(a.sweep, "runs.tsv")
    try:
        with open(tsv, newline="") as f:
            runs = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        print("report.py: %s: %s" % (tsv, e.strerror), file=sys.stderr)
        return 1
    mismatch = {}
    mpath = os.path.join(a.sweep, "settings-mismatch.tsv")
    if os.path.exists(mpath):
        with open(mpath) as f:
            for line in f:
                run, _, diffs = line.rstrip("\n").partition("\t")
                mismatch[run] = diffs
    results = [read_run(a.sweep, r, mismatch) for r in runs]

    tmp = os.path.join(a.sweep, "results.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in results:
            w.writerow({k: r.get(k, "") for k in COLUMNS})
    os.replace(tmp, os.path.join(a.sweep, "results.csv"))

    L = ["# %s" % a.title, ""]
    few = [r for r in results if r["status"] != "missing" and 0 < int(r["epochs_done"]) <= FEW_EPOCHS]
    if few:
        L += ["> **Not a result: %s trained for %d epoch(s) or fewer (%s).** Such a model has barely begun to "
              "learn: its samples and reconstructions are grey blobs and its latent maps show noise. Train for "
              "more epochs before reading anything into them." % (
                  "every run was" if len(few) == len(results) else "%d run(s) were" % len(few), FEW_EPOCHS,
                  ", ".join("%s: %s" % (r["run"], r["epochs_done"]) for r in few)), ""]
    differ = [r for r in results if r.get("settings_differ")]
    if differ:
        L += ["> **%d run(s) were trained with other settings than the command below asks for**; the tables "
              "give the settings each run really had: %s." % (
                  len(differ), "; ".join("%s (%s)" % (r["run"], r["settings_differ"]) for r in differ)), ""]
    if a.command:
        L += ["Made by `%s`%s. The settings in the tables are each run's own, read from its checkpoint. "
              "Test-set numbers are means per image over the whole test set "
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
        if g == "study":
            L += study_section(a.sweep, [r for r in results if r["group"] == g])
            L += group_figures(a.sweep, g, [r for r in results if r["group"] == g], a.bin)
            continue
        rows = [r for r in results if r["group"] == g]
        shared, varying = [], []
        for key, label in COMMON_KEYS:
            vals = {str(r.get(key, "") or "") for r in rows}
            if len(vals) == 1:
                v = vals.pop()
                if v:
                    shared.append("%s %s" % (label, v))
            else:
                varying.append(key)
        if shared:
            L += ["Every run of this table: %s." % ", ".join(shared), ""]
        head = ["run", "zdim", "recon term", "alpha", "beta"] + varying + ["epochs", "recon", "KL", "loss",
                                                                          "recon + KL", "recon (z = mu)", "train s"]
        L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            ep = str(r["epochs_done"])
            if 0 < int(r["epochs_done"]) <= FEW_EPOCHS:
                ep += " (too few)"
            cells = [r["run"] + (" (settings differ)" if r.get("settings_differ") else ""), r["zdim"],
                     TERM_NAMES.get(r["loss"], r["loss"]), r["alpha"], r["beta"]]
            cells += [str(r.get(k, "") or "-") for k in varying]
            cells += [ep, r.get("test_recon", "-"), r.get("test_kl", "-"), r.get("test_loss", "-"),
                      r.get("test_recon_plus_kl", "-"), r.get("test_recon_mu", "-"), r["train_seconds"] or "-"]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
        L += group_figures(a.sweep, g, [r for r in results if r["group"] == g], a.bin)
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
    for r in results:
        if r["status"] == "diverged" and r["group"] != "study":
            L += ["%s diverged: `%s`" % (r["run"], r["stopped"].replace("`", "'")), ""]
    missing = [r["run"] for r in results if r["status"] not in ("done", "diverged")]
    if missing:
        L += ["Not finished: %s (rerun the sweep command to continue them)." % ", ".join(missing), ""]
    tmp = os.path.join(a.sweep, "report.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(L))
    os.replace(tmp, os.path.join(a.sweep, "report.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
