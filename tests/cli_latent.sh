#!/usr/bin/env bash
# CLI test of the latent views (vae latent, scatter, manifold, interpolate) on a
# tiny IDX data set written here: output files exist with the right sizes, the
# scatter's points are the real latent means, bad options exit 2, missing
# files exit 1. Needs $VAE_BIN (set by ctest) and python3 (stdlib only).
set -u
VAE=${VAE_BIN:?set VAE_BIN to the vae binary}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "python3 not found: skipping"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/vae-cli-latent-XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { if eval "$1"; then ok; else fail "$1 ${2:-}"; fi; }

# PNG width and height from the IHDR chunk (bytes 16..23, big-endian)
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'; }

# a tiny data set: 8x8 images, 10 classes, a bright square whose position
# depends on the class; 120 training and 37 test images
mkdir -p "$T/data"
"$PY" - "$T/data" <<'EOF'
import random, struct, sys
d = sys.argv[1]
rng = random.Random(5)
def write(split, n):
    labels = [rng.randrange(10) for _ in range(n)]
    px = bytearray()
    for lab in labels:
        img = [rng.randrange(40) for _ in range(64)]
        r, c = divmod(lab, 5)
        for y in range(3 * r, 3 * r + 4):
            for x in range(c, c + 3):
                img[y * 8 + x] = 200 + rng.randrange(56)
        px += bytes(img)
    with open(f"{d}/{split}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 8, 8) + bytes(px))
    with open(f"{d}/{split}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))
write("train", 120)
write("t10k", 37)
EOF

train() { "$VAE" train --data "$T/data" --epochs 1 --hidden 16 --no-images --threads 1 "$@" >/dev/null 2>"$T/train.err"; }
train --zdim 2 --out "$T/z2" || { cat "$T/train.err"; fail "training the zdim 2 model"; }
train --zdim 3 --out "$T/z3" || { cat "$T/train.err"; fail "training the zdim 3 model"; }
M2="$T/z2/model.safetensors" M3="$T/z3/model.safetensors"
cd "$T" # the checkpoint names its data folder, so no --data is needed from here

# ---- latent: CSV and JSON agree, one row per test image, labels from the file ----
check '"$VAE" latent --model "$M2" -o "$T/latent.csv"'
check '[ "$(head -1 "$T/latent.csv")" = "index,label,mu0,mu1" ]'
check '[ "$(tail -n +2 "$T/latent.csv" | wc -l)" -eq 37 ]'
check '"$VAE" latent --model "$M2" > "$T/stdout.csv" && cmp -s "$T/latent.csv" "$T/stdout.csv"' "(stdout differs from -o)"
check '"$VAE" latent --model "$M2" --json -o "$T/latent.json"'
check '"$PY" - "$T/latent.csv" "$T/latent.json" "$T/data/t10k-labels-idx1-ubyte" <<EOF
import csv, json, struct, sys
rows = list(csv.DictReader(open(sys.argv[1])))
j = json.load(open(sys.argv[2]))
labels = open(sys.argv[3], "rb").read()[8:]
f32 = lambda v: struct.unpack("f", struct.pack("f", float(v)))[0]
assert j["zdim"] == 2 and j["count"] == 37 == len(rows) == len(j["mu"]), "counts"
for i, r in enumerate(rows):
    assert int(r["index"]) == i == j["index"][i], "index %d" % i
    assert int(r["label"]) == labels[i] == j["label"][i], "label %d" % i
    for k in range(2):
        a, b = f32(r["mu%d" % k]), f32(j["mu"][i][k])
        assert a == b, "mu%d of %d: csv %r json %r" % (k, i, a, b)
# the means are not all the same point (the encoder ran on each image)
assert len({(r["mu0"], r["mu1"]) for r in rows}) > 30, "means barely differ"
EOF'

# ---- scatter: for zdim 2 the plotted points are the means ----
check '"$VAE" scatter --model "$M2" -o "$T/s2.png" --csv "$T/s2.csv" 2>/dev/null'
check '[ "$(png_size "$T/s2.png")" = 800x640 ]' "(got $(png_size "$T/s2.png" 2>/dev/null))"
check '"$PY" - "$T/latent.csv" "$T/s2.csv" <<EOF
import csv, sys
mu = {r["index"]: r for r in csv.DictReader(open(sys.argv[1]))}
pts = list(csv.DictReader(open(sys.argv[2])))
assert len(pts) == len(mu) == 37, "%d points plotted" % len(pts)
for p in pts:
    m = mu[p["index"]]
    assert p["label"] == m["label"], p
    assert float(p["x"]) == float(m["mu0"]) and float(p["y"]) == float(m["mu1"]), (p, m)
EOF'
# a subsample of 20 is 20 distinct test images, each at its own mean, bit for
# bit: scatter takes the subsample's means from an encoding of the whole test
# set in latent's batches (identical by construction; a batch of 20 encoded on
# its own may round differently from one of 37 with two OpenBLAS threads)
check '"$VAE" scatter --model "$M2" -n 20 --seed 4 -o "$T/s2n.png" --csv "$T/s2n.csv" --width 400 --height 300'
check '[ "$(png_size "$T/s2n.png")" = 400x300 ]'
check '"$PY" - "$T/latent.csv" "$T/s2n.csv" <<EOF
import csv, sys
mu = {r["index"]: r for r in csv.DictReader(open(sys.argv[1]))}
pts = list(csv.DictReader(open(sys.argv[2])))
assert len(pts) == 20 and len({p["index"] for p in pts}) == 20
assert all(float(p["x"]) == float(mu[p["index"]]["mu0"]) and float(p["y"]) == float(mu[p["index"]]["mu1"]) for p in pts)
EOF'
# the same with one and with two BLAS threads (a batch of 20 and one of 37
# round differently on some CPUs with two; scatter never encodes a batch of 20)
for t in 1 2; do
    check '"$VAE" latent --model "$M2" --threads '$t' -o "$T/lat$t.csv" && "$VAE" scatter --model "$M2" -n 20 --seed 4 --threads '$t' -o "$T/s$t.png" --csv "$T/s$t.csv" 2>/dev/null'
    check '"$PY" - "$T/lat'$t'.csv" "$T/s'$t'.csv" <<EOF
import csv, sys
mu = {r["index"]: r for r in csv.DictReader(open(sys.argv[1]))}
pts = list(csv.DictReader(open(sys.argv[2])))
assert len(pts) == 20
assert all(float(p["x"]) == float(mu[p["index"]]["mu0"]) and float(p["y"]) == float(mu[p["index"]]["mu1"]) for p in pts)
EOF' "(--threads $t)"
done
# zdim 3 goes through t-SNE; same seed, same map
check '"$VAE" scatter --model "$M3" -n 37 --perplexity 5 --iterations 200 --csv "$T/t1.csv" -o "$T/s3.png" 2>/dev/null'
check '"$VAE" scatter --model "$M3" -n 37 --perplexity 5 --iterations 200 --csv "$T/t2.csv" -o "$T/s3b.png" 2>/dev/null && cmp -s "$T/t1.csv" "$T/t2.csv"'
check '[ "$(png_size "$T/s3.png")" = 800x640 ] && [ "$(tail -n +2 "$T/t1.csv" | wc -l)" -eq 37 ]'
# Barnes-Hut: same seed, same map for 1 and 2 threads; another map than exact's;
# the summary on stderr names the method, and --quiet leaves stderr empty
check '"$VAE" scatter --model "$M3" --tsne bh --perplexity 5 --iterations 200 --threads 1 --csv "$T/b1.csv" -o "$T/b1.png" 2>"$T/b1.err"'
check '"$VAE" scatter --model "$M3" --tsne bh --perplexity 5 --iterations 200 --threads 2 --csv "$T/b2.csv" -o "$T/b2.png" -q 2>"$T/b2.err"'
check 'cmp -s "$T/b1.csv" "$T/b2.csv" && ! cmp -s "$T/b1.csv" "$T/t1.csv" && [ "$(tail -n +2 "$T/b1.csv" | wc -l)" -eq 37 ]'
check 'grep -q "t-SNE (Barnes-Hut, theta 0.5): 37 points" "$T/b1.err" && [ ! -s "$T/b2.err" ]' "(stderr: $(cat "$T/b1.err" "$T/b2.err" 2>/dev/null))"
check 'grep -q "t-SNE (exact): 37 points" <("$VAE" scatter --model "$M3" --perplexity 5 --iterations 20 -o "$T/e.png" 2>&1 >/dev/null)'
# 37 points and no --perplexity: the default 30 is lowered to 12 (3 * 12 < 36), said on stderr
check '"$VAE" scatter --model "$M3" --iterations 20 -o "$T/e.png" 2>"$T/pp.err" && grep -q "perplexity lowered from 30 to 12 " "$T/pp.err" && grep -q "perplexity 12," "$T/pp.err"' "(stderr: $(cat "$T/pp.err" 2>/dev/null))"

# the progress line goes to a terminal only, and not with --quiet (script(1) gives a pty)
if command -v script >/dev/null; then
    script -qec "\"$VAE\" scatter --model \"$M3\" --perplexity 5 --iterations 60 -o \"$T/p.png\"" /dev/null >"$T/tty.out" 2>&1
    check 'grep -q "t-SNE iteration 50/60" "$T/tty.out"' "(tty output: $(head -c 300 "$T/tty.out"))"
    script -qec "\"$VAE\" scatter --model \"$M3\" --perplexity 5 --iterations 60 --quiet -o \"$T/p.png\"" /dev/null >"$T/tty.out" 2>&1
    check '! grep -q "t-SNE" "$T/tty.out"' "(tty output with --quiet: $(head -c 300 "$T/tty.out"))"
fi
check '! grep -q "t-SNE iteration" "$T/b1.err"'

# ---- manifold: N x N grid (zdim 2), one row per dimension (zdim 3); 8x8 tiles, 2-px border ----
check '"$VAE" manifold --model "$M2" --steps 5 -o "$T/m2.png" && [ "$(png_size "$T/m2.png")" = 52x52 ]' "(got $(png_size "$T/m2.png" 2>/dev/null))"
# zdim 3, every dimension named: 3 rows (height 32), with a label column left of the 72-pixel grid
check '"$VAE" manifold --model "$M3" --steps 7 --index 36 --dims 2,0,1 -o "$T/m3.png" && s=$(png_size "$T/m3.png") && [ "${s#*x}" = 32 ] && [ "${s%x*}" -gt 72 ]' "(got $(png_size "$T/m3.png" 2>/dev/null))"

# ---- interpolate: one row of steps (+2 originals) ----
check '"$VAE" interpolate --model "$M2" --from 3 --to 36 --steps 4 -o "$T/i.png" && [ "$(png_size "$T/i.png")" = 42x12 ]'
check '"$VAE" interpolate --model "$M2" --from 3 --to 36 --steps 4 --originals -o "$T/io.png" && [ "$(png_size "$T/io.png")" = 62x12 ]'

# ---- errors: usage errors exit 2 and name the option; runtime errors exit 1 ----
expect() { # expect CODE NEEDLE CMD...
    local code=$1 needle=$2
    shift 2
    "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc -ne "$code" ] || ! grep -qF -- "$needle" "$T/err"; then
        fail "$* exited $rc (want $code) with: $(cat "$T/err") (want '$needle')"
    else ok; fi
}
expect 2 "vae: --from: 37 is past the last test image" "$VAE" interpolate --model "$M2" --from 37
expect 2 "vae: --to: 99999 is past the last test image" "$VAE" interpolate --model "$M2" --to 99999
expect 2 "vae: --index: 37 is past" "$VAE" manifold --model "$M3" --index 37
expect 2 "vae: --steps:" "$VAE" interpolate --model "$M2" --steps 1
expect 2 "vae: --bogus: unknown option" "$VAE" latent --bogus
expect 2 "vae: --method:" "$VAE" scatter --model "$M3" --method means
expect 2 "vae: --perplexity:" "$VAE" scatter --model "$M3" --perplexity 30
expect 2 "vae: -n:" "$VAE" scatter --model "$M2" -n abc
expect 1 "vae: $T/nope.safetensors:" "$VAE" latent --model "$T/nope.safetensors"
expect 1 "vae: $T/nope.safetensors:" "$VAE" scatter --model "$T/nope.safetensors"
expect 1 "vae: $T/nope.safetensors:" "$VAE" manifold --model "$T/nope.safetensors"
expect 1 "vae: $T/nope.safetensors:" "$VAE" interpolate --model "$T/nope.safetensors"
expect 1 "vae: $T/missing/" "$VAE" latent --model "$M2" --data "$T/missing"
expect 1 "$T/no-dir/x.csv" "$VAE" latent --model "$M2" -o "$T/no-dir/x.csv"
check '"$VAE" scatter --help | grep -q "Example:"'
check '"$VAE" manifold --help | grep -q "Example:"'

echo "cli_latent: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
