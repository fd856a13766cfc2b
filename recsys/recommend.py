"""Top-N recommendations and similar items, vectorised over all items.

Scores: ``score = μ + b_u + b_i + Q p_u`` (biased; ``Q p_u`` unbiased) for every item at once, and
``est = clip(score)`` as ``predict`` would report it.

Ranking: by the clipped estimate, ties broken by the unclipped score, then by inner item id (the
order of first appearance in the ratings = Surprise's inner id, so the order does not depend on how
raw ids sort as strings). Clipping is monotone, so this is the same as sorting by the unclipped
score, then inner id.

Last-digit agreement with ``predict``: the vectorised product (BLAS gemv) may differ from
Surprise's per-pair ``np.dot`` in the last bit, so the few candidates within a hair of the cut are
re-scored with exactly Surprise's operations (``recsys.explain.surprise_estimate``). The
reported ``est`` and ``score`` therefore equal ``algo.predict(u, i).est`` (and its unclipped
value) bit for bit, and ``recommend`` agrees with ``explain`` to the last digit.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError
from .explain import check_aligned, model_parts, surprise_estimate

METRICS = ("cosine", "dot", "euclidean")

_TOP_COLUMNS = ["rank", "item", "title", "year", "est", "score", "n_ratings", "mean_rating"]


# ---------------------------------------------------------------------------- scoring
def user_scores(parts, u: int | None) -> np.ndarray:
    """Unclipped scores of user ``u`` (inner id) for all items, vectorised (BLAS precision).

    ``u`` None: a user the model has not seen (cold start, as Surprise predicts it): μ + b_i
    for a biased model, the global mean μ (Surprise's default prediction) for an unbiased one.
    """
    if u is None:
        if parts.biased:
            return parts.mu + np.asarray(parts.bi, dtype=np.float64)
        return np.full(len(parts.qi), float(parts.mu))
    dots = parts.qi @ parts.pu[u]
    if not parts.biased:
        return np.asarray(dots, dtype=np.float64)
    return (parts.mu + parts.bu[u]) + parts.bi + dots


def _rank_row(parts, u: int, scores: np.ndarray, n: int):
    """Best ``n`` items of one user's score row (-inf = excluded), exact Surprise values.

    Returns (inner items, exact unclipped scores), best first.
    """
    ok = np.isfinite(scores)
    n_ok = int(ok.sum())
    n = min(int(n), n_ok)
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    if n < len(scores):
        part = np.argpartition(-scores, n - 1)[:n]
        cut = scores[part].min()
    else:
        cut = scores[ok].min()
    # Everything within a few ulps of the cut could swap places once scored exactly.
    tol = 1e-9 * max(1.0, abs(float(cut)))
    cand = np.flatnonzero(scores >= cut - tol)
    exact = np.array([_exact(parts, u, int(i)) for i in cand], dtype=np.float64)
    order = np.lexsort((cand, -exact))[:n]
    return cand[order], exact[order]


def _exact(parts, u, i) -> float:
    est = surprise_estimate(parts, u, i)
    return float(parts.mu if est is None else est)   # unbiased cold start: default prediction


def _eligible_mask(ratings, min_ratings: int) -> np.ndarray:
    counts = ratings.ratings_per_item()
    return counts >= int(min_ratings)


def _rated_items(ratings, u: int) -> np.ndarray:
    return ratings.items[ratings.users == u]


def top_n_inner(algo, ratings, u: int | None, n: int = 10, *, exclude_rated: bool = True,
                min_ratings: int = 0, parts=None, eligible=None, rated=None):
    """Array form of ``top_n`` for inner user ``u``: (inner items, est clipped, score unclipped).

    ``parts`` and ``rated`` let a user outside ``ratings`` use this same path (``recsys.foldin``:
    a folded-in user as the only user of ``parts``, ``rated`` their inner items; ``u`` None for
    the cold start).
    """
    parts = parts or model_parts(algo)
    scores = user_scores(parts, u)
    if eligible is None:
        eligible = _eligible_mask(ratings, min_ratings)
    scores = np.where(eligible, scores, -np.inf)
    if exclude_rated:
        scores[_rated_items(ratings, u) if rated is None else np.asarray(rated, int)] = -np.inf
    items, exact = _rank_row(parts, u, scores, n)
    lo, hi = parts.rating_scale
    return items, np.clip(exact, lo, hi), exact


def top_n_all(algo, ratings, n: int = 10, *, exclude_rated: bool = True, min_ratings: int = 0,
              block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-n inner items and clipped estimates for every user: two (n_users, n) arrays.

    Rows with fewer than n candidates are padded with item -1 and est NaN. Scores are computed
    a block of users at a time (one matrix product per block).
    """
    check_aligned(algo, ratings)
    parts = model_parts(algo)
    lo, hi = parts.rating_scale
    eligible = _eligible_mask(ratings, min_ratings)
    items_out = np.full((ratings.n_users, n), -1, dtype=np.int64)
    est_out = np.full((ratings.n_users, n), np.nan)
    order = np.argsort(ratings.users, kind="stable")
    bounds = np.searchsorted(ratings.users[order], np.arange(ratings.n_users + 1))
    for start in range(0, ratings.n_users, block):
        stop = min(start + block, ratings.n_users)
        s = parts.pu[start:stop] @ parts.qi.T
        if parts.biased:
            s = s + (parts.mu + parts.bu[start:stop])[:, None] + parts.bi[None, :]
        s[:, ~eligible] = -np.inf
        for r, u in enumerate(range(start, stop)):
            row = s[r]
            if exclude_rated:
                row[ratings.items[order[bounds[u]:bounds[u + 1]]]] = -np.inf
            items, exact = _rank_row(parts, u, row, n)
            items_out[u, :len(items)] = items
            est_out[u, :len(items)] = np.clip(exact, lo, hi)
    return items_out, est_out


def top_n(algo, ratings, raw_user, n: int = 10, exclude_rated: bool = True,
          min_ratings: int = 0) -> pd.DataFrame:
    """The n items with the highest predicted rating for ``raw_user``.

    Columns: rank (1..), item (raw id), title, year, est (clipped, = predict().est), score
    (unclipped), n_ratings, mean_rating. ``exclude_rated`` drops items the user rated;
    ``min_ratings`` drops items with fewer ratings. Unknown user: InputError.
    """
    if int(n) < 1:
        raise InputError("n must be at least 1", value=n)
    check_aligned(algo, ratings)
    u = ratings.user_inner(raw_user)
    return top_n_frame(algo, ratings, u, int(n), exclude_rated=exclude_rated,
                       min_ratings=min_ratings)


def top_n_frame(algo, ratings, u: int | None, n: int, *, exclude_rated: bool = True,
                min_ratings: int = 0, parts=None, rated=None) -> pd.DataFrame:
    """``top_n``'s table for inner user ``u`` (arguments as ``top_n_inner``)."""
    items, est, score = top_n_inner(algo, ratings, u, int(n), exclude_rated=exclude_rated,
                                    min_ratings=min_ratings, parts=parts, rated=rated)
    stats = ratings.item_stats()
    out = stats.iloc[items][["item", "title", "year", "n_ratings", "mean_rating"]]
    out = out.reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(items) + 1))
    out["est"] = est
    out["score"] = score
    return out[_TOP_COLUMNS]


def user_top_rated(ratings, raw_user, n: int | None = 10) -> pd.DataFrame:
    """The user's own ratings, highest first (ties: inner item id); n None = all of them.

    Columns: item, title, year, rating, n_ratings, mean_rating.
    """
    u = ratings.user_inner(raw_user)
    mask = ratings.users == u
    items = ratings.items[mask]
    vals = ratings.ratings[mask].astype(np.float64)
    order = np.lexsort((items, -vals))
    if n is not None:
        order = order[:int(n)]
    stats = ratings.item_stats()
    out = stats.iloc[items[order]][["item", "title", "year", "n_ratings", "mean_rating"]]
    out = out.reset_index(drop=True)
    out.insert(3, "rating", vals[order])
    return out


# ---------------------------------------------------------------------------- similar items
def item_similarities(qi: np.ndarray, i: int, metric: str = "cosine") -> np.ndarray:
    """Similarity of every item to item ``i`` from the item factors (larger = more similar).

    cosine: q_jᵀq_i / (|q_j| |q_i|), 0 where a norm is 0; dot: q_jᵀq_i; euclidean: -|q_j - q_i|
    (negated distance, so that larger is closer for every metric).
    """
    if metric not in METRICS:
        raise InputError(f"unknown metric (choose {', '.join(METRICS)})", value=metric)
    q = qi[i]
    if metric == "euclidean":
        return -np.sqrt(np.maximum(((qi - q) ** 2).sum(axis=1), 0.0))
    dots = qi @ q
    if metric == "dot":
        return dots
    norms = np.linalg.norm(qi, axis=1) * np.linalg.norm(q)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def similar_inner(qi: np.ndarray, i: int, n: int = 10, metric: str = "cosine",
                  eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inner ids and scores of the n items most similar to ``i`` (excluded), best first.

    Ties: inner id. ``eligible`` (bool per item) restricts the candidates.
    """
    sims = item_similarities(qi, i, metric)
    keep = np.ones(len(sims), dtype=bool) if eligible is None else eligible.copy()
    keep[i] = False
    cand = np.flatnonzero(keep)
    order = np.lexsort((cand, -sims[cand]))[:int(n)]
    return cand[order], sims[cand[order]]


def similar_items(algo, ratings, raw_item, n: int = 10, metric: str = "cosine",
                  min_ratings: int = 0) -> pd.DataFrame:
    """Items nearest to ``raw_item`` in factor space, the query excluded.

    Columns: item, title, score, n_ratings (plus year, mean_rating). score: cosine similarity,
    dot product, or for ``euclidean`` the distance |q_j - q_i| (smaller = closer; rows still
    best first).
    """
    if int(n) < 1:
        raise InputError("n must be at least 1", value=n)
    check_aligned(algo, ratings)
    i = ratings.item_inner(raw_item)
    parts = model_parts(algo)
    eligible = _eligible_mask(ratings, min_ratings)
    items, sims = similar_inner(parts.qi, i, int(n), metric, eligible)
    stats = ratings.item_stats()
    out = stats.iloc[items][["item", "title", "year", "n_ratings", "mean_rating"]]
    out = out.reset_index(drop=True)
    out.insert(2, "score", -sims if metric == "euclidean" else sims)
    return out[["item", "title", "score", "n_ratings", "year", "mean_rating"]]


# ---------------------------------------------------------------------------- search
def search_titles(ratings, query: str, limit: int | None = None) -> pd.DataFrame:
    """Items whose title or raw id contains ``query`` (case-insensitive, partial, literal).

    Exact raw-id matches come first, then by number of ratings (most first), then inner id.
    Columns: item, title, year, n_ratings, mean_rating, label ("title (year) [id]").
    """
    stats = ratings.item_stats()
    q = str(query).strip()
    if q:
        mask = (stats["title"].str.contains(q, case=False, regex=False)
                | stats["item"].astype(str).str.lower().eq(q.lower()))
        stats = stats[mask.to_numpy()]
    exact = (stats["item"].astype(str) == q).to_numpy()
    order = np.lexsort((stats.index.to_numpy(), -stats["n_ratings"].to_numpy(), ~exact))
    out = stats.iloc[order][["item", "title", "year", "n_ratings", "mean_rating"]]
    if limit is not None:
        out = out.head(int(limit))
    out = out.reset_index(drop=True)
    out["label"] = item_labels(out)
    return out


def item_labels(frame: pd.DataFrame) -> pd.Series:
    """'Title (year) [id]' for each row of a frame with item, title, year columns."""
    year = frame["year"].astype("string").fillna("")
    year = year.where(year == "", " (" + year + ")")
    return (frame["title"].astype(str) + year + " [" + frame["item"].astype(str) + "]") \
        .astype(object)


def default_min_ratings(ratings, target: int = 20, keep: int = 200) -> int:
    """The default minimum ratings per movie for maps and lists: the largest of ``target``
    (20), 10, 5 and 2 that still keeps ``keep`` (200) movies, or half of them when there are
    fewer than 400; else 1 (every movie). 20 on ml-100k (939 of 1,682 movies)."""
    counts = ratings.ratings_per_item()
    need = min(keep, len(counts) // 2)
    for m in (target, 10, 5, 2):
        if int((counts >= m).sum()) >= max(need, 2):
            return m
    return 1


def mark_rated(frame: pd.DataFrame, ratings, raw_user) -> pd.DataFrame:
    """``frame`` (a list of items, column ``item``) with a column ``rated``: the user's own
    rating of each item, NaN when they have not rated it."""
    u = ratings.user_inner(raw_user)
    mine = ratings.users == u
    own = dict(zip(ratings.item_ids[ratings.items[mine]], ratings.ratings[mine].astype(float)))
    out = frame.copy()
    out["rated"] = out["item"].map(own).astype(float)
    return out
