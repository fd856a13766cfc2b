"""Fold-in of a new user vs refitting the whole model with their ratings (issue 10).

Rows: on ml-100k (SVD defaults and NMF defaults, fast engine, as the Rate movies page runs them),
the fold-in solve alone, the server work after each rating on the page (fold-in + top-10 table +
"why this movie?" split; target < 200 ms), and a refit with the person's ratings added (fit +
top-10). Unless quick, the same on the 24,053,764-rating synthetic Netflix set (470,758 users x
4,499 movies, parallel fits) in a fresh subprocess, so its peak RSS is its own.

The "person" is a real user's first 20 ratings (the first user with at least 20).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N_PERSON = 20

_CHILD = r"""
import json, resource, sys, time
from recsys.bench.fast import FULL, child_data
from recsys.bench.foldin import measure
from recsys.fast import warm_up
warm_up()
t = time.perf_counter()
ratings, source = child_data(FULL["ratings"])
load = time.perf_counter() - t
out = measure(ratings, "svd", {"random_state": 0}, reps=3)
out.update(load_seconds=load, source=source, n_ratings=ratings.n_ratings,
           peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def person(ratings, n: int = N_PERSON) -> dict:
    """{raw item: rating}: the first ``n`` ratings of the first user with at least ``n``."""
    counts = ratings.ratings_per_user()
    u = int(np.flatnonzero(counts >= n)[0])
    idx = np.flatnonzero(ratings.users == u)[:n]
    return {str(ratings.item_ids[i]): float(v)
            for i, v in zip(ratings.items[idx], ratings.ratings[idx])}


def _median(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(ratings, name: str, params: dict, reps: int = 20) -> dict:
    """Seconds: fit (the model the page uses), fold-in solve, page work after a rating (solve +
    top-10 + the split of the #1 movie), refit with the person added (fit + top-10)."""
    from .. import foldin as F
    from ..models import fit_full
    from ..recommend import top_n

    t = time.perf_counter()
    algo = fit_full(ratings, name, params, "fast")
    fit = time.perf_counter() - t
    mine = person(ratings)
    F.solve_fold_in(algo, mine)           # first call imports scipy's LAPACK wrappers

    def page_work():
        fold = F.solve_fold_in(algo, mine)
        top = F.top_n(algo, ratings, fold, 10)
        F.contributions(algo, fold, ratings.item_inner(top["item"].iat[0]))

    solve = _median(lambda: F.solve_fold_in(algo, mine), reps)
    page = _median(page_work, reps)
    fold = F.solve_fold_in(algo, mine)
    t = time.perf_counter()
    bigger, uid = F.with_new_user(ratings, fold.items, fold.ratings)
    top_n(fit_full(bigger, name, params, "fast"), bigger, uid, 10)
    refit = time.perf_counter() - t
    return {"fit": fit, "solve": solve, "page": page, "refit": refit}


def _child(timeout: float = 3600) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True, timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows_for(m: dict, label: str, size: str, note: str = "") -> list[dict]:
    return [
        {"benchmark": f"fold-in solve, {N_PERSON} ratings ({label})", "size": size,
         "seconds": m["solve"], "note": f"{1000 * m['solve']:.2f} ms" + (f"; {note}" if note else "")},
        {"benchmark": f"fold-in + top-10 + why-split, per rating on the page ({label})",
         "size": size, "seconds": m["page"],
         "note": f"{1000 * m['page']:.1f} ms; target < 200 ms on ml-100k"},
        {"benchmark": f"refit with the person's ratings + top-10 ({label})", "size": size,
         "seconds": m["refit"], "ratio": f"{m['refit'] / m['page']:.0f}x the fold-in",
         "note": f"the model's own fit: {m['fit']:.2f} s"},
    ]


def run(quick: bool = False) -> list[dict]:
    from ..fast import warm_up
    from .fast import _ml100k

    warm_up()
    ratings, label = _ml100k()
    size = f"{label}, {ratings.n_ratings:,} ratings"
    rows = rows_for(measure(ratings, "svd", {"random_state": 0}), "SVD k=100, fast", size)
    rows += rows_for(measure(ratings, "nmf", {"random_state": 0}), "NMF k=15, fast", size)
    if quick:
        return rows
    big = _child()
    more = rows_for(big, "SVD k=100, fast parallel",
                    f"{big['n_ratings']:,} ratings (470,758 users x 4,499 movies)",
                    note=f"+ {big['load_seconds']:.1f} s load ({big['source']})")
    more[1]["note"] = (f"{1000 * big['page']:.0f} ms: mostly the per-movie counts and means "
                       "of the top-N table (passes over all ratings), not the solve")
    for row in more:
        row["peak_rss_mb"] = big["peak_rss_mb"]
    return rows + more


if __name__ == "__main__":  # python -m recsys.bench.foldin [--quick]
    for row in run(quick="--quick" in sys.argv):
        print(row)
