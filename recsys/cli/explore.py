"""``explain``, ``recommend``, ``similar``, ``map``: the model explorer pages, scriptable.

All four fit the model chosen by the shared model options (same defaults as ``cv``) on every rating
of the (sampled) dataset, exactly as the pages do, so ``recommend`` and ``explain`` on the same
options agree to the last digit.

``explain`` accepts any user/item id: an id the model never saw is the cold-start case and is
reported as such. ``recommend`` needs a user of the sample and ``similar`` an item of the sample
(an unknown id is an InputError: one line, exit 2).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from .common import add_dataset, add_json, load_sample, print_json, text_table


def register(sub) -> None:
    from .common import add_model_options

    p = sub.add_parser("explain", help="one prediction term by term: μ + b_u + b_i + q_iᵀp_u "
                                       "vs predict()")
    add_dataset(p)
    p.add_argument("--user", required=True, metavar="RAW", help="raw user id (any: unknown = "
                                                                "cold start)")
    p.add_argument("--item", required=True, metavar="RAW", help="raw item id (any: unknown = "
                                                                "cold start)")
    add_model_options(p)
    add_json(p)
    p.set_defaults(func=run_explain)

    p = sub.add_parser("recommend", help="top-n items for a user (vectorised over all items)")
    add_dataset(p)
    p.add_argument("--user", required=True, metavar="RAW", help="raw user id")
    p.add_argument("-n", type=int, default=10, help="how many items (default 10)")
    p.add_argument("--min-ratings", type=int, default=0, metavar="N",
                   help="only items with at least N ratings")
    p.add_argument("--include-rated", action="store_true",
                   help="also rank items the user already rated")
    add_model_options(p)
    add_json(p)
    p.set_defaults(func=run_recommend)

    p = sub.add_parser("similar", help="items nearest to an item in factor space")
    add_dataset(p)
    p.add_argument("--item", required=True, metavar="RAW", help="raw item id")
    p.add_argument("-n", type=int, default=10, help="how many items (default 10)")
    p.add_argument("--metric", choices=("cosine", "dot", "euclidean"), default="cosine",
                   help="similarity of q_i (euclidean: distance, smaller = closer)")
    p.add_argument("--min-ratings", type=int, default=0, metavar="N",
                   help="only items with at least N ratings")
    add_model_options(p)
    add_json(p)
    p.set_defaults(func=run_similar)

    p = sub.add_parser("map", help="2-D map of the item factors (t-SNE or PCA) as CSV")
    add_dataset(p)
    p.add_argument("--method", choices=("tsne", "pca"), default="tsne")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="CSV to write ('-' = stdout)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (30)")
    p.add_argument("--n-iter", type=int, default=1000, help="t-SNE iterations (1000)")
    p.add_argument("--n-items", type=int, default=None, metavar="N",
                   help="only the N most-rated items (default: all)")
    add_model_options(p)
    add_json(p)
    p.set_defaults(func=run_map)


# ---------------------------------------------------------------------------- helpers
def fit_model(args, ratings, popularity: bool = True):
    """The model of the shared options, fitted on every rating of ``ratings``.

    A factor model: svd, nmf, als, bpr, and (``popularity``: explain, recommend) mostpop, whose
    single 'factor' is the popularity."""
    from ..models import describe, factor_names, fit_full, get_spec
    from .common import model_from_args

    name, params, engine = model_from_args(args)
    spec = get_spec(name)
    allowed = factor_names(with_popularity=popularity)
    if spec.name not in allowed:
        raise InputError("the explorer needs item factors: --algo " + ", ".join(allowed),
                         value=name)
    print(f"fitting {describe(name, params, engine)} on {ratings.n_ratings} ratings…",
          file=sys.stderr, flush=True)
    return fit_full(ratings, name, params, engine)


def _check_n(n: int) -> None:
    if n < 1:
        raise InputError("-n must be at least 1", value=n)


# ---------------------------------------------------------------------------- commands
def run_explain(args) -> int:
    from ..explain import breakdown

    ratings = load_sample(args)
    algo = fit_model(args, ratings)
    b = breakdown(algo, ratings, args.user, args.item)
    if args.json:
        print_json(b)
        return 0
    title = f" ({b['title']})" if b["title"] else ""
    print(f"user {b['user']}, item {b['item']}{title}: {b['algo']}, "
          f"{'biased' if b['biased'] else 'unbiased'}, k={b['n_factors']}")
    rows = [("μ (global mean)", b["mu"]), ("b_u", b["bu"]), ("b_i", b["bi"]),
            ("q_iᵀp_u", b["dot"]), ("manual sum", b["manual"]), ("clipped", b["clipped"]),
            ("predict().est", b["predict"]), ("difference", b["difference"])]
    for label, value in rows:
        print(f"  {label:<16} {value!r}")
    print(f"  {'used terms':<16} {' + '.join(b['terms']) or '(none: default prediction)'}")
    print(f"  {'was_impossible':<16} {b['was_impossible']}")
    print(f"  {'true rating':<16} {b['true_rating'] if b['true_rating'] is not None else '-'}")
    print(b["explanation"])
    return 0


def run_recommend(args) -> int:
    from ..recommend import top_n

    _check_n(args.n)
    ratings = load_sample(args)
    ratings.user_inner(args.user)  # unknown user: fail before fitting
    algo = fit_model(args, ratings)
    df = top_n(algo, ratings, args.user, n=args.n, exclude_rated=not args.include_rated,
               min_ratings=args.min_ratings)
    if args.json:
        print_json([{"item": str(r.item), "title": str(r.title), "est": float(r.est)}
                    for r in df.itertuples()])
        return 0
    print(text_table(df, ["rank", "item", "title", "year", "est", "score", "n_ratings",
                      "mean_rating"], floats=("est", "score", "mean_rating"),
                     empty="(no rows: no movie passes the filters)"))
    return 0


def run_similar(args) -> int:
    from ..recommend import similar_items

    _check_n(args.n)
    ratings = load_sample(args)
    ratings.item_inner(args.item)  # unknown item: fail before fitting
    algo = fit_model(args, ratings, popularity=False)
    df = similar_items(algo, ratings, args.item, n=args.n, metric=args.metric,
                       min_ratings=args.min_ratings)
    if args.json:
        print_json([{"item": str(r.item), "title": str(r.title), "score": float(r.score),
                     "n_ratings": int(r.n_ratings)} for r in df.itertuples()])
        return 0
    inner = ratings.item_inner(args.item)
    print(f"nearest to {args.item} ({ratings.title(inner)}) by {args.metric}:")
    print(text_table(df, ["item", "title", "score", "n_ratings"], floats=("score",),
                     empty="(no rows: no movie passes the filters)"))
    return 0


def run_map(args) -> int:
    from ..embed import item_map

    if args.out != "-":
        parent = Path(args.out).expanduser().resolve().parent
        if not parent.is_dir():
            raise InputError("cannot write the map: no such folder", file=str(parent))
    ratings = load_sample(args)
    algo = fit_model(args, ratings, popularity=False)

    def progress(done, total):
        print(f"t-SNE iteration {done}/{total}", file=sys.stderr, flush=True)

    df = item_map(algo, ratings, method=args.method, perplexity=args.perplexity,
                  n_iter=args.n_iter, seed=args.seed, n_items=args.n_items,
                  callback=progress if args.method == "tsne" else None)
    for note in df.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    from ..safetext import csv_safe

    cols = ["item", "title", "year", "x", "y", "n_ratings", "mean_rating", "bi", "genres"]
    out = csv_safe(df[cols])      # a title "=HYPERLINK(...)" must not run in a spreadsheet
    if args.out == "-":
        out.to_csv(sys.stdout, index=False)
    else:
        try:
            out.to_csv(args.out, index=False)
        except OSError as err:
            raise InputError(f"cannot write the map: {err.strerror or err}",
                             file=args.out) from None
    if args.json and args.out != "-":
        print_json({"out": args.out, "method": args.method, "n_items": len(df)})
    elif args.out != "-":
        print(f"wrote {len(df)} items to {args.out}", file=sys.stderr)
    return 0
