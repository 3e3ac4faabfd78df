#!/usr/bin/python3
"""PyTorch twin of the C VAE, for golden tests and for checking checkpoints.
The model is built from vae's own layer list (`vae layers --json`, see
vae_torch.py), so the topology is never written twice.

Fixture mode (default) writes tests/fixtures/reference_<case>.json: seeded
weights, inputs, eps, the loss terms, every gradient and the parameters after
two torch.optim.Adam steps; plus reference_adam.json (Adam alone).
Checkpoint mode (--checkpoint PATH --data DIR) loads a safetensors checkpoint
written by `vae` and prints the test-set loss as JSON.

Run with /usr/bin/python3 (Debian python3-torch 1.13). See
tests/fixtures/README.md for the exact commands.
"""
import argparse
import copy
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae_torch import LayerVAE, layers_from_vae, layers_from_checkpoint_meta  # noqa: E402

VAE_BIN = None  # set by main(): the vae binary that prints layer lists


def f32(values):
    """Shortest decimal strings that round-trip float32, joined as JSON."""
    arr = np.asarray(values, dtype=np.float32).ravel()
    return "[" + ",".join(str(v) for v in arr) + "]"


def named_flat(tensors):
    return "{" + ",".join('"%s":%s' % (k, f32(v.detach().numpy())) for k, v in tensors) + "}"


def run_case(name, rows, cols, hidden, Z, B, loss, alpha, beta, seed, init_scale, evals, arch="mlp", channels=(),
             classes=0, kind="vae", knn=5):
    torch.manual_seed(seed)
    D = rows * cols
    spec = layers_from_vae(VAE_BIN, arch, ",".join(map(str, hidden)), ",".join(map(str, channels)), Z, rows, cols,
                           classes, kind, knn)
    model = LayerVAE(spec)
    model.train()
    # an entropic autoencoder's regulariser weight is lambda (passed as beta here)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("weight"):
                p.mul_(init_scale)
    # inputs in [0, 1] with exact 0s and 1s, as real images have
    x = torch.rand(B, D)
    u = torch.rand(B, D)
    x[u < 0.15] = 0.0
    x[u > 0.85] = 1.0
    eps = torch.randn(B, Z)
    labels = torch.randint(0, max(classes, 1), (B,))
    y = F.one_hot(labels, classes).float() if classes else None

    cfg = dict(arch=arch, rows=rows, cols=cols, zdim=Z, hidden=hidden, channels=list(channels), loss=loss,
               alpha=alpha, beta=beta, batch=B, model=kind, n_classes=classes)
    if kind == "eae":
        cfg.update(beta=1.0, **{"lambda": beta}, knn=knn, bn_momentum=0.1)
    state = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    buffers = [(k, v) for k, v in model.named_buffers() if not k.endswith("num_batches_tracked")]
    parts = [
        '"case":"%s"' % name,
        '"torch_version":"%s"' % torch.__version__,
        '"config":%s' % json.dumps(cfg),
        '"tensors":[%s]' % ",".join(
            '{"name":"%s","shape":%s,"values":%s}' % (k, json.dumps(list(v.shape)), f32(v.detach().numpy()))
            for k, v in state),
        '"x":%s' % f32(x.numpy()),
        '"labels":%s' % json.dumps(labels.tolist() if classes else []),
        '"eps":%s' % f32(eps.numpy()),
    ]
    eval_parts, first_grads, worst = [], None, 0.0
    for use_eps in evals:
        e = eps if use_eps else None
        model.zero_grad()
        recon, kl, xhat = model.terms(x, e, loss, y)
        per_image = alpha * recon + beta * kl
        objective = per_image.mean()
        objective.backward()
        # buffers (batch-norm running statistics) have no gradient: zeros, so every tensor is listed
        grads = [(k, p.grad.detach().clone()) for k, p in model.named_parameters()]
        grads += [(k, torch.zeros_like(v)) for k, v in buffers]
        if first_grads is None:
            first_grads = grads
        # the same in float64, to measure float32's own gradient error
        m64 = copy.deepcopy(model).double()
        m64.zero_grad()
        r64, k64, _ = m64.terms(x.double(), None if e is None else e.double(), loss,
                                None if y is None else y.double())
        (alpha * r64 + beta * k64).mean().backward()
        for (k, g), (_, p64) in zip(grads[:len(list(model.parameters()))], m64.named_parameters()):
            worst = max(worst, float((g.double() - p64.grad).abs().max()))
        eval_parts.append(
            "{" + ",".join([
                '"use_eps":%s' % ("true" if use_eps else "false"),
                '"recon_sum":%r' % float(r64.sum()),
                '"kl_sum":%r' % float(k64.sum()),
                '"loss_sum":%r' % float((alpha * r64 + beta * k64).sum()),
                '"objective_f32":%r' % float(objective),
                '"xhat":%s' % f32(xhat.detach().numpy()),
                '"grads":%s' % named_flat(grads),
            ]) + "}")
    parts.append('"evals":[%s]' % ",".join(eval_parts))
    parts.append('"f32_grad_max_abs_error_vs_f64":%r' % worst)

    # two Adam steps, both with the first evaluation's gradients
    lr, b1, b2, aeps = 1e-3, 0.9, 0.999, 1e-8
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(b1, b2), eps=aeps)
    steps = []
    for t in (1, 2):
        for (_, g), p in zip(first_grads, model.parameters()):
            p.grad = g.clone()
        opt.step()
        steps.append('{"t":%d,"params":%s}' % (t, named_flat(list(model.named_parameters()) + buffers)))
    parts.append('"adam":{"lr":%r,"beta1":%r,"beta2":%r,"eps":%r,"grads_from_eval":0,"steps":[%s]}'
                 % (lr, b1, b2, aeps, ",".join(steps)))
    return "{" + ",\n".join(parts) + "}\n"


def adam_fixture():
    """Adam alone over a few steps with changing gradients, two settings."""
    torch.manual_seed(7)
    runs = []
    for lr, b1, b2, aeps in ((1e-3, 0.9, 0.999, 1e-8), (0.05, 0.8, 0.95, 1e-4)):
        p = nn.Parameter(torch.randn(40))
        p0 = p.detach().clone()
        opt = torch.optim.Adam([p], lr=lr, betas=(b1, b2), eps=aeps)
        grads, after = [], []
        for t in range(5):
            g = torch.randn(40) * (10.0 ** (t - 2))
            g[t] = 0.0  # zero gradients must leave p moving only by momentum
            p.grad = g.clone()
            opt.step()
            grads.append(f32(g.numpy()))
            after.append(f32(p.detach().numpy()))
        runs.append('{"lr":%r,"beta1":%r,"beta2":%r,"eps":%r,"p0":%s,"grads":[%s],"params_after":[%s]}'
                    % (lr, b1, b2, aeps, f32(p0.numpy()), ",".join(grads), ",".join(after)))
    return '{"torch_version":"%s","runs":[%s]}\n' % (torch.__version__, ",\n".join(runs))


CASES = [
    # name, rows, cols, hidden, Z, B, loss, alpha, beta, seed, init_scale, evals (use_eps)
    ("bce", 8, 8, [24], 4, 6, "bce", 1.0, 1.0, 1, 1.0, [True]),
    ("mse", 6, 7, [16, 12], 3, 5, "mse", 0.3, 0.7, 2, 1.0, [True, False]),
    ("bce_beta4", 7, 5, [20, 10, 6], 2, 4, "bce", 1.0, 4.0, 3, 2.0, [True, False]),
    # conv / resnet: non-square images, channel counts not multiples of 8, batch 1 once
    ("conv", 8, 12, [7], 3, 3, "bce", 1.0, 1.0, 4, 1.0, [True, False], "conv", [3, 5]),
    ("conv_b1", 4, 8, [6, 5], 2, 1, "mse", 0.6, 0.4, 5, 1.0, [True], "conv", [3]),
    ("resnet", 8, 4, [6], 2, 3, "bce", 1.0, 1.0, 6, 1.0, [True, False], "resnet", [3, 5]),
    # conditional (labels joined to the encoder's features and to z) and entropic autoencoders
    ("cvae", 6, 5, [12], 3, 5, "bce", 1.0, 1.0, 7, 1.0, [True, False], "mlp", [], 4),
    ("cvae_conv", 8, 4, [6], 2, 3, "mse", 0.5, 2.0, 8, 1.0, [True], "conv", [3], 3),
    ("eae", 6, 6, [10], 3, 9, "mse", 1.0, 0.7, 9, 1.0, [True, False], "mlp", [], 0, "eae", 3),
    ("eae_resnet_cond", 8, 8, [8], 2, 6, "mse", 1.0, 1.3, 10, 1.0, [True], "resnet", [2], 3, "eae", 2),
]


def write_fixtures(outdir):
    os.makedirs(outdir, exist_ok=True)
    for c in CASES:
        text = run_case(*c)
        json.loads(text)  # must parse
        path = os.path.join(outdir, "reference_%s.json" % c[0])
        with open(path, "w") as f:
            f.write(text)
        print("%s: %d bytes" % (path, len(text)))
    text = adam_fixture()
    json.loads(text)
    path = os.path.join(outdir, "reference_adam.json")
    with open(path, "w") as f:
        f.write(text)
    print("%s: %d bytes" % (path, len(text)))


# ---- checkpoint mode ----

def load_safetensors(path):
    """(tensors as numpy arrays by name, metadata dict); F32 and I32 only."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        sys.exit("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        sys.exit("%s: header length %d exceeds the file" % (path, n))
    header = json.loads(data[8: 8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    dtypes = {"F32": "<f4", "I32": "<i4"}
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in dtypes:
            sys.exit("%s: tensor %s has unsupported dtype %s" % (path, name, info["dtype"]))
        a, b = info["data_offsets"]
        if not (0 <= a <= b <= len(data) - base):
            sys.exit("%s: tensor %s lies outside the file" % (path, name))
        arr = np.frombuffer(data[base + a: base + b], dtype=dtypes[info["dtype"]])
        tensors[name] = arr.reshape(info["shape"])
    return tensors, meta


def load_idx_images(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 0x803:
        sys.exit("%s: not an IDX image file (magic 0x%x)" % (path, magic))
    pixels = np.frombuffer(data, dtype=np.uint8, count=count * rows * cols, offset=16)
    return pixels.reshape(count, rows * cols), rows, cols


def checkpoint_eval(args):
    tensors, meta = load_safetensors(args.checkpoint)
    Z = int(meta["zdim"])
    rows, cols = int(meta["rows"]), int(meta["cols"])
    loss = meta.get("loss", "bce").lower()
    if loss in ("sse", "mse"):
        loss = "mse"
    elif loss != "bce":
        sys.exit("%s: unknown loss %r" % (args.checkpoint, loss))
    alpha, beta = float(meta.get("alpha", 1.0)), float(meta.get("beta", 1.0))
    if "layers" in meta:
        spec = layers_from_checkpoint_meta(meta)
    else:  # format version 1: an MLP described by its config
        spec = layers_from_vae(VAE_BIN, "mlp", meta["hidden"], "", Z, rows, cols)
    model = LayerVAE(spec)
    state = {}
    for k, v in model.state_dict().items():
        if k not in tensors:
            sys.exit("%s: tensor %s missing" % (args.checkpoint, k))
        if tuple(tensors[k].shape) != tuple(v.shape):
            sys.exit("%s: tensor %s has shape %s, want %s" % (args.checkpoint, k, tensors[k].shape, tuple(v.shape)))
        state[k] = torch.from_numpy(tensors[k].astype(np.float32))
    model.load_state_dict(state)

    path = os.path.join(args.data, "t10k-images-idx3-ubyte")
    if not os.path.exists(path):
        path += ".gz"
    pixels, r, c = load_idx_images(path)
    if (r, c) != (rows, cols):
        sys.exit("%s: images are %dx%d, the checkpoint wants %dx%d" % (path, r, c, rows, cols))
    if args.limit:
        pixels = pixels[: args.limit]
    torch.manual_seed(args.seed)
    sums = dict(recon_sampled=0.0, kl=0.0, recon_mean=0.0)
    with torch.no_grad():
        for i in range(0, len(pixels), 1000):
            x = torch.from_numpy(pixels[i: i + 1000].astype(np.float32) / 255.0)
            eps = torch.randn(x.shape[0], Z)
            rs, kl, _ = model.terms(x, eps, loss)
            rm, _, _ = model.terms(x, None, loss)
            sums["recon_sampled"] += float(rs.double().sum())
            sums["kl"] += float(kl.double().sum())
            sums["recon_mean"] += float(rm.double().sum())
    n = len(pixels)
    out = {
        "checkpoint": args.checkpoint, "images": n, "loss": loss, "alpha": alpha, "beta": beta,
        "test_loss_sampled": (alpha * sums["recon_sampled"] + beta * sums["kl"]) / n,
        "test_loss_mean": (alpha * sums["recon_mean"] + beta * sums["kl"]) / n,
        "test_recon_sampled": sums["recon_sampled"] / n,
        "test_recon_mean": sums["recon_mean"] / n,
        "test_kl": sums["kl"] / n,
    }
    print(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "fixtures"),
                    help="folder for the fixtures (default: tests/fixtures)")
    ap.add_argument("--checkpoint", help="evaluate this checkpoint instead of writing fixtures")
    ap.add_argument("--data", help="folder with t10k-images-idx3-ubyte[.gz] (checkpoint mode)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the sampled eps (checkpoint mode)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N test images (0 = all)")
    ap.add_argument("--vae", default=os.path.join(here, "..", "..", "build", "vae"),
                    help="the vae binary that prints layer lists (default build/vae)")
    args = ap.parse_args()
    global VAE_BIN
    VAE_BIN = args.vae
    torch.set_num_threads(1)
    if args.checkpoint:
        if not args.data:
            ap.error("--checkpoint needs --data DIR")
        checkpoint_eval(args)
    else:
        write_fixtures(os.path.normpath(args.out))


if __name__ == "__main__":
    main()
