"""Fold-in: a new user's vector (b_u, p_u) from their ratings, with the movies' parameters fixed.

The model (μ, b_i, q_i) stays as trained. For a person who rated items j ∈ J with r_j, fold-in
solves the model's own objective for that one user (Koren, Bell & Volinsky 2009, eq. 5, with
everything but the user's parameters held fixed):

    biased SVD:    min_{b, p}  Σ_j (r_j − μ − b − b_j − q_jᵀp)² + λ_b b² + λ_p ‖p‖²
    unbiased SVD:  min_{p}     Σ_j (r_j − q_jᵀp)² + λ_p ‖p‖²
    NMF:           the same objectives (biased or not) with p ≥ 0

λ_b = n·reg_bu and λ_p = n·reg_pu, n the number of the person's ratings, with the model's own
``reg_bu`` / ``reg_pu`` (SVD: both default to ``reg_all``; NMF: ``reg_all`` sets ``reg_pu``).
The factor n is the model's own objective: Surprise writes it as
Σ_{r_ui ∈ R} [(r_ui − r̂_ui)² + λ(b_u² + ‖p_u‖² + …)], the penalty *inside* the sum over
ratings, and its SGD step (p_u += γ(e q_i − λ p_u) for every rating) and NMF update
(… + λ_u |I_u| p_uf in the denominator) both apply λ once per rating. ``per_rating=False``
uses λ once (the penalty outside the sum): on ml-100k it overfits a new user badly (held-out
RMSE 1.21 against 0.92 with n·λ for SVD defaults; see tests/test_foldin.py).
SVD is one ridge regression of size k+1, solved in closed form
(``scipy.linalg.solve`` on the normal equations). NMF is a non-negative least-squares problem,
solved with ``scipy.optimize.nnls`` on the augmented system [A; √Λ] x ≈ [y; 0] (the free bias b
is split as b⁺ − b⁻, both ≥ 0, which leaves b itself unconstrained).

Why each prediction splits into one term per rated movie: write y_j = r_j − μ − b_j (biased; the
rating minus the movie's baseline) or y_j = r_j (unbiased), A the rows a_j = (1, q_j) (biased)
or q_j. Ridge gives x = (b, p) = W y with W = (AᵀA + Λ)⁻¹Aᵀ, so the score of any item i is

    ŝ_i = μ + b_i + a_iᵀ W y = (μ + b_i) + Σ_j w_ij · (r_j − μ − b_j),     w_i = a_iᵀ W

a constant (the cold-start prediction μ + b_i; 0 when unbiased) plus one term per rated movie:
its weight times how much more (or less) the person liked it than the movie's baseline. For NMF
the same holds exactly *for the solution's active set*: nnls's solution is the unconstrained
least-squares solution over the factors it leaves positive (the others are 0), so x = W_F y with
W_F built from those columns only. The split is exact at this solution (and we re-solve on the
active set so the reported vector is that linear map, to rounding); a different set of ratings
may change the active set, so for NMF the map is piecewise linear, not one global linear map.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .errors import InputError
from .explain import check_aligned, clip, model_parts

#: raw user id given to the person when their ratings are added to the data (refit comparison)
NEW_USER_ID = "you"


# ---------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class FoldIn:
    """A folded-in user: the vector and the linear map that produced it.

    bu: float (0.0 for an unbiased model); pu: (k,) float64.
    items: (n,) inner ids of the rated items, in the order given; ratings: (n,) float64.
    offsets: (n,) what the model expects before the user's own terms: μ + b_j (biased) or 0.
    weights: (k+1, n): (b_u, p_u) = weights @ (ratings − offsets); row 0 (b_u) is 0 when unbiased.
    method: "ridge" (SVD) or "nnls" (NMF); active: (k,) bool, the factors left free (> 0 for
    NMF; all True for SVD). reg_bu, reg_pu: the λ_b, λ_p used (n·reg by default; reg_bu 0 when
    unbiased). seconds: time of the solve.
    """

    bu: float
    pu: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    offsets: np.ndarray
    weights: np.ndarray
    biased: bool
    method: str
    active: np.ndarray
    reg_bu: float
    reg_pu: float
    seconds: float = 0.0

    @property
    def n_ratings(self) -> int:
        return int(len(self.items))

    @property
    def cold_start(self) -> bool:
        """No ratings: the model's own cold-start prediction applies."""
        return self.n_ratings == 0


# ---------------------------------------------------------------------------- input checks
def _is_nmf(algo) -> bool:
    from surprise import NMF

    if isinstance(algo, NMF):
        return True
    try:
        from .fast import FastNMF
    except ImportError:  # pragma: no cover - fast engine not installed
        return False
    return isinstance(algo, FastNMF)


def _pairs(ratings_of_new_user):
    if isinstance(ratings_of_new_user, dict):
        return list(ratings_of_new_user.items())
    if isinstance(ratings_of_new_user, pd.DataFrame):
        return list(zip(ratings_of_new_user["item"], ratings_of_new_user["rating"]))
    return [tuple(p) for p in ratings_of_new_user]


def _checked(ratings_of_new_user, lo: float, hi: float, lookup):
    """Yield (raw id, lookup(raw), rating) per pair; InputError for an item rated twice, an id
    ``lookup`` refuses, a rating that is not a number or off lo..hi."""
    seen = set()
    for raw, value in _pairs(ratings_of_new_user):
        raw = str(raw).strip()
        if raw in seen:
            raise InputError("item rated twice", value=raw)
        seen.add(raw)
        inner = lookup(raw)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"rating of item {raw} is not a number", value=value) from None
        if not np.isfinite(v) or v < lo or v > hi:
            raise InputError(f"rating of item {raw} is off the scale {lo:g}..{hi:g}", value=value)
        yield raw, inner, v


def check_against_data(ratings, ratings_of_new_user) -> None:
    """``check_new_ratings``' checks against a ``Ratings`` (item ids, scale, duplicates), so the
    CLI fails before fitting a model. InputError as there."""
    lo, hi = ratings.rating_scale
    for _ in _checked(ratings_of_new_user, lo, hi, ratings.item_inner):
        pass


def check_new_ratings(algo, ratings_of_new_user) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(inner item ids, ratings float64, raw ids) of the person's ratings; InputError for an
    unknown item, a rating that is not a number or off the model's scale, an item rated twice.

    ``ratings_of_new_user``: {raw item: rating}, a list of (raw item, rating) pairs, or a
    DataFrame with columns item, rating. May be empty (the cold-start case).
    """
    ts = algo.trainset

    def lookup(raw):
        try:
            i = ts.to_inner_iid(raw)
        except ValueError:
            raise InputError("unknown item id", value=raw) from None
        if not ts.knows_item(i):
            raise InputError("item has no training ratings", value=raw)
        return int(i)

    lo, hi = (float(v) for v in ts.rating_scale)
    rows = list(_checked(ratings_of_new_user, lo, hi, lookup))
    return (np.asarray([i for _, i, _ in rows], dtype=np.int64),
            np.asarray([v for _, _, v in rows], dtype=np.float64), [r for r, _, _ in rows])


def parse_rate_arg(text: str) -> list[tuple[str, float]]:
    """"ITEM=RATING,ITEM=RATING,..." -> [(item, rating)]; InputError for an empty list, a
    malformed pair or a rating that is not a number (scale and ids are checked on the model)."""
    pairs = []
    for k, chunk in enumerate(str(text).split(","), start=1):
        chunk = chunk.strip()
        if not chunk:
            continue
        item, sep, value = chunk.rpartition("=")
        if not sep or not item.strip() or not value.strip():
            raise InputError(f"--rate pair {k} must look like ITEM=RATING", value=chunk)
        try:
            pairs.append((item.strip(), float(value)))
        except ValueError:
            raise InputError(f"--rate pair {k}: rating is not a number", value=chunk) from None
    if not pairs:
        raise InputError("--rate needs at least one ITEM=RATING pair", value=text)
    return pairs


# ---------------------------------------------------------------------------- the solve
def solve_fold_in(algo, ratings_of_new_user, *, per_rating: bool = True) -> FoldIn:
    """The person's (b_u, p_u) and the linear map behind it (see the module docstring).

    ``algo``: a fitted SVD or NMF (Surprise's or the fast engine's). ``ratings_of_new_user``:
    as ``check_new_ratings``. No ratings: b_u = 0, p_u = 0 (cold start). ``per_rating``: λ times
    the number of ratings (the model's own objective, default) or λ once. InputError for a model
    without factors and for bad ratings.
    """
    t0 = time.perf_counter()
    parts = model_parts(algo)
    items, r, _ = check_new_ratings(algo, ratings_of_new_user)
    nmf = _is_nmf(algo)
    biased = parts.biased
    k = parts.n_factors
    reg_pu = float(getattr(algo, "reg_pu"))
    reg_bu = float(getattr(algo, "reg_bu")) if biased else 0.0
    if per_rating:
        reg_pu *= max(len(items), 1)
        reg_bu *= max(len(items), 1)
    offsets = (parts.mu + parts.bi[items]) if biased else np.zeros(len(items))
    offsets = np.asarray(offsets, dtype=np.float64)
    n = len(items)
    weights = np.zeros((k + 1, n))
    active = np.ones(k, dtype=bool)
    if n:
        Q = np.asarray(parts.qi[items], dtype=np.float64)
        y = r - offsets
        _check_finite(parts, Q, y)
        if not nmf:
            weights = _ridge_weights(Q, biased, reg_bu, reg_pu)
        else:
            weights, active = _nnls_weights(Q, y, biased, reg_bu, reg_pu)
        x = weights @ y
    else:
        x = np.zeros(k + 1)
    _check_finite(parts, x)
    bu = float(x[0]) if biased else 0.0
    pu = np.array(x[1:], dtype=np.float64)
    if nmf:
        pu = np.maximum(pu, 0.0)   # active-set re-solve: inactive factors are exactly 0 already
    return FoldIn(bu=bu, pu=pu, items=items, ratings=r, offsets=offsets, weights=weights,
                  biased=biased, method="nnls" if nmf else "ridge", active=active,
                  reg_bu=reg_bu, reg_pu=reg_pu, seconds=time.perf_counter() - t0)


def _check_finite(parts, *arrays) -> None:
    if not all(np.isfinite(a).all() for a in arrays):
        raise InputError(f"{parts.name} has non-finite parameters (the fit diverged): lower the "
                         "learning rate or raise the regularisation")


def fold_in(algo, ratings_of_new_user, *, per_rating: bool = True) -> tuple[float, np.ndarray]:
    """``(b_u, p_u)`` of a new user from their ratings, the movies' parameters fixed.

    b_u: float (0.0 for unbiased models); p_u: (k,) float64. See ``solve_fold_in``.
    """
    f = solve_fold_in(algo, ratings_of_new_user, per_rating=per_rating)
    return f.bu, f.pu


def _design(Q: np.ndarray, biased: bool) -> np.ndarray:
    """A: rows (1, q_j) when biased, q_j otherwise; columns (b, p) with b's column all 0 when
    unbiased (so x always has k+1 entries)."""
    ones = np.ones((Q.shape[0], 1)) if biased else np.zeros((Q.shape[0], 1))
    return np.hstack([ones, Q])


def _ridge_weights(Q, biased, reg_bu, reg_pu) -> np.ndarray:
    """W = (AᵀA + Λ)⁻¹Aᵀ, (k+1, n); the b row is 0 when unbiased."""
    A = _design(Q, biased)
    lam = np.full(A.shape[1], reg_pu)
    lam[0] = reg_bu if biased else 1.0   # unbiased: the b column is 0; any λ > 0 gives b = 0
    G = A.T @ A + np.diag(lam)
    import scipy.linalg   # imported here: ~0.2 s, only when a fold-in is solved

    try:
        return scipy.linalg.solve(G, A.T, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        # λ = 0 and fewer ratings than unknowns: the minimum-norm least-squares solution
        return np.linalg.pinv(G) @ A.T


def _nnls_weights(Q, y, biased, reg_bu, reg_pu):
    """nnls on the augmented system, then the exact linear map on its active set.

    Unknowns z = (b⁺, b⁻, p) ≥ 0 (biased) or z = p ≥ 0; rows [A; √Λ]; target [y; 0]. Returns
    (W (k+1, n), active (k,) bool) with (b, p) = W y at the solution.
    """
    n, k = Q.shape
    rows = [np.hstack([np.ones((n, 1)), -np.ones((n, 1)), Q]) if biased else Q]
    if biased:
        reg = np.zeros((1, k + 2))
        reg[0, 0], reg[0, 1] = np.sqrt(reg_bu), -np.sqrt(reg_bu)
        rows.append(reg)
    pen = np.zeros((k, k + 2 if biased else k))
    pen[:, -k:] = np.sqrt(reg_pu) * np.eye(k)
    rows.append(pen)
    M = np.vstack(rows)
    target = np.concatenate([y, np.zeros(M.shape[0] - n)])
    import scipy.optimize   # imported here: ~0.4 s, only for NMF fold-ins

    z, _ = scipy.optimize.nnls(M, target, maxiter=50 * M.shape[1])
    free = z > 0
    W = np.zeros((k + 1, n))
    if free.any():
        MF = M[:, free]
        # exact least squares on the free columns: z_F = (M_Fᵀ M_F)⁺ M_Fᵀ [y; 0]
        WF = np.linalg.pinv(MF.T @ MF) @ MF.T[:, :n]
        idx = np.flatnonzero(free)
        for row, col in zip(WF, idx):
            if biased and col < 2:
                W[0] += row if col == 0 else -row
            else:
                W[1 + col - (2 if biased else 0)] = row
    active = free[-k:].copy()
    return W, active


# ---------------------------------------------------------------------------- scoring
def parts_for(algo, fold: FoldIn):
    """The model's parts with the folded-in user as its only user (inner id 0), for the Top N
    code path in ``recsys.recommend``. Cold start (no ratings): None as the user."""
    parts = model_parts(algo)
    return replace(parts, bu=np.array([fold.bu]), pu=fold.pu[None, :])


def scores(algo, fold: FoldIn) -> np.ndarray:
    """Unclipped scores of every item for the folded-in user (vectorised, BLAS precision), as
    ``recsys.recommend.user_scores``; cold start: the model's cold-start prediction."""
    from .recommend import user_scores

    parts = parts_for(algo, fold)
    return user_scores(parts, None if fold.cold_start else 0)


def top_n(algo, ratings, fold: FoldIn, n: int = 10, *, exclude_rated: bool = True,
          min_ratings: int = 0) -> pd.DataFrame:
    """The person's top-n, through the Top N page's code path (``recommend.top_n_frame``):
    same columns (rank, item, title, year, est, score, n_ratings, mean_rating), same ranking and
    filters; the rated movies are excluded unless ``exclude_rated`` is False."""
    from .recommend import top_n_frame

    if int(n) < 1:
        raise InputError("n must be at least 1", value=n)
    check_aligned(algo, ratings)
    return top_n_frame(algo, ratings, None if fold.cold_start else 0, int(n),
                       exclude_rated=exclude_rated, min_ratings=min_ratings,
                       parts=parts_for(algo, fold), rated=fold.items)


def contributions(algo, fold: FoldIn, inner_item: int) -> dict:
    """Item ``inner_item``'s score split into a constant plus one term per rated movie.

    score = constant + Σ_j term_j with constant = μ + b_i (biased; 0 unbiased: the cold-start
    baseline) and term_j = w_ij (r_j − offset_j), w_i = a_iᵀ W (see the module docstring).
    Keys: constant, terms (list of {inner, rating, offset, weight, term}, in the order rated),
    total (constant + Σ term), score (the unclipped score from (b_u, p_u), as Surprise's
    estimate computes it), est (score clipped), gap (total − score: rounding only, ~1e-15).
    """
    from .explain import surprise_estimate

    parts = model_parts(algo)
    i = int(inner_item)
    a = np.concatenate([[1.0 if fold.biased else 0.0], np.asarray(parts.qi[i], np.float64)])
    w = a @ fold.weights
    dev = fold.ratings - fold.offsets
    terms = w * dev
    constant = float(parts.mu + parts.bi[i]) if fold.biased else 0.0
    if fold.cold_start:
        cold = surprise_estimate(parts, None, i)      # None: unbiased, Surprise's default μ
        score = float(parts.mu if cold is None else cold)
        constant = score
    else:
        score = float(surprise_estimate(parts_for(algo, fold), 0, i))
    total = constant + float(np.sum(terms))
    return {
        "constant": constant,
        "terms": [{"inner": int(j), "rating": float(r_), "offset": float(o), "weight": float(wj),
                   "term": float(t)}
                  for j, r_, o, wj, t in zip(fold.items, fold.ratings, fold.offsets, w, terms)],
        "total": total, "score": score,
        "est": float(clip(score, parts.rating_scale)), "gap": total - score,
    }


def objective_gradient(algo, fold: FoldIn) -> np.ndarray:
    """Gradient of the fold-in objective at (b_u, p_u), (k+1,) (b entry 0 when unbiased).

    ∇ = −2Aᵀ(y − A x) + 2Λx. Zero at the ridge solution; for NMF zero on the free factors
    (and ≥ 0 on those held at 0: the KKT conditions)."""
    parts = model_parts(algo)
    Q = np.asarray(parts.qi[fold.items], np.float64)
    A = _design(Q, fold.biased)
    x = np.concatenate([[fold.bu], fold.pu])
    lam = np.concatenate([[fold.reg_bu], np.full(len(fold.pu), fold.reg_pu)])
    g = -2 * A.T @ (fold.ratings - fold.offsets - A @ x) + 2 * lam * x
    if not fold.biased:
        g[0] = 0.0
    return g


# ---------------------------------------------------------------------------- refit comparison
def with_new_user(ratings, items: np.ndarray, values: np.ndarray, user_id: str = NEW_USER_ID):
    """``ratings`` plus one user (appended last, so every existing inner id is unchanged) who
    rated inner ``items`` with ``values``. The raw id gets '_' appended until it is new."""
    raw = str(user_id)
    existing = set(ratings.user_ids.tolist())
    while raw in existing:
        raw += "_"
    n = len(items)
    ts = ratings.timestamps
    if ts is not None:
        ts = np.concatenate([ts, np.full(n, ts.max() if len(ts) else 0, dtype=np.int64)])
    return replace(
        ratings,
        users=np.concatenate([ratings.users, np.full(n, ratings.n_users, dtype=np.int32)]),
        items=np.concatenate([ratings.items, np.asarray(items, dtype=np.int32)]),
        ratings=np.concatenate([ratings.ratings, np.asarray(values, dtype=np.float32)]),
        user_ids=np.concatenate([ratings.user_ids, np.array([raw], dtype=object)]),
        timestamps=ts), raw


def refit_compare(algo, ratings, fold: FoldIn, name: str, params: dict | None = None,
                  engine: str = "surprise", n: int = 10, min_ratings: int = 0) -> dict:
    """Add the person's ratings to the data, refit the whole model with the same settings
    (``recsys.models.fit_full``), and compare its top-n with the fold-in's.

    Keys: foldin_top, refit_top (DataFrames as ``top_n``), overlap (|both top-n| / n, the
    overlap@n), n, spearman, kendall (rank correlations of the two unclipped score vectors over
    every unrated eligible item; scipy.stats), foldin_seconds (solve + scoring + ranking),
    refit_seconds (refit + scoring + ranking), refit_bu, refit_pu, user_id.
    """
    from scipy.stats import kendalltau, spearmanr

    from .models import fit_full
    from .recommend import _eligible_mask, user_scores

    if fold.cold_start:
        raise InputError("rate at least one movie before comparing with a refit")
    t0 = time.perf_counter()
    again = solve_fold_in(algo, dict(zip(ratings.item_ids[fold.items], fold.ratings)))
    fold_top = top_n(algo, ratings, again, n, min_ratings=min_ratings)
    fold_secs = time.perf_counter() - t0

    t0 = time.perf_counter()
    bigger, uid = with_new_user(ratings, fold.items, fold.ratings)
    refit = fit_full(bigger, name, params, engine)
    u = bigger.n_users - 1
    from .recommend import top_n as top_n_user

    refit_top = top_n_user(refit, bigger, uid, n=n, min_ratings=min_ratings)
    refit_secs = time.perf_counter() - t0

    keep = _eligible_mask(ratings, min_ratings)
    keep[fold.items] = False
    a = scores(algo, fold)[keep]
    b = user_scores(model_parts(refit), u)[keep]
    m = min(len(fold_top), len(refit_top))
    overlap = len(set(fold_top["item"]) & set(refit_top["item"])) / max(m, 1)
    parts = model_parts(refit)
    return {
        "foldin_top": fold_top, "refit_top": refit_top, "overlap": overlap, "n": m,
        "spearman": float(spearmanr(a, b).statistic) if len(a) > 1 else float("nan"),
        "kendall": float(kendalltau(a, b).statistic) if len(a) > 1 else float("nan"),
        "foldin_seconds": fold_secs, "refit_seconds": refit_secs,
        "refit_bu": float(parts.bu[u]) if parts.biased else 0.0,
        "refit_pu": np.asarray(parts.pu[u], dtype=np.float64), "user_id": uid,
    }


# ---------------------------------------------------------------------------- the person's CSV
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def ratings_to_csv(ratings, fold_or_pairs) -> bytes:
    """The person's ratings as CSV (columns item, title, rating); text cells that a spreadsheet
    would run as a formula get a leading apostrophe."""
    pairs = _pairs(fold_or_pairs)
    rows = []
    for raw, value in pairs:
        hit = np.flatnonzero(ratings.item_ids == str(raw))
        title = ratings.title(int(hit[0])) if len(hit) else ""
        rows.append({"item": _safe_cell(str(raw)), "title": _safe_cell(title),
                     "rating": float(value)})
    return pd.DataFrame(rows, columns=["item", "title", "rating"]).to_csv(index=False).encode()


def _safe_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def ratings_from_csv(data: bytes, name: str = "ratings.csv") -> list[tuple[str, float]]:
    """Parse a CSV of the person's ratings (columns item and rating; others ignored) as text
    (never unpickled). InputError naming the file, the line and the value for a missing
    column, a rating that is not a number or an item listed twice. Ids and scale are checked
    against the model by ``check_new_ratings``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"not a readable CSV: {str(err)[:120]}", file=name) from None
    cols = {c.strip().lower(): c for c in df.columns}
    for need in ("item", "rating"):
        if need not in cols:
            raise InputError(f"needs a column named {need!r}", file=name, line=1,
                             value=",".join(map(str, df.columns))[:80])
    out, seen = [], {}
    for k, (item, value) in enumerate(zip(df[cols["item"]], df[cols["rating"]]), start=2):
        item = item.strip()
        if item.startswith("'"):      # our own export's formula guard
            item = item[1:]
        try:
            v = float(value)
        except ValueError:
            raise InputError("rating is not a number", file=name, line=k,
                             value=value[:40]) from None
        if item in seen:
            raise InputError(f"item rated twice (first on line {seen[item]})", file=name,
                             line=k, value=item[:40])
        seen[item] = k
        out.append((item, v))
    return out


def rating_values(ratings) -> list[float]:
    """The ratings one can give on this dataset's scale: whole steps, or half steps when the
    data has half stars (e.g. MovieLens 0.5..5)."""
    lo, hi = ratings.rating_scale
    half = bool(np.any(np.mod(ratings.ratings, 1) != 0))
    step = 0.5 if half else 1.0
    start = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(start, hi + step / 2, step)]
