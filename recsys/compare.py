"""Rating models next to implicit-feedback models, evaluated the same way ("the best RMSE is not
the best recommender").

``compare_models`` cross-validates each model on the same folds under the full-catalogue
protocol (``recsys.ranking``); ``comparison_table`` puts the means side by side (RMSE only where
the model predicts ratings); ``lessons`` turns the measured numbers into a few sentences for the
class. Nothing in the sentences is written in advance: each one is chosen and filled in from the
table, so another dataset or other parameters give other sentences.
"""
from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from .evaluate import cross_validate
from .models import get_spec

#: the models of the lesson, in display order
COMPARE_ALGOS = ("svd", "nmf", "baseline", "mostpop", "als", "bpr")


def compare_models(ratings, algos=COMPARE_ALGOS, params: dict | None = None,
                   engine: str = "fast", n_folds: int = 5, seed: int = 0, k: int = 10,
                   threshold: float = 4.0, relevant: str = "threshold",
                   callback: Callable[[str, dict], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> list[dict]:
    """``cross_validate`` of each algorithm in ``algos`` (same folds, full catalogue).

    ``params[name]``: the parameters of ``name`` (defaults otherwise; seeded models get
    ``random_state=seed`` unless given). ``callback(name, fold_result)`` per finished fold.
    Returns the ``cross_validate`` results in ``algos`` order; a stop returns those done so far
    (the last one possibly with ``stopped=True``).
    """
    params = params or {}
    out = []
    stop = should_stop or (lambda: False)
    for name in algos:
        if stop():
            break
        p = dict(params.get(name, {}))
        if get_spec(name).has_random_state:
            p.setdefault("random_state", int(seed))
        res = cross_validate(ratings, name, p, engine, n_folds=n_folds, seed=seed, k=k,
                             threshold=threshold, protocol="full", relevant=relevant,
                             callback=None if callback is None else
                             (lambda f, name=name: callback(name, f)),
                             should_stop=should_stop)
        out.append(res)
        if res["stopped"]:
            break
    return out


def comparison_table(results: list[dict]) -> pd.DataFrame:
    """One row per model: model, rmse (None for scoring models), precision@k ... hit@k,
    coverage, novelty, mean_popularity, fit_time (mean seconds per fold), folds."""
    rows = []
    for res in results:
        k = res["k"]
        m = res["mean"]
        row = {"algo": res["algo"], "model": get_spec(res["algo"]).label,
               "rmse": m.get("rmse")}
        for name in ("precision", "recall", "ndcg", "map", "hit"):
            row[f"{name}@{k}"] = m.get(f"{name}@{k}")
        for name in ("coverage", "novelty", "mean_popularity", "fit_time"):
            row[name] = m.get(name)
        row["folds"] = len(res["folds"])
        rows.append(row)
    return pd.DataFrame(rows)


def _short(label: str) -> str:
    return label.split(" (")[0]


def lessons(table: pd.DataFrame, k: int = 10) -> list[str]:
    """What the class should notice, as sentences computed from ``comparison_table``.

    Looks at: the model with the lowest RMSE and where it ranks on precision@k; rating models
    that lose to MostPopular at top-N; the best top-N model; coverage and popularity (who
    recommends only blockbusters). Sentences whose premise the numbers do not support are left
    out (e.g. no MostPopular row, no rating model, a tie).
    """
    if table.empty:
        return []
    p = f"precision@{k}"
    t = table.dropna(subset=[p]).copy()
    if t.empty:
        return []
    t["name"] = t["model"].map(_short)
    t = t.sort_values(p, ascending=False, kind="stable").reset_index(drop=True)
    t["rank"] = range(1, len(t) + 1)
    out = []
    rated = t.dropna(subset=["rmse"])
    best = t.iloc[0]
    if not rated.empty:
        low = rated.loc[rated["rmse"].idxmin()]
        if low["name"] == best["name"]:
            out.append(f"{low['name']} has both the lowest RMSE ({low['rmse']:.3f}) and the "
                       f"highest precision@{k} ({low[p]:.3f}): here the best rating predictor "
                       "is also the best recommender.")
        else:
            out.append(f"{low['name']} predicts ratings best (lowest RMSE, {low['rmse']:.3f}) "
                       f"but ranks {_ordinal(int(low['rank']))} of {len(t)} at top-{k} "
                       f"(precision@{k} {low[p]:.3f}); the best top-{k} lists come from "
                       f"{best['name']} (precision@{k} {best[p]:.3f}, "
                       f"{_times(best[p], low[p])}).")
    pop = t[t["algo"] == "mostpop"]
    if not pop.empty and not rated.empty:
        pop = pop.iloc[0]
        worse = rated[rated[p] < pop[p]]
        if len(worse):
            out.append(f"{_join(worse['name'])} {'loses' if len(worse) == 1 else 'lose'} to "
                       f"the plain MostPopular list (precision@{k} {pop[p]:.3f}): predicting "
                       "a rating well for the movies a user did rate says little about which "
                       "unseen movies to put on top.")
        else:
            out.append(f"Every rating model beats the MostPopular list (precision@{k} "
                       f"{pop[p]:.3f}) on this data.")
    c = t.dropna(subset=["coverage", "mean_popularity"])
    if len(c) >= 2:
        narrow = c.loc[c["coverage"].idxmin()]
        wide = c.loc[c["coverage"].idxmax()]
        if narrow["name"] != wide["name"]:
            out.append(f"{narrow['name']} recommends only {narrow['coverage']:.1%} of the "
                       f"catalogue (nearly the same few movies to everyone); {wide['name']} "
                       f"covers {wide['coverage']:.1%}.")
        hi = c.loc[c["mean_popularity"].idxmax()]
        lo = c.loc[c["mean_popularity"].idxmin()]
        if hi["name"] != lo["name"]:
            out.append(f"{hi['name']} leans most on blockbusters: its recommended movies have "
                       f"{hi['mean_popularity']:.0f} training ratings on average (novelty "
                       f"{hi['novelty']:.1f} bits), against {lo['mean_popularity']:.0f} for "
                       f"{lo['name']} ({lo['novelty']:.1f} bits)"
                       + (f", whose obscure picks reach precision@{k} {lo[p]:.3f} only."
                          if lo[p] < best[p] / 2 else "."))
    return out


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _times(a: float, b: float) -> str:
    if b > 0 and math.isfinite(a / b):
        return f"{a / b:.1f}× as high"
    return "far higher"


def _join(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
