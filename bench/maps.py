"""The factor map's method, measured for speed and quality together (issue 13, goal 8).

    .venv/bin/python bench/maps.py            # ~3 min; writes bench/maps-results.md

Maps the item factors q_i of the fast engine's default SVD (k=100, 20 epochs, seed 0), each
scaled to length 1 as the Factor map page does, with:
- scikit-learn's ``TSNE`` (perplexity 30, PCA init, seed 0);
- openTSNE through ``recsys.embed.project`` (what the page runs: perplexity 30, 750 iterations);
- UMAP (``umap-learn``: 15 neighbours, min_dist 0.1, seed 0; a seed makes it single-threaded).

Quality: trustworthiness at 10 neighbours (scikit-learn), against the unit q_i. Speed: the first
call in the process (UMAP and openTSNE compile numba code then) and the best of two more. Items:
ml-100k's 1,682 movies, and the 4,499 most-rated movies of the 5,000,000-rating synthetic
Netflix-format set (``recsys.bench.fast.child_data``).

UMAP is not a FactorLab dependency: this script installs ``umap-learn`` and ``pynndescent``
(their other needs, numba and scikit-learn, are in requirements.txt) into ``data/maps-pkgs``
(git-ignored) with pip ``--target``, and imports them from there.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PKGS = REPO / "data" / "maps-pkgs"
UMAP_PINS = ("umap-learn==0.5.12", "pynndescent==0.7.0")


def _umap():
    if not (PKGS / "umap").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(PKGS),
                        "--no-deps", *UMAP_PINS], check=True)
    sys.path.insert(0, str(PKGS))
    import umap

    return umap


def _sets():
    sys.path.insert(0, str(REPO))
    from recsys.bench.fast import child_data
    from recsys.io.datasets import load_dataset
    from recsys.models import fit_full

    out = []
    r = load_dataset("ml-100k")
    algo = fit_full(r, "svd", {"random_state": 0}, "fast")
    out.append(("ml-100k, every movie", algo.qi))
    big, _ = child_data(5_000_000)
    algo = fit_full(big, "svd", {"random_state": 0}, "fast")
    top = np.argsort(-np.bincount(big.items, minlength=big.n_items), kind="stable")[:4499]
    out.append(("synthetic 5M, 4,499 most-rated", algo.qi[np.sort(top)]))
    return [(name, q / np.linalg.norm(q, axis=1, keepdims=True)) for name, q in out]


def _methods(umap):
    from sklearn.manifold import TSNE

    from recsys.embed import project

    return {
        "scikit-learn t-SNE": lambda X: TSNE(perplexity=30, init="pca", random_state=0,
                                             n_jobs=1).fit_transform(X),
        "openTSNE (the page's)": lambda X: project(X, "tsne", seed=0)[0],
        "UMAP": lambda X: umap.UMAP(n_neighbors=15, min_dist=0.1,
                                    random_state=0).fit_transform(X),
    }


def run() -> list[dict]:
    import warnings

    from sklearn.manifold import trustworthiness

    warnings.filterwarnings("ignore")
    umap = _umap()
    rows = []
    methods = _methods(umap)
    for set_name, X in _sets():
        first = {}
        for name, fn in methods.items():
            t = time.perf_counter()
            fn(X)
            first[name] = time.perf_counter() - t
        for name, fn in methods.items():
            times, xy = [], None
            for _ in range(2):
                t = time.perf_counter()
                xy = fn(X)
                times.append(time.perf_counter() - t)
            trust = trustworthiness(X, xy, n_neighbors=10)
            rows.append({"benchmark": f"map: {name}", "size": f"{set_name} ({len(X):,} items)",
                         "seconds": min(times),
                         "note": f"trustworthiness@10 {trust:.3f}; best of 2 "
                                 f"({min(times):.2f}-{max(times):.2f} s); first call in the "
                                 f"process {first[name]:.1f} s"})
    return rows


def main() -> int:
    sys.path.insert(0, str(REPO))
    from recsys.bench import format_table

    rows = run()
    for r in rows:
        r["section"] = "maps"
    table = format_table(rows)
    print(table)
    (REPO / "bench" / "maps-results.md").write_text(
        "# The factor map's method: speed and quality\n\n"
        "Command: `.venv/bin/python bench/maps.py`  \n"
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
