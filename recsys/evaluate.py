"""k-fold cross-validation, grid search and learning curves, reporting as they go.

The folds are Surprise's: ``KFold(n_splits, random_state=seed, shuffle=True)`` over
``ratings.to_surprise()``; ``kfold_indices`` reproduces its split exactly (same shuffled index
order, same train order), so a worker process can build fold ``f`` alone without replaying the
earlier folds. Every fold is a pure function of (ratings, algorithm, params, engine, n_folds, seed,
fold), so the numbers do not depend on ``n_jobs`` or on the order in which folds finish.

Parallelism: ``n_jobs > 1`` runs folds (and grid cells, and learning-curve refits) in worker
*processes* (joblib's loky executor, reused between calls). Threads do not help: Surprise's Cython
SGD holds the GIL (measured: see ``recsys/bench/evaluate.py``). Callbacks always run in the
caller's thread, as each result arrives; ``should_stop()`` is polled between results and a stop
cancels the work not yet done.

Result shapes:

- fold: ``{"fold", "rmse", "mae", "fit_time", "test_time", "precision@k", "recall@k",
  "ndcg@k", "map@k", "hit@k", "coverage", "novelty", "mean_popularity", "n_train", "n_test"}``
  under the full-catalogue protocol (``recsys.ranking``; the default); the test-items protocol
  gives precision/recall/ndcg@k only. Implicit models (MostPopular, ALS, BPR) score rather than
  rate: their folds have no ``rmse``/``mae`` keys at all. ``test_time`` covers predicting the
  test ratings and ranking.
- ``cross_validate`` -> ``{"algo", "label", "params", "engine", "n_folds", "seed", "k",
  "threshold", "protocol", "relevant", "folds": [fold...], "mean": {measure: float},
  "std": {...}, "stopped"}``
  (std is the population std, ``np.std``, as Surprise prints it)
- ``grid_search`` -> ``{"algo", "engine", "measure", "grid", "n_folds", "seed",
  "cells": [{"params", "mean", "std", "folds", "rank"}...], "best_index", "best_params",
  "best_score", "cv_results", "stopped"}``
- ``learning_curve`` -> ``{"algo", "params", "engine", "seed", "test_size", "epochs",
  "train_rmse", "test_rmse", "method"}``
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import itertools
import math
import threading
import time
from typing import Callable

import numpy as np

from .errors import DivergenceError, InputError
from .metrics import (mae, mae_arrays, ranking_metrics_arrays, rmse,
                      rmse_arrays)
from .models import (check_fit_input, check_fitted, fast_available, get_spec, make_algo,
                     normalize_params)
from .ranking import (CATALOGUE_METRICS, DEFAULT_PROTOCOL, DEFAULT_RELEVANT, USER_METRICS,
                      check_protocol, check_relevant, fold_metrics, measure_label,
                      predicts_ratings)

ERROR_MEASURES = ("rmse", "mae")
TIME_MEASURES = ("fit_time", "test_time")
HIGHER_IS_BETTER = USER_METRICS + ("coverage", "novelty")


def measure_names(k: int = 10) -> tuple[str, ...]:
    """Every measure a fold may have, in display order (a fold holds those that apply: no
    rmse/mae for implicit models, no map/hit/coverage/... under the test-items protocol)."""
    return (ERROR_MEASURES + TIME_MEASURES + tuple(f"{m}@{k}" for m in USER_METRICS)
            + CATALOGUE_METRICS)


def _present(folds: list[dict], k: int) -> list[str]:
    return [m for m in measure_names(k) if any(m in f for f in folds)]


def _fold_ranking(algo, ratings, train_idx, test_idx, test_users, true, est, k, threshold,
                  protocol, relevant) -> dict:
    """The ranking measures of a fitted fold under ``protocol`` (see ``recsys.ranking``)."""
    if protocol == "test-items":
        rank = ranking_metrics_arrays(test_users, true, est, k=k,
                                      threshold=-math.inf if relevant == "all" else threshold)
    else:
        rank = fold_metrics(algo, ratings, train_idx, test_idx, k, threshold, relevant)
    rank.pop("n_users")
    return rank


# ---------------------------------------------------------------------- folds
def kfold_indices(n: int, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) rating indices of each fold, exactly as Surprise's
    ``KFold(n_folds, random_state=seed, shuffle=True).split`` orders them."""
    return [fold_indices(n, n_folds, seed, f) for f in range(n_folds)]


def fold_indices(n: int, n_folds: int, seed, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of one fold of ``kfold_indices``, built on demand (only one fold's
    arrays exist at a time; the shuffled permutation is computed once per (n, seed))."""
    indices = _permutation(n, seed) if isinstance(seed, int) else _shuffled(n, seed)
    base, extra = divmod(n, n_folds)
    start = fold * base + min(fold, extra)
    stop = start + base + (1 if fold < extra else 0)
    return np.concatenate([indices[:start], indices[stop:]]), indices[start:stop]


def _shuffled(n: int, seed) -> np.ndarray:
    from surprise.utils import get_rng

    indices = np.arange(n)
    get_rng(seed).shuffle(indices)
    indices.flags.writeable = False
    return indices


@functools.lru_cache(maxsize=2)
def _permutation(n: int, seed: int) -> np.ndarray:
    return _shuffled(n, seed)


def _check_folds(n_folds, n_ratings) -> int:
    try:
        n_folds = int(n_folds)
    except (TypeError, ValueError):
        raise InputError("number of folds must be a whole number", value=n_folds) from None
    if n_folds < 2 or n_folds > n_ratings:
        raise InputError(f"number of folds must be between 2 and the number of ratings "
                         f"({n_ratings})", value=n_folds)
    return n_folds


def _fingerprint(ratings) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in (ratings.users, ratings.items, ratings.ratings):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(ratings.rating_scale).encode())
    return h.hexdigest()


# One Surprise Dataset per process and ratings (workers get several folds of the same data).
_DATASETS: dict[str, object] = {}
_DATASETS_LOCK = threading.Lock()  # Streamlit sessions run folds in their own threads


def _dataset(ratings, fp: str):
    with _DATASETS_LOCK:
        data = _DATASETS.get(fp)
        if data is None:
            data = ratings.to_surprise()
            _DATASETS.clear()
            _DATASETS[fp] = data
        return data


def _fold_sets(ratings, fp, n_folds, seed, fold):
    data = _dataset(ratings, fp)
    train_idx, test_idx = fold_indices(len(data.raw_ratings), n_folds, seed, fold)
    raw = data.raw_ratings
    trainset = data.construct_trainset([raw[i] for i in train_idx])
    testset = data.construct_testset([raw[i] for i in test_idx])
    return trainset, testset


def _score(algo, name, trainset, testset, k, threshold, ratings=None, train_idx=None,
           test_idx=None, protocol="test-items", relevant=DEFAULT_RELEVANT) -> dict:
    t0 = time.perf_counter()
    algo.fit(trainset)
    check_fitted(algo, name)
    t1 = time.perf_counter()
    preds = algo.test(testset)
    out = {"fit_time": t1 - t0}
    if predicts_ratings(algo):
        out.update(rmse=rmse(preds), mae=mae(preds))
    users = np.array([p[0] for p in preds], dtype=object)
    true = np.array([p[2] for p in preds], dtype=np.float64)
    est = np.array([p[3] for p in preds], dtype=np.float64)
    out.update(_fold_ranking(algo, ratings, train_idx, test_idx, users, true, est, k, threshold,
                             protocol, relevant))
    out["test_time"] = time.perf_counter() - t1
    return out


def _uses_arrays(name: str, engine: str) -> bool:
    spec = get_spec(name)
    return spec.array_path or (engine == "fast" and "fast" in spec.engines)


def _run_fold_arrays(ratings, name, params, n_folds, seed, fold, k, threshold,
                     protocol=DEFAULT_PROTOCOL, relevant=DEFAULT_RELEVANT) -> dict:
    """One fold on the fast engine's array path (no Surprise Trainset): the same split, the
    same ids and rating order as Surprise's, so the same model and numbers (to ~1e-12)."""
    from .fast import surprise_numbering

    train_idx, test_idx = fold_indices(ratings.n_ratings, n_folds, seed, fold)
    algo = make_algo(name, params, "fast")
    t0 = time.perf_counter()
    ui, ii, u_back, i_back = surprise_numbering(ratings.users[train_idx],
                                                ratings.items[train_idx])
    algo.fit_arrays(ui, ii, ratings.ratings[train_idx], len(u_back), len(i_back),
                    rating_scale=ratings.rating_scale)
    check_fitted(algo, name)
    t1 = time.perf_counter()
    umap = np.full(ratings.n_users, -1, dtype=np.int64)
    umap[u_back] = np.arange(len(u_back))
    imap = np.full(ratings.n_items, -1, dtype=np.int64)
    imap[i_back] = np.arange(len(i_back))
    test_users = ratings.users[test_idx]
    est = algo.predict_arrays(umap[test_users], imap[ratings.items[test_idx]])
    true = ratings.ratings[test_idx].astype(np.float64)
    res = {"fold": fold, "fit_time": t1 - t0}
    if predicts_ratings(algo):
        res.update(rmse=rmse_arrays(true, est), mae=mae_arrays(true, est))
    res.update(_fold_ranking(algo, ratings, train_idx, test_idx, test_users, true, est, k,
                             threshold, protocol, relevant))
    res["test_time"] = time.perf_counter() - t1
    res["n_train"] = int(len(train_idx))
    res["n_test"] = int(len(test_idx))
    return res


def _run_fold(ratings, fp, name, params, engine, n_folds, seed, fold, k, threshold,
              protocol=DEFAULT_PROTOCOL, relevant=DEFAULT_RELEVANT) -> dict:
    """One fold, start to end (runs in a worker process or in the caller). A fit that
    diverges gives ``{"fold", "diverged": message}`` with every measure NaN, so that a grid
    can mark its cell and go on (``cross_validate`` raises it)."""
    try:
        if _uses_arrays(name, engine):
            return _run_fold_arrays(ratings, name, params, n_folds, seed, fold, k, threshold,
                                    protocol, relevant)
        trainset, testset = _fold_sets(ratings, fp, n_folds, seed, fold)
        train_idx, test_idx = fold_indices(ratings.n_ratings, n_folds, seed, fold)
        algo = make_algo(name, params, engine)
        res = {"fold": fold}
        res.update(_score(algo, name, trainset, testset, k, threshold, ratings, train_idx,
                          test_idx, protocol, relevant))
        res["n_train"] = trainset.n_ratings
        res["n_test"] = len(testset)
        return res
    except DivergenceError as err:
        return {"fold": fold, "diverged": str(err),
                **{m: float("nan") for m in measure_names(k)}}


# ---------------------------------------------------------------------- task runner
def _executor(n_jobs: int, backend: str):
    if backend == "threads":
        return cf.ThreadPoolExecutor(max_workers=n_jobs), True
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=n_jobs, timeout=300), False


def _ready() -> bool:
    import surprise  # noqa: F401  (the import is what warms a worker)

    return True


def warm_workers(n_jobs: int = 2) -> None:
    """Start the worker processes now, without waiting (a page calls this when it will run in
    parallel, so that the first run does not pay the ~1 s start-up)."""
    if n_jobs > 1:
        pool, _ = _executor(n_jobs, "processes")
        for _ in range(n_jobs):
            pool.submit(_ready)


def _execute(tasks: list, n_jobs: int = 1, backend: str = "processes",
             should_stop: Callable[[], bool] | None = None):
    """Yield ``(index, result)`` for ``tasks`` (``(fn, args)`` pairs) as they finish.

    ``n_jobs == 1``: in order, in this thread. Otherwise in a pool. Stops early (cancelling what
    has not started) when ``should_stop()`` turns true or when the consumer closes the generator.
    Tasks already running in the shared loky pool finish in the background: the pool serves
    every session of the process, so killing its workers would break other sessions' runs.
    """
    stop = should_stop or (lambda: False)
    if n_jobs <= 1 or len(tasks) <= 1:
        for i, (fn, args) in enumerate(tasks):
            if stop():
                return
            yield i, fn(*args)
        return
    if backend not in ("processes", "threads"):
        raise InputError("backend must be processes or threads", value=backend)
    pool, owned = _executor(n_jobs, backend)
    futures = {pool.submit(fn, *args): i for i, (fn, args) in enumerate(tasks)}
    pending = set(futures)
    finished = False
    try:
        while pending:
            if stop():
                return
            done, pending = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
            for fut in sorted(done, key=futures.get):
                yield futures[fut], fut.result()
        finished = True
    finally:
        if not finished:
            for fut in pending:
                fut.cancel()
        if owned:
            pool.shutdown(wait=finished, cancel_futures=True)


def summarize(folds: list[dict], k: int) -> tuple[dict, dict]:
    """Mean and population std over folds of every measure the folds have (a measure that does
    not apply, such as rmse for ALS, is absent, not NaN)."""
    mean, std = {}, {}
    for m in _present(folds, k):
        vals = np.array([f[m] for f in folds], dtype=np.float64)
        if len(vals) == 0 or np.all(np.isnan(vals)):
            mean[m] = std[m] = float("nan")
        else:
            mean[m] = float(np.nanmean(vals))
            std[m] = float(np.nanstd(vals))
    return mean, std


# ---------------------------------------------------------------------- cross-validation
def cross_validate(ratings, name: str, params: dict | None = None, engine: str = "surprise",
                   n_folds: int = 5, seed: int = 0, k: int = 10, threshold: float | None = None,
                   callback: Callable[[dict], None] | None = None, n_jobs: int = 1,
                   should_stop: Callable[[], bool] | None = None,
                   backend: str = "processes", protocol: str = DEFAULT_PROTOCOL,
                   relevant: str = DEFAULT_RELEVANT) -> dict:
    """k-fold CV of algorithm ``name`` on ``ratings`` (see the module docstring for shapes).

    ``callback(fold_result)`` is called in this thread as each fold finishes (possibly out of
    fold order with ``n_jobs > 1``); the returned ``folds`` are in fold order. A stop returns
    the folds done so far with ``stopped=True``. ``protocol`` ("full" or "test-items") and
    ``relevant`` ("threshold" or "all") choose how the ranking measures are computed
    (``recsys.ranking``).
    """
    spec = get_spec(name)
    full = normalize_params(spec.name, params)
    k = _check_k(k)
    threshold = check_threshold(threshold, ratings)
    protocol, relevant = check_protocol(protocol), check_relevant(relevant)
    n_folds = _check_folds(n_folds, ratings.n_ratings)
    fp = _fingerprint(ratings)
    tasks = [(_run_fold, (ratings, fp, spec.name, full, engine, n_folds, seed, f, k, threshold,
                          protocol, relevant))
             for f in range(n_folds)]
    make_algo(spec.name, full, engine)  # fail early (bad engine) before any work
    check_fit_input(spec.name, ratings)
    folds = []
    with contextlib.closing(_execute(tasks, n_jobs, backend, should_stop)) as results:
        for _, res in results:
            if "diverged" in res:
                raise DivergenceError(f"fold {res['fold'] + 1}: {res['diverged']}")
            res = {"algo": spec.name, **res}
            folds.append(res)
            if callback is not None:
                callback(res)
    folds.sort(key=lambda r: r["fold"])
    mean, std = summarize(folds, k)
    return {"algo": spec.name, "label": spec.label, "params": full, "engine": engine,
            "n_folds": n_folds, "seed": seed, "k": k, "threshold": threshold,
            "protocol": protocol, "relevant": relevant,
            "folds": folds, "mean": mean, "std": std, "stopped": len(folds) < n_folds,
            "undefined": undefined_folds(folds, k)}


def check_threshold(threshold, ratings) -> float:
    """The relevance threshold: ``None`` -> the scale's default (``default_threshold``: 4 on
    1..5, 1 on 0/1 data); else a finite number on the rating scale (InputError otherwise)."""
    from .data import default_threshold, rating_step

    lo, hi = (float(v) for v in ratings.rating_scale)
    if threshold is None:
        return default_threshold((lo, hi), rating_step(ratings.ratings))
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise InputError("the relevance threshold must be a number", value=threshold) from None
    if not math.isfinite(t) or not lo <= t <= hi:
        raise InputError(f"the relevance threshold must be a number on the rating scale "
                         f"{lo:g}..{hi:g}", value=threshold)
    return t


def undefined_folds(folds: list[dict], k: int) -> dict[str, list[int]]:
    """{ranking measure: [0-based folds where it is undefined]}: folds whose test set holds no
    rating ≥ threshold, so no ranking can be judged (reported as ``undefined_text``)."""
    out = {}
    for m in ranking_measures(k):
        bad = [f["fold"] for f in folds if m in f and math.isnan(f[m]) and "diverged" not in f]
        if bad:
            out[m] = bad
    return out


def ranking_measures(k: int) -> tuple[str, ...]:
    """The per-user ranking measures at cut-off k (precision@k ... hit@k)."""
    return tuple(f"{m}@{k}" for m in USER_METRICS)


def undefined_text(threshold: float) -> str:
    """How an undefined ranking metric is shown (never a bare NaN)."""
    return f"undefined (no test rating ≥ {threshold:g})"


def display_value(value: float, measure: str, threshold: float) -> float | str:
    """``value``, or ``undefined_text`` for a NaN ranking metric (tables and JSON notes)."""
    if isinstance(value, float) and math.isnan(value) and measure.split("@")[0] in \
            HIGHER_IS_BETTER:
        return undefined_text(threshold)
    return value


def _check_k(k) -> int:
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise InputError("k must be a whole number", value=k) from None
    if k < 1:
        raise InputError("k must be at least 1", value=k)
    return k


def summary_table(result: dict) -> "pd.DataFrame":
    """Surprise's verbose ``cross_validate`` table: one row per measure, columns Fold 1..n,
    Mean, Std."""
    import pandas as pd

    k = result["k"]
    t = result.get("threshold", 4.0)
    rows = {}
    for m in _present(result["folds"], k):
        label = measure_label(m) + (" (testset)" if m in ERROR_MEASURES else "")
        vals = [display_value(f[m], m, t) for f in result["folds"]]
        rows[label] = vals + [display_value(result["mean"][m], m, t),
                              display_value(result["std"][m], m, t)]
    cols = [f"Fold {f['fold'] + 1}" for f in result["folds"]] + ["Mean", "Std"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=cols)


# ---------------------------------------------------------------------- grid search
def grid_cells(name: str, grid: dict[str, list], base_params: dict | None = None) -> list[dict]:
    """Every combination of ``grid`` (keys in the given order, last key varying fastest, as
    ``GridSearchCV``), each validated on top of ``base_params``."""
    spec = get_spec(name)
    if not grid:
        raise InputError("the grid is empty: give at least one parameter with values")
    for key, values in grid.items():
        if len(list(values)) == 0:
            raise InputError(f"grid parameter {key} has no values")
    cells = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    for cell in cells:
        normalize_params(spec.name, {**(base_params or {}), **cell})
    return cells


def _better(measure: str) -> Callable[[float, float], bool]:
    hi = measure.split("@")[0] in HIGHER_IS_BETTER
    return (lambda a, b: a > b) if hi else (lambda a, b: a < b)


def grid_search(ratings, name: str, grid: dict[str, list], engine: str = "surprise",
                n_folds: int = 3, seed: int = 0, measure: str = "rmse",
                callback: Callable[[dict], None] | None = None, n_jobs: int = 1,
                should_stop: Callable[[], bool] | None = None, base_params: dict | None = None,
                k: int = 10, threshold: float | None = None, backend: str = "processes",
                protocol: str = DEFAULT_PROTOCOL, relevant: str = DEFAULT_RELEVANT) -> dict:
    """Cross-validate every cell of ``grid`` on the same folds; best cell by ``measure``.

    ``callback(cell)`` runs in this thread when all folds of a cell are done. ``cells[i]
    ["params"]`` holds the grid values only; ``best_params`` is ``base_params`` plus the best
    cell's values (what "Use these parameters" fits). Ties keep the first cell in grid order.
    """
    spec = get_spec(name)
    k = _check_k(k)
    protocol, relevant = check_protocol(protocol), check_relevant(relevant)
    allowed = grid_measures(spec.name, k, protocol)
    if measure not in allowed:
        raise InputError(f"measure must be one of {', '.join(allowed)}", value=measure)
    threshold = check_threshold(threshold, ratings)
    n_folds = _check_folds(n_folds, ratings.n_ratings)
    base = dict(base_params or {})
    cells = grid_cells(spec.name, grid, base)
    make_algo(spec.name, {**base, **cells[0]}, engine)
    check_fit_input(spec.name, ratings)
    fp = _fingerprint(ratings)
    tasks, owner = [], []
    for c, cell in enumerate(cells):
        full = normalize_params(spec.name, {**base, **cell})
        for f in range(n_folds):
            tasks.append((_run_fold, (ratings, fp, spec.name, full, engine, n_folds, seed, f, k,
                                      threshold, protocol, relevant)))
            owner.append(c)
    per_cell: list[list[dict]] = [[] for _ in cells]
    done: list[dict | None] = [None] * len(cells)
    with contextlib.closing(_execute(tasks, n_jobs, backend, should_stop)) as results:
        for t, res in results:
            c = owner[t]
            per_cell[c].append(res)
            if len(per_cell[c]) == n_folds:
                folds = sorted(per_cell[c], key=lambda r: r["fold"])
                mean, std = summarize(folds, k)
                diverged = next((f["diverged"] for f in folds if "diverged" in f), None)
                if diverged is not None:  # the cell says so, and has no score
                    mean = {m: float("nan") for m in mean}
                    std = {m: float("nan") for m in std}
                done[c] = {"index": c, "params": cells[c], "mean": mean, "std": std,
                           "folds": folds, "diverged": diverged}
                if callback is not None:
                    callback(done[c])
    finished = [d for d in done if d is not None]
    res = grid_result(spec.name, engine, measure, grid, n_folds, seed, k, threshold, base,
                      finished, len(cells))
    res.update(protocol=protocol, relevant=relevant)
    scored = [d for d in finished if d.get("diverged") is None]
    if scored and res["best_index"] is None and measure.split("@")[0] in HIGHER_IS_BETTER:
        raise InputError(f"{measure_label(measure)} is {undefined_text(threshold)} in every "
                         "fold of every cell: rank by rmse, or lower the threshold",
                         value=measure)
    return res


def grid_measures(name: str, k: int = 10, protocol: str = DEFAULT_PROTOCOL) -> tuple[str, ...]:
    """What a grid search of ``name`` can optimise: rmse and mae for rating models, then the
    per-user ranking measures of ``protocol``."""
    users = (USER_METRICS if check_protocol(protocol) == "full" else USER_METRICS[:3])
    errors = () if get_spec(name).implicit else ERROR_MEASURES
    return errors + tuple(f"{m}@{k}" for m in users)


def grid_result(name: str, engine: str, measure: str, grid: dict, n_folds: int, seed: int,
                k: int, threshold: float, base: dict, finished: list[dict],
                n_cells: int) -> dict:
    """``grid_search``'s result from the cells that finished (all, or those done before a
    stop): ranks, best cell (ties: first in grid order), ``cv_results``."""
    finished = sorted((dict(d) for d in finished), key=lambda d: d["index"])
    better = _better(measure)
    best = None
    for d in finished:
        score = d["mean"][measure]
        if math.isnan(score):
            continue
        if best is None or better(score, best["mean"][measure]):
            best = d
    order = sorted((d for d in finished if not math.isnan(d["mean"][measure])),
                   key=lambda d: (d["mean"][measure] * (-1 if better(1, 0) else 1), d["index"]))
    for d in finished:
        d["rank"] = None
    for r, d in enumerate(order, start=1):
        d["rank"] = r
    return {
        "algo": name, "engine": engine, "measure": measure,
        "grid": {k_: list(v) for k_, v in grid.items()},
        "n_folds": n_folds, "seed": seed, "k": k, "threshold": threshold,
        "cells": finished,
        "best_index": None if best is None else best["index"],
        "best_params": None if best is None else {**base, **best["params"]},
        "best_score": None if best is None else best["mean"][measure],
        "cv_results": cv_results(finished, n_folds, k),
        "stopped": len(finished) < n_cells,
    }


def cv_results(cells: list[dict], n_folds: int, k: int = 10) -> dict:
    """The cells as ``GridSearchCV.cv_results``: ``split{i}_test_{m}``, ``mean_test_{m}``,
    ``std_test_{m}``, ``rank_test_{m}``, ``mean_fit_time``... , ``params``, ``param_{name}``."""
    out: dict[str, list] = {}
    quality = [m for m in _present([f for c in cells for f in c["folds"]], k)
               if m not in TIME_MEASURES]
    for m in quality:
        for i in range(n_folds):
            out[f"split{i}_test_{m}"] = [c["folds"][i][m] for c in cells]
        out[f"mean_test_{m}"] = [c["mean"][m] for c in cells]
        out[f"std_test_{m}"] = [c["std"][m] for c in cells]
        means = np.array(out[f"mean_test_{m}"], dtype=np.float64)
        key = -means if m.split("@")[0] in HIGHER_IS_BETTER else means
        order = np.argsort(key, kind="stable")
        rank = np.empty(len(cells), dtype=int)
        rank[order] = np.arange(1, len(cells) + 1)
        out[f"rank_test_{m}"] = rank.tolist()
    for m in TIME_MEASURES:
        out[f"mean_{m}"] = [c["mean"][m] for c in cells]
        out[f"std_{m}"] = [c["std"][m] for c in cells]
    out["params"] = [c["params"] for c in cells]
    names = list(dict.fromkeys(n for c in cells for n in c["params"]))
    for n in names:
        out[f"param_{n}"] = [c["params"].get(n) for c in cells]
    return out


def grid_table(result: dict) -> "pd.DataFrame":
    """One row per finished cell: grid parameters, mean/std of each measure, rank."""
    import pandas as pd

    rows = []
    for c in result["cells"]:
        row = dict(c["params"])
        for m, v in c["mean"].items():
            row[f"mean_{m}"] = v
        for m, v in c["std"].items():
            row[f"std_{m}"] = v
        row["rank"] = c["rank"]
        row["best"] = c["index"] == result["best_index"]
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- learning curve
def curve_epochs(n_epochs: int, max_points: int = 8) -> list[int]:
    """The epochs refitted when the engine has no per-epoch callback: 1, n_epochs and up to
    ``max_points`` in between, evenly spread."""
    n_epochs = int(n_epochs)
    if n_epochs <= max_points:
        return list(range(1, n_epochs + 1))
    pts = np.unique(np.round(np.linspace(1, n_epochs, max_points)).astype(int))
    return [int(e) for e in pts]


def _split_once(ratings, seed: int, test_size: float):
    from surprise.model_selection import train_test_split

    return train_test_split(ratings.to_surprise(), test_size=test_size, random_state=seed,
                            shuffle=True)


def _curve_point(ratings, name, params, engine, seed, test_size, epochs) -> tuple[int, float,
                                                                                   float]:
    trainset, testset = _split_once(ratings, seed, test_size)
    algo = make_algo(name, {**params, "n_epochs": epochs}, engine)
    algo.fit(trainset)
    check_fitted(algo, name, epoch=epochs)
    return epochs, rmse(algo.test(trainset.build_testset())), rmse(algo.test(testset))


class _StopCurve(Exception):
    pass


def _has_epoch_callback(algo) -> bool:
    import inspect

    try:
        return "epoch_callback" in inspect.signature(algo.fit).parameters
    except (TypeError, ValueError):
        return False


def _curve_in_one_pass(algo, name, trainset, testset, per_epoch, should_stop):
    """Fit once with the engine's per-epoch callback; ``per_epoch(epoch, train, test)``."""
    from .fast import trainset_arrays

    tr_u, tr_i, tr_r = trainset_arrays(trainset)
    te_u = np.array([_inner(trainset.to_inner_uid, u) for u, _, _ in testset], dtype=np.int64)
    te_i = np.array([_inner(trainset.to_inner_iid, i) for _, i, _ in testset], dtype=np.int64)
    te_r = np.array([r for _, _, r in testset], dtype=np.float64)
    stop = should_stop or (lambda: False)

    def cb(epoch, model):
        check_fitted(model, name, epoch=int(epoch))
        train = rmse_arrays(tr_r, model.predict_arrays(tr_u, tr_i))
        test = rmse_arrays(te_r, model.predict_arrays(te_u, te_i))
        per_epoch(int(epoch), train, test)
        if stop():
            raise _StopCurve

    try:
        algo.fit(trainset, epoch_callback=cb)
    except _StopCurve:
        pass


def _inner(fn, raw) -> int:
    """Inner id, or -1 (unknown: the engine's default prediction) when not in the trainset."""
    try:
        return fn(raw)
    except ValueError:
        return -1


def learning_curve(ratings, name: str, params: dict | None = None, engine: str = "surprise",
                   seed: int = 0, test_size: float = 0.2, max_points: int = 8,
                   callback: Callable[[dict], None] | None = None, n_jobs: int = 1,
                   should_stop: Callable[[], bool] | None = None,
                   backend: str = "processes") -> dict:
    """Train and test RMSE against epochs on one seeded split (Surprise's ``train_test_split``).

    Each point equals fitting a fresh model with ``n_epochs=e`` (same seed, same split).
    With the fast engine (``fit(trainset, epoch_callback=cb)``) every epoch 1..n_epochs comes
    from one fit; with Surprise's the model is refitted at ``curve_epochs(n_epochs, max_points)``.
    ``callback(point)`` gets ``{"epoch", "train_rmse", "test_rmse"}`` as each point is done.
    """
    spec = get_spec(name)
    if not spec.supports_curve:
        raise InputError("learning curves are for svd and nmf", value=name)
    if not 0.0 < float(test_size) < 1.0:
        raise InputError("test size must be between 0 and 1", value=test_size)
    full = normalize_params(spec.name, params)
    n_epochs = full["n_epochs"]
    probe = make_algo(spec.name, full, engine)
    points: list[tuple[int, float, float]] = []

    def add(epoch, train, test):
        points.append((epoch, train, test))
        if callback is not None:
            callback({"epoch": epoch, "train_rmse": train, "test_rmse": test})

    if engine == "fast" and _has_epoch_callback(probe) and hasattr(probe, "predict_arrays"):
        trainset, testset = _split_once(ratings, seed, test_size)
        check_fit_input(spec.name, ratings)
        _curve_in_one_pass(probe, spec.name, trainset, testset, add, should_stop)
        method = "callback"
    else:
        check_fit_input(spec.name, ratings)
        tasks = [(_curve_point, (ratings, spec.name, full, engine, seed, test_size, e))
                 for e in curve_epochs(n_epochs, max_points)]
        with contextlib.closing(_execute(tasks, n_jobs, backend, should_stop)) as results:
            for _, pt in results:
                add(*pt)
        method = "refit"
    points.sort()
    return {"algo": spec.name, "params": full, "engine": engine, "seed": seed,
            "test_size": float(test_size), "epochs": [p[0] for p in points],
            "train_rmse": [p[1] for p in points], "test_rmse": [p[2] for p in points],
            "method": method}


# ---------------------------------------------------------------------- reference rows
#: The trivial predictors every CV and grid result is compared with.
REFERENCES = ("globalmean", "baseline")
_REFERENCE_CACHE: dict[tuple, list[dict]] = {}
_REFERENCE_LOCK = threading.Lock()
_REFERENCE_PENDING: dict[tuple, threading.Lock] = {}   # key -> lock held while it is computed


def reference_results(ratings, n_folds: int = 5, seed: int = 0, k: int = 10,
                      threshold: float | None = None, protocol: str = DEFAULT_PROTOCOL,
                      relevant: str = DEFAULT_RELEVANT) -> list[dict]:
    """``cross_validate`` results of the global mean (r̂ = μ) and Surprise's ``BaselineOnly``
    (r̂ = μ + b_u + b_i, ALS defaults) on the same folds as any model run with the same
    ``n_folds`` and ``seed``: the rows a class compares MF with. Cached per data and settings
    in this process (they are cheap but asked for on every run)."""
    threshold = check_threshold(threshold, ratings)
    key = (_fingerprint(ratings), int(n_folds), int(seed), int(k), float(threshold), protocol,
           relevant)
    with _REFERENCE_LOCK:
        hit = _REFERENCE_CACHE.get(key)
        if hit is None:   # one computation per key: sessions asking at once wait for it
            hit = _REFERENCE_PENDING.setdefault(key, threading.Lock())
    if isinstance(hit, list):
        return hit
    with hit:
        with _REFERENCE_LOCK:
            done = _REFERENCE_CACHE.get(key)
        if done is not None:
            return done
        engine = "fast" if fast_available() else "surprise"   # the same numbers, no Trainset
        out = [cross_validate(ratings, name, {}, engine, n_folds=n_folds, seed=seed, k=k,
                              threshold=threshold, protocol=protocol, relevant=relevant)
               for name in REFERENCES]
        with _REFERENCE_LOCK:
            if len(_REFERENCE_CACHE) > 16:
                _REFERENCE_CACHE.clear()
            _REFERENCE_CACHE[key] = out
            _REFERENCE_PENDING.pop(key, None)
    return out


def comparison_table(results: list[dict], references: list[dict] | None = None) -> "pd.DataFrame":
    """One row per algorithm (then the reference rows): mean RMSE, MAE and ranking measures
    over folds, with undefined ranking metrics written out (``undefined_text``)."""
    import pandas as pd

    everything = list(results) + list(references or [])
    if not everything:
        return pd.DataFrame()
    k = everything[0]["k"]
    shown = [m for m in measure_names(k) if m not in TIME_MEASURES
             and any(m in r["mean"] for r in everything)]
    rows = []
    for res, kind in [(r, "model") for r in results] + [(r, "reference")
                                                        for r in references or []]:
        t = res["threshold"]
        row = {"algorithm": res["label"], "kind": kind}
        for m in shown:      # "—": the measure does not apply (no RMSE for a score)
            row[measure_label(m)] = (display_value(res["mean"][m], m, t) if m in res["mean"]
                                     else "—")
        rows.append(row)
    return pd.DataFrame(rows)


def indistinct_measures(results: list[dict]) -> list[str]:
    """Ranking measures that cannot tell the algorithms of ``results`` apart: the same mean for
    all, or every gap between means smaller than the spread over folds (the largest std).
    Needs two results or more; undefined measures are left out."""
    if len(results) < 2:
        return []
    k = results[0]["k"]
    out = []
    for m in ranking_measures(k):
        if not all(m in r["mean"] for r in results):
            continue
        means = np.array([r["mean"][m] for r in results], dtype=np.float64)
        stds = np.array([r["std"][m] for r in results], dtype=np.float64)
        if np.isnan(means).any():
            continue
        gap = float(means.max() - means.min())
        if gap == 0.0 or gap < float(np.nanmax(stds)):
            out.append(m)
    return out


def auto_jobs(n_ratings: int, n_tasks: int, max_jobs: int = 2, engine: str = "surprise") -> int:
    """Workers worth using: 1 for small runs (starting worker processes costs ~1 s and Surprise
    builds each fold's trainset in Python anyway), else up to ``max_jobs`` (the machine's cores).

    Measured (recsys/bench/evaluate.py): SVD, 500 users of ml-100k (53k ratings), 5 folds: 2.6 s
    in one process, 1.7 s on two warm worker processes, 3.1 s when the workers must start.
    """
    import os

    cores = os.cpu_count() or 1
    if n_tasks <= 1 or cores <= 1 or n_ratings * n_tasks < 300_000:
        return 1
    if engine == "fast":   # already fast, and parallel inside a fit beyond 1M ratings
        return 1
    return int(min(max_jobs, cores, n_tasks))
