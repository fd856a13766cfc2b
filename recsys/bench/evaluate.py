"""Evaluation benchmarks: the cross-validation page's default run and the tutorial's grid search.

Default page run: SVD with Surprise's defaults, 500 sampled users of ml-100k (seed 0), 5 folds,
ranking metrics included, exactly as ``pages/2_Cross_validation.py`` runs it. Measured in one
process, on 2 worker processes (loky, cold = workers started inside the timing, warm = reused, as
on the page's second run) and on 2 threads (Surprise's Cython SGD holds the GIL, so little to gain), and
with the fast engine. Grid: the tutorial's n_factors {10, 50, 100} x n_epochs {20, 50}, 3 folds.
"""
from __future__ import annotations

import time

GRID = {"n_factors": [10, 50, 100], "n_epochs": [20, 50]}
QUICK_GRID = {"n_factors": [10, 50], "n_epochs": [5, 20]}


def _data(quick: bool):
    from ..io.datasets import load_dataset
    from ..errors import InputError

    users = 100 if quick else 500
    try:
        full = load_dataset("ml-100k")
        label = "ml-100k"
    except InputError:
        full = load_dataset("synthetic")
        label = "synthetic"
    sample = full.sample_users(users, seed=0)
    return sample, f"{users} users of {label} ({sample.n_ratings:,} ratings)"


def _cold_pool() -> None:
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor(max_workers=2).shutdown(wait=True, kill_workers=True)


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(quick: bool = False) -> list[dict]:
    from ..evaluate import cross_validate, grid_search
    from ..models import fast_available

    sample, size = _data(quick)
    folds = 5
    rows = []

    def cv(engine, n_jobs, backend="processes"):
        return cross_validate(sample, "svd", {"random_state": 0}, engine, n_folds=folds, seed=0,
                              n_jobs=n_jobs, backend=backend)

    t_seq, res = _time(lambda: cv("surprise", 1))
    base_rmse = res["mean"]["rmse"]
    rows.append({"benchmark": "CV page default run (SVD, 5 folds), surprise, 1 process",
                 "size": size, "seconds": t_seq, "ratio": "1.00x",
                 "note": f"mean RMSE {base_rmse:.4f}"})
    _cold_pool()
    t_cold, res = _time(lambda: cv("surprise", 2))
    rows.append({"benchmark": "  same, 2 worker processes (cold start)", "size": size,
                 "seconds": t_cold, "ratio": f"{t_seq / t_cold:.2f}x",
                 "note": "same RMSE" if res["mean"]["rmse"] == base_rmse else "RMSE DIFFERS"})
    t_warm, res = _time(lambda: cv("surprise", 2))
    rows.append({"benchmark": "  same, 2 worker processes (warm, page re-run)", "size": size,
                 "seconds": t_warm, "ratio": f"{t_seq / t_warm:.2f}x",
                 "note": "same RMSE" if res["mean"]["rmse"] == base_rmse else "RMSE DIFFERS"})
    if not quick:
        t_thr, res = _time(lambda: cv("surprise", 2, "threads"))
        rows.append({"benchmark": "  same, 2 threads", "size": size, "seconds": t_thr,
                     "ratio": f"{t_seq / t_thr:.2f}x",
                     "note": "Surprise's Cython SGD holds the GIL"})
    if fast_available():
        cv("fast", 1)   # compile / load the numba kernels outside the timing
        t_fast, res = _time(lambda: cv("fast", 1))
        rows.append({"benchmark": "  same, fast engine, 1 process", "size": size,
                     "seconds": t_fast, "ratio": f"{t_seq / t_fast:.2f}x",
                     "note": f"mean RMSE {res['mean']['rmse']:.4f} (array path)"})

    grid = QUICK_GRID if quick else GRID
    n_cells = 1
    for v in grid.values():
        n_cells *= len(v)
    gsize = f"{n_cells} cells x 3 folds, {size}"
    t_g1, g = _time(lambda: grid_search(sample, "svd", grid, "surprise", n_folds=3, seed=0,
                                        base_params={"random_state": 0}, n_jobs=1))
    rows.append({"benchmark": "Grid search (tutorial grid, SVD), surprise, 1 process",
                 "size": gsize, "seconds": t_g1, "ratio": "1.00x",
                 "note": f"best {g['best_params']['n_factors']}x"
                         f"{g['best_params']['n_epochs']}, RMSE {g['best_score']:.4f}"})
    t_g2, g2 = _time(lambda: grid_search(sample, "svd", grid, "surprise", n_folds=3, seed=0,
                                         base_params={"random_state": 0}, n_jobs=2))
    rows.append({"benchmark": "  same, 2 worker processes", "size": gsize, "seconds": t_g2,
                 "ratio": f"{t_g1 / t_g2:.2f}x",
                 "note": "same RMSE in every cell" if [c["mean"]["rmse"] for c in g2["cells"]]
                 == [c["mean"]["rmse"] for c in g["cells"]] else "RESULTS DIFFER"})
    if fast_available():
        t_gf, gf = _time(lambda: grid_search(sample, "svd", grid, "fast", n_folds=3, seed=0,
                                             base_params={"random_state": 0}, n_jobs=1))
        rows.append({"benchmark": "  same, fast engine, 1 process", "size": gsize,
                     "seconds": t_gf, "ratio": f"{t_g1 / t_gf:.2f}x",
                     "note": f"best RMSE {gf['best_score']:.4f}"})
    return rows
