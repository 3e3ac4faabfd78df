"""PyTorch twin of a vae model, built from its layer list: the JSON that
`vae layers --json` prints and every checkpoint stores in its metadata
('layers'). The topology is never written here; only what each layer KIND
means in PyTorch is:

  linear            nn.Linear(in, out)                   input reshaped to (B, in)
  conv2d            nn.Conv2d(ic, oc, k, stride, pad)    input reshaped to (B, C, H, W)
  conv_transpose2d  nn.ConvTranspose2d(ic, oc, k, stride, pad)
  relu              F.relu
  flatten           reshape to (B, C*H*W)
  unflatten         reshape to (B, C, H, W)
  add               a + b
  concat            torch.cat along features
  gaussian          [mu | logvar] -> z = mu + eps * exp(logvar / 2), KL
  latent_bn         nn.BatchNorm1d(Z, affine=False) (the entropic autoencoder's
                    code), regulariser -H(z): Kozachenko-Leonenko k-NN entropy

A layer's "act" ("relu", "tanh" or "none") is applied to its output. Parameters are
registered under the layer's "name" (nested modules, so the state_dict names
are the checkpoint's tensor names: "enc.0.weight", "enc.1.conv1.bias", ...),
and their shapes are checked against the JSON. Input -1 is the image batch,
-2 the one-hot labels of a conditional model.
"""
import json
import math
import subprocess

import torch
import torch.nn as nn
import torch.nn.functional as F


def layers_from_vae(vae_bin, arch="mlp", hidden="400", channels="32,64", zdim=20, rows=28, cols=28,
                    classes=0, model="vae", knn=5):
    """Runs `vae layers --json` for these options and returns the parsed list."""
    cmd = [vae_bin, "layers", "--json", "--arch", arch, "--zdim", str(zdim), "--rows", str(rows),
           "--cols", str(cols), "--hidden", str(hidden)]
    if arch != "mlp":
        cmd += ["--channels", str(channels)]
    if classes:
        cmd += ["--classes", str(classes)]
    if model != "vae":
        cmd += ["--model-kind", model, "--knn", str(knn)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


def layers_from_checkpoint_meta(meta):
    """The layer list of a checkpoint's __metadata__ (format version 2)."""
    if "layers" not in meta:
        raise ValueError("checkpoint has no 'layers' metadata (format version 1: an MLP; use the config)")
    return json.loads(meta["layers"])


def _child(root, path):
    """root.a.b... creating plain nn.Module containers on the way."""
    m = root
    for part in path:
        if not hasattr(m, part) or getattr(m, part) is None:
            m.add_module(part, nn.Module())
        m = getattr(m, part)
    return m


class LayerVAE(nn.Module):
    def __init__(self, spec):
        super().__init__()
        if spec.get("format") != "vae-layers":
            raise ValueError("not a vae layer list (format %r)" % spec.get("format"))
        self.spec = spec
        self.layers = spec["layers"]
        self.g = spec["gaussian"]
        self.Z = spec["config"]["zdim"]
        self.mods = {}
        for L in self.layers:
            kind, name = L["kind"], L["name"]
            if kind == "linear":
                mod = nn.Linear(L["in_shape"][0], L["out_shape"][0])
            elif kind == "conv2d":
                mod = nn.Conv2d(L["in_shape"][0], L["out_shape"][0], L["kernel"], L["stride"], L["padding"])
            elif kind == "conv_transpose2d":
                mod = nn.ConvTranspose2d(L["in_shape"][0], L["out_shape"][0], L["kernel"], L["stride"], L["padding"])
            elif kind == "latent_bn":
                mod = nn.BatchNorm1d(L["in_shape"][0], eps=L["eps"], momentum=L["momentum"], affine=False)
                self.knn = L["knn"]
                parts = name.split(".")
                _child(self, parts[:-1]).add_module(parts[-1], mod)
                self.mods[L["index"]] = mod
                have = {p["name"][len(name) + 1:] for p in L["params"]}
                if have != {"running_mean", "running_var"}:
                    raise ValueError("latent_bn: tensors %s" % sorted(have))
                continue
            elif kind in ("relu", "flatten", "unflatten", "add", "concat", "gaussian"):
                if L["params"]:
                    raise ValueError("layer %d (%s) should have no parameters" % (L["index"], kind))
                continue
            else:
                raise ValueError("unknown layer kind %r" % kind)
            parts = name.split(".")
            _child(self, parts[:-1]).add_module(parts[-1], mod)
            self.mods[L["index"]] = mod
            own = dict(mod.named_parameters())
            for p in L["params"]:
                short = p["name"][len(name) + 1:]
                if short not in own or list(own[short].shape) != p["shape"]:
                    raise ValueError("%s: PyTorch has %s" % (p["name"], tuple(own[short].shape) if short in own else "no such tensor"))

    def _run(self, x, eps, start, stop, outs, y=None):
        B = x.shape[0]
        kl = None
        for i in range(start, stop):
            L = self.layers[i]
            ins = [x if j == -1 else y if j == -2 else outs[j] for j in L["inputs"]]
            kind = L["kind"]
            if kind == "linear":
                h = self.mods[i](ins[0].reshape(B, -1))
            elif kind in ("conv2d", "conv_transpose2d"):
                h = self.mods[i](ins[0].reshape(B, *L["in_shape"]))
            elif kind == "relu":
                h = F.relu(ins[0])
            elif kind == "flatten":
                h = ins[0].reshape(B, -1)
            elif kind == "unflatten":
                h = ins[0].reshape(B, *L["out_shape"])
            elif kind == "add":
                h = ins[0] + ins[1]
            elif kind == "concat":
                h = torch.cat([ins[0].reshape(B, -1), ins[1].reshape(B, -1)], 1)
            elif kind == "gaussian":
                hh = ins[0].reshape(B, -1)
                mu, logvar = hh[:, : self.Z], hh[:, self.Z:]
                h = mu if eps is None else mu + eps * torch.exp(0.5 * logvar)
                kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
                outs["mu"], outs["logvar"] = mu, logvar
            elif kind == "latent_bn":
                h = self.mods[i](ins[0].reshape(B, -1))
                # -H counted once per image, as vae sums its regulariser over the batch
                kl = -knn_entropy(h, self.knn).expand(B) if B > self.knn else h.new_zeros(B)
                outs["mu"], outs["logvar"] = h, torch.zeros_like(h)
            if L["act"] == "relu":
                h = F.relu(h)
            elif L["act"] == "tanh":
                h = torch.tanh(h)
            outs[i] = h
        return kl

    def encode(self, x, y=None):
        outs = {}
        self._run(x, None, 0, self.g + 1, outs, y)
        return outs["mu"], outs["logvar"]

    def decode_logits(self, z, y=None):
        outs = {self.g: z}
        self._run(z, None, self.g + 1, len(self.layers), outs, y)
        return outs[len(self.layers) - 1].reshape(z.shape[0], -1)

    def terms(self, x, eps, loss, y=None):
        """Per-image reconstruction term, regulariser (KL, or -H for an
        entropic autoencoder) and xhat; eps None means z = mu."""
        outs = {}
        kl = self._run(x, eps, 0, len(self.layers), outs, y)
        logits = outs[len(self.layers) - 1].reshape(x.shape[0], -1)
        if loss == "bce":
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        else:
            recon = ((torch.sigmoid(logits) - x) ** 2).sum(1)
        return recon, kl, torch.sigmoid(logits)

    def reg_weight(self):
        c = self.spec["config"]
        return c.get("lambda", 1.0) if c.get("model", "vae") == "eae" else c["beta"]

    def forward(self, x, sample=True):
        """(logits, mu, logvar) with z sampled by torch.randn_like, or z = mu."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.decode_logits(z), mu, logvar


def knn_entropy(z, k):
    """Kozachenko-Leonenko estimate of the entropy of the rows of z (n, d):
    (d/n) sum_i log eps_k(i) + log V_d + psi(n) - psi(k). The neighbour choice
    is made on detached distances (ties to the lower index, as in vae);
    the gradient flows through the distances."""
    n, d = z.shape
    with torch.no_grad():
        d2 = ((z.unsqueeze(1) - z.unsqueeze(0)) ** 2).sum(2)
        d2.fill_diagonal_(float("inf"))
        # stable sort keeps equal distances in index order
        order = torch.sort(d2, dim=1, stable=True).indices
        nb = order[:, k - 1]
    e2 = ((z - z[nb]) ** 2).sum(1).clamp_min(1e-12)
    psi = lambda m: -0.5772156649015329 + sum(1.0 / j for j in range(1, m))
    log_vd = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
    return d / n * (0.5 * torch.log(e2)).sum() + log_vd + psi(n) - psi(k)
