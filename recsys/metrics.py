"""Accuracy and ranking metrics over Surprise predictions (``Prediction(uid, iid, r_ui, est, _)``).

Rating error: ``rmse`` and ``mae`` compute exactly what ``surprise.accuracy`` computes (same
float64 mean), so numbers match Surprise's ``cross_validate`` bit for bit.

Ranking quality (``ranking_metrics``) treats each user's *test* items as the candidates:

- relevant: true rating ``r_ui >= threshold`` (default 4);
- recommended: the user's top-``k`` test items by estimate ``est`` (all of them if the user has
  fewer than ``k``);
- precision@k = hits / number recommended (= min(k, n_test_items));
- recall@k = hits / number relevant;
- NDCG@k with binary gains: DCG = Σ_{rank r ≤ k} rel_r / log2(r + 1), divided by the ideal DCG
  of min(k, n_relevant) relevant items at the top;
- users with no relevant test item are left out of all three averages (no ranking can help or
  hurt them); ``n_users`` counts the users that were averaged. With none, the metrics are NaN;
- ties in ``est`` keep the order in which the predictions are given (a stable sort), so the
  same test set gives the same numbers.

Each metric is the unweighted mean over users.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

RANKING_NAMES = ("precision", "recall", "ndcg")


def _arrays(predictions):
    if len(predictions) == 0:
        return np.zeros(0), np.zeros(0)
    true = np.fromiter((float(p[2]) for p in predictions), dtype=np.float64,
                       count=len(predictions))
    est = np.fromiter((float(p[3]) for p in predictions), dtype=np.float64,
                      count=len(predictions))
    return true, est


def rmse(predictions) -> float:
    """Root mean squared error (as ``surprise.accuracy.rmse``); ValueError when empty."""
    true, est = _arrays(predictions)
    if len(true) == 0:
        raise ValueError("Prediction list is empty.")
    return float(np.sqrt(np.mean((true - est) ** 2)))


def mae(predictions) -> float:
    """Mean absolute error (as ``surprise.accuracy.mae``); ValueError when empty."""
    true, est = _arrays(predictions)
    if len(true) == 0:
        raise ValueError("Prediction list is empty.")
    return float(np.mean(np.abs(true - est)))


def ranking_metrics(predictions, k: int = 10, threshold: float = 4.0) -> dict:
    """``{"precision@k", "recall@k", "ndcg@k", "n_users"}`` over users with a relevant item.

    See the module docstring for the conventions.
    """
    if len(predictions) == 0:
        return ranking_metrics_arrays(np.zeros(0, dtype=object), np.zeros(0), np.zeros(0), k,
                                      threshold)
    users = np.array([p[0] for p in predictions], dtype=object)
    true, est = _arrays(predictions)
    return ranking_metrics_arrays(users, true, est, k, threshold)


def ranking_metrics_arrays(users, true, est, k: int = 10, threshold: float = 4.0) -> dict:
    """``ranking_metrics`` on arrays: one user id (any hashable), true rating and estimate per
    test rating, in test order (the order breaks ties in ``est``)."""
    k = int(k)
    if k < 1:
        raise ValueError("k must be at least 1")
    names = {m: f"{m}@{k}" for m in RANKING_NAMES}
    nan = {names[m]: float("nan") for m in RANKING_NAMES}
    if len(true) == 0:
        return {**nan, "n_users": 0}
    users, _ = pd.factorize(np.asarray(users), sort=False)
    true = np.asarray(true, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    order = np.lexsort((np.arange(len(est)), -est, users))   # by user, est desc, then input order
    u = users[order]
    rel = (true[order] >= threshold)
    n_users_all = int(u.max()) + 1
    # rank within user (0-based)
    start = np.searchsorted(u, np.arange(n_users_all))
    rank = np.arange(len(u)) - start[u]
    in_top = rank < k
    n_items = np.bincount(u, minlength=n_users_all)
    n_rel = np.bincount(u, weights=rel, minlength=n_users_all)
    hits = np.bincount(u, weights=rel & in_top, minlength=n_users_all)
    disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))       # rank r -> 1/log2(r+2)
    dcg = np.bincount(u[in_top], weights=rel[in_top] * disc[rank[in_top]],
                      minlength=n_users_all)
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal_cum[np.minimum(n_rel.astype(np.int64), k)]
    keep = n_rel > 0
    if not keep.any():
        return {**nan, "n_users": 0}
    n_rec = np.minimum(n_items, k)
    return {
        names["precision"]: float(np.mean(hits[keep] / n_rec[keep])),
        names["recall"]: float(np.mean(hits[keep] / n_rel[keep])),
        names["ndcg"]: float(np.mean(dcg[keep] / idcg[keep])),
        "n_users": int(keep.sum()),
    }


def rmse_arrays(true, est) -> float:
    """``rmse`` on arrays (same float64 arithmetic)."""
    d = np.asarray(true, dtype=np.float64) - np.asarray(est, dtype=np.float64)
    return float(np.sqrt(np.mean(d ** 2)))


def mae_arrays(true, est) -> float:
    d = np.asarray(true, dtype=np.float64) - np.asarray(est, dtype=np.float64)
    return float(np.mean(np.abs(d)))
