#!/usr/bin/python3
"""Independent PyTorch computation of the importance-weighted log-likelihood
(Burda, Grosse & Salakhutdinov 2015) for `vae eval --iw K`, in float64.

For each image x and given noise eps_k (k = 1..K):
    mu, logvar = encoder(x);  z_k = mu + exp(logvar / 2) * eps_k
    log w_k = log Bernoulli(x | sigmoid(decoder(z_k))) + log N(z_k; 0, I) - log N(z_k; mu, diag exp(logvar))
    log p^(x) = logsumexp_k(log w_k) - log K
(the full densities, 2 pi terms included, written independently of the C code).

Two modes (run with Debian's /usr/bin/python3 and python3-torch):

  fixture (default): writes tests/fixtures/iw_reference.json — seeded weights
      of a small model, binary images, eps, and the expected per-image
      log p^(x) and mean log w, read by tests/test_iwae_reference.c.
  --checkpoint PATH --dump PATH: recomputes the estimate for a vae checkpoint
      and the x and eps that `vae eval --iw K --iw-dump PATH` wrote, compares
      with vae's per-image numbers and exits 1 when any differs by more than
      --rtol (default 1e-4) relative.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
LOG2PI = math.log(2.0 * math.pi)


def act_fn(name):
    if name == "relu":
        return torch.relu
    if name == "tanh":
        return torch.tanh
    sys.exit("unknown activation %r" % name)


class MLP:
    """Encoder D -> hidden -> 2Z (mu | logvar); decoder Z -> reversed hidden -> D.
    Weights (out, in) as nn.Linear, named enc.i / head / dec.i."""

    def __init__(self, tensors, hidden, act):
        self.t = {k: torch.tensor(np.array(v, dtype=np.float64)) for k, v in tensors.items()}
        self.k = len(hidden)
        self.act = act_fn(act)

    def lin(self, name, h):
        return h @ self.t[name + ".weight"].T + self.t[name + ".bias"]

    def encode(self, x):
        h = x
        for i in range(self.k):
            h = self.act(self.lin("enc.%d" % i, h))
        h = self.lin("head", h)
        Z = h.shape[1] // 2
        return h[:, :Z], h[:, Z:]

    def decode_logits(self, z):
        h = z
        for i in range(self.k):
            h = self.act(self.lin("dec.%d" % i, h))
        return self.lin("dec.%d" % self.k, h)


def log_normal(z, mean, logvar):
    return (-0.5 * (LOG2PI + logvar + (z - mean) ** 2 / torch.exp(logvar))).sum(-1)


def iw_estimate(model, x, eps):
    """x (n, D), eps (n, K, Z) -> per-image log p^(x) (n) and mean log w (n)."""
    x = torch.tensor(np.array(x, dtype=np.float64))
    eps = torch.tensor(np.array(eps, dtype=np.float64))
    n, K, Z = eps.shape
    mu, logvar = model.encode(x)
    logp, elbo = [], []
    for i in range(n):
        z = mu[i] + torch.exp(0.5 * logvar[i]) * eps[i]            # (K, Z)
        logits = model.decode_logits(z)                             # (K, D)
        # log Bernoulli(x | sigmoid(l)) = x l - softplus(l)
        log_px = (x[i] * logits - torch.nn.functional.softplus(logits)).sum(-1)
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = log_normal(z, mu[i], logvar[i])
        logw = log_px + log_pz - log_qz
        logp.append(float(torch.logsumexp(logw, 0) - math.log(K)))
        elbo.append(float(logw.mean()))
    return np.array(logp), np.array(elbo)


# ---- fixture mode ----

def make_fixture(path):
    cases = []
    for case, (rows, cols, hidden, Z, n, K, act, seed) in {
        "relu": (6, 6, [12, 10], 3, 5, 7, "relu", 11),
        "tanh": (5, 4, [9], 4, 4, 33, "tanh", 12),
    }.items():
        g = torch.Generator().manual_seed(seed)
        D = rows * cols
        shapes = []
        prev = D
        for i, h in enumerate(hidden):
            shapes.append(("enc.%d" % i, h, prev))
            prev = h
        shapes.append(("head", 2 * Z, prev))
        prev = Z
        for i, h in enumerate(reversed(hidden)):
            shapes.append(("dec.%d" % i, h, prev))
            prev = h
        shapes.append(("dec.%d" % len(hidden), D, prev))
        tensors = {}
        order = []
        for name, out, inp in shapes:
            bound = 1.5 / math.sqrt(inp)   # a little wider than nn.Linear: livelier posteriors
            w = ((torch.rand(out, inp, generator=g) * 2 - 1) * bound).float()
            b = ((torch.rand(out, generator=g) * 2 - 1) * bound).float()
            tensors[name + ".weight"] = w.numpy()
            tensors[name + ".bias"] = b.numpy()
            order += [name + ".weight", name + ".bias"]
        x = (torch.rand(n, D, generator=g) < 0.3).float().numpy()
        eps = torch.randn(n, K, Z, generator=g).float().numpy()
        model = MLP(tensors, hidden, act)
        logp, elbo = iw_estimate(model, x, eps)
        cases.append({
            "name": case, "rows": rows, "cols": cols, "hidden": hidden, "zdim": Z, "activation": act,
            "n": n, "K": K,
            "tensors": [{"name": k, "shape": list(tensors[k].shape),
                         "values": [float(v) for v in tensors[k].ravel()]} for k in order],
            "x": [float(v) for v in x.ravel()],
            "eps": [float(v) for v in eps.ravel()],
            "logp": list(map(float, logp)), "elbo": list(map(float, elbo)),
        })
    with open(path, "w") as f:
        json.dump({"generator": "scripts/reference/iw_reference.py", "torch": torch.__version__,
                   "cases": cases}, f, separators=(",", ":"))
    print("%s: %d cases" % (path, len(cases)))


# ---- checkpoint mode ----

def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    dtypes = {"F32": "<f4", "F64": "<f8", "I32": "<i4"}
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a: 8 + n + b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out, meta


def check_checkpoint(args):
    tensors, meta = load_safetensors(args.checkpoint)
    if meta.get("loss", "bce") != "bce":
        sys.exit("%s: not a BCE model" % args.checkpoint)
    if meta.get("arch", "mlp") != "mlp" or meta.get("model", "vae") != "vae" or int(meta.get("n_classes", "0")):
        sys.exit("%s: this check covers unconditional MLP VAEs only" % args.checkpoint)
    hidden = [int(h) for h in meta["hidden"].split(",")]
    model = MLP({k: v for k, v in tensors.items() if not k.startswith(("adam.", "train."))}, hidden,
                meta.get("activation", "relu"))
    dump, dmeta = load_safetensors(args.dump)
    logp, elbo = iw_estimate(model, dump["x"], dump["eps"])
    rel = np.abs(logp - dump["logp"]) / np.abs(logp)
    rel_e = np.abs(elbo - dump["elbo"]) / np.abs(elbo)
    out = {"images": int(len(logp)), "K": int(dmeta.get("K", dump["eps"].shape[1])),
           "torch_mean_logp": float(logp.mean()), "vae_mean_logp": float(dump["logp"].mean()),
           "max_rel_diff_logp": float(rel.max()), "max_rel_diff_elbo": float(rel_e.max()), "rtol": args.rtol}
    print(json.dumps(out))
    if not (rel.max() <= args.rtol and rel_e.max() <= args.rtol):
        sys.exit("iw_reference: vae and PyTorch differ by more than %g relative" % args.rtol)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "fixtures", "iw_reference.json"))
    ap.add_argument("--checkpoint")
    ap.add_argument("--dump")
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.checkpoint or args.dump:
        if not (args.checkpoint and args.dump):
            ap.error("--checkpoint and --dump go together")
        check_checkpoint(args)
    else:
        make_fixture(args.out)


if __name__ == "__main__":
    main()
