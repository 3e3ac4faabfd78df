#!/usr/bin/env bash
# Writes the first N_TRAIN training and N_TEST test images (and labels) of a
# data folder into a new folder, as raw IDX files: a small real data set for
# quick runs, valgrind and demos.
#   usage: scripts/subset-data.sh SRC DST N_TRAIN N_TEST
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: scripts/subset-data.sh SRC DST N_TRAIN N_TEST" >&2
  exit 2
fi
src=$1 dst=$2 ntrain=$3 ntest=$4
case "$ntrain$ntest" in *[!0-9]*|"") echo "subset-data: counts must be positive integers" >&2; exit 2 ;; esac
mkdir -p "$dst"

# big-endian u32 as four printf escapes
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( $1 >> 24 & 255 )) $(( $1 >> 16 & 255 )) $(( $1 >> 8 & 255 )) $(( $1 & 255 )); }

# path of the raw bytes of an IDX file: the plain file, or a gunzipped copy
raw_idx() {
  if [ -f "$src/$1" ]; then echo "$src/$1"; elif [ -f "$src/$1.gz" ]; then
    gzip -dc "$src/$1.gz" > "$work/$1" && echo "$work/$1"; else
    echo "subset-data: $src/$1: missing (also tried .gz)" >&2; return 1; fi
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

subset() {  # name count header-bytes bytes-per-item
  local name=$1 n=$2 hdr=$3 item=$4 in tmp
  in=$(raw_idx "$name")
  tmp=$(mktemp "$dst/.$name.XXXXXX")
  {
    head -c 4 "$in"
    printf "$(be32 "$n")"
    # the dims after the count (none for labels: `tail -c 0` would exit
    # before reading and kill head with SIGPIPE)
    if [ "$hdr" -gt 8 ]; then head -c "$hdr" "$in" | tail -c $(( hdr - 8 )); fi
    # head stops early by design, so tail's SIGPIPE is expected
    tail -c +$(( hdr + 1 )) "$in" | head -c $(( n * item )) || true
  } > "$tmp"
  mv "$tmp" "$dst/$name"
}

# image files: 16-byte header (magic, count, rows, cols)
train_images=$(raw_idx train-images-idx3-ubyte)
rows_cols=$(head -c 16 "$train_images" | od -An -tu1 | tr -s ' \n' ' ' | awk '{print ($9*16777216+$10*65536+$11*256+$12) * ($13*16777216+$14*65536+$15*256+$16)}')
subset train-images-idx3-ubyte "$ntrain" 16 "$rows_cols"
subset t10k-images-idx3-ubyte "$ntest" 16 "$rows_cols"
subset train-labels-idx1-ubyte "$ntrain" 8 1
subset t10k-labels-idx1-ubyte "$ntest" 8 1
