#!/usr/bin/env bash
# CLI test of vae train --tensorboard, checked with decoders that are not
# vae's: the TFRecord framing and its masked CRC-32C in Python (the CRC first
# checked against the RFC 3720 vectors), every record through protoc
# --decode_raw, and the Events parsed by python3-protobuf from the field
# numbers of TensorBoard's event.proto/summary.proto (tests/fixtures/
# tb_event.proto): the file_version record first, then one Event per epoch
# whose scalars equal metrics.csv and whose images are the grid PNGs. A
# resumed run adds a second file; a folder that cannot be made is exit 1.
. "$(dirname "$0")/cli_lib.sh"
SRC=${VAE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
command -v protoc >/dev/null || { echo "protoc (Debian protobuf-compiler) is needed to decode event files; skipping"; exit 77; }
/usr/bin/python3 -c 'import google.protobuf' 2>/dev/null || { echo "python3-protobuf is needed to decode event files; skipping"; exit 77; }

make_data "$T/d" 200 40 8 8
run_vae train --data "$T/d" --out "$T/r" --hidden 16 --zdim 2 --batch 50 --epochs 3 --threads 1 --tensorboard "$T/tb/run1"
check "train --tensorboard: exit 0" test "$RC" -eq 0
events=("$T"/tb/run1/events.out.tfevents.*)
check "one event file named events.out.tfevents.<time>.<host>" \
    bash -c "[ ${#events[@]} -eq 1 ] && [[ '${events[0]##*/}' =~ ^events\.out\.tfevents\.[0-9]{10}\..+$ ]]"
protoc --python_out="$T" --proto_path="$SRC/tests/fixtures" tb_event.proto
mkdir -p "$T/rec"
check "TFRecord framing and masked CRC-32C of every record" /usr/bin/python3 - "${events[0]}" "$T/rec" <<'EOF'
import struct, sys
def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
# RFC 3720 B.4 and the usual check value
assert crc32c(b"123456789") == 0xE3069283
assert crc32c(bytes(32)) == 0x8A9136AA and crc32c(b"\xff" * 32) == 0x62A8AB43
assert crc32c(bytes(range(32))) == 0x46DD794E
mask = lambda c: (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
d = open(sys.argv[1], "rb").read()
i = n = 0
while i < len(d):
    assert i + 12 <= len(d), "truncated header at %d" % i
    (length,) = struct.unpack("<Q", d[i:i + 8])
    (lcrc,) = struct.unpack("<I", d[i + 8:i + 12])
    assert lcrc == mask(crc32c(d[i:i + 8])), "length CRC of record %d" % n
    data = d[i + 12:i + 12 + length]
    (dcrc,) = struct.unpack("<I", d[i + 12 + length:i + 16 + length])
    assert len(data) == length and dcrc == mask(crc32c(data)), "data CRC of record %d" % n
    open("%s/%d.bin" % (sys.argv[2], n), "wb").write(data)
    i += 16 + length
    n += 1
assert n == 4, "%d records, expected the version + 3 epochs" % n
EOF
check "protoc --decode_raw: the version record" bash -c "protoc --decode_raw < '$T/rec/0.bin' | grep -qx '3: \"brain.Event:2\"'"
for e in 1 2 3; do
    check "protoc --decode_raw: epoch $e is step $e with 10 values" bash -c \
        "out=\$(protoc --decode_raw < '$T/rec/$e.bin') && grep -qx '2: $e' <<<\"\$out\" && [ \$(grep -c '^  1 {' <<<\"\$out\") -eq 10 ]"
done
check "Events: scalars equal metrics.csv, images are the grids" \
    env PYTHONPATH="$T" /usr/bin/python3 - "$T/rec" "$T/r" <<'EOF'
import csv, math, os, struct, sys, time
import tb_event_pb2 as pb
rec, run = sys.argv[1], sys.argv[2]
ev = [pb.Event.FromString(open("%s/%d.bin" % (rec, i), "rb").read()) for i in range(4)]
assert ev[0].file_version == "brain.Event:2" and not ev[0].HasField("summary")
now = time.time()
rows = list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))
names = {"train/loss": "train_loss", "train/recon": "train_recon", "train/kl": "train_kl",
         "test/loss": "test_loss", "test/recon": "test_recon", "test/kl": "test_kl",
         "test/loss_mu": "test_loss_mu", "test/recon_mu": "test_recon_mu"}
for e in range(1, 4):
    E = ev[e]
    assert E.step == e, (E.step, e)
    assert abs(E.wall_time - now) < 600 and E.wall_time >= ev[e - 1].wall_time, "wall time"
    vals = {v.tag: v for v in E.summary.value}
    assert set(vals) == set(names) | {"samples", "reconstructions"}, sorted(vals)
    row = rows[e - 1]
    for tag, col in names.items():
        got, want = vals[tag].simple_value, float(row[col])
        assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-5), (e, tag, got, want)
    for tag, name in (("samples", "sample"), ("reconstructions", "recon")):
        im = vals[tag].image
        png = open(os.path.join(run, "%s-%02d.png" % (name, e)), "rb").read()
        assert im.encoded_image_string == png, "%s of epoch %d differs from the PNG" % (tag, e)
        w, h = struct.unpack(">II", png[16:24])
        assert (im.width, im.height) == (w, h) and im.colorspace in (1, 3), (im.width, im.height, im.colorspace)
EOF

# a resumed run writes a second file beside the first
run_vae train --resume "$T/r/model.safetensors" --out "$T/r" --epochs 4 --threads 1 --tensorboard "$T/tb/run1"
check "resume: exit 0" test "$RC" -eq 0
sleep 1
check "resume: a second event file" test "$(ls "$T"/tb/run1/events.out.tfevents.* | wc -l)" -eq 2
# --no-images: scalars only
run_vae train --data "$T/d" --out "$T/n" --hidden 16 --zdim 2 --batch 50 --epochs 1 --threads 1 --no-images --tensorboard "$T/tb/noimg"
check "--no-images: an Event of 8 scalars" bash -c \
    "f=\$(ls '$T'/tb/noimg/events.out.tfevents.*) && /usr/bin/python3 -c 'import struct,sys; d=open(sys.argv[1],\"rb\").read(); n=struct.unpack(\"<Q\",d[:8])[0]; d=d[16+n:]; n=struct.unpack(\"<Q\",d[:8])[0]; sys.stdout.buffer.write(d[12:12+n])' \"\$f\" | protoc --decode_raw | grep -c '^  1 {' | grep -qx 8"
# a folder that cannot be made: exit 1 before training
: >"$T/afile"
expect 1 "vae: $T/afile" train --data "$T/d" --out "$WORK/x" --epochs 1 --tensorboard "$T/afile/tb"
check "nothing trained" test ! -e "$WORK/x"
finish
