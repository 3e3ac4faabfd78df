# An unreadable data file: every command that reads it exits 1 with
# "vae: <path>: Permission denied" and writes nothing. Root reads anything,
# so as root this test reports itself skipped (exit 77) rather than passing.
. "$(dirname "$0")/cli_lib.sh"

if [ "$(id -u)" -eq 0 ]; then
    echo "running as root, which reads files whatever their mode: the unreadable-file case cannot be made; skipping"
    exit 77
fi
make_data "$T/c" 200 50 8 8
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    chmod 000 "$T/c/$f"
    expect 1 "vae: $T/c/$f: Permission denied" data --data "$T/c"
    expect 1 "vae: $T/c/$f: Permission denied" train --data "$T/c" --out "$WORK/run" --epochs 1 --no-images
    chmod 644 "$T/c/$f"
done
finish
