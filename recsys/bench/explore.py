"""Model explorer speed: top-n for every user (vectorised) vs Surprise's anti-testset path, maps.

Targets (issue 4, ml-100k, SVD defaults): top-10 for every user < 1 s; t-SNE of all items < 15 s.
Uses data/ml-100k when fetched, else a random 943 x 1682 set with the same density (noted).
"""
from __future__ import annotations

import time

import numpy as np

from . import timed


def _data():
    from ..errors import InputError

    try:
        from ..io.datasets import load_dataset

        return load_dataset("ml-100k"), "ml-100k"
    except (InputError, ImportError, OSError):
        from ..data import Ratings

        rng = np.random.default_rng(0)
        n_u, n_i, n = 943, 1682, 100_000
        pairs = rng.choice(n_u * n_i, size=n, replace=False)
        return (Ratings.from_arrays(pairs // n_i, pairs % n_i, rng.integers(1, 6, size=n),
                                    rating_scale=(1, 5), name="random"),
                "random 943x1682 (ml-100k not fetched)")


def _fit(ratings):
    try:
        from ..models import fit_full

        return fit_full(ratings, "svd", {"random_state": 0}, "surprise")
    except ImportError:
        from surprise import SVD

        return SVD(random_state=0).fit(ratings.to_surprise().build_full_trainset())


def run(quick: bool = False) -> list[dict]:
    from ..recommend import top_n, top_n_all

    ratings, label = _data()
    algo = _fit(ratings)
    size = f"{ratings.n_users} users x {ratings.n_items} items"
    note = "" if label == "ml-100k" else label
    rows = []

    (items, _), secs = timed(top_n_all, algo, ratings, 10)
    rows.append({"benchmark": "top-10 for every user (vectorised, exact est)", "size": size,
                 "seconds": secs, "note": note or "target < 1 s"})
    per_user_fast = secs / ratings.n_users

    users = ratings.user_ids[:20]
    _, secs1 = timed(lambda: [top_n(algo, ratings, u, 10) for u in users])
    rows.append({"benchmark": "top_n() one user, as a DataFrame", "size": size,
                 "seconds": secs1 / len(users), "note": f"mean of {len(users)} users"})

    # Surprise's way: predict every unrated pair of a few users, sort.
    k = 5 if quick else 50
    ts = algo.trainset
    fill = ts.global_mean

    def anti(u):
        rated = {j for (j, _) in ts.ur[u]}
        pairs = [(ts.to_raw_uid(u), ts.to_raw_iid(i), fill) for i in ts.all_items()
                 if i not in rated]
        preds = algo.test(pairs)
        return sorted(preds, key=lambda p: -p.est)[:10]

    _, secs2 = timed(lambda: [anti(u) for u in range(k)])
    per_user_slow = secs2 / k
    rows.append({"benchmark": "top-10 by Surprise's anti-testset (per user)", "size": size,
                 "seconds": per_user_slow, "note": f"mean of {k} users",
                 "ratio": f"{per_user_slow / per_user_fast:.0f}x slower"})

    rows += map_rows(ratings, quick)
    return rows


def map_rows(ratings, quick: bool = False) -> list[dict]:
    """The factor map as the page draws it (movies with >= the data-derived minimum of ratings,
    q_i scaled to unit length), for the fast engine's default SVD: time, and quality measured
    two ways: trustworthiness at 10 neighbours (scikit-learn) and how often a movie's 10 nearest
    map neighbours share a genre with it, against chance."""
    from sklearn.manifold import trustworthiness

    from ..embed import genre_agreement, item_map, project
    from ..models import fit_full
    from ..recommend import default_min_ratings

    algo = fit_full(ratings, "svd", {"random_state": 0}, "fast")
    m = default_min_ratings(ratings)
    project(np.eye(3), "pca")                      # imports outside the timings
    rows = []
    for method in ("pca", "tsne"):
        cpu = time.process_time()
        df, secs = timed(item_map, algo, ratings, method=method, seed=0, min_ratings=m,
                         normalise=True, n_iter=500 if quick else 750)
        cpu = time.process_time() - cpu
        X = algo.qi[df["inner"].to_numpy()]
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        trust = trustworthiness(X, df[["x", "y"]].to_numpy(), n_neighbors=10)
        g = genre_agreement(df[["x", "y"]].to_numpy(), df["genres"], k=10)
        shares = (f"; 10 nearest share a genre {100 * g['share']:.1f}% (chance "
                  f"{100 * g['chance']:.1f}%)" if g else "")
        rows.append({"benchmark": f"factor map, {'t-SNE (openTSNE)' if method == 'tsne' else 'PCA'}"
                                  f", movies with >= {m} ratings, cosine",
                     "size": f"{len(df)} items", "seconds": secs,
                     "note": f"trustworthiness@10 {trust:.3f}{shares}; CPU {cpu:.1f} s"
                             + ("; target: ready within 5 s of the fit" if method == "tsne"
                                else "")})
    return rows
