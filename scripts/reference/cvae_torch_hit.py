#!/usr/bin/python3
"""An independent PyTorch conditional VAE, judged like vae's.

Trains the default conditional MLP (encoder [x, onehot(y)] 794-400 -> mu and
log sigma^2 of Z dims; decoder [z, onehot(y)] Z+10-400-784, ReLU, sigmoid
output; BCE + KL, Adam 1e-3, batch 128), written here without vae's layer
list, then draws --per-label samples of every class from N(0, I), rounds them
to 8-bit grey as vae's PNG grids do, and classifies them with the judge of
label_hit.py (trained with the same seed). Use it to tell whether a label-hit
rate is a property of the model or of vae's implementation:

    /usr/bin/python3 scripts/reference/cvae_torch_hit.py --epochs 15 --json
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from label_hit import read_idx, train_classifier  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--zdim", type=int, default=20)
    ap.add_argument("--per-label", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    Z = args.zdim
    x_all = read_idx(os.path.join(args.data, "train-images-idx3-ubyte"))
    xtr = torch.tensor(x_all.reshape(len(x_all), -1), dtype=torch.float32) / 255
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte")).astype(np.int64)
    C = int(labels.max()) + 1
    ytr = F.one_hot(torch.tensor(labels), C).float()
    D = xtr.shape[1]
    enc = nn.Sequential(nn.Linear(D + C, 400), nn.ReLU(), nn.Linear(400, 2 * Z))
    dec = nn.Sequential(nn.Linear(Z + C, 400), nn.ReLU(), nn.Linear(400, D))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
    n = len(xtr)
    for e in range(args.epochs):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, 128):
            idx = perm[i:i + 128]
            x, y = xtr[idx], ytr[idx]
            h = enc(torch.cat([x, y], 1))
            mu, logvar = h[:, :Z], h[:, Z:]
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = dec(torch.cat([z, y], 1))
            loss = (F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
                    - 0.5 * torch.sum(1 + logvar - mu * mu - logvar.exp()))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print("epoch %d: train loss %.3f" % (e + 1, total / n), file=sys.stderr, flush=True)
    net, acc = train_classifier(args.data, args.seed)
    per_class = []
    with torch.no_grad():
        for k in range(C):
            z = torch.randn(args.per_label, Z)
            y = F.one_hot(torch.full((args.per_label,), k), C).float()
            img = torch.round(torch.sigmoid(dec(torch.cat([z, y], 1))) * 255) / 255
            per_class.append(int((net(img).argmax(1) == k).sum()) / args.per_label)
    out = {"classifier_test_accuracy": acc, "label_hit_rate": sum(per_class) / C, "per_class": per_class,
           "samples_per_class": args.per_label, "classes": C, "epochs": args.epochs, "zdim": Z}
    if args.json:
        print(json.dumps(out))
    else:
        print("classifier test accuracy %.4f; label-hit rate %.4f (%s)" % (
            acc, out["label_hit_rate"], " ".join("%d:%.2f" % (k, r) for k, r in enumerate(per_class))))


if __name__ == "__main__":
    sys.exit(main())
