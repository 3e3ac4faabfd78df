#!/usr/bin/env python3
"""Judge vae's t-SNE map against scikit-learn's TSNE on the same latent means.

Reads the latent means (`vae latent` CSV: index,label,mu0,...) and vae's 2-D
map (`vae scatter --csv`: index,label,x,y), runs sklearn.manifold.TSNE with
its defaults (Barnes-Hut, perplexity 30, 1000 iterations) on the means of the
same test images, and scores both maps the same way:

  trustworthiness  sklearn.manifold.trustworthiness(means, map, n_neighbors=k)
  k-NN accuracy    leave-one-out k-nearest-neighbour label vote in the 2-D map

Prints one JSON object. Exits 1 when vae's map is worse than scikit-learn's by
more than --tol on either score, 0 otherwise (2 on bad input).

  /usr/bin/python3 scripts/reference/tsne_compare.py latent.csv map.csv [--seed 1] [--k 10] [--tol 0.02]
      [--sklearn-map out.csv] [--reference-map sk.csv]
"""
import argparse
import csv
import json
import sys
import time

import numpy as np
from sklearn.manifold import TSNE, trustworthiness
from sklearn.neighbors import NearestNeighbors


def read_csv(path, first_cols):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][: len(first_cols)] != first_cols:
        sys.exit(f"tsne_compare: {path}: expected a header starting {','.join(first_cols)}")
    return rows[0], rows[1:]


def knn_accuracy(y, labels, k):
    """Share of points whose k nearest map neighbours (itself excluded) vote
    for its own label; a tie goes to the smallest label, like scipy's mode."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(y)
    _, idx = nn.kneighbors(y)
    hits = 0
    for i in range(len(y)):
        neigh = [j for j in idx[i] if j != i][:k]
        votes = np.bincount(labels[neigh], minlength=10)
        hits += int(np.argmax(votes) == labels[i])
    return hits / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("latent")
    ap.add_argument("vae_map")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--tol", type=float, default=0.02)
    ap.add_argument("--sklearn-map", help="also write scikit-learn's map as CSV index,label,x,y")
    ap.add_argument("--reference-map", help="use this scikit-learn map (written by --sklearn-map for the "
                    "same points) instead of running TSNE again")
    a = ap.parse_args()

    head, rows = read_csv(a.latent, ["index", "label", "mu0"])
    mu = {int(r[0]): (int(r[1]), [float(v) for v in r[2:]]) for r in rows}
    _, mrows = read_csv(a.vae_map, ["index", "label", "x", "y"])
    idx = [int(r[0]) for r in mrows]
    missing = [i for i in idx if i not in mu]
    if missing or len(set(idx)) != len(idx) or len(idx) < 3 * a.k:
        print(f"tsne_compare: {a.vae_map}: indices missing from {a.latent} ({missing[:3]}), repeated, "
              f"or fewer than {3 * a.k} points", file=sys.stderr)
        return 2
    labels = np.array([mu[i][0] for i in idx])
    if any(int(r[1]) != mu[int(r[0])][0] for r in mrows):
        print(f"tsne_compare: {a.vae_map}: labels differ from {a.latent}", file=sys.stderr)
        return 2
    x = np.array([mu[i][1] for i in idx], dtype=np.float64)
    y_vae = np.array([[float(r[2]), float(r[3])] for r in mrows])

    t0 = time.time()
    if a.reference_map:
        _, rrows = read_csv(a.reference_map, ["index", "label", "x", "y"])
        if [int(r[0]) for r in rrows] != idx:
            print(f"tsne_compare: {a.reference_map}: not the points of {a.vae_map}", file=sys.stderr)
            return 2
        y_sk = np.array([[float(r[2]), float(r[3])] for r in rrows])
    else:
        y_sk = TSNE(n_components=2, perplexity=30.0, random_state=a.seed).fit_transform(x)
    sk_seconds = time.time() - t0
    if a.sklearn_map:
        with open(a.sklearn_map, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", "label", "x", "y"])
            for i, lab, (u, v) in zip(idx, labels, y_sk):
                w.writerow([i, lab, repr(float(u)), repr(float(v))])

    res = {
        "points": len(idx),
        "zdim": x.shape[1],
        "k": a.k,
        "vae": {"trustworthiness": trustworthiness(x, y_vae, n_neighbors=a.k),
                "knn_accuracy": knn_accuracy(y_vae, labels, a.k)},
        "sklearn": {"trustworthiness": trustworthiness(x, y_sk, n_neighbors=a.k),
                    "knn_accuracy": knn_accuracy(y_sk, labels, a.k),
                    "seconds": round(sk_seconds, 2)},
        "tol": a.tol,
    }
    worse = [m for m in ("trustworthiness", "knn_accuracy")
             if res["vae"][m] < res["sklearn"][m] - a.tol]
    res["ok"] = not worse
    print(json.dumps(res))
    if worse:
        print(f"tsne_compare: vae's map is more than {a.tol} below scikit-learn's in {', '.join(worse)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
