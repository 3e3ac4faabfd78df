#!/usr/bin/python3
"""Are a conditional VAE's samples the digit they were asked for?

An independent judge: a small PyTorch MLP classifier (784-512-10, ReLU,
Adam 1e-3, 3 epochs, batch 128) trained here on the training split, its own
test accuracy reported. Then `vae sample --per-label N` draws N samples of
every class from the checkpoint, the grid PNG is decoded (plain zlib + PNG
filters, no imaging library needed) and each tile is classified; the label-hit
rate is the share classified as the class requested.

    /usr/bin/python3 scripts/reference/label_hit.py --model runs/cvae/model.safetensors \
        --data data/mnist [--per-label 100] [--vae build/vae] [--json]

Needs Debian's python3-torch (and numpy). Prints a JSON object with --json.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD = 2  # vae's grids: 2-pixel borders between and around the tiles


def read_idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                data = f.read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            magic, = struct.unpack(">I", data[:4])
            ndim = magic & 0xFF
            dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise FileNotFoundError(path)


def read_png_gray(path):
    """8-bit grayscale or RGB PNG (what stb_image_write produces) -> (H, W) uint8."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (0, 2):
                raise ValueError("%s: only 8-bit gray/RGB PNGs" % path)
            ch = 1 if ctype == 0 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * ch
    out = np.zeros((h, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, dtype=np.int32)
        for x in range(stride):
            a = cur[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if ft == 0:
                p = 0
            elif ft == 1:
                p = a
            elif ft == 2:
                p = b
            elif ft == 3:
                p = (a + b) // 2
            else:  # Paeth
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p) & 0xFF
        out[y] = cur
        prev = cur
    img = out.astype(np.uint8)
    return img if ch == 1 else img[:, ::3]


def train_classifier(data, seed):
    torch.manual_seed(seed)
    xtr = torch.tensor(read_idx(os.path.join(data, "train-images-idx3-ubyte")).reshape(-1, 784), dtype=torch.float32) / 255
    ytr = torch.tensor(read_idx(os.path.join(data, "train-labels-idx1-ubyte")).astype(np.int64))
    xte = torch.tensor(read_idx(os.path.join(data, "t10k-images-idx3-ubyte")).reshape(-1, 784), dtype=torch.float32) / 255
    yte = torch.tensor(read_idx(os.path.join(data, "t10k-labels-idx1-ubyte")).astype(np.int64))
    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            F.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    return net, acc


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--vae", default=os.path.join(here, "..", "..", "build", "vae"))
    ap.add_argument("--per-label", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    net, acc = train_classifier(args.data, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "grid.png")
        subprocess.run([args.vae, "sample", "-m", args.model, "--per-label", str(args.per_label), "--seed",
                        str(args.seed), "-o", png], check=True, stdout=subprocess.DEVNULL)
        grid = read_png_gray(png)
    n = args.per_label
    classes = (grid.shape[0] - PAD) // (28 + PAD)
    hits, per_class = 0, []
    with torch.no_grad():
        for k in range(classes):
            tiles = [grid[PAD + k * (28 + PAD):PAD + k * (28 + PAD) + 28, PAD + j * (28 + PAD):PAD + j * (28 + PAD) + 28]
                     for j in range(n)]
            x = torch.tensor(np.stack(tiles).reshape(n, 784), dtype=torch.float32) / 255
            h = int((net(x).argmax(1) == k).sum())
            hits += h
            per_class.append(h / n)
    out = {"classifier_test_accuracy": acc, "label_hit_rate": hits / (classes * n), "per_class": per_class,
           "samples_per_class": n, "classes": classes}
    if args.json:
        print(json.dumps(out))
    else:
        print("classifier test accuracy %.4f" % acc)
        print("label-hit rate %.4f over %d samples (%s)" % (out["label_hit_rate"], classes * n,
                                                           " ".join("%d:%.2f" % (k, r) for k, r in enumerate(per_class))))


if __name__ == "__main__":
    sys.exit(main())
