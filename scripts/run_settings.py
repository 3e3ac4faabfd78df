#!/usr/bin/python3
"""The settings a run really had, read from its checkpoint, and whether they
match the settings a sweep asks for.

  run_settings.py show CKPT              the shaping settings of CKPT as JSON
  run_settings.py compare CKPT WANT.ini  one line per setting that differs
                                         ("limit: the run has 5000, asked for all");
                                         exit 1 when any does, 0 when all match

WANT.ini is what `vae train ... --print-config` prints: the settings in effect,
defaults resolved by vae itself. A checkpoint is a safetensors file whose JSON
header's __metadata__ holds the settings as strings. Floats are compared as
the float32 values vae stores; epochs match when the run has no more epochs
than asked for (fewer: the sweep continues it). Standard library only.
"""
import json
import os
import struct
import sys

# config key -> (metadata key, value when the metadata lacks it, kind)
SHAPING = [
    ("data", "dataset", "", "path"),
    ("limit", "limit", "0", "int"),
    ("val", "val", "0", "int"),
    ("arch", "arch", "mlp", "str"),
    ("hidden", "hidden", "", "str"),
    ("channels", "channels", "", "str"),
    ("zdim", "zdim", "", "int"),
    ("loss", "loss", "", "str"),
    ("alpha", "alpha", "", "float"),
    ("beta", "beta", "", "float"),
    ("lr", "lr", "", "float"),
    ("batch", "batch", "", "int"),
    ("seed", "seed", "", "int"),
    ("early-stop", "early_stop", "0", "int"),
    ("epochs", "epoch", "0", "epochs"),
]
# what an unset value means, for messages
UNSET = {"limit": "all", "val": "0", "channels": "none", "early-stop": "0 (off)"}


def read_metadata(path):
    """__metadata__ of a safetensors file, or raises ValueError."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("%s: too short for a safetensors file" % path)
        n = struct.unpack("<Q", head)[0]
        if n > 100 * 1024 * 1024:
            raise ValueError("%s: header length %d is not plausible" % (path, n))
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or "epoch" not in meta:
        raise ValueError("%s: not a vae training checkpoint (no training state in __metadata__)" % path)
    return meta


def settings(path):
    """The shaping settings of a checkpoint, keyed like vae train's options."""
    meta = read_metadata(path)
    out = {}
    for key, mkey, missing, _ in SHAPING:
        out[key] = meta.get(mkey, missing)
    return out


def read_ini(path):
    want = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[":
                continue
            k, sep, v = line.partition("=")
            if sep:
                want[k.strip()] = v.strip()
    return want


def f32(x):
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def same(kind, have, want):
    if kind == "float":
        return f32(have) == f32(want)
    if kind == "int":
        return int(have or 0) == int(want or 0)
    if kind == "path":
        return os.path.realpath(have) == os.path.realpath(want)
    return have == want


def shown(key, kind, v):
    """A value as a user would write it: 0.001 rather than 0.00100000005, "all" for limit 0."""
    if v in ("", "0") and key in UNSET:
        return UNSET[key]
    if kind == "float":
        try:
            return "%g" % f32(v)
        except ValueError:
            return v
    return v


def compare(ckpt, want_ini):
    have = settings(ckpt)
    want = read_ini(want_ini)
    diffs = []
    for key, _, missing, kind in SHAPING:
        w = want.get(key, missing)
        h = have[key]
        if kind == "epochs":
            if int(h) > int(w):
                diffs.append("epochs: the run has %s, asked for %s" % (h, w))
            continue
        if not same(kind, h, w):
            diffs.append("%s: the run has %s, asked for %s" % (key, shown(key, kind, h), shown(key, kind, w)))
    return diffs


def main(argv):
    if len(argv) == 3 and argv[1] == "show":
        try:
            print(json.dumps(settings(argv[2]), sort_keys=True))
        except (OSError, ValueError) as e:
            print("run_settings.py: %s" % e, file=sys.stderr)
            return 2
        return 0
    if len(argv) == 4 and argv[1] == "compare":
        try:
            diffs = compare(argv[2], argv[3])
        except (OSError, ValueError) as e:
            print("run_settings.py: %s" % e, file=sys.stderr)
            return 2
        for d in diffs:
            print(d)
        return 1 if diffs else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
