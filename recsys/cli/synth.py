"""``synth``: write a synthetic Netflix-format folder with planted structure."""
from __future__ import annotations

from .common import add_json, print_json


def register(sub) -> None:
    from ..io.synth import DEFAULTS

    p = sub.add_parser("synth", help="generate a synthetic Netflix-format folder "
                                     "(combined_data_1.txt, movie_titles.csv, genres.csv)")
    p.add_argument("--users", type=int, default=DEFAULTS["users"], help="number of users")
    p.add_argument("--items", type=int, default=DEFAULTS["items"], help="number of movies")
    p.add_argument("--ratings", type=int, default=DEFAULTS["ratings"],
                   help="number of ratings (distinct user-movie pairs)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: "
                        "data/synthetic/u{users}_i{items}_r{ratings}_s{seed})")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.synth import synthetic_folder, synthetic_params, write_netflix

    params = synthetic_params({"users": args.users, "items": args.items,
                               "ratings": args.ratings, "seed": args.seed})
    out = args.out or synthetic_folder(params)
    stats = write_netflix(out, params["users"], params["items"], params["ratings"],
                          params["seed"])
    if args.json:
        print_json(stats)
        return 0
    print(f"wrote {stats['path']}: {', '.join(stats['files'])}")
    print(f"{stats['n_ratings']} ratings, {stats['n_users']} users, {stats['n_items']} movies, "
          f"density {100 * stats['density']:.2f}%, {stats['n_genres']} planted genres")
    total = max(stats["n_ratings"], 1)
    print("stars: " + "  ".join(f"{k}: {100 * v / total:.1f}%"
                                for k, v in stats["rating_counts"].items()))
    return 0
