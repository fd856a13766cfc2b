"""``cv`` and ``grid``: cross-validation and grid search, as on the evaluation pages.

``cv`` prints Surprise's verbose ``cross_validate`` table (``--json``: ``{"algo", "params",
"folds": [...], "mean", "std", ...}``); ``grid`` prints one row per cell and the best parameters
(``--json``: ``{"cells": [{"params", "mean", "std"}...], "best_params", ...}``). Same options and
seed as the pages -> the same numbers.
"""
from __future__ import annotations

import math
import sys

from ..errors import InputError
from ..ranking import DEFAULT_PROTOCOL, DEFAULT_RELEVANT, PROTOCOLS, RELEVANT
from .common import (add_dataset, add_json, add_model_options, load_sample, print_json,
                     text_table)

GRID_OPTIONS = {"factors": "n_factors", "epochs": "n_epochs", "lr": "lr_all", "reg": "reg_all"}


def register(sub) -> None:
    p = sub.add_parser("cv", help="k-fold cross-validation: RMSE, MAE (rating models), times, "
                                  "precision/recall/NDCG/MAP/hit@k, coverage, novelty per fold")
    add_dataset(p)
    add_model_options(p)
    p.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    _add_eval_options(p)
    add_json(p)
    p.set_defaults(func=run_cv)

    p = sub.add_parser("grid", help="grid search over comma-separated parameter lists")
    add_dataset(p)
    add_model_options(p, lists=True)
    p.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    p.add_argument("--measure", default=None,
                   help="rmse (default for rating models), mae, precision@K (default for "
                        "mostpop/als/bpr), recall@K, ndcg@K, map@K or hit@K")
    _add_eval_options(p)
    add_json(p)
    p.set_defaults(func=run_grid)


def _add_eval_options(p) -> None:
    p.add_argument("--k", type=int, default=10, help="cut-off of the ranking metrics (default 10)")
    p.add_argument("--threshold", type=float, default=None,
                   help="a test rating >= this is relevant (default: the top quarter of the "
                        "rating scale, 4 on 1..5, 1 on 0/1 data; see --relevant)")
    p.add_argument("--protocol", default=DEFAULT_PROTOCOL, type=str.lower, choices=PROTOCOLS,
                   help="ranking metrics: full = rank every item the user has not rated in the "
                        "training folds (default); test-items = rank the user's test items only "
                        "(much higher figures that cannot tell models apart)")
    p.add_argument("--relevant", default=DEFAULT_RELEVANT, type=str.lower, choices=RELEVANT,
                   help="which held-out items are relevant: threshold = rating >= --threshold "
                        "(default), all = every held-out item (the implicit view)")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="leave out the reference rows (global mean and BaselineOnly, the same "
                        "folds)")
    p.add_argument("--jobs", type=int, default=0,
                   help="worker processes (0 = auto: 2 for big runs, else 1)")


def _jobs(args, ratings, n_tasks: int, engine: str) -> int:
    from ..evaluate import auto_jobs

    if args.jobs < 0:
        raise InputError("--jobs must be 0 (auto) or more", value=args.jobs)
    return args.jobs or auto_jobs(ratings.n_ratings, n_tasks, engine=engine)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_cv(args) -> int:
    from ..evaluate import check_threshold, cross_validate, measure_names, summary_table
    from .common import model_from_args

    name, params, engine = model_from_args(args)
    ratings = load_sample(args)
    jobs = _jobs(args, ratings, args.folds, engine)
    quiet = args.json
    thr = check_threshold(args.threshold, ratings)
    res = cross_validate(ratings, name, params, engine, n_folds=args.folds, seed=args.seed,
                         k=args.k, threshold=args.threshold, n_jobs=jobs,
                         protocol=args.protocol, relevant=args.relevant,
                         callback=None if quiet else
                         lambda f: _progress(f"fold {f['fold'] + 1}/{args.folds}: "
                                             + _fold_line(f, args.k, thr)))
    refs = _references(args, ratings, res)
    if args.json:
        keep = [m for m in measure_names(args.k) if m in res["mean"]]
        print_json(_clean({
            "algo": res["algo"], "params": res["params"], "engine": res["engine"],
            "dataset": args.dataset, "n_ratings": ratings.n_ratings, "n_folds": res["n_folds"],
            "seed": res["seed"], "k": res["k"], "threshold": res["threshold"],
            "protocol": res["protocol"], "relevant": res["relevant"],
            "folds": [{m: f[m] for m in keep} for f in res["folds"]],
            "mean": res["mean"], "std": res["std"], **_undefined_json(res),
            "references": [{"algo": r["algo"], "label": r["label"], "mean": r["mean"],
                            "std": r["std"], **_undefined_json(r)} for r in refs]}))
        return 0
    table = summary_table(res)
    what = "RMSE, MAE and ranking" if "rmse" in res["mean"] else "ranking (no RMSE: scores)"
    print(f"Evaluating {what} of algorithm {res['label']} [{engine}] on {args.folds} split(s) "
          f"of {ratings.n_ratings} ratings; protocol {res['protocol']}, relevant = "
          + ("every held-out item" if res["relevant"] == "all"
             else f"held-out rating >= {res['threshold']:g}") + ".\n")
    print(text_table(table, index=True))
    if refs:
        from ..evaluate import comparison_table

        print("\nThe same folds, beside the trivial predictors (means over folds):")
        print(text_table(comparison_table([res], refs)))
    return 0


def _references(args, ratings, res: dict) -> list[dict]:
    """The global-mean and BaselineOnly rows on the same folds, protocol and relevance."""
    from ..evaluate import reference_results

    if not args.reference:
        return []
    return reference_results(ratings, n_folds=args.folds, seed=args.seed, k=args.k,
                             threshold=res["threshold"], protocol=res["protocol"],
                             relevant=res["relevant"])


def _undefined_json(res: dict) -> dict:
    """``{"undefined": {measure: "undefined (no test rating ≥ t) in folds 1, 3"}}`` or {}."""
    from ..evaluate import undefined_text

    und = res.get("undefined") or {}
    if not und:
        return {}
    text = undefined_text(res["threshold"])
    return {"undefined": {m: f"{text} in fold(s) {', '.join(str(f + 1) for f in folds)}"
                          for m, folds in und.items()}}


def grid_from_args(args) -> tuple[str, dict, dict, str]:
    """``(name, base_params, grid, engine)`` from ``grid``'s options: every list option given
    becomes a grid dimension (in the order factors, epochs, lr, reg, then --param NAME=V1,V2)."""
    from ..models import get_spec, normalize_params

    spec = get_spec(args.algo)
    grid: dict[str, list] = {}
    for opt, pname in GRID_OPTIONS.items():
        text = getattr(args, opt)
        if text is not None:
            grid[pname] = _split_list(text, f"--{opt}")
    base: dict = {}
    if args.biased is not None:
        base["biased"] = args.biased
    if args.baseline_method is not None:
        base["method"] = args.baseline_method
    if getattr(args, "binarize", None) is not None:
        base["binarize"] = args.binarize
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError("--param must look like NAME=VALUE[,VALUE...]", value=item)
        values = _split_list(value, f"--param {key.strip()}")
        if len(values) == 1:
            base[key.strip()] = values[0]
        else:
            grid[key.strip()] = values
    if not grid:
        raise InputError("give the grid: at least one of --factors, --epochs, --lr, --reg as a "
                         "comma-separated list")
    if spec.has_random_state:
        base.setdefault("random_state", int(args.seed))
    # typed values (strings from the command line -> int/float)
    full_types = normalize_params(spec.name, base)
    base = {k: full_types[k] if k in full_types else v for k, v in base.items()}
    typed = {}
    for key, values in grid.items():
        target = key if key in spec.param_names else spec.aliases.get(key, (key,))[0]
        typed[key] = [normalize_params(spec.name, {**base, key: v}).get(target, v)
                      for v in values]
    return spec.name, base, typed, args.engine


def _split_list(text: str, what: str) -> list[str]:
    values = [v.strip() for v in str(text).split(",") if v.strip()]
    if not values:
        raise InputError(f"{what} needs at least one value", value=text)
    return values


def run_grid(args) -> int:
    from ..evaluate import grid_search
    from ..models import get_spec

    from ..evaluate import check_threshold

    name, base, grid, engine = grid_from_args(args)
    ratings = load_sample(args)
    thr = check_threshold(args.threshold, ratings)
    n_cells = 1
    for v in grid.values():
        n_cells *= len(v)
    jobs = _jobs(args, ratings, n_cells * args.folds, engine)
    quiet = args.json
    if args.measure is None:
        args.measure = "rmse" if not get_spec(name).implicit else f"precision@{args.k}"

    def show(cell):
        if cell.get("diverged"):
            _progress(f"cell {cell['index'] + 1}/{n_cells} {cell['params']}: diverged")
            return
        _progress(f"cell {cell['index'] + 1}/{n_cells} {cell['params']}: {args.measure} "
                  f"{_fmt_value(cell['mean'][args.measure], args.measure, thr)}")

    res = grid_search(ratings, name, grid, engine, n_folds=args.folds, seed=args.seed,
                      measure=args.measure, callback=None if quiet else show, n_jobs=jobs,
                      base_params=base, k=args.k, threshold=args.threshold,
                      protocol=args.protocol, relevant=args.relevant)
    if res["best_index"] is None:
        raise InputError("every cell of the grid diverged: lower the learning rate (--lr), or "
                         "rescale the ratings", value=args.measure)
    refs = _references(args, ratings, res)
    if args.json:
        print_json(_clean({
            "algo": res["algo"], "engine": engine, "dataset": args.dataset,
            "n_ratings": ratings.n_ratings, "measure": res["measure"], "n_folds": res["n_folds"],
            "seed": res["seed"], "k": res["k"], "threshold": res["threshold"],
            "protocol": res["protocol"], "relevant": res["relevant"],
            "grid": res["grid"], "base_params": base,
            "cells": [{"params": c["params"], "mean": c["mean"], "std": c["std"],
                       "rank": c["rank"], "diverged": c.get("diverged")}
                      for c in res["cells"]],
            "best_params": res["best_params"], "best_score": res["best_score"],
            "references": [{"algo": r["algo"], "label": r["label"], "mean": r["mean"],
                            "std": r["std"]} for r in refs]}))
        return 0
    from ..evaluate import grid_table

    table = grid_table(res)
    table["diverged"] = ["diverged" if c.get("diverged") else "" for c in res["cells"]]
    cols = list(grid) + [f"mean_{m}" for m in ("rmse", "mae", args.measure)] + [
        f"std_{args.measure}", "mean_fit_time", "rank"]
    if table["diverged"].any():
        cols.append("diverged")
    cols = list(dict.fromkeys(c for c in cols if c in table.columns))
    print(text_table(table, cols))
    for r in refs:
        print(f"reference {r['label']}: {args.measure} "
              f"{_fmt_value(r['mean'][args.measure], args.measure, r['threshold'])} "
              "(the same folds)")
    print(f"\nbest {args.measure}: {res['best_score']:.4f} with {res['best_params']}")
    return 0


def _fmt_value(v, measure, threshold) -> str:
    from ..evaluate import display_value

    shown = display_value(v, measure, threshold)
    return shown if isinstance(shown, str) else f"{shown:.4f}"


def _fold_line(f: dict, k: int, threshold) -> str:
    parts = [f"RMSE {f['rmse']:.4f}"] if "rmse" in f else []
    m = f"precision@{k}"
    parts.append(f"{m} {_fmt_value(f[m], m, threshold)}")
    return ", ".join(parts)


def _clean(obj):
    """NaN -> None (valid JSON), recursively."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
