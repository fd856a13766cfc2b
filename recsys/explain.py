"""A prediction taken apart: r̂_ui = μ + b_u + b_i + q_iᵀp_u, term by term, next to ``predict``.

Works for any model with Surprise's matrix-factorisation contract: ``trainset`` (raw↔inner
ids, ``global_mean``, ``rating_scale``), ``pu``, ``qi``, ``bu``, ``bi`` and ``biased``
(Surprise's SVD and NMF, the fast engine's FastSVD/FastNMF).

The manual sum repeats Surprise's own ``estimate`` operation by operation (``est = μ; est += b_u;
est += b_i; est += np.dot(q_i, p_u)``), so for a known user and item it equals ``predict(...).est``
bit for bit unless the sum falls outside the rating scale and ``predict`` clips it.

Cold start, exactly as Surprise does it (``matrix_factorization.pyx`` and ``algo_base.py``):
- biased model, unknown user and/or item: the estimate is μ plus the bias(es) that exist; the dot
  product is skipped; ``was_impossible`` is False;
- unbiased model, unknown user or item: ``estimate`` raises ``PredictionImpossible``; ``predict``
  returns ``default_prediction()`` (the global mean) with ``was_impossible`` True.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class ModelParts:
    """The learned parameters of a fitted MF model, read-only views (never copies)."""

    mu: float
    bu: np.ndarray
    bi: np.ndarray
    pu: np.ndarray
    qi: np.ndarray
    biased: bool
    rating_scale: tuple[float, float]
    name: str
    scores: bool = False   # q_iᵀp_u is a ranking score, not a rating (ALS, BPR, MostPopular)

    @property
    def n_factors(self) -> int:
        return int(self.qi.shape[1])


def model_parts(algo) -> ModelParts:
    """μ, biases, factors and flags of a fitted model; InputError unless a fitted MF model."""
    ts = getattr(algo, "trainset", None)
    missing = [a for a in ("pu", "qi", "bu", "bi") if getattr(algo, a, None) is None]
    if ts is None or missing:
        raise InputError(f"{type(algo).__name__} is not a fitted matrix-factorisation model "
                         f"(missing {', '.join(missing) or 'trainset'})")
    if getattr(algo, "yj", None) is not None:
        raise InputError("SVD++ adds implicit-feedback terms the explorer does not break down; "
                         "use SVD or NMF")
    lo, hi = ts.rating_scale
    mu = ts.global_mean
    scores = bool(getattr(algo, "scores_not_ratings", False))
    if scores:   # implicit models (recsys.implicit_models): a score, never clipped; fallback 0
        mu, lo, hi = 0.0, -np.inf, np.inf
    return ModelParts(mu=mu, bu=np.asarray(algo.bu), bi=np.asarray(algo.bi),
                      pu=np.asarray(algo.pu), qi=np.asarray(algo.qi),
                      biased=bool(getattr(algo, "biased", True)),
                      rating_scale=(float(lo), float(hi)), name=type(algo).__name__,
                      scores=scores)


def check_aligned(algo, ratings) -> None:
    """InputError unless ``algo`` was trained on ``ratings`` (same inner ids for users and items).

    Models fitted on ``ratings.to_surprise().build_full_trainset()`` number users and items exactly
    as ``Ratings`` does (first appearance), which the vectorised paths rely on.
    """
    ts = algo.trainset
    if ts.n_users != ratings.n_users or ts.n_items != ratings.n_items:
        raise InputError("the model was trained on other ratings than those shown "
                         f"({ts.n_users} users x {ts.n_items} items vs {ratings.n_users} x "
                         f"{ratings.n_items})")
    for inner in {0, ratings.n_items - 1}:
        if str(ts.to_raw_iid(inner)) != str(ratings.item_ids[inner]):
            raise InputError("the model's item numbering differs from the ratings'",
                             value=str(ratings.item_ids[inner]))
    for inner in {0, ratings.n_users - 1}:
        if str(ts.to_raw_uid(inner)) != str(ratings.user_ids[inner]):
            raise InputError("the model's user numbering differs from the ratings'",
                             value=str(ratings.user_ids[inner]))


def model_inner(algo, raw_user, raw_item) -> tuple[int | None, int | None]:
    """Inner ids in the model's trainset, None when unknown: as ``predict`` converts them and
    ``estimate`` checks them (``knows_user``/``knows_item``)."""
    ts = algo.trainset
    try:
        u = ts.to_inner_uid(str(raw_user))
        u = u if ts.knows_user(u) else None
    except ValueError:
        u = None
    try:
        i = ts.to_inner_iid(str(raw_item))
        i = i if ts.knows_item(i) else None
    except ValueError:
        i = None
    return u, i


def surprise_estimate(parts: ModelParts, u: int | None, i: int | None):
    """Surprise's ``estimate`` for inner ids (None = unknown), same operations in the same order.

    Returns the unclipped estimate, or None where Surprise raises PredictionImpossible.
    """
    if parts.biased:
        est = parts.mu
        if u is not None:
            est += parts.bu[u]
        if i is not None:
            est += parts.bi[i]
        if u is not None and i is not None:
            est += np.dot(parts.qi[i], parts.pu[u])
        return est
    if u is None or i is None:
        return None
    return np.dot(parts.qi[i], parts.pu[u])


def clip(value: float, rating_scale) -> float:
    """``predict``'s clipping: min(highest, value), then max(lowest, ...)."""
    lo, hi = rating_scale
    return max(lo, min(hi, value))


def true_rating(ratings, raw_user, raw_item) -> float | None:
    """The observed rating of (user, item) in ``ratings``, or None (first one if duplicated)."""
    u = np.flatnonzero(ratings.user_ids == str(raw_user))
    i = np.flatnonzero(ratings.item_ids == str(raw_item))
    if len(u) == 0 or len(i) == 0:
        return None
    hits = np.flatnonzero((ratings.users == u[0]) & (ratings.items == i[0]))
    return float(ratings.ratings[hits[0]]) if len(hits) else None


def breakdown(algo, ratings, raw_user, raw_item) -> dict:
    """Every term of one prediction next to ``algo.predict(raw_user, raw_item)``.

    Any ids are accepted: an id the model has not seen is the cold-start case, reported as such.
    Keys: user, item, title, algo, biased, n_factors, rating_scale (None for a model whose
    output is a score, not a rating: ALS, BPR, MostPopular), scores, known_user, known_item,
    mu, bu, bi, dot (0.0 for a term the estimate does not use), terms (the names of the terms
    used, in order), manual (their sum; for an impossible prediction the global-mean fallback),
    clipped, predict, was_impossible, reason, difference (predict - clipped), true_rating (None
    when not rated), products (q_if·p_uf for f = 0..k-1; empty unless user and item are known),
    explanation (plain words).
    """
    raw_user, raw_item = str(raw_user), str(raw_item)
    parts = model_parts(algo)
    u, i = model_inner(algo, raw_user, raw_item)
    pred = algo.predict(raw_user, raw_item)
    details = pred.details if isinstance(pred.details, dict) else {}
    est = surprise_estimate(parts, u, i)
    impossible = est is None
    known_both = u is not None and i is not None

    bu = float(parts.bu[u]) if parts.biased and u is not None else 0.0
    bi = float(parts.bi[i]) if parts.biased and i is not None else 0.0
    dot = float(np.dot(parts.qi[i], parts.pu[u])) if known_both else 0.0
    products = (parts.qi[i] * parts.pu[u]).astype(float).tolist() if known_both else []
    if parts.biased:
        terms = ["mu"] + (["bu"] if u is not None else []) + (["bi"] if i is not None else []) \
            + (["dot"] if known_both else [])
    else:
        terms = ["dot"] if known_both else []
    manual = float(parts.mu) if impossible else float(est)
    clipped = float(clip(manual, parts.rating_scale))
    predicted = float(pred.est)

    title = None
    hit = np.flatnonzero(ratings.item_ids == raw_item)
    if len(hit):
        title = ratings.title(int(hit[0]))
    out = {
        "user": raw_user, "item": raw_item, "title": title, "algo": parts.name,
        "biased": parts.biased, "n_factors": parts.n_factors,
        "rating_scale": list(parts.rating_scale),
        "known_user": u is not None, "known_item": i is not None,
        "mu": float(parts.mu), "bu": bu, "bi": bi, "dot": dot, "terms": terms,
        "manual": manual, "clipped": clipped, "predict": predicted,
        "was_impossible": bool(details.get("was_impossible", impossible)),
        "reason": details.get("reason"),
        "difference": predicted - clipped,
        "true_rating": true_rating(ratings, raw_user, raw_item),
        "products": products,
        "scores": parts.scores,
    }
    if parts.scores:   # no rating scale: a score is never clipped
        out["rating_scale"] = None
    if parts.name.upper().endswith("NMF"):
        out.update(factor_signs(parts))
    out["explanation"] = explain_difference(out)
    return out


def factor_signs(parts: "ModelParts") -> dict:
    """What is true of an NMF model's factors, checked on the model: ``n_factor_values`` (entries
    of p_u and q_i), ``n_negative`` of them below 0, and the smallest (``min_factor``). Surprise's
    unbiased NMF keeps them ≥ 0; its biased variant does not (its bias steps feed the residual
    into multiplicative updates that no longer preserve the sign)."""
    neg = int(np.count_nonzero(parts.pu < 0) + np.count_nonzero(parts.qi < 0))
    low = float(min(parts.pu.min(initial=0.0), parts.qi.min(initial=0.0)))
    return {"n_factor_values": int(parts.pu.size + parts.qi.size), "n_negative": neg,
            "min_factor": low}


def explain_difference(b: dict) -> str:
    """Plain words for how ``manual``, ``clipped`` and ``predict`` relate in a breakdown dict."""
    lo, hi = b["rating_scale"] or (-np.inf, np.inf)
    said = []
    if b.get("scores"):
        said.append(f"{b['algo']} learns from interactions (who rated what), not from rating "
                    "values: its score q_iᵀp_u has no μ and no biases and is NOT a rating. It is "
                    "not on the rating scale and is never clipped; only the order of the scores "
                    "across movies matters (a higher score ranks the movie higher).")
    unknown = [w for w, known in (("user " + b["user"], b["known_user"]),
                                  ("item " + b["item"], b["known_item"])) if not known]
    if unknown:
        who = " and ".join(unknown)
        verb = "are" if len(unknown) == 2 else "is"
        if b["biased"]:
            kept = (["μ"] + (["b_u"] if b["known_user"] else [])
                    + (["b_i"] if b["known_item"] else []))
            said.append(f"Cold start: {who} {verb} not in the training data. A biased model falls "
                        f"back silently on {' + '.join(kept)} = {b['manual']:.4f} (no q_iᵀp_u), "
                        f"and predict() reports was_impossible = {b['was_impossible']}.")
        elif b.get("scores"):
            said.append(f"Cold start: {who} {verb} not in the training data, so there is no "
                        "q_iᵀp_u: predict() returns the fallback score 0 with was_impossible = "
                        f"{b['was_impossible']}.")
        else:
            said.append(f"Cold start: {who} {verb} not in the training data. An unbiased model has "
                        "no μ or biases to fall back on: estimate() raises PredictionImpossible "
                        f"and predict() returns the global mean μ = {b['mu']:.4f} with "
                        f"was_impossible = {b['was_impossible']}.")
    elif not b["biased"] and not b.get("scores"):
        said.append("Unbiased model: r̂ = q_iᵀp_u only; μ, b_u and b_i are not part of the "
                    "estimate.")
    if b["algo"] == "MostPopular" and not unknown:
        said.append("MostPopular stores one factor: p_u = 1 for everyone and q_i = the number of "
                    "interactions of the movie, so the score is the movie's popularity.")
    if b["algo"].upper().endswith("NMF") and not unknown and "n_negative" in b:
        if b["n_negative"] == 0:
            said.append(f"All {b['n_factor_values']:,} factors of this NMF model are ≥ 0 "
                        "(checked), so each product q_if·p_uf ≥ 0 and the dot product can only "
                        "add to the estimate.")
        else:
            kind = "biased NMF" if b["biased"] else "this NMF model"
            said.append(f"{kind}: {b['n_negative']:,} of {b['n_factor_values']:,} factors are "
                        f"negative (down to {b['min_factor']:.3g}); Surprise's biased updates do "
                        "not keep them ≥ 0, so a product q_if·p_uf can be negative (here "
                        f"q_iᵀp_u = {b['dot']:.4f}).")
    if b["manual"] != b["clipped"]:
        side = "above" if b["manual"] > hi else "below"
        said.append(f"The sum {b['manual']:.4f} is {side} the rating scale {lo:g}–{hi:g}, so "
                    f"predict() clips it to {b['clipped']:g}.")
    diff = b["difference"]
    if diff == 0.0:
        said.append("The manual sum equals predict() exactly (difference 0)." if b.get("scores")
                    else "The manual sum (after clipping) equals predict() exactly "
                         "(difference 0).")
    elif abs(diff) < 1e-9:
        said.append(f"The manual sum differs from predict() by {diff:.1e}: floating-point "
                    "rounding from a different order of summation in the engine.")
    else:
        said.append(f"Unexplained difference of {diff:.6g} between the manual sum and predict().")
    return " ".join(said)
