"""Synthetic Netflix-format ratings with planted structure, any size, deterministic for a seed.

The generative model (all vectorised; one seeded ``numpy.random.Generator``):

* ``G`` latent genres (default 10) with centres ``c_g`` (random unit vectors in ``d`` = 16 dims);
  each item ``i`` belongs to one genre ``g(i)`` and its factor is ``q_i = c_g(i) + noise``.
* users have genre preferences ``pref_u ~ Dirichlet(0.25)`` (a few favourite genres) and the
  factor ``p_u = s (pref_u - 1/G) C``, so ``q_iᵀp_u`` is high for the user's favourite genres.
* item popularity and user activity follow Zipf laws (weight ∝ rank^-a over a random ranking),
  capped so no user or item is asked for more ratings than it can have.
* which pairs are rated: a user drawn by activity picks a genre (from ``pref_u`` 60% of the time,
  else by genre popularity) and then an item of that genre by popularity; each (user, item) pair
  at most once; every user and item gets at least one rating when ``n_ratings`` allows.
* the latent score ``mu + b_u + b_i + q_iᵀp_u + noise`` (item bias grows with popularity) is
  mapped to 1..5 stars by quantile thresholds, so the histogram matches Netflix's
  (4.6% / 10.1% / 28.7% / 33.6% / 23.0%).
* dates between 2000-01-01 and 2005-12-31, denser towards the end.

``write_netflix`` writes ``combined_data_1.txt`` (text built with numpy, block by block),
``movie_titles.csv`` (ISO-8859-1; titles with commas, quotes and accents; some ``NULL`` years)
and ``genres.csv`` (MovieID, planted genre name).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..data import Ratings
from ..errors import InputError
from .paths import data_dir

DEFAULTS = {"users": 2000, "items": 500, "ratings": 100_000, "seed": 0}
#: Netflix Prize star shares for 1..5.
NETFLIX_HISTOGRAM = (0.046, 0.101, 0.287, 0.336, 0.230)
GENRE_NAMES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Documentary",
               "Animation", "Thriller", "Western", "Musical", "Crime")
GENRES_FILE = "genres.csv"
#: Records how a folder was made; a folder from another generator version is rebuilt.
META_FILE = "synth.json"
#: Bump whenever generate() changes its output for the same arguments.
GENERATOR_VERSION = 3
RATINGS_FILE = "combined_data_1.txt"
TITLES_FILE = "movie_titles.csv"
_MAX_CUSTOMER_ID = 2_649_429
_FIRST_DAY = 10957   # 2000-01-01
_LAST_DAY = 13148    # 2005-12-31
_DIM = 16
_CHUNK = 2_000_000


class SynthData(NamedTuple):
    """One generated data set. Ratings are grouped by movie (ascending), shuffled within."""

    users: np.ndarray        # int32 raw customer id per rating
    items: np.ndarray        # int32 raw movie id per rating (1..n_items)
    ratings: np.ndarray      # int8 stars 1..5
    days: np.ndarray         # int32 days since 1970-01-01
    item_genre: np.ndarray   # int16 planted genre of movie id k at index k - 1
    genre_names: tuple
    titles: list             # title of movie id k at index k - 1
    years: np.ndarray        # int32 release year of movie id k at k - 1; 0 = unknown (NULL)


def generate(n_users: int = DEFAULTS["users"], n_items: int = DEFAULTS["items"],
             n_ratings: int = DEFAULTS["ratings"], seed: int = DEFAULTS["seed"], *,
             n_genres: int = 10) -> SynthData:
    """Generate ratings from the planted model above (same arguments, same arrays, bit for bit)."""
    n_users, n_items, n_ratings = (_positive(v, k) for v, k in (
        (n_users, "users"), (n_items, "items"), (n_ratings, "ratings")))
    seed = _positive(int(seed) + 1, "seed + 1") - 1  # seeds are >= 0
    if n_ratings > n_users * n_items:
        raise InputError("more ratings than (user, item) pairs",
                         value=f"{n_ratings} > {n_users} x {n_items}")
    if not 1 <= n_genres <= len(GENRE_NAMES):
        raise InputError(f"n_genres must be 1..{len(GENRE_NAMES)}", value=n_genres)
    rng = np.random.default_rng(seed)
    G = min(n_genres, n_items)

    # Genres and factors.
    sizes = rng.dirichlet(np.full(G, 3.0))
    item_genre = np.concatenate([np.arange(G), rng.choice(G, size=n_items - G, p=sizes)])
    item_genre = rng.permutation(item_genre).astype(np.int16)
    centres = rng.normal(size=(G, _DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    Q = (centres[item_genre] + rng.normal(scale=0.3 / np.sqrt(_DIM), size=(n_items, _DIM)))
    pref = rng.dirichlet(np.full(G, 0.25), size=n_users)
    P = 2.2 * (pref - 1.0 / G) @ centres + rng.normal(scale=0.1 / np.sqrt(_DIM),
                                                      size=(n_users, _DIM))
    Q, P = Q.astype(np.float32), P.astype(np.float32)

    # Zipf popularity / activity over random rankings, capped at what is possible.
    w_item = _capped(_zipf(rng, n_items, 1.1), n_ratings, 0.7 * n_users)
    w_user = _capped(_zipf(rng, n_users, 0.7), n_ratings, 0.7 * n_items)

    u, i = _pairs(rng, n_users, n_items, n_ratings, w_user, w_item, pref, item_genre, G)

    # Latent score -> stars by quantile thresholds.
    pop = np.log(w_item)
    b_item = 0.35 * (pop - pop.mean()) / (pop.std() + 1e-12) + rng.normal(scale=0.3,
                                                                          size=n_items)
    b_user = rng.normal(scale=0.35, size=n_users)
    score = np.empty(len(u), np.float32)
    for s in range(0, len(u), _CHUNK):
        uu, ii = u[s:s + _CHUNK], i[s:s + _CHUNK]
        score[s:s + _CHUNK] = (np.einsum("ij,ij->i", P[uu], Q[ii]) + b_user[uu] + b_item[ii]
                               + rng.normal(scale=0.55, size=len(uu)))
    cuts = np.quantile(score, np.cumsum(NETFLIX_HISTOGRAM)[:-1])
    stars = (np.searchsorted(cuts, score, side="right") + 1).astype(np.int8)
    del score
    days = (_FIRST_DAY + np.floor((_LAST_DAY - _FIRST_DAY + 1)
                                  * np.sqrt(rng.random(len(u))))).astype(np.int32)

    # Raw ids, then group by movie with a random order inside each movie.
    if n_users <= _MAX_CUSTOMER_ID:
        cust = np.sort(rng.choice(_MAX_CUSTOMER_ID, size=n_users, replace=False) + 1)
    else:
        cust = np.arange(1, n_users + 1)
    cust = cust.astype(np.int32)
    perm = rng.permutation(len(u))
    small = i.astype(np.uint16) if n_items <= 65535 else i   # radix sort for 16-bit keys
    order = perm[np.argsort(small[perm], kind="stable")]
    del small
    del perm
    titles, years = _titles(rng, n_items)
    return SynthData(users=cust[u[order]], items=(i[order] + 1).astype(np.int32),
                     ratings=stars[order], days=days[order], item_genre=item_genre,
                     genre_names=GENRE_NAMES[:G], titles=titles, years=years)


def write_netflix(out_dir, n_users: int = DEFAULTS["users"], n_items: int = DEFAULTS["items"],
                  n_ratings: int = DEFAULTS["ratings"], seed: int = DEFAULTS["seed"],
                  **kwargs) -> dict:
    """Generate and write a Netflix-format folder; returns its path, files and statistics."""
    data = generate(n_users, n_items, n_ratings, seed, **kwargs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_ratings(out / RATINGS_FILE, data)
    lines = [f"{k + 1},{'NULL' if y == 0 else y},{t}\n"
             for k, (y, t) in enumerate(zip(data.years.tolist(), data.titles))]
    (out / TITLES_FILE).write_bytes("".join(lines).encode("iso-8859-1"))
    names = np.asarray(data.genre_names, dtype=object)[data.item_genre]
    pd.DataFrame({"item": np.arange(1, n_items + 1), "genre": names}).to_csv(
        out / GENRES_FILE, index=False)
    stats = {"path": str(out), "files": [RATINGS_FILE, TITLES_FILE, GENRES_FILE, META_FILE],
             **synth_stats(data)}
    meta = {"generator_version": GENERATOR_VERSION, "users": n_users, "items": n_items,
            "ratings": n_ratings, "seed": seed, **kwargs, "stats": stats}
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return stats


def synth_stats(data: SynthData) -> dict:
    """Counts, density, star histogram and planted genres of a generated set."""
    n = len(data.ratings)
    n_users = int(len(np.unique(data.users)))
    n_items = int(len(np.unique(data.items)))
    counts = np.bincount(data.ratings, minlength=6)[1:6]
    return {"n_ratings": n, "n_users": n_users, "n_items": n_items,
            "density": n / float(n_users * n_items),
            "rating_counts": {str(k + 1): int(c) for k, c in enumerate(counts)},
            "n_genres": len(data.genre_names)}


def synthetic_params(params: dict | None = None) -> dict:
    """Validated {users, items, ratings, seed} (ints) from a dataset spec's key=value pairs."""
    out = dict(DEFAULTS)
    for key, value in (params or {}).items():
        if key not in DEFAULTS:
            raise InputError(f"unknown synthetic option (use {', '.join(DEFAULTS)})", value=key)
        try:
            out[key] = int(str(value).replace("_", ""))
        except ValueError:
            raise InputError(f"synthetic option {key} must be a whole number",
                             value=value) from None
        if out[key] < (0 if key == "seed" else 1):
            raise InputError(f"synthetic option {key} is too small", value=value)
    if out["ratings"] > out["users"] * out["items"]:
        raise InputError("more ratings than (user, item) pairs",
                         value=f"{out['ratings']} > {out['users']} x {out['items']}")
    return out


def synthetic_folder(params: dict | None = None) -> Path:
    """Where ``load_synthetic`` keeps the set: data_dir()/synthetic/u.._i.._r.._s../."""
    p = synthetic_params(params)
    return (data_dir() / "synthetic" /
            f"u{p['users']}_i{p['items']}_r{p['ratings']}_s{p['seed']}")


def ensure_synthetic(params: dict | None = None) -> Path:
    """Write the synthetic folder once (atomically: a temporary folder renamed into place)."""
    p = synthetic_params(params)
    folder = synthetic_folder(p)
    if _complete(folder, p):
        return folder
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", suffix=".tmp", dir=folder.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the data folder is not
        write_netflix(tmp, p["users"], p["items"], p["ratings"], p["seed"])
        if folder.exists():  # a stale leftover, or another process won the race
            if _complete(folder, p):
                return folder
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError as err:   # a full disk, a read-only data folder
        raise InputError(f"cannot write the synthetic data ({err.strerror or err})",
                         file=str(folder)) from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def synthetic_ready(params: dict | None = None) -> bool:
    """True when ``load_synthetic(params)`` will not need to generate anything."""
    p = synthetic_params(params)
    return _complete(synthetic_folder(p), p)


def _complete(folder: Path, p: dict) -> bool:
    """The folder holds every file, written by this generator version with these params."""
    if not all((folder / f).is_file() for f in (RATINGS_FILE, TITLES_FILE, GENRES_FILE)):
        return False
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("generator_version") == GENERATOR_VERSION
            and all(meta.get(k) == v for k, v in p.items()))


def load_synthetic(params: dict | None = None) -> Ratings:
    """The dataset ``synthetic[:users=..,items=..,ratings=..,seed=..]`` with planted genres in
    ``item_info["genres"]``."""
    from .netflix import load_netflix

    p = synthetic_params(params)
    folder = ensure_synthetic(p)
    ratings = load_netflix(folder)
    info = ratings.item_info.copy()
    info["genres"] = info["item"].map(planted_genres(folder)).fillna("").astype(str)
    name = f"synthetic (users={p['users']}, items={p['items']}, ratings={p['ratings']}, " \
           f"seed={p['seed']})"
    return replace(ratings, item_info=info, name=name)


def planted_genres(folder) -> dict[str, str]:
    """Raw movie id (str) -> planted genre name, from ``genres.csv`` in ``folder``."""
    path = Path(folder) / GENRES_FILE
    if not path.is_file():
        raise InputError("no planted genres file here", file=str(path))
    df = pd.read_csv(path, dtype=str)
    return dict(zip(df["item"], df["genre"]))


# ---------------------------------------------------------------------- internals
def _positive(value, what) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number", value=value) from None
    if v < 1:
        raise InputError(f"{what} must be positive", value=value)
    return v


def _zipf(rng, n: int, a: float) -> np.ndarray:
    """Weights ∝ rank^-a over a random ranking of n things."""
    return (rng.permutation(n) + 1.0) ** -a


def _capped(w: np.ndarray, total: float, cap: float) -> np.ndarray:
    """Normalise w so that total * w <= max(cap, 1) (water-filling), summing to 1."""
    w = w / w.sum()
    cap_share = max(cap, 1.0) / total
    if cap_share * len(w) < 1.0:  # cannot cap: spread evenly as far as possible
        return np.full(len(w), 1.0 / len(w))
    for _ in range(100):
        over = w > cap_share
        if not over.any():
            break
        free = 1.0 - cap_share * over.sum()
        w = np.where(over, cap_share, w * free / w[~over].sum())
    return w / w.sum()


def _pairs(rng, n_users, n_items, n_ratings, w_user, w_item, pref, item_genre, G):
    """n_ratings distinct (user, item) index pairs, sorted by user then item."""
    cells = n_users * n_items
    if n_ratings > 0.3 * cells:
        return _dense_pairs(rng, n_users, n_items, n_ratings, w_user, w_item, pref, item_genre)
    # Sampling tables: users by activity, genre by popularity or preference, item in genre.
    w_user = w_user / w_user.sum()
    cdf_user = np.cumsum(w_user)
    genre_mass = np.bincount(item_genre, weights=w_item, minlength=G)
    cdf_genre = np.cumsum(genre_mass / genre_mass.sum())
    cum_pref = np.cumsum(pref, axis=1).astype(np.float32)
    members = np.concatenate([np.flatnonzero(item_genre == g) for g in range(G)])
    # Genre g's within-genre cdf lives in (g, g + 1]: one search finds the genre and the item.
    in_genre = np.concatenate([g + np.cumsum(w_item[item_genre == g]) / genre_mass[g]
                               for g in range(G)])

    def items_for(users):
        k = len(users)
        genre = np.empty(k, np.int64)
        follow = rng.random(k) < 0.6
        genre[~follow] = _pick(cdf_genre, rng.random(int((~follow).sum())))
        fu = users[follow]
        r = rng.random(len(fu)).astype(np.float32)
        gf = np.empty(len(fu), np.int64)
        for s in range(0, len(fu), _CHUNK):
            gf[s:s + _CHUNK] = (cum_pref[fu[s:s + _CHUNK]] < r[s:s + _CHUNK, None]).sum(1)
        genre[follow] = np.minimum(gf, G - 1)
        pos = np.searchsorted(in_genre, genre + rng.random(k), side="right")
        return members[np.minimum(pos, len(members) - 1)]

    keys = np.empty(0, np.int64)
    if n_ratings >= n_users + n_items:   # every user and every item at least once
        us = np.arange(n_users)
        it = np.arange(n_items)
        keys = _sorted_unique(np.concatenate([
            us * n_items + items_for(us), _pick(cdf_user, rng.random(n_items)) * n_items + it]))
    for round_ in range(60):
        deficit = n_ratings - len(keys)
        if deficit <= 0:
            break
        m = int(deficit * 1.3) + 64
        if round_ < 50:   # users in sorted order (multinomial counts): cache-friendly
            us = np.repeat(np.arange(n_users, dtype=np.int32), rng.multinomial(m, w_user))
            new = np.empty(m, np.int64)
            for s in range(0, m, 2 * _CHUNK):   # bounded temporaries
                part = us[s:s + 2 * _CHUNK]
                new[s:s + 2 * _CHUNK] = part.astype(np.int64) * n_items + items_for(part)
            del us, part
        else:  # rare: the weighted draws keep colliding; finish uniformly
            new = rng.integers(0, cells, size=m)
        fresh = _not_in(_sorted_unique(new), keys)
        del new
        if len(fresh) > deficit:   # a random subset of the fresh pairs
            keep = np.argpartition(rng.random(len(fresh)), deficit - 1)[:deficit]
            fresh = fresh[np.sort(keep)]
        keys = np.sort(np.concatenate([keys, fresh]), kind="stable")  # merges two sorted runs
    if len(keys) < n_ratings:
        raise InputError("could not place that many distinct ratings; ask for fewer",
                         value=n_ratings)
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)


def _dense_pairs(rng, n_users, n_items, n_ratings, w_user, w_item, pref, item_genre):
    """Dense case: weighted sampling without replacement over all cells (Gumbel top-k)."""
    cells = n_users * n_items
    if cells > 20_000_000:
        raise InputError("too dense to generate: ask for fewer ratings or more users/items",
                         value=f"{n_ratings} of {cells} pairs")
    logits = (np.log(w_user)[:, None] + np.log(w_item)[None, :]
              + np.log(0.4 + pref[:, item_genre]))
    logits = logits.ravel() + rng.gumbel(size=cells)
    keys = np.sort(np.argpartition(-logits, n_ratings - 1)[:n_ratings]).astype(np.int64)
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)


def _pick(cdf: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, r * cdf[-1], side="right"), len(cdf) - 1)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy's hash-based unique is slower on tens of millions)."""
    v = np.sort(values)
    if len(v):
        v = v[np.concatenate([[True], v[1:] != v[:-1]])]
    return v


def _not_in(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """The sorted ``values`` that are not in ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return values
    at = np.searchsorted(sorted_keys, values)   # sorted needles: numpy reuses the bound
    return values[sorted_keys[np.minimum(at, len(sorted_keys) - 1)] != values]


# ---------------------------------------------------------------------- titles and text
_ADJ = ("Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Lonely", "Electric",
        "Forgotten", "Wild", "Midnight", "Secret", "Frozen", "Little", "Dark", "Endless")
_NOUN = ("River", "Empire", "Garden", "Stranger", "Kingdom", "Letter", "Machine", "Summer",
         "Harbor", "Detective", "Orchard", "Mirror", "Voyage", "Ghost", "Circus", "Frontier")
_PLACE = ("Zürich", "Málaga", "Besançon", "Reykjavík", "São Paulo", "Köln", "Montréal")


def _titles(rng, n_items: int) -> tuple[list, np.ndarray]:
    """Deterministic titles (some with commas, quotes or Latin-1 accents) and years (0 = NULL)."""
    kind = rng.integers(0, 8, size=n_items)
    a = rng.integers(0, len(_ADJ), size=(n_items, 2))
    n = rng.integers(0, len(_NOUN), size=(n_items, 3))
    pl = rng.integers(0, len(_PLACE), size=n_items)
    part = rng.integers(2, 5, size=n_items)
    titles = []
    for k in range(n_items):  # one step per movie (a few thousand), not per rating
        A, B = _ADJ[a[k, 0]], _ADJ[a[k, 1]]
        X, Y, Z = _NOUN[n[k, 0]], _NOUN[n[k, 1]], _NOUN[n[k, 2]]
        titles.append((
            f"The {A} {X}", f"{X} of the {B} {Y}", f"{X}, {Y} and {Z}",
            f"{A} {X}: Part {part[k]}", f'"{X}" and the {Y}', f"A {X} in {_PLACE[pl[k]]}",
            f"{A} {X}, {B} {Y}", f"{X}'s {Y}")[kind[k]])
    years = rng.integers(1920, 2006, size=n_items).astype(np.int32)
    years[rng.random(n_items) < 0.02] = 0
    if n_items >= 10 and not (years == 0).any():
        years[rng.integers(0, n_items)] = 0
    return titles, years


def _digits(values: np.ndarray) -> np.ndarray:
    """Number of decimal digits of non-negative integers."""
    d = np.ones(len(values), np.int64)
    p = 10
    top = int(values.max()) if len(values) else 0
    while p <= top:
        d += values >= p
        p *= 10
    return d


def _put_numbers(out: np.ndarray, ends: np.ndarray, values: np.ndarray, ndig: np.ndarray):
    """Write ``values`` in decimal so that the last digit lands at ``ends``."""
    v = values.astype(np.int64)
    for k in range(int(ndig.max()) if len(ndig) else 0):
        sel = ndig > k
        out[ends[sel] - k] = 48 + (v[sel] % 10)
        v //= 10


def _write_ratings(path: Path, data: SynthData, block_rows: int = 4_000_000) -> None:
    """Write the ratings as ``MovieID:`` blocks of ``CustomerID,Rating,YYYY-MM-DD`` lines."""
    day_text = (np.arange(_FIRST_DAY, _LAST_DAY + 1).astype("datetime64[D]")
                .astype(str).astype("S10"))
    day_bytes = np.frombuffer(day_text.tobytes(), np.uint8).reshape(-1, 10)
    movies, first, counts = np.unique(data.items, return_index=True, return_counts=True)
    with open(path, "wb") as fh:
        m0 = 0
        while m0 < len(movies):
            # A block of whole movies holding about block_rows ratings.
            m1 = m0 + 1
            while m1 < len(movies) and first[m1] - first[m0] < block_rows:
                m1 += 1
            lo = int(first[m0])
            hi = int(first[m1]) if m1 < len(movies) else len(data.items)
            users = data.users[lo:hi]
            ulen = _digits(users)
            row_len = ulen + 14                       # user + ",r," + date + "\n"
            mids = movies[m0:m1]
            mlen = _digits(mids)
            hdr_len = mlen + 2                        # id + ":\n"
            cnt = counts[m0:m1]
            movie_of_row = np.repeat(np.arange(m1 - m0), cnt)
            # Start of each row: rows before it plus headers up to and including its movie.
            row_start = np.zeros(len(users), np.int64)
            np.cumsum(row_len[:-1], out=row_start[1:])
            row_start += np.cumsum(hdr_len)[movie_of_row]
            hdr_start = np.zeros(len(mids), np.int64)
            first_row = np.concatenate([[0], np.cumsum(cnt)[:-1]])
            hdr_start[:] = row_start[first_row] - hdr_len
            out = np.empty(int(row_len.sum() + hdr_len.sum()), np.uint8)
            _put_numbers(out, hdr_start + mlen - 1, mids, mlen)
            out[hdr_start + mlen] = ord(":")
            out[hdr_start + mlen + 1] = 10
            _put_numbers(out, row_start + ulen - 1, users, ulen)
            at = row_start + ulen
            out[at] = ord(",")
            out[at + 1] = 48 + data.ratings[lo:hi]
            out[at + 2] = ord(",")
            out[(at + 3)[:, None] + np.arange(10)] = day_bytes[data.days[lo:hi] - _FIRST_DAY]
            out[at + 13] = 10
            fh.write(out.data)
            m0 = m1
