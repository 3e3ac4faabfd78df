#!/usr/bin/python3
"""PyTorch (1.13, CPU) reference of vae's default model and training, written
independently of the C code: the quality reference for loss curves and the
speed reference for scripts/bench.sh. Run it with /usr/bin/python3 (Debian's
python3-torch). Reads MNIST-style IDX files (raw or .gz) with numpy only.

Model: built from vae's layer list (`vae layers --json` for the same
--arch/--hidden/--channels/--zdim and the data's image size, or --layers FILE),
by scripts/reference/vae_torch.py, so the topology is written only in vae's
layout function; the PyTorch modules keep their default initialisation.
Loss per image = alpha * R + beta * KL with R = BCE or SSE summed over pixels;
the objective is its mean over the batch. Adam; data reshuffled every epoch.
--precision bf16 runs the forward pass under torch.autocast('cpu',
dtype=torch.bfloat16) (linear layers and convolutions in bf16 through
oneDNN, as vae train --precision bf16 does its GEMMs); losses, backward sums,
Adam and the test-set evaluation stay float32.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data/mnist", help="folder with the IDX files (default data/mnist)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--zdim", type=int, default=20)
    p.add_argument("--arch", choices=["mlp", "conv", "resnet"], default="mlp")
    p.add_argument("--hidden", default=None, help="comma list of hidden sizes (default 400 for mlp, 256 otherwise)")
    p.add_argument("--channels", default="32,64", help="conv/resnet channel list (default 32,64)")
    p.add_argument("--layers", default=None, help="layer list JSON file (default: ask --vae)")
    p.add_argument("--vae", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "vae"),
                   help="the vae binary whose `vae layers --json` describes the model (default build/vae)")
    p.add_argument("--loss", choices=["bce", "mse"], default="bce")
    p.add_argument("--alpha", type=float, default=1.0, help="weight of the reconstruction term")
    p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--blas-threads", type=int, default=0,
                   help="OPENBLAS_NUM_THREADS for torch's BLAS (default 0: leave OpenBLAS's default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: forward pass under torch.autocast('cpu', dtype=torch.bfloat16)")
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    p.add_argument("--eval", dest="eval", action="store_true", default=True,
                   help="evaluate on the test set after each epoch (default)")
    p.add_argument("--no-eval", dest="eval", action="store_false")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout at the end")
    a = p.parse_args(argv)
    if a.hidden is None:
        a.hidden = "400" if a.arch == "mlp" else "256"
    try:
        a.hidden_list = [int(h) for h in a.hidden.split(",")]
    except ValueError:
        p.error("--hidden: '%s' is not a comma list of integers" % a.hidden)
    for name, v, lo in (("--epochs", a.epochs, 1), ("--batch", a.batch, 1), ("--zdim", a.zdim, 1),
                        ("--threads", a.threads, 1), ("--blas-threads", a.blas_threads, 0),
                        ("--limit", a.limit, 0)):
        if v < lo:
            p.error("%s must be >= %d, got %d" % (name, lo, v))
    if not a.hidden_list or min(a.hidden_list) < 1:
        p.error("--hidden sizes must be >= 1")
    if not (a.lr > 0) or not (a.alpha >= 0) or not (a.beta >= 0):
        p.error("--lr must be > 0 and --alpha/--beta >= 0")
    return a


# OpenBLAS reads its thread count when the library loads, i.e. on `import torch`.
ARGS = parse_args(sys.argv[1:])
if ARGS.blas_threads > 0:
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae_torch import LayerVAE, layers_from_vae  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

def find_idx(folder, stem):
    """train-images-idx3-ubyte, train-images.idx3-ubyte, each raw or .gz"""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, dotted, stem + ".gz", dotted + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise SystemExit("train_torch.py: %s: no %s[.gz] there (run scripts/get-data.sh?)" % (folder, stem))


def read_idx_images(path):
    """IDX unsigned-byte images -> float32 array (N, rows*cols) in [0, 1]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        raise SystemExit("train_torch.py: %s: too short for an IDX header" % path)
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803:
        raise SystemExit("train_torch.py: %s: magic 0x%08x is not 3-d unsigned-byte IDX" % (path, magic))
    if len(raw) != 16 + n * rows * cols:
        raise SystemExit("train_torch.py: %s: %d bytes, header says %d" % (path, len(raw), 16 + n * rows * cols))
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    return x.astype(np.float32) / np.float32(255.0), rows, cols


# ---------------------------------------------------------------- model

def loss_sums(logits, x, mu, logvar, kind):
    """Sums over the batch of the per-image reconstruction term and KL."""
    if kind == "bce":
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    else:
        recon = ((torch.sigmoid(logits) - x) ** 2).sum()
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return recon, kl


# ---------------------------------------------------------------- train / eval

def train_epoch(model, opt, xtrain, gen, a):
    """One pass over xtrain in a fresh random order; returns per-image means
    and the seconds spent in the loop (data already in memory as float32)."""
    model.train()
    n = xtrain.shape[0]
    tot = [0.0, 0.0, 0.0]   # sums over images of loss, recon, kl (Python floats are doubles)
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, a.batch):
        x = xtrain[perm[i:i + a.batch]]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            logits, mu, logvar = model(x)
        # the loss in float32 whatever the forward pass ran in
        recon, kl = loss_sums(logits.float(), x, mu.float(), logvar.float(), a.loss)
        loss = a.alpha * recon + a.beta * kl
        opt.zero_grad(set_to_none=True)
        (loss / x.shape[0]).backward()
        opt.step()
        tot[0] += loss.item()
        tot[1] += recon.item()
        tot[2] += kl.item()
    secs = time.perf_counter() - t0
    m = [t / n for t in tot]
    return {"loss": m[0], "recon": m[1], "kl": m[2], "train_seconds": secs,
            "train_images_per_sec": n / secs, "images": n}


@torch.no_grad()
def evaluate(model, xtest, a):
    """Test-set means per image: loss/recon/kl with one sampled z, loss with z = mu."""
    model.eval()
    tot = [0.0, 0.0, 0.0, 0.0]
    for i in range(0, xtest.shape[0], 1000):
        x = xtest[i:i + 1000]
        logits, mu, logvar = model(x, sample=True)
        recon, kl = loss_sums(logits, x, mu, logvar, a.loss)
        logits_mu = model.decode_logits(mu)
        recon_mu, _ = loss_sums(logits_mu, x, mu, logvar, a.loss)
        for j, v in enumerate(((a.alpha * recon + a.beta * kl).item(), recon.item(), kl.item(),
                               (a.alpha * recon_mu + a.beta * kl).item())):
            tot[j] += v
    m = [t / xtest.shape[0] for t in tot]
    return {"test_loss": m[0], "test_recon": m[1], "test_kl": m[2], "test_loss_mu": m[3]}


def main(a):
    t_start = time.perf_counter()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    t0 = time.perf_counter()
    xtr, rows, cols = read_idx_images(find_idx(a.data, "train-images-idx3-ubyte"))
    if a.limit:
        xtr = xtr[:a.limit]
    xtrain = torch.from_numpy(np.ascontiguousarray(xtr))
    xtest = None
    if a.eval:
        xte, trows, tcols = read_idx_images(find_idx(a.data, "t10k-images-idx3-ubyte"))
        if (trows, tcols) != (rows, cols):
            raise SystemExit("train_torch.py: test images are %dx%d, training images %dx%d" % (trows, tcols, rows, cols))
        xtest = torch.from_numpy(np.ascontiguousarray(xte))
    load_s = time.perf_counter() - t0

    if a.layers:
        with open(a.layers) as f:
            spec = json.load(f)
    else:
        spec = layers_from_vae(a.vae, a.arch, a.hidden, a.channels, a.zdim, rows, cols)
    model = LayerVAE(spec)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    log("train_torch: %d training images %dx%d, %s (%d parameters), hidden %s, zdim %d, batch %d, torch %s, "
        "%s, %d thread(s), OPENBLAS_NUM_THREADS=%s, data loaded in %.2f s"
        % (xtrain.shape[0], rows, cols, spec["config"]["arch"], sum(p.numel() for p in model.parameters()),
           a.hidden, a.zdim, a.batch, torch.__version__, a.precision,
           torch.get_num_threads(), os.environ.get("OPENBLAS_NUM_THREADS", "default"), load_s))

    history = []
    train_s = 0.0
    for ep in range(1, a.epochs + 1):
        r = train_epoch(model, opt, xtrain, gen, a)
        train_s += r["train_seconds"]
        r["epoch"] = ep
        msg = "epoch %d: train loss %.2f (recon %.2f, kl %.2f), %.0f images/s" % (
            ep, r["loss"], r["recon"], r["kl"], r["train_images_per_sec"])
        if a.eval:
            r.update(evaluate(model, xtest, a))
            msg += "; test loss %.2f (recon %.2f, kl %.2f), z=mu %.2f" % (
                r["test_loss"], r["test_recon"], r["test_kl"], r["test_loss_mu"])
        history.append(r)
        if a.json:
            log(msg)
        else:
            print(msg, flush=True)

    if a.json:
        last = history[-1]
        out = {"implementation": "pytorch", "torch_version": torch.__version__,
               "threads": torch.get_num_threads(),
               "precision": a.precision,
               "blas_threads": a.blas_threads or None,
               "epochs": a.epochs, "batch": a.batch, "images": xtrain.shape[0] * a.epochs,
               "train_images": xtrain.shape[0] * a.epochs,
               "train_seconds": train_s,
               "train_images_per_sec": xtrain.shape[0] * a.epochs / train_s,
               "loss": last["loss"], "recon": last["recon"], "kl": last["kl"],
               "load_seconds": load_s,
               "total_seconds": time.perf_counter() - t_start,
               "history": history}
        for k in ("test_loss", "test_recon", "test_kl", "test_loss_mu"):
            if k in last:
                out[k] = last[k]
        print(json.dumps(out))


if __name__ == "__main__":
    main(ARGS)
