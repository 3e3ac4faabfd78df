#!/usr/bin/env bash
# CLI test of the figures: vae train writes curves.png every epoch; vae plot
# overlays runs (SVG read back with Python's XML parser: one stroked path per
# run, panel and split, one marker per epoch), plots a results table against a
# column, writes PNG/SVG/PDF by the extension, and refuses damaged or missing
# metrics files (exit 1) and bad usage (exit 2) without writing anything;
# vae scatter's SVG holds one disc per plotted point in its label's colour;
# a sweep's report.md shows its plots.
. "$(dirname "$0")/cli_lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "python3 not found: skipping"; exit 77; }

make_data "$T/d" 300 60 8 8
run_vae train --data "$T/d" --out "$T/r1" --hidden 16 --zdim 2 --batch 50 --epochs 3 --threads 1
check "train: exit 0" test "$RC" -eq 0
check "train writes curves.png (1200x420)" test "$(png_size "$T/r1/curves.png")" = 1200x420
run_vae train --data "$T/d" --out "$T/r2" --hidden 16 --zdim 3 --batch 50 --epochs 2 --threads 1 --no-images
check "--no-images: no curves.png" test ! -e "$T/r2/curves.png"

# ---- two runs overlaid, in each format ----
expect 0 "" plot "$T/r1" "$T/r2/" -o "$T/c.svg"
expect 0 "" plot "$T/r1" "$T/r2" -o "$T/c.pdf"
expect 0 "" plot "$T/r1" "$T/r2/metrics.csv" -o "$T/c.png" --width 900 --height 400
check "c.png is 900x400" test "$(png_size "$T/c.png")" = 900x400
check "c.pdf is a one-page PDF" bash -c "head -c 5 '$T/c.pdf' | grep -q '%PDF-' && [ \$(grep -ac '/Type /Page\\b' '$T/c.pdf') -eq 1 ]"
# the palette's first two colours, as cairo writes them in SVG
cat >"$T/svg.py" <<'EOF'
import re, sys, xml.etree.ElementTree as ET
PAL = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (213, 94, 0), (86, 180, 233),
       (204, 121, 167), (0, 0, 0), (240, 228, 66), (153, 153, 153), (136, 34, 85)]
def colour(style, key):
    m = re.search(key + r":rgb\(([\d.]+)%,([\d.]+)%,([\d.]+)%\)", style or "")
    if not m:
        return None
    rgb = tuple(round(float(v) * 2.55) for v in m.groups())
    return PAL.index(rgb) if rgb in PAL else None
def paths(path):
    root = ET.parse(path).getroot()     # raises on malformed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    out = []
    for e in root.iter("{http://www.w3.org/2000/svg}path"):
        st = e.get("style")
        out.append((colour(st, "fill"), colour(st, "stroke"), st or ""))
    glyphs = sum(1 for _ in root.iter("{http://www.w3.org/2000/svg}use"))
    return out, glyphs
EOF
check "curves SVG: per run, 3 panels x (train + test) lines + 1 legend line, and a marker per epoch and line" \
    "$PY" - "$T/svg.py" "$T/c.svg" <<'EOF'
import sys
exec(open(sys.argv[1]).read())
ps, glyphs = paths(sys.argv[2])
for run, epochs in ((0, 3), (1, 2)):
    strokes = sum(1 for f, s, st in ps if s == run)
    dashed = sum(1 for f, s, st in ps if s == run and "stroke-dasharray" in st)
    fills = sum(1 for f, s, st in ps if f == run)
    assert strokes == 3 * 2 + 1, "run %d: %d stroked paths" % (run, strokes)
    assert dashed == 3, "run %d: %d dashed (test) lines" % (run, dashed)
    assert fills == 3 * 2 * epochs, "run %d: %d markers" % (run, fills)
assert glyphs > 50, "%d glyphs" % glyphs
EOF

# ---- a test_nll column (empty where not measured) adds a fourth panel ----
mkdir -p "$T/nll"
awk -F, 'NR == 1 { print $0 ",test_nll"; next } { print $0 "," (NR == 4 ? "" : 100 + NR) }' "$T/r1/metrics.csv" >"$T/nll/metrics.csv"
expect 0 "" plot "$T/nll" -o "$T/nll.png"
check "with test_nll: 2 x 2 panels (1000x760)" test "$(png_size "$T/nll.png")" = 1000x760
expect 0 "" plot "$T/nll" -o "$T/nll.svg"
check "with test_nll: 3 x 2 curves + the NLL curve + 2 legend keys; markers only where measured" \
    "$PY" - "$T/svg.py" "$T/nll.svg" <<'EOF'
import sys
exec(open(sys.argv[1]).read())
ps, glyphs = paths(sys.argv[2])
strokes = [p for p in ps if p[1] == 0]
assert len(strokes) == 3 * 2 + 1 + 2, strokes
assert sum(1 for f, s, st in ps if f == 0) == 3 * 2 * 3 + 2, "markers"
EOF

# ---- a results table against a column: numeric x, categorical x, groups ----
cat >"$T/results.csv" <<'EOF'
run,group,zdim,beta,test_loss,test_recon,test_kl
z2,a,2,1,30.5,25.1,5.4
z10,a,10,1,20.25,11.0,9.25
z5,a,5,1,22.0,14.0,8.0
z20,b,20,2,,,
"x,y",b,3,2,40,30,10
EOF
expect 0 "" plot --csv "$T/results.csv" --x zdim -o "$T/t.svg"
check "table SVG: 3 panels of one line with a marker per finished row (4)" "$PY" - "$T/svg.py" "$T/t.svg" <<'EOF'
import sys
exec(open(sys.argv[1]).read())
ps, glyphs = paths(sys.argv[2])
assert sum(1 for f, s, st in ps if s == 0) == 3, "lines"
assert sum(1 for f, s, st in ps if f == 0) == 3 * 4, "markers: %d" % sum(1 for f, s, st in ps if f == 0)
EOF
expect 0 "" plot --csv "$T/results.csv" --x run --y test_kl --group group -o "$T/g.svg" --title "KL by run"
check "grouped SVG: one line per group, markers per row, legend lines" "$PY" - "$T/svg.py" "$T/g.svg" <<'EOF'
import sys
exec(open(sys.argv[1]).read())
ps, glyphs = paths(sys.argv[2])
assert sum(1 for f, s, st in ps if s == 0) == 2, "group a: line + legend"
assert sum(1 for f, s, st in ps if f == 0) == 3, "group a: 3 markers"
assert sum(1 for f, s, st in ps if f == 1) == 1, "group b: 1 marker (z20 is unfinished)"
EOF
expect 1 "$T/results.csv: no column 'nope' (it has: run, group, zdim" plot --csv "$T/results.csv" --x nope -o "$T/n.png"
printf 'run,zdim,test_loss\na,2,abc\n' >"$T/badnum.csv"
expect 1 "$T/badnum.csv: line 2, column test_loss: 'abc' is not a finite number" plot --csv "$T/badnum.csv" --x zdim --y test_loss -o "$T/n.png"

# ---- damaged or missing metrics: vae: PATH: problem, exit 1, nothing written ----
mkdir -p "$T/bad"
for case in empty header-only short-row not-a-number no-column binary backwards; do
    mkdir -p "$T/bad/$case"
    m="$T/bad/$case/metrics.csv"
    head -1 "$T/r1/metrics.csv" >"$m"
    case $case in
    empty) : >"$m"; want="$m: empty file" ;;
    header-only) want="$m: no epochs yet" ;;
    short-row) sed -n 2p "$T/r1/metrics.csv" | cut -d, -f1-5 >>"$m"; want="$m: line 2 has 5 fields but the header has" ;;
    not-a-number) sed -n 2p "$T/r1/metrics.csv" | sed 's/^\([^,]*,[^,]*\),[^,]*/\1,nan/' >>"$m"; want="$m: line 2, column train_loss: 'nan' is not a finite number" ;;
    no-column) sed -i 's/test_kl/test_kx/' "$m"; sed -n 2p "$T/r1/metrics.csv" >>"$m"; want="$m: no 'test_kl' column" ;;
    binary) printf 'epoch\0\1\2' >"$m"; want="$m: contains a NUL byte" ;;
    backwards) sed -n 3p "$T/r1/metrics.csv" >>"$m"; sed -n 2p "$T/r1/metrics.csv" >>"$m"; want="$m: line 3: epoch 1 does not follow epoch 2" ;;
    esac
    expect 1 "vae: $want" plot "$T/r1" "$T/bad/$case" -o "$WORK/bad.png"
done
expect 1 "vae: $T/nowhere/metrics.csv: " plot "$T/nowhere" -o "$WORK/bad.png"
check "no output from the failures" test ! -e "$WORK/bad.png"

# ---- usage errors: exit 2, nothing written ----
usage_err "needs at least one run folder" plot -o "$WORK/u.png"
usage_err "unknown image format '.jpg'" plot "$T/r1" -o "$WORK/u.jpg"
usage_err "--x: only applies with --csv" plot "$T/r1" --x zdim
usage_err "--x: --csv needs" plot --csv "$T/results.csv"
usage_err "either run folders or --csv" plot "$T/r1" --csv "$T/results.csv" --x zdim
usage_err "--y: 'a,,b' has an empty column name" plot --csv "$T/results.csv" --x zdim --y a,,b
usage_err "too many arguments (at most 10)" plot r r r r r r r r r r r
usage_err "--width" plot "$T/r1" --width 100
expect 1 "vae: $WORK: is a directory" plot "$T/r1" -o "$WORK"
# a pipe has no extension: it gets PNG bytes
check "-o /dev/stdout into a pipe writes a PNG" bash -c "'$VAE' plot '$T/r1' -o /dev/stdout | od -An -tx1 -N4 | grep -q '89 50 4e 47'"
# operands after --, even one that looks like an option
mkdir -p "$T/-dash"
cp "$T/r1/metrics.csv" "$T/-dash/"
(cd "$T" && "$VAE" plot -o "$T/dash.png" -- -dash) && ok || bad "plot -- -dash"

# ---- a sweep's report plots its numbers against zdim and its runs' curves ----
if [ -x /usr/bin/python3 ]; then
    VAE_BIN=$VAE bash "${VAE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}/scripts/sweep-zdim.sh" --data "$T/d" --epochs 1 --no-views --out "$T/sw" >"$T/sw.log" 2>&1
    check "sweep-zdim.sh on a tiny data set: exit 0" test $? -eq 0
    check "the sweep plots test loss/recon/KL against zdim" test "$(png_size "$T/sw/figures/zdim-zdim.png")" = 1160x390
    check "the sweep overlays its runs' curves" test -n "$(png_size "$T/sw/figures/zdim-curves.png")"
    check "report.md shows both" bash -c "grep -q '](figures/zdim-zdim.png)' '$T/sw/report.md' && grep -q '](figures/zdim-curves.png)' '$T/sw/report.md'"
fi

# ---- scatter: SVG discs per label match the plotted points; PDF; bad extension ----
run_vae scatter --model "$T/r1/model.safetensors" --data "$T/d" -o "$T/s.svg" --csv "$T/s.csv"
check "scatter -o s.svg: exit 0" test "$RC" -eq 0
check "scatter SVG: one disc per point in its label's colour, one per legend entry" \
    "$PY" - "$T/svg.py" "$T/s.svg" "$T/s.csv" <<'EOF'
import csv, sys
exec(open(sys.argv[1]).read())
ps, glyphs = paths(sys.argv[2])
rows = list(csv.DictReader(open(sys.argv[3])))
assert len(rows) == 60, len(rows)
for k in range(10):
    n = sum(1 for r in rows if int(r["label"]) == k)
    got = sum(1 for f, s, st in ps if f == k)
    assert got == n + 1, "class %d: %d discs for %d points" % (k, got, n)
assert glyphs > 40, "%d glyphs" % glyphs
EOF
expect 0 "" scatter --model "$T/r1/model.safetensors" --data "$T/d" -o "$T/s.pdf"
check "scatter PDF header" bash -c "head -c 5 '$T/s.pdf' | grep -q '%PDF-'"
expect 0 "" scatter --model "$T/r1/model.safetensors" --data "$T/d" -o "$T/s.PNG" --width 400 --height 300
check "scatter PNG is 400x300" test "$(png_size "$T/s.PNG")" = 400x300
usage_err "-o: $WORK/s.jpg: unknown image format '.jpg'" scatter --model "$T/r1/model.safetensors" -o "$WORK/s.jpg"
finish
