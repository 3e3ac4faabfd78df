#!/usr/bin/python3
"""PyTorch twin of scripts/reproduce-iwae-table.sh: Burda et al.'s (2015)
one-stochastic-layer VAE (encoder 784-200-200 tanh -> 50 latents, mirrored
decoder, Bernoulli output), dynamically binarized MNIST, Adam (eps 1e-4) with
Burda's learning-rate stages (stage i = 0..7: 3^i epochs at 1e-3 * 10^(-i/7)),
trained for a wall-clock budget, then evaluated with the importance-weighted
bound (K samples per test image, log-mean-exp) on the test set binarized once
(torch seed). Prints one JSON object; writes a per-epoch CSV with --csv.

Written independently of vae's C code, for the "same budget" comparison in
README "Log-likelihood". Run with Debian's /usr/bin/python3 (python3-torch).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_idx_images(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                data = f.read()
            break
    else:
        sys.exit("%s: not found" % path)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic, n, r, c = struct.unpack(">IIII", data[:16])
    if magic != 0x803:
        sys.exit("%s: not an IDX image file" % path)
    return np.frombuffer(data, dtype=np.uint8, count=n * r * c, offset=16).reshape(n, r * c)


class BurdaVAE(nn.Module):
    def __init__(self, D=784, H=200, Z=50, act="tanh", out_bias=None):
        super().__init__()
        self.act = torch.tanh if act == "tanh" else F.relu
        self.e1, self.e2, self.head = nn.Linear(D, H), nn.Linear(H, H), nn.Linear(H, 2 * Z)
        self.d1, self.d2, self.d3 = nn.Linear(Z, H), nn.Linear(H, H), nn.Linear(H, D)
        self.Z = Z
        if out_bias is not None:
            with torch.no_grad():
                self.d3.bias.copy_(out_bias)

    def encode(self, x):
        h = self.head(self.act(self.e2(self.act(self.e1(x)))))
        return h[:, : self.Z], h[:, self.Z:]

    def decode(self, z):
        return self.d3(self.act(self.d2(self.act(self.d1(z)))))

    def loss(self, x):
        mu, lv = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * lv)
        rec = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(1)
        kl = -0.5 * (1 + lv - mu.pow(2) - lv.exp()).sum(1)
        return (rec + kl).mean()


def lr_at(epoch, base=1e-3):
    end, length = 0, 1
    for i in range(8):
        end += length
        if epoch < end:
            return base * 10 ** (-i / 7)
        length *= 3
    return base * 10 ** (-1)


@torch.no_grad()
def iw_nll(model, x, K, rows=4096):
    """per-image log p^(x) with K samples, float32, samples in chunks of rows"""
    out = []
    Z = model.Z
    log2pi = math.log(2 * math.pi)
    for i in range(x.shape[0]):
        xi = x[i: i + 1]
        mu, lv = model.encode(xi)
        logws = []
        for k0 in range(0, K, rows):
            k = min(rows, K - k0)
            eps = torch.randn(k, Z)
            z = mu + eps * torch.exp(0.5 * lv)
            logits = model.decode(z)
            log_px = -F.binary_cross_entropy_with_logits(logits, xi.expand(k, -1), reduction="none").sum(1)
            log_pz = -0.5 * (log2pi + z.pow(2)).sum(1)
            log_qz = -0.5 * (log2pi + lv + eps.pow(2)).sum(1)
            logws.append((log_px + log_pz - log_qz).double())
        lw = torch.cat(logws)
        out.append(float(torch.logsumexp(lw, 0) - math.log(K)))
    return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--time-budget", type=float, default=600, help="training seconds")
    ap.add_argument("--epochs", type=int, default=3280)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--activation", default="tanh", choices=["tanh", "relu"])
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--eval-images", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", help="per-epoch training loss CSV")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = torch.from_numpy(load_idx_images(os.path.join(args.data, "train-images-idx3-ubyte")).astype(np.float32) / 255)
    test = torch.from_numpy(load_idx_images(os.path.join(args.data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255)
    g = torch.Generator().manual_seed(12345)
    test_bin = (torch.rand(test.shape, generator=g) < test).float()[: args.eval_images]
    model = BurdaVAE(act=args.activation)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    used, epoch, rows = 0.0, 0, []
    while epoch < args.epochs and used < args.time_budget:
        for grp in opt.param_groups:
            grp["lr"] = lr_at(epoch)
        t0 = time.time()
        perm = torch.randperm(train.shape[0])
        total = 0.0
        for s in range(0, train.shape[0], args.batch):
            xb = train[perm[s: s + args.batch]]
            xb = torch.bernoulli(xb)   # dynamic binarization
            loss = model.loss(xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * xb.shape[0]
        used += time.time() - t0
        epoch += 1
        rows.append((epoch, total / train.shape[0], used))
        print("epoch %d: train loss %.3f, %.0f s" % rows[-1], file=sys.stderr)
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("epoch,train_loss,train_seconds\n")
            for r in rows:
                f.write("%d,%.6f,%.3f\n" % r)
    t0 = time.time()
    logp = iw_nll(model, test_bin, args.k)
    print(json.dumps({"epochs": epoch, "train_seconds": used, "k": args.k, "images": int(len(logp)),
                      "nll": float(-logp.mean()), "nll_se": float(logp.std(ddof=1) / math.sqrt(len(logp))),
                      "eval_seconds": time.time() - t0, "activation": args.activation, "batch": args.batch,
                      "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
