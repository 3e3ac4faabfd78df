#!/usr/bin/env bash
# scripts/study-architectures.sh end to end on tiny non-square (12x16) data,
# one epoch: all eight runs train with the right settings (arch, layers, lr),
# results.csv has their test numbers (equal to each run's eval.json), and
# report.md has the table (per image and per 128-image batch), the computed
# notes and every model's reconstructions, samples and strip/manifold.
# Also: --list-only writes the run list only, bad options exit 2, and runs
# that diverge are reported as such.
. "$(dirname "$0")/cli_lib.sh"
SRC=${VAE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
STUDY="$SRC/scripts/study-architectures.sh"
[ -x /usr/bin/python3 ] || { echo "/usr/bin/python3 is needed by scripts/report.py; skipping"; exit 77; }

make_data "$T/data" 300 100 12 16
S="$T/study"

# usage errors: exit 2, nothing trained
bash "$STUDY" --bin "$VAE" --data "$T/data" --out "$S" --arch conv >/dev/null 2>"$T/err"
check "--arch is refused (the study sets it per run)" test $? -eq 2
check "the refusal names --arch" grep -q -- "--arch" "$T/err"
bash "$STUDY" --bin "$VAE" --data "$T/data" --out "$S" --lr zero >/dev/null 2>&1
check "--lr zero exits 2" test $? -eq 2

# --list-only: eight vae train lines with the study's settings, nothing trained
bash "$STUDY" --bin "$VAE" --data "$T/data" --out "$S" --epochs 1 --list-only >/dev/null 2>"$T/err"
check "--list-only succeeds" test $? -eq 0
check "eight runs listed" test "$(wc -l < "$S/runs.txt")" -eq 8
check "every run has lr 0.01 (the report's)" test "$(grep -c -- '--lr 0.01 ' "$S/runs.txt")" -eq 8
check "every run is BCE + KL" test "$(grep -c -- '--loss bce --alpha 1 --beta 1' "$S/runs.txt")" -eq 8
check "two simple MLPs" test "$(grep -c -- '--hidden 400 ' "$S/runs.txt")" -eq 2
check "two deeper MLPs" test "$(grep -c -- '--hidden 512,256,128 ' "$S/runs.txt")" -eq 2
check "two conv runs" test "$(grep -c -- '--arch conv ' "$S/runs.txt")" -eq 2
check "two resnet runs" test "$(grep -c -- '--arch resnet ' "$S/runs.txt")" -eq 2
check "zdim 1 and 2, four each" test "$(grep -c -- '--zdim 1 ' "$S/runs.txt")" -eq 4 -a "$(grep -c -- '--zdim 2 ' "$S/runs.txt")" -eq 4
check "--list-only trains nothing" test ! -e "$S/mlp-z1/model.safetensors"

# the real thing, one epoch, 1 thread per run; scatter plots off (t-SNE), the
# strips and grids are drawn anyway
bash "$STUDY" --bin "$VAE" --data "$T/data" --out "$S" --epochs 1 --threads 1 --no-views >"$T/log" 2>&1
rc=$?
check "the study finishes (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -20 "$T/log"
for run in mlp-z1 mlp-z2 deep-z1 deep-z2 conv-z1 conv-z2 resnet-z1 resnet-z2; do
    for f in model.safetensors eval.json recon.png sample.png manifold.png; do
        check "$run/$f" test -s "$S/$run/$f"
    done
done
# zdim 1: a strip of 20 tiles of 12x16 with a 2-px border; zdim 2: a 20 x 20 grid
check "zdim 1 strip size" test "$(png_size "$S/conv-z1/manifold.png")" = "$((20 * 18 + 2))x$((14 + 2))"
check "zdim 2 grid size" test "$(png_size "$S/resnet-z2/manifold.png")" = "$((20 * 18 + 2))x$((20 * 14 + 2))"
check "results.csv and report.md" test -s "$S/results.csv" -a -s "$S/report.md"
check "results.csv numbers are each run's eval.json, with arch and layers" /usr/bin/python3 - "$S" <<'PYEOF'
import csv, json, os, sys
s = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(s, "results.csv"))))
assert [r["run"] for r in rows] == ["mlp-z1", "mlp-z2", "deep-z1", "deep-z2", "conv-z1", "conv-z2",
                                   "resnet-z1", "resnet-z2"], [r["run"] for r in rows]
for r in rows:
    e = json.load(open(os.path.join(s, r["run"], "eval.json")))
    for k, j in (("test_loss", "loss"), ("test_recon", "recon"), ("test_kl", "kl")):
        assert abs(float(r[k]) - e[j]) <= 1e-4 + 1e-6 * abs(e[j]), (r["run"], k, r[k], e[j])
    assert r["status"] == "done" and r["epochs_done"] == "1", r
    assert r["lr"] == "0.01", r
# the settings each run really had, read from its checkpoint (conv/resnet: vae's default 256)
want = {"mlp": ("mlp", "400"), "deep": ("mlp", "512,256,128"), "conv": ("conv", "256"),
        "resnet": ("resnet", "256")}
for r in rows:
    assert (r["arch"], r["hidden"]) == want[r["run"].split("-")[0]], r
PYEOF
check "report.md: the table per image and per 128-image batch" /usr/bin/python3 - "$S" <<'PYEOF'
import csv, json, os, sys
s = sys.argv[1]
md = open(os.path.join(s, "report.md")).read()
assert "| total / 128 | recon / 128 | KL / 128 |" in md
for r in csv.DictReader(open(os.path.join(s, "results.csv"))):
    line = [l for l in md.splitlines() if l.startswith("| %s |" % r["run"])][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    total, recon, kl, total128 = float(cells[5]), float(cells[6]), float(cells[7]), float(cells[8])
    assert abs(total - float(r["test_loss"])) < 0.006 and abs(recon - float(r["test_recon"])) < 0.006
    assert abs(kl - float(r["test_kl"])) < 0.006 and abs(total128 - 128 * float(r["test_loss"])) < 0.51
    for f in ("recon.png", "sample.png", "manifold.png"):
        assert "(%s/%s)" % (r["run"], f) in md, (r["run"], f)
assert "- zdim 1: lowest reconstruction error:" in md and "- zdim 2: lowest reconstruction error:" in md
PYEOF
# rerunning finds everything done and trains nothing
before=$(stat -c %Y "$S/mlp-z1/model.safetensors")
bash "$STUDY" --bin "$VAE" --data "$T/data" --out "$S" --epochs 1 --threads 1 --no-views >"$T/log2" 2>&1
check "a rerun succeeds" test $? -eq 0
check "a rerun trains nothing" grep -q "already finished" "$T/log2"
check "a rerun keeps the checkpoints" test "$(stat -c %Y "$S/mlp-z1/model.safetensors")" = "$before"

# a run stopped on a non-finite loss (lr 10) is reported as diverged, with
# vae's own message, instead of silently missing
bash "$STUDY" --bin "$VAE" --data "$T/data" --out "$T/div" --epochs 1 --lr 10 --threads 1 --no-views >"$T/log3" 2>&1
check "a study with diverged runs exits non-zero" test $? -ne 0
check "diverged runs are named in results.csv and report.md" /usr/bin/python3 - "$T/div" <<'PYEOF'
import csv, os, sys
s = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(s, "results.csv"))))
div = [r["run"] for r in rows if r["status"] == "diverged"]
assert "mlp-z1" in div, [(r["run"], r["status"]) for r in rows]
md = open(os.path.join(s, "report.md")).read()
for run in div:
    line = [l for l in md.splitlines() if l.startswith("| %s |" % run)][0]
    assert "| diverged |" in line, line
    assert any(l.startswith("- %s " % run) and "not finite" in l for l in md.splitlines()), run
assert "Not finished" not in md or "mlp-z1" not in md.split("Not finished")[1]
PYEOF
finish
