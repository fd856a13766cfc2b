"""``fetch`` (the demo data) and ``info`` (what a dataset holds) commands."""
from __future__ import annotations

import sys

from .common import add_dataset, add_json, load_sample, print_json

FETCHABLE = ("ml-100k",)


def register(sub) -> None:
    p = sub.add_parser("fetch", help="download and verify the MovieLens 100K demo data")
    p.add_argument("name", choices=FETCHABLE, help="what to fetch")
    p.add_argument("--force", action="store_true",
                   help="replace an existing data/ml-100k that does not verify")
    p.set_defaults(func=run_fetch)

    p = sub.add_parser("info", help="summary, rating histogram and scale of a dataset")
    add_dataset(p)
    add_json(p)
    p.set_defaults(func=run_info)


def run_fetch(args) -> int:
    from ..io.fetch import fetch_ml100k, read_source

    path = fetch_ml100k(force=args.force, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"ml-100k: {path}")
    print(f"source: {read_source(path)}")
    return 0


def run_info(args) -> int:
    ratings = load_sample(args)
    stats = ratings.stats()
    if args.json:
        print_json({"name": ratings.name, **stats})
        return 0
    print(ratings.name)
    print(ratings.summary())
    lo, hi = stats["rating_scale"]
    print(f"rating scale: {lo:g}..{hi:g}   mean rating: {ratings.global_mean:.3f}")
    print("ratings per star:")
    counts = stats["rating_counts"]
    top = max(counts.values())
    width = max(len(k) for k in counts)
    for star, n in counts.items():
        bar = "#" * max(1, round(40 * n / top))
        print(f"  {star:>{width}}  {n:>10}  {100 * n / stats['n_ratings']:5.1f}%  {bar}")
    return 0
