"""The one data container, ``Ratings``, and what every loader shares.

Inner ids are assigned in order of first appearance in the rating list (``pd.factorize`` with
``sort=False``), which is exactly how Surprise's ``build_full_trainset`` numbers users and items, so
inner id ``u`` here is inner id ``u`` of ``ratings.to_surprise().build_full_trainset()``.
Raw ids are strings everywhere (files, CLI, UI and Surprise agree on them).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .errors import InputError

#: Columns of ``Ratings.item_info``; index is the inner item id.
ITEM_COLUMNS = ("item", "title", "year", "genres")
#: Ratings numbered per step by ``_factorize_ids`` (bounds its temporaries).
_CODE_CHUNK = 1 << 22


@dataclass(frozen=True, eq=False)
class Ratings:
    """Explicit ratings as integer-coded arrays plus item metadata.

    users, items: int32 inner ids, one entry per rating.
    ratings: float32 values.
    user_ids, item_ids: raw ids (str) indexed by inner id.
    timestamps: optional int64 seconds since the epoch, one per rating.
    item_info: DataFrame indexed by inner item id with columns item (raw id), title, year (Int64,
        may be missing) and genres ("|"-joined, may be empty).
    rating_scale: (lowest, highest) possible rating.
    name: a short label shown in the UI.
    notices: human-readable notes gathered while loading/sampling (e.g. a clamped sample size).
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_info: pd.DataFrame
    rating_scale: tuple[float, float]
    name: str = "ratings"
    timestamps: np.ndarray | None = None
    notices: tuple[str, ...] = field(default_factory=tuple)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, users_raw, items_raw, ratings, *, timestamps=None, item_table=None,
                    rating_scale=None, name="ratings", source="ratings",
                    notices=()) -> "Ratings":
        """Build from raw-id sequences (any dtype; converted to str) and rating values.

        ``item_table``: optional DataFrame with column ``item`` (raw id) and any of title, year,
        genres. Items without a row get an empty title. ``rating_scale`` is inferred from the data
        when not given (see ``infer_rating_scale``).
        """
        if len(ratings) == 0:
            raise InputError("no ratings found", file=source)
        # Ids first, ratings after: each raw id array is dropped once coded (a caller that
        # hands over compact columns, e.g. int8 stars, then never holds them all converted).
        u_codes, u_uniques = _factorize_ids(users_raw)
        del users_raw
        i_codes, i_uniques = _factorize_ids(items_raw)
        del items_raw
        ratings = np.asarray(ratings, dtype=np.float32)
        if not np.isfinite(ratings).all():
            bad = int(np.flatnonzero(~np.isfinite(ratings))[0])
            raise InputError("rating is not a number", file=source, line=None,
                             value=str(ratings[bad]))
        notices = tuple(notices)
        if rating_scale is None:
            rating_scale = infer_rating_scale(ratings)
        lo, hi = float(rating_scale[0]), float(rating_scale[1])
        if not lo < hi:
            raise InputError("rating scale must have lowest < highest", value=f"{lo:g}..{hi:g}")
        if (ratings < lo).any() or (ratings > hi).any():
            k = int(np.flatnonzero((ratings < lo) | (ratings > hi))[0])
            raise InputError(f"rating off the scale {lo:g}..{hi:g}", file=source,
                             value=float(ratings[k]))
        item_ids = np.asarray(i_uniques, dtype=object)
        info = make_item_info(item_ids, item_table)
        ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        return cls(users=u_codes.astype(np.int32, copy=False),
                   items=i_codes.astype(np.int32, copy=False),
                   ratings=ratings, user_ids=np.asarray(u_uniques, dtype=object),
                   item_ids=item_ids, item_info=info, rating_scale=(lo, hi), name=name,
                   timestamps=ts, notices=notices)

    # ------------------------------------------------------------------ basic facts
    @property
    def n_ratings(self) -> int:
        return int(len(self.ratings))

    @property
    def n_users(self) -> int:
        return int(len(self.user_ids))

    @property
    def n_items(self) -> int:
        return int(len(self.item_ids))

    @property
    def density(self) -> float:
        return self.n_ratings / float(self.n_users * self.n_items)

    @property
    def global_mean(self) -> float:
        return float(np.mean(self.ratings, dtype=np.float64))

    def stats(self) -> dict:
        """Summary: counts, density, rating histogram (star -> count) and scale."""
        values, counts = np.unique(self.ratings, return_counts=True)
        return {
            "n_ratings": self.n_ratings,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "density": self.density,
            "rating_counts": {_fmt_star(v): int(c) for v, c in zip(values, counts)},
            "rating_scale": [self.rating_scale[0], self.rating_scale[1]],
        }

    def summary(self) -> str:
        """The tutorial's one-line summary."""
        return (f"{self.n_ratings} interactions, {self.n_users} users, {self.n_items} movies are "
                f"selected; only {100 * self.density:.2f}% of possible interactions are observed")

    def ratings_per_user(self) -> np.ndarray:
        return np.bincount(self.users, minlength=self.n_users)

    def ratings_per_item(self) -> np.ndarray:
        return np.bincount(self.items, minlength=self.n_items)

    def item_stats(self) -> pd.DataFrame:
        """item_info plus n_ratings and mean_rating per item (index = inner item id)."""
        n = self.ratings_per_item()
        s = np.bincount(self.items, weights=self.ratings.astype(np.float64),
                        minlength=self.n_items)
        out = self.item_info.copy()
        out["n_ratings"] = n
        with np.errstate(invalid="ignore", divide="ignore"):
            out["mean_rating"] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
        return out

    def long_tails(self) -> dict:
        """Ratings per user and per item, most active first, with their medians and the share
        of all ratings held by the top 10% of items (the Data page's long-tail panel)."""
        per_user = np.sort(self.ratings_per_user())[::-1]
        per_item = np.sort(self.ratings_per_item())[::-1]
        top = per_item[:max(1, len(per_item) // 10)].sum()
        return {"per_user": per_user, "per_item": per_item,
                "median_per_user": float(np.median(per_user)),
                "median_per_item": float(np.median(per_item)),
                "top10pct_item_share": float(top / per_item.sum())}

    def thinness(self, n_factors: int = 100) -> dict:
        """How much data there is to learn from: median ratings per user and per item, and
        ratings per learned parameter of a biased MF model with ``n_factors`` factors
        (parameters = (users + items) × (n_factors + 1): p_u, q_i, b_u, b_i)."""
        n_params = (self.n_users + self.n_items) * (int(n_factors) + 1)
        return {"median_per_user": float(np.median(self.ratings_per_user())),
                "median_per_item": float(np.median(self.ratings_per_item())),
                "n_params": int(n_params), "n_factors": int(n_factors),
                "ratings_per_param": self.n_ratings / n_params}

    def thin_warning(self, n_factors: int = 100) -> str | None:
        """A warning with the figures when the sample is too thin for MF to learn much (median
        user < 5 ratings, median item < 2, or < 0.1 ratings per parameter); else None."""
        t = self.thinness(n_factors)
        if (t["median_per_user"] >= 5 and t["median_per_item"] >= 2
                and t["ratings_per_param"] >= 0.1):
            return None
        return (f"Thin data: the median user has {t['median_per_user']:g} rating(s) and the "
                f"median movie {t['median_per_item']:g}; {self.n_ratings:,} ratings for "
                f"{t['n_params']:,} parameters of MF at k={t['n_factors']} "
                f"({t['ratings_per_param']:.2g} per parameter). MF cannot learn much here, "
                "so compare it with the global-mean and baseline rows. Sample more users, or "
                "use a denser subset (users and movies with at least 20 ratings).")

    def matrix_slice(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``n`` most active users x the ``n`` most rated items as a dense matrix (NaN =
        unrated), with their raw user ids and item titles. Ties keep inner-id order."""
        top_u = np.argsort(-self.ratings_per_user(), kind="stable")[:n]
        top_i = np.argsort(-self.ratings_per_item(), kind="stable")[:n]
        pos_u = np.full(self.n_users, -1)
        pos_u[top_u] = np.arange(len(top_u))
        pos_i = np.full(self.n_items, -1)
        pos_i[top_i] = np.arange(len(top_i))
        m = np.full((len(top_u), len(top_i)), np.nan)
        keep = (pos_u[self.users] >= 0) & (pos_i[self.items] >= 0)
        m[pos_u[self.users[keep]], pos_i[self.items[keep]]] = self.ratings[keep]
        return m, self.user_ids[top_u], self.item_info["title"].to_numpy()[top_i]

    def to_frame(self) -> pd.DataFrame:
        """Raw-id DataFrame with columns user, item, rating (and timestamp when known)."""
        df = pd.DataFrame({
            "user": self.user_ids[self.users],
            "item": self.item_ids[self.items],
            "rating": self.ratings.astype(np.float64),
        })
        if self.timestamps is not None:
            df["timestamp"] = self.timestamps
        return df

    # ------------------------------------------------------------------ ids
    def user_inner(self, raw) -> int:
        """Inner id of a raw user id; InputError naming the id when unknown."""
        return _lookup(self.user_ids, raw, "user")

    def item_inner(self, raw) -> int:
        return _lookup(self.item_ids, raw, "item")

    def title(self, inner_item: int) -> str:
        return str(self.item_info["title"].iat[int(inner_item)])

    # ------------------------------------------------------------------ sampling and Surprise
    def subset(self, mask: np.ndarray, *, name: str | None = None,
               notices: tuple[str, ...] = ()) -> "Ratings":
        """Keep the ratings where ``mask`` is true, re-coding ids by first appearance."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            raise InputError("the selection is empty: no ratings left")
        u_codes, u_uni = pd.factorize(self.users[mask], sort=False)
        i_codes, i_uni = pd.factorize(self.items[mask], sort=False)
        info = self.item_info.iloc[i_uni].reset_index(drop=True)
        return replace(
            self, users=u_codes.astype(np.int32), items=i_codes.astype(np.int32),
            ratings=self.ratings[mask], user_ids=self.user_ids[u_uni],
            item_ids=self.item_ids[i_uni], item_info=info,
            timestamps=None if self.timestamps is None else self.timestamps[mask],
            name=name or self.name, notices=self.notices + tuple(notices))

    def sample_users(self, n: int | None, seed: int = 0) -> "Ratings":
        """Pick ``n`` users at random (seeded) and keep all their ratings.

        ``n`` None or >= the number of users keeps everyone; a larger ``n`` is clamped with a
        notice. ``n`` < 1 is an InputError.
        """
        if n is None:
            return self
        n = int(n)
        if n < 1:
            raise InputError("sample size must be at least 1 user", value=n)
        if n >= self.n_users:
            notes = ()
            if n > self.n_users:
                notes = (f"asked for {n} users but the data has {self.n_users}; using all of them",)
            return replace(self, notices=self.notices + notes)
        rng = np.random.default_rng(seed)
        chosen = rng.choice(self.n_users, size=n, replace=False)
        keep = np.zeros(self.n_users, dtype=bool)
        keep[chosen] = True
        return self.subset(keep[self.users], name=f"{self.name} ({n} users, seed {seed})")

    def to_surprise(self):
        """A ``surprise.Dataset`` holding the same ratings in the same order (raw ids: str)."""
        from surprise import Dataset, Reader

        df = self.to_frame()[["user", "item", "rating"]]
        return Dataset.load_from_df(df, Reader(rating_scale=self.rating_scale))


# ---------------------------------------------------------------------- helpers for loaders
def make_item_info(item_ids: np.ndarray, item_table: pd.DataFrame | None) -> pd.DataFrame:
    """Item metadata aligned to inner ids; missing titles fall back to ``"item <id>"``."""
    info = pd.DataFrame({"item": np.asarray(item_ids, dtype=object)})
    if item_table is not None and len(item_table):
        t = item_table.copy()
        t["item"] = _as_str(t["item"])
        t = t.drop_duplicates("item", keep="first").set_index("item")
        for col in ("title", "year", "genres"):
            if col in t.columns:
                info[col] = t[col].reindex(info["item"]).to_numpy()
    if "title" not in info:
        info["title"] = None
    missing = info["title"].isna() | (info["title"].astype(str) == "")
    info.loc[missing, "title"] = "item " + info.loc[missing, "item"].astype(str)
    info["title"] = info["title"].astype(str)
    info["year"] = pd.array(info["year"] if "year" in info else [pd.NA] * len(info), dtype="Int64")
    info["genres"] = (info["genres"] if "genres" in info else pd.Series([""] * len(info))).fillna("")
    info["genres"] = info["genres"].astype(str)
    return info[list(ITEM_COLUMNS)]


#: Common scales, tried in this order: the first that holds every value (and, for the
#: star scales, the values' step) is the inferred scale.
COMMON_SCALES = ((0.0, 1.0), (1.0, 5.0), (0.5, 5.0), (0.0, 5.0), (1.0, 10.0), (0.5, 10.0),
                 (0.0, 10.0), (1.0, 100.0), (0.0, 100.0), (-1.0, 1.0), (-5.0, 5.0),
                 (-10.0, 10.0), (-100.0, 100.0))


def rating_step(ratings: np.ndarray) -> float:
    """The values' granularity: 1 (whole numbers), 0.5 (half stars) or 0 (continuous)."""
    r = np.asarray(ratings, dtype=np.float64)
    if np.all(np.mod(r, 1) == 0):
        return 1.0
    if np.all(np.mod(r * 2, 1) == 0):
        return 0.5
    return 0.0


def infer_rating_scale(ratings: np.ndarray) -> tuple[float, float]:
    """Guess the scale from observed values (``COMMON_SCALES``): binary 0/1 data is 0..1, whole
    stars 1..5, half stars 0.5..5, then 1..10, 0..100, symmetric negative scales such as
    -10..10 (Jester); else the observed min..max. A single value v gives (v - 1, v) unless a
    common scale holds it."""
    r = np.asarray(ratings, dtype=np.float64)
    lo, hi = float(np.min(r)), float(np.max(r))
    step = rating_step(r)
    for cand in COMMON_SCALES:
        if not (cand[0] <= lo and hi <= cand[1]):
            continue
        if cand[0] == 0.5 and step == 1.0 and lo >= 1:
            continue       # whole stars: 1..N, not 0.5..N
        if cand[0] < 0 and not (lo <= 0.9 * cand[0] and hi >= 0.9 * cand[1]):
            continue       # a signed scale only when the values reach near both of its ends
        return cand
    if lo == hi:
        return (lo - 1.0, hi)
    return (lo, hi)


def describe_scale(scale, values=None) -> str:
    """"1..5", or "0..1 (binary like/dislike)" when ``values`` are all 0 or 1."""
    lo, hi = float(scale[0]), float(scale[1])
    binary = (lo, hi) == (0.0, 1.0) and values is not None and rating_step(values) == 1.0
    return f"{lo:g}..{hi:g}" + (" (binary like/dislike)" if binary else "")


def default_threshold(scale, step: float = 1.0) -> float:
    """The default relevance threshold of ranking metrics on ``scale``: the top quarter of the
    scale, rounded up to the ratings' step (1..5 -> 4, 0.5..5 -> 4, 0..1 -> 1, 1..10 -> 8,
    0..100 -> 75, 150..200 -> 188). Surprise's FAQ uses 3.5 on 1..5; we keep the tutorial's 4."""
    lo, hi = float(scale[0]), float(scale[1])
    t = lo + 0.75 * (hi - lo)
    if step > 0:
        t = float(np.ceil(round(t / step, 9)) * step)
    return float(min(max(t, lo), hi))


def parse_scale(text: str, *, what: str = "rating scale") -> tuple[float, float] | None:
    """"1,5", "1-5", "0.5..5", "-10 - 10" or "1 to 10" -> (low, high); blank -> None (infer).

    InputError (value capped) unless both bounds are finite numbers with low < high.
    """
    import re

    raw = str(text).strip()
    if not raw:
        return None
    m = re.fullmatch(r"([-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?)\s*(?:,|\.\.|-|to)\s*"
                     r"([-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?)", raw, flags=re.I)
    if not m:
        raise InputError(f"{what} must be two numbers LOW,HIGH, e.g. 1,5", value=raw)
    lo, hi = float(m.group(1)), float(m.group(2))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(f"{what} bounds must be finite numbers", value=raw)
    if not lo < hi:
        raise InputError(f"{what}: the lowest rating comes first and must be below the highest "
                         f"(e.g. {min(lo, hi):g},{max(lo, hi):g})", value=raw)
    return lo, hi


def _factorize_ids(values) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32) by first appearance and raw ids as str. Integer ids are numbered as
    integers and only the uniques become strings (same numbering, ~10x faster than a str per
    rating), chunk by chunk into the int32 codes (no int64 code per rating)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        uniques = pd.unique(arr)   # in order of first appearance, as pd.factorize numbers them
        index = pd.Index(uniques)
        codes = np.empty(len(arr), np.int32)
        for start in range(0, len(arr), _CODE_CHUNK):
            codes[start:start + _CODE_CHUNK] = index.get_indexer(arr[start:start + _CODE_CHUNK])
        return codes, np.asarray(uniques).astype(str).astype(object)
    codes, uniques = pd.factorize(_as_str(arr), sort=False)
    return codes.astype(np.int32), uniques


def _as_str(values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        # 12.0 -> "12": ids read as floats (e.g. a column with blanks) keep their integer form.
        if np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
    return arr.astype(str).astype(object)


def _lookup(ids: np.ndarray, raw, what: str) -> int:
    key = str(raw)
    hits = np.flatnonzero(ids == key)
    if len(hits) == 0:
        raise InputError(f"unknown {what} id", value=key)
    return int(hits[0])


def _fmt_star(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:g}"
