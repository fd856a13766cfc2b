"""Top-N evaluation over the whole catalogue ("full catalogue" protocol), one code path for all
models.

Two protocols rank a test user's items (``PROTOCOLS``):

- ``"full"`` (the default): the user's top-k is taken from **every item of the training fold the
  user has not rated there** (the catalogue a real user picks from). Relevant items are the user's
  held-out (test) items: all of them (``relevant="all"``, the implicit view) or those with a true
  rating ≥ ``threshold`` (``relevant="threshold"``, the explicit view).
- ``"test-items"``: only the user's own test items are ranked (``recsys.metrics.ranking_metrics``).
  Every recommendation is then an item the user *did* rate, so the figures are much higher, and
  almost any scoring that follows the user's taste puts the same few items on top: different models
  get nearly the same numbers.

Scores come from ``score_function(algo)``: a function of a block of model inner user ids returning
a (n_users_block × n_items) float64 matrix (μ + b_u + b_i + Q p_u for MF models, μ + b_u + b_i for
BaselineOnly, q_iᵀp_u for ALS/BPR, the popularity count for MostPopular, ...). Users are scored a
block at a time (one matrix product), their training items set to −inf, and the top-k found with
``np.argpartition``; no Python loop runs over items.

Ordering: by score, ties by the lower model inner item id (first appearance in the training fold),
so the same fold gives the same lists bit for bit.

Metrics, per evaluated user u (a test user known to the model with at least one relevant item);
rel_r = 1 when the item at rank r (1-based) is relevant, R_u = number of relevant test items
(items absent from the training fold count here although no model can recommend them), hits =
Σ_{r≤k} rel_r:

- precision@k = hits / k;
- recall@k = hits / R_u;
- NDCG@k = Σ_{r≤k} rel_r / log2(r + 1), divided by the ideal DCG of min(k, R_u) relevant items
  on top (Järvelin & Kekäläinen 2002, binary gains);
- MAP@k: AP@k = Σ_{r≤k} rel_r · precision@r / min(k, R_u) (the usual ``apk`` definition);
- hit@k = 1 when hits > 0 (hit rate).

Each is the unweighted mean over evaluated users. Over the top-k lists of every test user known to
the model (also those with no relevant item):

- coverage = share of the fold's catalogue (items with a training rating) in anyone's top-k;
- novelty = mean over recommended slots of −log2(popularity), popularity = share of the fold's
  training users who rated the item (Zhou et al. 2010, PNAS 107:4511);
- mean_popularity = mean number of training ratings of the recommended items.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from .errors import InputError

PROTOCOLS = ("full", "test-items")
DEFAULT_PROTOCOL = "full"
RELEVANT = ("threshold", "all")
DEFAULT_RELEVANT = "threshold"
#: per-user means, reported as ``f"{name}@{k}"``
USER_METRICS = ("precision", "recall", "ndcg", "map", "hit")
#: over all lists of a fold
CATALOGUE_METRICS = ("coverage", "novelty", "mean_popularity")
#: score-matrix cells per block (float64: 32 MB)
BLOCK_CELLS = 4_000_000

PROTOCOL_LABELS = {
    "full": "Full catalogue (rank every movie the user has not rated in training)",
    "test-items": "Test items only (rank the user's own held-out movies)",
}
#: two sentences for the page and the CLI help
TEST_ITEMS_CAVEAT = (
    "Ranking only a user's own test items means every recommendation is a movie the user did "
    "watch, so precision and recall are far higher than anything a real top-N list could reach. "
    "Nearly any model that follows the user's taste puts the same few of those items on top, so "
    "the figures barely change from one model to another and cannot tell models apart.")


def check_protocol(protocol) -> str:
    p = str(protocol).strip().lower().replace("_", "-")
    if p not in PROTOCOLS:
        raise InputError(f"unknown protocol; use one of {', '.join(PROTOCOLS)}", value=protocol)
    return p


def check_relevant(relevant) -> str:
    r = str(relevant).strip().lower()
    if r not in RELEVANT:
        raise InputError(f"relevant must be one of {', '.join(RELEVANT)}", value=relevant)
    return r


def metric_names(k: int, protocol: str = DEFAULT_PROTOCOL) -> tuple[str, ...]:
    """Ranking measure names of a fold under ``protocol`` (display order)."""
    if check_protocol(protocol) == "test-items":
        return (f"precision@{k}", f"recall@{k}", f"ndcg@{k}")
    return tuple(f"{m}@{k}" for m in USER_METRICS) + CATALOGUE_METRICS


_LABELS = {"rmse": "RMSE", "mae": "MAE", "fit_time": "fit time (s)", "test_time": "test time (s)",
           "coverage": "coverage", "novelty": "novelty (bits)",
           "mean_popularity": "mean popularity (ratings)"}
_AT = {"precision": "precision", "recall": "recall", "ndcg": "NDCG", "map": "MAP",
       "hit": "hit rate"}


def measure_label(measure: str) -> str:
    """The field's spelling of a measure key: ``ndcg@10`` -> ``NDCG@10``, ``map@10`` ->
    ``MAP@10``, ``hit@10`` -> ``hit rate@10``, ``rmse`` -> ``RMSE``."""
    name, at, k = measure.partition("@")
    if at:
        return f"{_AT.get(name, name)}@{k}"
    return _LABELS.get(measure, measure.replace("_", " "))


# ---------------------------------------------------------------------- scores
def score_function(algo) -> Callable[[np.ndarray], np.ndarray]:
    """``scores(users) -> (len(users), n_items)`` float64 for model inner user ids.

    Models with their own ``score_users`` (MostPopular, ALS, BPR) use it; MF models (``pu``,
    ``qi``; SVD, NMF, fast engine) give μ + b_u + b_i + Q p_u (biased) or Q p_u; SVD++ adds
    |N(u)|^-½ Σ_{j∈N(u)} y_j to p_u; BaselineOnly gives μ + b_u + b_i; the random predictor draws
    N(μ, σ²) scores from its seeded generator. Others raise InputError (no vectorised scores).
    """
    own = getattr(algo, "score_users", None)
    if callable(own):
        return own
    ts = algo.trainset
    mu = float(ts.global_mean)
    pu, qi = getattr(algo, "pu", None), getattr(algo, "qi", None)
    if pu is not None and qi is not None:
        pu = np.asarray(pu, dtype=np.float64)
        qi = np.asarray(qi, dtype=np.float64)
        yj = getattr(algo, "yj", None)
        if yj is not None:          # SVD++: implicit part of the user vector
            pu = pu + _svdpp_implicit(ts, np.asarray(yj, dtype=np.float64))
        biased = bool(getattr(algo, "biased", True))
        bu = np.asarray(algo.bu, dtype=np.float64) if biased else None
        bi = np.asarray(algo.bi, dtype=np.float64) if biased else None

        def mf(users):
            s = pu[users] @ qi.T
            if biased:
                s += (mu + bu[users])[:, None]
                s += bi[None, :]
            return s
        return mf
    from surprise import BaselineOnly

    if isinstance(algo, BaselineOnly):   # (KNNBaseline has biases too, but adds neighbours)
        bu, bi = np.asarray(algo.bu, dtype=np.float64), np.asarray(algo.bi, dtype=np.float64)
        return lambda users: (mu + bu[users])[:, None] + bi[None, :]
    if hasattr(algo, "sigma") and hasattr(algo, "_rng"):   # SeededNormalPredictor
        n_items = ts.n_items
        return lambda users: algo._rng.normal(mu, algo.sigma, size=(len(users), n_items))
    raise InputError(f"{type(algo).__name__} has no vectorised scores for every item; use the "
                     "test-items protocol for it")


def _svdpp_implicit(ts, yj: np.ndarray) -> np.ndarray:
    out = np.zeros((ts.n_users, yj.shape[1]))
    for u, pairs in ts.ur.items():
        if pairs:
            items = np.fromiter((j for j, _ in pairs), dtype=np.int64, count=len(pairs))
            out[u] = yj[items].sum(axis=0) / math.sqrt(len(pairs))
    return out


# ---------------------------------------------------------------------- top-k
def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k highest scores of each row, best first; ties by lower index.

    (n_rows, min(k, n_cols)) int64. −inf scores sort last (callers treat them as no item).
    """
    n_rows, n_cols = scores.shape
    k = min(int(k), n_cols)
    if k == 0 or n_rows == 0:
        return np.zeros((n_rows, k), dtype=np.int64)
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    kth = vals.min(axis=1)
    # rows where items tied with the k-th score were left out: argpartition chose among them by
    # position, so choose again: every score above the k-th, then the lowest indices among those
    # equal to it (vectorised over the ambiguous rows; MostPopular ties in every row alike)
    if k < n_cols:
        amb = np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k)
        if len(amb):
            s = scores[amb]
            cut = kth[amb][:, None]
            above = s > cut
            equal = s == cut
            need = k - above.sum(axis=1)
            chosen = above | (equal & (np.cumsum(equal, axis=1) <= need[:, None]))
            part[amb] = np.nonzero(chosen)[1].reshape(len(amb), k)
        vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1)


# ---------------------------------------------------------------------- the protocol
def full_catalogue_metrics(score, train_users, train_items, test_users, test_items, test_ratings,
                           n_users: int, n_items: int, k: int = 10, threshold: float = 4.0,
                           relevant: str = DEFAULT_RELEVANT,
                           block_cells: int = BLOCK_CELLS) -> dict:
    """The full-catalogue metrics of one train/test split (see the module docstring).

    ``train_users``/``train_items``: model inner ids (0..n_users-1 / 0..n_items-1) of the
    training ratings; ``test_users``/``test_items``: model inner ids of the test ratings, −1 for a
    user or item absent from training; ``test_ratings`` their true values. ``score(users)`` as
    from ``score_function``. Returns ``{"precision@k", "recall@k", "ndcg@k", "map@k", "hit@k",
    "coverage", "novelty", "mean_popularity", "n_users"}``; with no evaluable user the per-user
    metrics are NaN and ``n_users`` is 0.
    """
    k = int(k)
    if k < 1:
        raise InputError("k must be at least 1", value=k)
    relevant = check_relevant(relevant)
    tr_u = np.asarray(train_users, dtype=np.int64)
    tr_i = np.asarray(train_items, dtype=np.int64)
    te_u = np.asarray(test_users, dtype=np.int64)
    te_i = np.asarray(test_items, dtype=np.int64)
    te_r = np.asarray(test_ratings, dtype=np.float64)
    is_rel = np.ones(len(te_r), dtype=bool) if relevant == "all" else te_r >= threshold

    # training items of each user (CSR by user) and popularity
    tr_order = np.argsort(tr_u, kind="stable")
    tr_ptr = np.searchsorted(tr_u[tr_order], np.arange(n_users + 1))
    tr_idx = tr_i[tr_order]
    item_count = np.bincount(tr_i, minlength=n_items).astype(np.float64)
    n_train_users = max(1, int(np.count_nonzero(np.bincount(tr_u, minlength=n_users))))
    self_info = np.full(n_items, np.inf)          # -log2(share of training users who rated i)
    seen = item_count > 0
    self_info[seen] = -np.log2(item_count[seen] / n_train_users)

    # relevant test items per known user (CSR); R_u counts unknown items too
    known_u = te_u >= 0
    n_rel = np.bincount(te_u[known_u], weights=is_rel[known_u], minlength=n_users)
    rel_mask = known_u & is_rel & (te_i >= 0)
    rel_u, rel_i = te_u[rel_mask], te_i[rel_mask]
    rel_order = np.argsort(rel_u, kind="stable")
    rel_ptr = np.searchsorted(rel_u[rel_order], np.arange(n_users + 1))
    rel_idx = rel_i[rel_order]

    users = np.unique(te_u[known_u])          # every test user known to the model
    disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    ideal = np.concatenate([[0.0], np.cumsum(disc)])
    sums = dict.fromkeys(USER_METRICS, 0.0)
    n_eval = 0
    recommended = np.zeros(n_items, dtype=bool)
    slots = 0
    novelty_sum = 0.0
    pop_sum = 0.0
    block = max(1, int(block_cells) // max(1, n_items))
    for start in range(0, len(users), block):
        ub = users[start:start + block]
        s = np.array(score(ub), dtype=np.float64, copy=True)
        if s.shape != (len(ub), n_items):
            raise ValueError(f"score matrix has shape {s.shape}, expected {(len(ub), n_items)}")
        rows, cols = _csr_cells(tr_ptr, tr_idx, ub)
        s[rows, cols] = -np.inf
        top = top_k(s, k)
        finite = np.isfinite(np.take_along_axis(s, top, axis=1))
        rel = np.zeros(s.shape, dtype=bool)
        rows, cols = _csr_cells(rel_ptr, rel_idx, ub)
        rel[rows, cols] = True
        hits = np.take_along_axis(rel, top, axis=1) & finite
        # catalogue statistics over every list
        rec_items = top[finite]
        recommended[rec_items] = True
        slots += len(rec_items)
        novelty_sum += float(self_info[rec_items].sum())
        pop_sum += float(item_count[rec_items].sum())
        # per-user metrics over users with a relevant item
        r_u = n_rel[ub]
        keep = r_u > 0
        if not keep.any():
            continue
        h = hits[keep].astype(np.float64)
        r_u = r_u[keep]
        n_hits = h.sum(axis=1)
        cut = np.minimum(r_u, k).astype(np.int64)
        prec_at = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
        sums["precision"] += float((n_hits / k).sum())
        sums["recall"] += float((n_hits / r_u).sum())
        sums["ndcg"] += float(((h * disc[:h.shape[1]]).sum(axis=1) / ideal[cut]).sum())
        sums["map"] += float(((prec_at * h).sum(axis=1) / cut).sum())
        sums["hit"] += float((n_hits > 0).sum())
        n_eval += int(keep.sum())
    out = {f"{m}@{k}": (sums[m] / n_eval if n_eval else float("nan")) for m in USER_METRICS}
    n_catalogue = int(np.count_nonzero(item_count))
    out["coverage"] = float(recommended.sum() / n_catalogue) if n_catalogue else float("nan")
    out["novelty"] = novelty_sum / slots if slots else float("nan")
    out["mean_popularity"] = pop_sum / slots if slots else float("nan")
    out["n_users"] = n_eval
    return out


def _csr_cells(ptr: np.ndarray, idx: np.ndarray, users: np.ndarray):
    """(row, column) pairs of the CSR rows ``users`` (row = position in ``users``)."""
    starts, stops = ptr[users], ptr[users + 1]
    counts = stops - starts
    rows = np.repeat(np.arange(len(users)), counts)
    total = int(counts.sum())
    if total == 0:
        return rows, np.zeros(0, dtype=np.int64)
    offs = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, idx[np.repeat(starts, counts) + offs]


# ---------------------------------------------------------------------- one fold
def model_numbering(ratings, train_idx, test_idx):
    """Model inner ids of a fold, as Surprise's Trainset (and ``fast.surprise_numbering``) number
    them: users and items by first appearance in the training list.

    Returns ``(train_u, train_i, test_u, test_i, n_users, n_items)``; test ids are −1 when the
    user or item has no training rating.
    """
    tr_u, u_back = pd.factorize(ratings.users[train_idx], sort=False)
    tr_i, i_back = pd.factorize(ratings.items[train_idx], sort=False)
    umap = np.full(ratings.n_users, -1, dtype=np.int64)
    umap[u_back] = np.arange(len(u_back))
    imap = np.full(ratings.n_items, -1, dtype=np.int64)
    imap[i_back] = np.arange(len(i_back))
    return (tr_u, tr_i, umap[ratings.users[test_idx]], imap[ratings.items[test_idx]],
            len(u_back), len(i_back))


def fold_metrics(algo, ratings, train_idx, test_idx, k: int = 10, threshold: float = 4.0,
                 relevant: str = DEFAULT_RELEVANT) -> dict:
    """``full_catalogue_metrics`` of ``algo`` fitted on ``ratings[train_idx]`` (Surprise Trainset
    or array path: both number ids by first appearance), tested on ``ratings[test_idx]``."""
    tr_u, tr_i, te_u, te_i, n_u, n_i = model_numbering(ratings, train_idx, test_idx)
    ts = algo.trainset
    if ts.n_users != n_u or ts.n_items != n_i:
        raise ValueError("the model's trainset does not match the fold "
                         f"({ts.n_users}x{ts.n_items} vs {n_u}x{n_i})")
    return full_catalogue_metrics(score_function(algo), tr_u, tr_i, te_u, te_i,
                                  ratings.ratings[test_idx], n_u, n_i, k, threshold, relevant)


def predicts_ratings(algo) -> bool:
    """False for models whose scores are not ratings (MostPopular, ALS, BPR): no RMSE/MAE."""
    return not getattr(algo, "scores_not_ratings", False)
