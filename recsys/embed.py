"""2-D maps of the item factors q_i: t-SNE (scikit-learn, Barnes-Hut) and PCA.

Deterministic for a seed: PCA uses the full SVD with signs fixed. t-SNE (Barnes-Hut) starts from
that PCA layout scaled as scikit-learn's ``init="pca"`` does (std of the first axis 1e-4) plus a
seeded jitter of 1% of that spread: the global arrangement follows PCA, and the seed still picks
one of the many local optima (with plain ``init="pca"`` the seed would change nothing).
"""
from __future__ import annotations

import contextlib
import io
import re
import threading

import numpy as np
import pandas as pd

from .errors import InputError
from .explain import check_aligned, model_parts

METHODS = ("tsne", "pca")
#: BLAS/OpenMP threads for the maps. One thread: on a busy 2-core machine spinning worker threads
#: made t-SNE of ml-100k 4x slower (58 s vs 13-17 s) and PCA's SVD 70x slower (3.5 s vs 0.05 s);
#: the matrices are small, so extra threads gain little even on an idle machine. The thread count
#: does not change the map (checked bit for bit).
TSNE_THREADS = 1

_ITER = re.compile(r"Iteration (\d+)")


class _ProgressWriter(io.TextIOBase):
    """Receives scikit-learn's verbose t-SNE log and reports 'Iteration N' lines to a callback."""

    def __init__(self, callback, total: int):
        self.callback, self.total = callback, total

    def write(self, text):
        for m in _ITER.finditer(text):
            done = int(m.group(1))
            self.callback(min(done, self.total), self.total)
        return len(text)


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
            n_iter: int = 1000, seed: int = 0, callback=None) -> tuple[np.ndarray, list[str]]:
    """(n, 2) coordinates of the rows of X, and notes about parameters that had to change.

    callback(done, total) is called as t-SNE iterates (every 50 iterations) and at the end.
    Runs on one BLAS/OpenMP thread (see ``TSNE_THREADS``).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(TSNE_THREADS):
        return _project(X, method, perplexity, n_iter, seed, callback)


_STDOUT_LOCK = threading.Lock()


def _project(X, method, perplexity, n_iter, seed, callback):
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

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
            xy = PCA(n_components=2, svd_solver="full").fit_transform(X)
        xy = _fix_signs(xy)
        if callback:
            callback(1, 1)
        return xy, notes
    if int(n_iter) < 250:
        raise InputError("t-SNE needs at least 250 iterations", value=n_iter)
    if not perplexity > 0:
        raise InputError("perplexity must be positive", value=perplexity)
    if perplexity >= n:
        new = max(1.0, (n - 1) / 3.0)
        notes.append(f"perplexity {perplexity:g} is too large for {n} items; using {new:g}")
        perplexity = new
    start = _fix_signs(PCA(n_components=2, svd_solver="full").fit_transform(X)) \
        if X.shape[1] >= 2 else np.column_stack([X[:, 0] - X[:, 0].mean(), np.zeros(n)])
    scale = np.std(start[:, 0]) or 1.0
    start = start / scale * 1e-4
    start += np.random.default_rng(int(seed)).normal(0.0, 1e-6, size=start.shape)
    tsne = TSNE(n_components=2, perplexity=float(perplexity), max_iter=int(n_iter),
                init=start, random_state=int(seed), method="barnes_hut",
                verbose=2 if callback else 0)
    if callback:
        callback(0, int(n_iter))
        # sys.stdout is process-wide: one redirected run at a time, so concurrent sessions
        # cannot restore each other's stream out of order.
        with _STDOUT_LOCK, contextlib.redirect_stdout(_ProgressWriter(callback, int(n_iter))):
            xy = tsne.fit_transform(X)
        callback(int(n_iter), int(n_iter))
    else:
        xy = tsne.fit_transform(X)
    return np.asarray(xy, dtype=np.float64), notes


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


def item_map(algo, ratings, method: str = "tsne", perplexity: float = 30.0, n_iter: int = 1000,
             seed: int = 0, n_items: int | None = None, callback=None) -> pd.DataFrame:
    """A 2-D map of the item factors of the most-rated ``n_items`` items (all when None).

    Columns: item, title, year, x, y, n_ratings, mean_rating, bi, genres, genre (the first
    genre), inner (inner item id). Rows: most-rated first. ``df.attrs["notes"]`` lists parameter
    changes (e.g. a perplexity too large for few items).
    """
    check_aligned(algo, ratings)
    parts = model_parts(algo)
    inner = most_rated(ratings, n_items)
    xy, notes = project(parts.qi[inner], method, perplexity=perplexity, n_iter=n_iter, seed=seed,
                        callback=callback)
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
