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
    from ..embed import item_map
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

    from ..embed import project

    project(np.eye(3), "pca")                      # import scikit-learn outside the timings
    df, secs3 = timed(item_map, algo, ratings, method="pca")
    rows.append({"benchmark": "PCA item map", "size": f"{len(df)} items", "seconds": secs3})
    n_items = 300 if quick else None
    cpu = time.process_time()
    df, secs4 = timed(item_map, algo, ratings, method="tsne", seed=0, n_items=n_items)
    cpu = time.process_time() - cpu
    rows.append({"benchmark": "t-SNE item map (perplexity 30, 1000 iterations)",
                 "size": f"{len(df)} items", "seconds": secs4,
                 "note": f"CPU {cpu:.1f} s (1 thread)" + ("" if quick else "; target < 15 s")})
    return rows
