"""2-D maps of the item factors q_i: t-SNE (openTSNE, Barnes-Hut) and PCA.

What is mapped (``item_map``): the movies rated at least ``min_ratings`` times (rarely rated
movies keep factors close to their random start, which only adds noise), each as its factor
vector q_i scaled to unit length (``normalise=True``), so that distances on the map follow the
cosine similarity of q_i, the measure the Similar movies page uses.

t-SNE is openTSNE's (Poličar et al., J. Stat. Softw. 2024): measured on ml-100k it gives the
same trustworthiness as scikit-learn's t-SNE (0.80 at 10 neighbours) about 8× faster, reports
progress through a callback (no capture of the process-wide stdout, so maps of different
sessions run side by side), and can be stopped between iterations. Deterministic for a seed:
PCA initialisation, one thread. PCA uses the full SVD with signs fixed.

``genre_agreement`` measures a map: how often a movie's k nearest map neighbours share a genre
with it, against the chance that two random mapped movies do.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError
from .explain import check_aligned, model_parts
from .recommend import default_min_ratings  # noqa: F401  (re-exported for the map page)

METHODS = ("tsne", "pca")
#: BLAS/OpenMP threads for the maps. One thread: on a busy 2-core machine spinning worker threads
#: made t-SNE of ml-100k 4x slower and PCA's SVD 70x slower; the matrices are small, so extra
#: threads gain little even on an idle machine.
TSNE_THREADS = 1
#: Iterations of openTSNE's early-exaggeration phase (its default), counted in ``n_iter``.
EARLY_ITER = 250


class MapStopped(Exception):
    """``should_stop()`` turned true while t-SNE ran."""


def most_rated(ratings, n_items: int | None) -> np.ndarray:
    """Inner ids of the n most-rated items (ties: inner id); all items when n is None."""
    counts = ratings.ratings_per_item()
    order = np.lexsort((np.arange(len(counts)), -counts))
    if n_items is None:
        return order
    if int(n_items) < 2:
        raise InputError("a map needs at least 2 items", value=n_items)
    return order[:int(n_items)]


def project(X: np.ndarray, method: str = "tsne", *, perplexity: float = 30.0,
            n_iter: int = 750, seed: int = 0, callback=None,
            should_stop=None) -> tuple[np.ndarray, list[str]]:
    """(n, 2) coordinates of the rows of X, and notes about parameters that had to change.

    ``n_iter``: total t-SNE iterations, the first ``EARLY_ITER`` (250) with early exaggeration.
    ``callback(done, total)`` is called as t-SNE iterates (every 25 iterations) and at the end;
    ``should_stop()`` is polled at the same points (MapStopped when it turns true). Runs on one
    BLAS/OpenMP thread (see ``TSNE_THREADS``).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(TSNE_THREADS):
        return _project(X, method, perplexity, n_iter, seed, callback, should_stop)


def _project(X, method, perplexity, n_iter, seed, callback, should_stop):
    if method not in METHODS:
        raise InputError(f"unknown map method (choose {', '.join(METHODS)})", value=method)
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    notes: list[str] = []
    if n < 2:
        raise InputError("a map needs at least 2 items", value=n)
    if method == "pca":
        if X.shape[1] < 2:
            xy = np.column_stack([X[:, 0] - X[:, 0].mean(), np.zeros(n)])
        else:
            xy = pca_2d(X)
        xy = _fix_signs(xy)
        if callback:
            callback(1, 1)
        return xy, notes
    if int(n_iter) < EARLY_ITER:
        raise InputError(f"t-SNE needs at least {EARLY_ITER} iterations", value=n_iter)
    if not perplexity > 0:
        raise InputError("perplexity must be positive", value=perplexity)
    if 3 * perplexity >= n:
        new = max(1.0, (n - 1) / 3.0)
        notes.append(f"perplexity {perplexity:g} is too large for {n} items; using {new:g}")
        perplexity = new
    return _tsne(X, float(perplexity), int(n_iter), int(seed), callback, should_stop), notes


def _tsne(X, perplexity, n_iter, seed, callback, should_stop):
    import openTSNE
    from openTSNE.callbacks import Callback
    from openTSNE.tsne import OptimizationInterrupt

    total = n_iter
    early = min(EARLY_ITER, n_iter)
    done = [0]

    class Report(Callback):
        def __init__(self, offset):
            self.offset = offset

        def __call__(self, iteration, error, embedding):
            done[0] = self.offset + int(iteration)
            if callback:
                callback(min(done[0], total), total)
            return bool(should_stop and should_stop())

    init = openTSNE.initialization.pca(X, random_state=seed)
    if callback:
        callback(0, total)
    affinities = openTSNE.affinity.PerplexityBasedNN(X, perplexity=perplexity, n_jobs=1,
                                                    random_state=seed, verbose=False)
    emb = openTSNE.TSNEEmbedding(init, affinities, n_jobs=1, random_state=seed,
                                 negative_gradient_method="bh", verbose=False)
    try:
        emb = emb.optimize(n_iter=early, exaggeration=12, momentum=0.5,
                           callbacks=[Report(0)], callbacks_every_iters=25,
                           propagate_exception=True)
        if n_iter > early:
            emb = emb.optimize(n_iter=n_iter - early, momentum=0.8,
                               callbacks=[Report(early)], callbacks_every_iters=25,
                               propagate_exception=True)
    except OptimizationInterrupt:
        raise MapStopped("t-SNE stopped") from None
    if callback:
        callback(total, total)
    return np.asarray(emb, dtype=np.float64)


def pca_2d(X: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows of X: (X - mean) V[:, :2] from the full
    SVD, as scikit-learn's ``PCA(2, svd_solver="full")`` computes them (signs fixed by
    ``_fix_signs``). numpy only: no scikit-learn import on the map page."""
    Xc = X - X.mean(axis=0)
    u, s, _ = np.linalg.svd(Xc, full_matrices=False)
    return u[:, :2] * s[:2]


def _fix_signs(xy: np.ndarray) -> np.ndarray:
    """Flip each axis so its largest-magnitude coordinate is positive (PCA's sign is arbitrary)."""
    idx = np.argmax(np.abs(xy), axis=0)
    signs = np.sign(xy[idx, np.arange(xy.shape[1])])
    signs[signs == 0] = 1.0
    return xy * signs


def primary_genre(genres: pd.Series) -> pd.Series:
    """The first of the '|'-joined genres ('(none)' when empty)."""
    first = genres.fillna("").astype(str).str.split("|").str[0].str.strip()
    return first.where(first != "", "(none)")


def item_map(algo, ratings, method: str = "tsne", perplexity: float = 30.0, n_iter: int = 750,
             seed: int = 0, n_items: int | None = None, callback=None, min_ratings: int = 0,
             normalise: bool = False, should_stop=None) -> pd.DataFrame:
    """A 2-D map of the item factors of the most-rated ``n_items`` items (all when None) among
    those with at least ``min_ratings`` ratings; ``normalise`` scales each q_i to unit length
    first (distances then follow the cosine of q_i).

    Columns: item, title, year, x, y, n_ratings, mean_rating, bi, genres, genre (the first
    genre), inner (inner item id). Rows: most-rated first. ``df.attrs["notes"]`` lists parameter
    changes (e.g. a perplexity too large for few items). InputError when fewer than 2 items
    pass ``min_ratings``.
    """
    check_aligned(algo, ratings)
    parts = model_parts(algo)
    inner = most_rated(ratings, None)
    counts = ratings.ratings_per_item()
    inner = inner[counts[inner] >= int(min_ratings)]
    if n_items is not None:
        if int(n_items) < 2:
            raise InputError("a map needs at least 2 items", value=n_items)
        inner = inner[:int(n_items)]
    if len(inner) < 2:
        raise InputError(f"fewer than 2 movies have at least {int(min_ratings)} ratings: lower "
                         "the minimum", value=int(min_ratings))
    X = np.asarray(parts.qi[inner], dtype=np.float64)
    if normalise:
        norm = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norm > 0, norm, 1.0)
    xy, notes = project(X, method, perplexity=perplexity, n_iter=n_iter, seed=seed,
                        callback=callback, should_stop=should_stop)
    stats = ratings.item_stats().iloc[inner].reset_index(drop=True)
    out = pd.DataFrame({
        "item": stats["item"], "title": stats["title"], "year": stats["year"],
        "x": xy[:, 0], "y": xy[:, 1],
        "n_ratings": stats["n_ratings"], "mean_rating": stats["mean_rating"],
        "bi": np.asarray(parts.bi, dtype=np.float64)[inner] if parts.biased else 0.0,
        "genres": stats["genres"], "genre": primary_genre(stats["genres"]),
        "inner": inner,
    })
    out.attrs["notes"] = notes
    return out


def genre_agreement(xy: np.ndarray, genres, k: int = 10) -> dict | None:
    """How often a point's ``k`` nearest neighbours on the map share a genre with it
    (``share``), against the chance that two distinct random points do (``chance``, exact over
    all pairs). Movies without a genre are left out; None when fewer than k + 2 have one.
    Genres are "|"-joined strings."""
    from scipy.spatial import cKDTree

    sets = [frozenset(g for g in str(s).split("|") if g) for s in genres]
    keep = np.array([bool(s) for s in sets])
    if keep.sum() < k + 2:
        return None
    xy = np.asarray(xy, dtype=np.float64)[keep]
    sets = [s for s, kk in zip(sets, keep) if kk]
    names = sorted(set().union(*sets))
    onehot = np.zeros((len(sets), len(names)), dtype=bool)
    col = {g: j for j, g in enumerate(names)}
    for i, s in enumerate(sets):
        onehot[i, [col[g] for g in s]] = True
    nb = cKDTree(xy).query(xy, k=k + 1)[1][:, 1:]     # each point's k nearest, itself first
    share = float(np.mean((onehot[:, None, :] & onehot[nb]).any(axis=2)))
    m = onehot.astype(np.float64)
    overlap = (m @ m.T) > 0
    n = len(sets)
    chance = float((overlap.sum() - np.trace(overlap)) / (n * (n - 1)))
    return {"share": share, "chance": chance, "k": k, "n": n}


def place_labels(xy: np.ndarray, n: int, *, width: float = 0.14, height: float = 0.035) -> list:
    """Indices (rows of ``xy``, taken in order: most-rated first) of up to ``n`` points whose
    labels do not overlap: a label is a box ``width`` × ``height`` of the map's extent centred
    above its point; a point is skipped when its box meets a box already placed."""
    xy = np.asarray(xy, dtype=np.float64)
    if len(xy) == 0 or n <= 0:
        return []
    span = np.ptp(xy, axis=0)
    span[span == 0] = 1.0
    w, h = width * span[0], height * span[1]
    placed: list[int] = []
    boxes = np.empty((0, 2))
    for i in range(len(xy)):
        c = xy[i] + np.array([0.0, h])
        if len(boxes) and np.any((np.abs(boxes[:, 0] - c[0]) < w) &
                                 (np.abs(boxes[:, 1] - c[1]) < h)):
            continue
        placed.append(i)
        boxes = np.vstack([boxes, c])
        if len(placed) == n:
            break
    return placed
