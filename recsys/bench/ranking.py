"""Full-catalogue evaluation: its cost, and the model comparison (issue 11).

Section ``ranking`` (MovieLens 100K, or a synthetic set of the same shape when not fetched):

- 5-fold CV of SVD (fast engine, warm) under the test-items protocol and under the full-catalogue
  protocol, best of 3 each; the difference is what ranking every unrated movie adds
  (target < 2 s);
- the comparison of ``recsys.compare.COMPARE_ALGOS`` (SVD, NMF, Baseline, MostPopular, ALS, BPR;
  default parameters, 5 folds, full catalogue, relevant = rating ≥ 4), each model in a fresh
  subprocess so that its peak RSS (VmHWM) is its own, warmed on a 30-user sample first (imports,
  JIT): seconds for the 5 folds (fits + evaluation), peak RSS, and in the note RMSE,
  precision@10, NDCG@10 and coverage.

Section ``ranking_synth`` (not part of ``all``: it needs the 24,053,764-rating synthetic Netflix
set, ``python -m recsys synth --users 470758 --items 4499 --ratings 24053764``, and takes long):
one 80/20 split (fold 1 of 5) per model in a fresh subprocess, fit seconds and full-catalogue
evaluation seconds for all 470k test users, peak RSS, precision@10. Baseline is left out there: it
exists only on Surprise's Trainset, whose per-rating Python objects do not fit 24M ratings in
reasonable time and memory. ``--quick`` runs it on 1M ratings.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYNTH_ALGOS = ("mostpop", "als", "bpr", "svd", "nmf")

_CV_CHILD = r"""
import json, sys, time
name, folds = sys.argv[1], int(sys.argv[2])
from recsys.bench.fast import _ml100k
from recsys.evaluate import cross_validate
ratings, label = _ml100k()
# warm (imports, JIT, BLAS) on a tiny sample first: the timing is the 5 folds only
cross_validate(ratings.sample_users(30, seed=0), name, {}, "fast", n_folds=2, seed=0)
t = time.perf_counter()
res = cross_validate(ratings, name, {}, "fast", n_folds=folds, seed=0, k=10, protocol="full")
secs = time.perf_counter() - t
with open("/proc/self/status") as f:
    hwm = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:"))
print(json.dumps({"seconds": secs, "peak_rss_mb": hwm / 1024, "mean": res["mean"],
                  "label": label, "n_ratings": ratings.n_ratings}))
"""

_SPLIT_CHILD = r"""
import json, sys, time
import numpy as np
name, n = sys.argv[1], int(sys.argv[2])
from recsys.bench.fast import child_data
from recsys.evaluate import fold_indices
from recsys.models import make_algo
from recsys.ranking import fold_metrics, model_numbering, predicts_ratings
from recsys.metrics import rmse_arrays
ratings, source = child_data(n)
from recsys.evaluate import cross_validate
cross_validate(ratings.sample_users(30, seed=0), name, {}, "fast", n_folds=2, seed=0)  # warm
train_idx, test_idx = fold_indices(ratings.n_ratings, 5, 0, 0)
tr_u, tr_i, te_u, te_i, n_u, n_i = model_numbering(ratings, train_idx, test_idx)
algo = make_algo(name, {}, "fast")
t = time.perf_counter()
algo.fit_arrays(tr_u, tr_i, ratings.ratings[train_idx], n_u, n_i,
                rating_scale=ratings.rating_scale)
fit = time.perf_counter() - t
out = {"fit_seconds": fit, "n_ratings": ratings.n_ratings, "source": source}
if predicts_ratings(algo):
    est = algo.predict_arrays(te_u, te_i)
    out["rmse"] = rmse_arrays(ratings.ratings[test_idx], est)
t = time.perf_counter()
m = fold_metrics(algo, ratings, train_idx, test_idx, k=10)
out["eval_seconds"] = time.perf_counter() - t
out.update({key: m[key] for key in ("precision@10", "ndcg@10", "coverage", "n_users")})
with open("/proc/self/status") as f:
    out["peak_rss_mb"] = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024
print(json.dumps(out))
"""


def _child(code: str, *args, timeout: float = 7200) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=REPO,
                         check=True, capture_output=True, text=True, timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best_cv(ratings, protocol: str, reps: int) -> tuple[float, dict]:
    from ..evaluate import cross_validate

    best, res = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        res = cross_validate(ratings, "svd", {}, "fast", n_folds=5, seed=0, protocol=protocol)
        best = min(best, time.perf_counter() - t)
    return best, res


def run(quick: bool = False) -> list[dict]:
    from ..compare import COMPARE_ALGOS
    from ..fast import warm_up
    from .fast import _ml100k

    ratings, label = _ml100k()
    warm_up()
    reps = 1 if quick else 3
    rows = []
    items, _ = _best_cv(ratings, "test-items", reps)
    full, res = _best_cv(ratings, "full", reps)
    rows.append({"benchmark": "5-fold CV SVD (fast), test-items protocol", "size": label,
                 "seconds": items, "note": f"best of {reps}"})
    rows.append({"benchmark": "5-fold CV SVD (fast), full-catalogue protocol", "size": label,
                 "seconds": full, "note": f"best of {reps}; precision@10 "
                                          f"{res['mean']['precision@10']:.3f}"})
    rows.append({"benchmark": "full-catalogue evaluation overhead (5 folds)", "size": label,
                 "seconds": full - items, "ratio": f"{full / items:.2f}x",
                 "note": "target < 2 s added to the fits"})
    for name in COMPARE_ALGOS:
        out = _child(_CV_CHILD, name, 2 if quick else 5)
        m = out["mean"]
        note = ("RMSE " + (f"{m['rmse']:.3f}" if "rmse" in m else "n/a")
                + f", precision@10 {m['precision@10']:.3f}, NDCG@10 {m['ndcg@10']:.3f}, "
                  f"coverage {m['coverage']:.1%}")
        rows.append({"benchmark": f"compare: {name}, {2 if quick else 5}-fold CV, full catalogue",
                     "size": out["label"], "seconds": out["seconds"],
                     "peak_rss_mb": out["peak_rss_mb"], "note": note})
    return rows


def run_synth(quick: bool = False) -> list[dict]:
    """The optional 24M-rating comparison (see the module docstring)."""
    from .fast import FULL

    n = 1_000_000 if quick else FULL["ratings"]
    rows = []
    for name in SYNTH_ALGOS:
        out = _child(_SPLIT_CHILD, name, n)
        note = ("RMSE " + (f"{out['rmse']:.3f}" if "rmse" in out else "n/a")
                + f", precision@10 {out['precision@10']:.3f}, coverage {out['coverage']:.1%}, "
                  f"{out['n_users']:,} users ranked over the catalogue in "
                  f"{out['eval_seconds']:.1f} s")
        rows.append({"benchmark": f"compare: {name}, one 80/20 split (fit + evaluation)",
                     "size": f"{out['n_ratings']:,} ratings ({out['source']})",
                     "seconds": out["fit_seconds"] + out["eval_seconds"],
                     "peak_rss_mb": out["peak_rss_mb"], "note": note})
    return rows
