"""Fast engine vs Surprise, side by side in one run.

Rows: JIT warm-up; ml-100k full fits (SVD k=100 / 20 epochs and NMF defaults) for Surprise and the
fast engine (exact and bitwise modes; target >= 10x); 5-fold CV of SVD on a 500-user / 26k-rating
sample (warm; target < 1 s); and, unless quick, the full tutorial scale: the 24,053,764-rating
synthetic Netflix set (470,758 users, 4,499 movies; ``recsys.io.synth``, parsed from its cache)
fitted in parallel mode (target < 60 s, peak RSS < 4 GB), with Surprise's and the fast engine's
fit time and peak RSS at 1M and 5M ratings beside it. Every big measurement runs in a fresh
subprocess so its peak RSS (``ru_maxrss``) is its own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FULL = {"users": 470758, "items": 4499, "ratings": 24_053_764, "seed": 0}

_CHILD = r"""
import json, resource, sys, time
import numpy as np
what, n = sys.argv[1], int(sys.argv[2])
from recsys.bench.fast import child_data
t = time.perf_counter()
ratings, source = child_data(n)
load = time.perf_counter() - t
out = {"load_seconds": load, "source": source, "n_ratings": ratings.n_ratings}
if what == "surprise":
    from surprise import SVD
    t = time.perf_counter()
    trainset = ratings.to_surprise().build_full_trainset()
    out["trainset_seconds"] = time.perf_counter() - t
    del ratings
    t = time.perf_counter()
    SVD(random_state=0).fit(trainset)
    out["seconds"] = time.perf_counter() - t
else:
    from recsys.fast import FastSVD, warm_up
    out["warm_up_seconds"] = warm_up()
    t = time.perf_counter()
    algo = FastSVD(random_state=0, mode=what).fit_ratings(ratings)
    out["seconds"] = time.perf_counter() - t
    out["mode"] = algo.fitted_mode_
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def child_data(n_ratings: int):
    """The Netflix-shaped synthetic set of the full scale (n = 24,053,764, via recsys.io.synth) or
    scaled down (users in proportion); numpy-random arrays when recsys.io.synth is unavailable."""
    from recsys.data import Ratings

    users = max(1000, round(FULL["users"] * n_ratings / FULL["ratings"]))
    params = {"users": users, "items": FULL["items"], "ratings": n_ratings, "seed": 0}
    try:
        from recsys.io.synth import load_synthetic
        return load_synthetic(params), "recsys.io.synth (parsed, cached)"
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    u = rng.integers(0, users, n_ratings, dtype=np.int32)
    i = rng.integers(0, FULL["items"], n_ratings, dtype=np.int32)
    r = rng.integers(1, 6, n_ratings).astype(np.float32)
    ids = np.arange(max(users, FULL["items"])).astype(str).astype(object)
    return Ratings(users=u, items=i, ratings=r, user_ids=ids[:users], item_ids=ids[:FULL["items"]],
                   item_info=None, rating_scale=(1.0, 5.0), name="random"), "numpy random"


_COLD = r"""
import json, sys, time
t = time.perf_counter()
from recsys.fast import FastSVD, kernels, warm_up
from recsys.bench.fast import _ml100k
ratings, label = _ml100k()
ready = time.perf_counter() - t
warm = warm_up() if sys.argv[1] == "page" else 0.0
t = time.perf_counter()
FastSVD(random_state=0, mode="exact").fit_ratings(ratings)
first = time.perf_counter() - t
t = time.perf_counter()
FastSVD(random_state=0, mode="exact").fit_ratings(ratings)
second = time.perf_counter() - t
ks = kernels().values()
print(json.dumps({"import_load": ready, "warm_up": warm, "first": first, "second": second, "label": label,
                  "n_ratings": ratings.n_ratings,
                  "compiled": sum(sum(k.stats.cache_misses.values()) for k in ks),
                  "loaded": sum(sum(k.stats.cache_hits.values()) for k in ks)}))
"""


def cold_first_fit(cache_dir=None, page=True) -> dict:
    """A fresh Python process: import the engine, load ml-100k, then (``page``) ``warm_up()`` as
    the app's first model page does, then time the first SVD fit (exact, k=100, 20 epochs) and a
    second one. ``cache_dir``: a NUMBA_CACHE_DIR to use (an empty one is a fresh clone that
    skipped ``python -m recsys warm``); None = the project's own cache."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run([sys.executable, "-c", _COLD, "page" if page else "fit"], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(what: str, n: int, timeout: float = 1800) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _CHILD, what, str(n)], env=env, cwd=REPO,
                         check=True, capture_output=True, text=True, timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ml100k():
    """(Ratings, label): MovieLens 100K when present, else a 943 x 1682 x 100k synthetic set."""
    try:
        from recsys.io.datasets import load_dataset
        r = load_dataset("ml-100k")
        return r, "ml-100k"
    except Exception:  # not fetched (or loader missing): same shape, random
        from recsys.data import Ratings
        rng = np.random.default_rng(0)
        u = rng.integers(0, 943, 100_000)
        i = (rng.zipf(1.3, 100_000) - 1) % 1682
        r = rng.integers(1, 6, 100_000).astype(np.float32)
        return (Ratings.from_arrays(u.astype(str), i.astype(str), r, rating_scale=(1, 5)),
                "synthetic 943x1682x100k")


def _best(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(quick: bool = False) -> list[dict]:
    from surprise import NMF, SVD
    from surprise.model_selection import KFold, cross_validate

    from recsys.evaluate import cross_validate as cv_page
    from recsys.fast import FastNMF, FastSVD, warm_up

    rows = []
    t = time.perf_counter()
    warm = warm_up()
    rows.append({"benchmark": "fast: JIT warm-up (compile or load cache)", "size": "tiny",
                 "seconds": warm, "note": "shown once in the UI as 'warming up'"})
    reps = 1 if quick else 3
    ratings, label = _ml100k()
    size = f"{label}, {ratings.n_ratings:,} ratings"
    trainset = ratings.to_surprise().build_full_trainset()

    def pair(name, ref_fn, fast_fns, target):
        ref = _best(ref_fn, reps)
        rows.append({"benchmark": f"surprise: {name}", "size": size, "seconds": ref})
        for label_, fn, note in fast_fns:
            s = _best(fn, reps)
            rows.append({"benchmark": f"fast: {name} {label_}", "size": size, "seconds": s,
                         "ratio": f"{ref / s:.1f}x", "note": note + f"; target >= {target}x"})

    pair("SVD fit k=100, 20 epochs", lambda: SVD(random_state=0).fit(trainset), [
        ("exact", lambda: FastSVD(random_state=0, mode="exact").fit_ratings(ratings),
         "arrays, 1 thread, = Surprise to 1e-9"),
        ("exact via Trainset", lambda: FastSVD(random_state=0, mode="exact").fit(trainset),
         "Surprise Trainset input (its arrays cached after the first fit)"),
        ("bitwise", lambda: FastSVD(random_state=0, mode="bitwise").fit_ratings(ratings),
         "bit-for-bit Surprise, 1 thread"),
    ], 10)
    pair("NMF fit k=15, 50 epochs", lambda: NMF(random_state=0).fit(trainset), [
        ("exact", lambda: FastNMF(random_state=0, mode="exact").fit_ratings(ratings),
         "arrays, 1 thread, bit-for-bit Surprise"),
    ], 10)

    # the default page run: 5-fold CV of SVD on the 500-user sample (~26k ratings)
    sample = _sample(ratings)
    ssize = f"{sample.n_users} users, {sample.n_ratings:,} ratings"
    cv_fast = _best(lambda: cv_page(sample, "svd", {"random_state": 0}, engine="fast",
                                    n_folds=5, seed=0), reps)
    data = sample.to_surprise()
    cv_ref = _best(lambda: cross_validate(SVD(random_state=0), data, cv=KFold(5, random_state=0)),
                   1)
    cv_mix = _best(lambda: cross_validate(FastSVD(random_state=0), data,
                                          cv=KFold(5, random_state=0)), 1)
    rows.append({"benchmark": "surprise: 5-fold CV SVD (default page run)", "size": ssize,
                 "seconds": cv_ref})
    rows.append({"benchmark": "fast: 5-fold CV SVD as the page runs it (warm)", "size": ssize,
                 "seconds": cv_fast, "ratio": f"{cv_ref / cv_fast:.1f}x",
                 "note": "target < 1 s"})
    rows.append({"benchmark": "fast: 5-fold CV FastSVD in Surprise's cross_validate",
                 "size": ssize, "seconds": cv_mix, "ratio": f"{cv_ref / cv_mix:.1f}x",
                 "note": "Surprise splits/Trainsets/test loop, fast fit"})
    if quick:
        return rows

    # full scale and the scaling curve, each in its own process
    for n in (1_000_000, 5_000_000):
        ref = _child("surprise", n)
        rows.append({"benchmark": "surprise: SVD fit k=100, 20 epochs", "size": f"{n:,} ratings",
                     "seconds": ref["seconds"], "peak_rss_mb": ref["peak_rss_mb"],
                     "note": f"+ {ref['trainset_seconds']:.1f} s to build the Trainset"})
        fast = _child("auto", n)
        rows.append({"benchmark": f"fast: SVD fit k=100, 20 epochs ({fast['mode']})",
                     "size": f"{n:,} ratings", "seconds": fast["seconds"],
                     "peak_rss_mb": fast["peak_rss_mb"],
                     "ratio": f"{ref['seconds'] / fast['seconds']:.1f}x",
                     "note": f"data: {fast['source']}"})
    big = _child("parallel", FULL["ratings"])
    rows.append({"benchmark": "fast: SVD fit k=100, 20 epochs (parallel, 2 cores)",
                 "size": f"{big['n_ratings']:,} ratings (470,758 users x 4,499 movies)",
                 "seconds": big["seconds"], "peak_rss_mb": big["peak_rss_mb"],
                 "note": f"+ {big['load_seconds']:.1f} s load ({big['source']}); "
                         f"targets < 60 s, < 4 GB"})
    return rows


def _sample(ratings):
    """500 users (seeded) of the ml-100k-sized set, thinned to ~26k ratings like the tutorial's."""
    s = ratings.sample_users(500, seed=0)
    if s.n_ratings > 26_000:
        keep = np.random.default_rng(0).permutation(s.n_ratings)[:26_000]
        mask = np.zeros(s.n_ratings, dtype=bool)
        mask[keep] = True
        s = s.subset(mask)
    return s


if __name__ == "__main__":  # python -m recsys.bench.fast [--quick]
    for row in run(quick="--quick" in sys.argv):
        print(row)
