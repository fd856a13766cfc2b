"""``foldin``: the "Rate movies" page, scriptable. A new user's ratings folded into the model
fitted on the (sampled) dataset: their vector, their top-n and, for one item, the split of its
score into a constant plus one term per rated movie (``recsys.foldin``)."""
from __future__ import annotations

import sys

from ..errors import InputError
from .common import (add_dataset, add_json, add_model_options, load_sample, print_json,
                     text_table)


def register(sub) -> None:
    p = sub.add_parser("foldin", help="fold a new user's ratings into the model: their vector, "
                                      "top-n and why an item scores what it does")
    add_dataset(p)
    p.add_argument("--rate", required=True, metavar="ITEM=RATING,...",
                   help="the new user's ratings, e.g. \"50=5,172=4.5,1=2\" (raw item ids)")
    p.add_argument("-n", type=int, default=10, help="how many items (default 10)")
    p.add_argument("--explain", metavar="ITEM",
                   help="split this item's score into a constant + one term per rated movie")
    add_model_options(p)
    add_json(p)
    p.set_defaults(func=run_foldin)


def run_foldin(args) -> int:
    from .. import foldin as F
    from .explore import fit_model

    if args.n < 1:
        raise InputError("-n must be at least 1", value=args.n)
    if args.algo not in ("svd", "nmf"):   # ALS and BPR learn scores, not ratings to fold in
        raise InputError("fold-in needs a rating matrix factorisation: --algo svd or nmf",
                         value=args.algo)
    pairs = F.parse_rate_arg(args.rate)
    ratings = load_sample(args)
    F.check_against_data(ratings, pairs)               # fail before fitting
    if args.explain is not None:
        ratings.item_inner(args.explain)
    algo = fit_model(args, ratings)
    fold = F.solve_fold_in(algo, pairs)
    top = F.top_n(algo, ratings, fold, n=args.n)
    contrib = None
    if args.explain is not None:
        contrib = F.contributions(algo, fold, ratings.item_inner(args.explain))
    if args.json:
        out = {"bu": fold.bu, "pu": fold.pu.tolist(),
               "top": [{"item": str(r.item), "title": str(r.title), "est": float(r.est)}
                       for r in top.itertuples()]}
        if contrib is not None:
            out["contributions"] = {
                "constant": contrib["constant"],
                "terms": [{"item": str(ratings.item_ids[t["inner"]]), "rating": t["rating"],
                           "term": t["term"]} for t in contrib["terms"]]}
        print_json(out)
        return 0
    k = len(fold.pu)
    print(f"folded in {fold.n_ratings} ratings ({fold.method}, λ_p = {fold.reg_pu:g}) in "
          f"{1000 * fold.seconds:.1f} ms: b_u = {fold.bu:+.4f}, |p_u| = "
          f"{float((fold.pu ** 2).sum()) ** 0.5:.4f} (k = {k})")
    cols = ["rank", "item", "title", "year", "est", "score", "n_ratings", "mean_rating"]
    print(text_table(top, cols, floats=("est", "score", "mean_rating"),
                     empty="(no rows: no movie passes the filters)"))
    if contrib is not None:
        i = ratings.item_inner(args.explain)
        print(f"\nwhy {args.explain} ({ratings.title(i)}) scores {contrib['score']:.4f}:")
        print(f"  {'constant (μ + b_i)' if fold.biased else 'constant':<34} "
              f"{contrib['constant']:+.4f}")
        for t in sorted(contrib["terms"], key=lambda t: -abs(t["term"])):
            raw = ratings.item_ids[t["inner"]]
            label = f"you rated {raw} {t['rating']:g}"
            print(f"  {label:<34} {t['term']:+.4f}   {ratings.title(t['inner'])}")
        print(f"  {'sum':<34} {contrib['total']:+.4f}  (score {contrib['score']:+.4f}, "
              f"difference {contrib['gap']:.1e}; clipped: {contrib['est']:.4f})")
    print(f"fold-in {1000 * fold.seconds:.1f} ms", file=sys.stderr)
    return 0
