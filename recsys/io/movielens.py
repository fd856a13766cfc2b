"""MovieLens loaders: ml-100k, ml-1m (and ml-10m), ml-latest(-small) / ml-20m / ml-25m, RecBole.

``load_movielens(path)`` takes a folder (or one of its rating files) and detects the layout:

=============  ===========================================  =====================================
layout         ratings                                      items
=============  ===========================================  =====================================
``ml-100k``    ``u.data``: user item rating ts (tab)        ``u.item``: ``|``, Latin-1, 19 genre
                                                            flags; "Toy Story (1995)"
``ml-1m``      ``ratings.dat``: ``::``-separated            ``movies.dat``: id::title::genres
``ml-csv``     ``ratings.csv``: userId,movieId,rating,ts    ``movies.csv``: movieId,title,genres
``recbole``    ``*.inter``: ``user_id:token`` ... (tab)     ``*.item``: movie_title, release_year,
                                                            class (space-separated genres)
=============  ===========================================  =====================================

Titles lose their "(Year)" suffix, which becomes ``year``; genres are "|"-joined. Parsed rating
tables are cached as parquet (``recsys.io.cache.cached_frame``: keyed by each file's size, mtime
and content fingerprint, and checksummed).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .csv import (TextTable, clean_ratings, load_titles, normalise_genres, ratings_from_frame,
                  split_title_year)
from ..data import Ratings
from ..errors import InputError, cap

#: ml-100k's genre flags, in u.item's column order (from u.genre).
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western")
LAYOUTS = ("ml-100k", "ml-1m", "ml-csv", "recbole")
_RATING_COLS = {"user": "user", "item": "item", "rating": "rating", "timestamp": "timestamp"}
_QUOTE_NONE = csv.QUOTE_NONE


# ---------------------------------------------------------------------- detection
def detect_layout(path) -> tuple[str, Path]:
    """(layout, ratings file) for a MovieLens folder or one of its rating files."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError("no such file or folder", file=str(p))
    if not p.is_dir():
        from .text import regular_file

        regular_file(p)
    if p.is_file():
        name = p.name.lower()
        if name == "u.data":
            return "ml-100k", p
        if name.endswith(".dat"):
            return "ml-1m", p
        if name.endswith(".inter"):
            return "recbole", p
        if name.endswith(".csv"):
            return "ml-csv", p
        raise InputError("not a MovieLens rating file (expected u.data, ratings.dat, "
                         "ratings.csv or *.inter)", file=str(p))
    for layout, fname in (("ml-100k", "u.data"), ("ml-1m", "ratings.dat"),
                          ("ml-csv", "ratings.csv")):
        if (p / fname).is_file():
            return layout, p / fname
    inters = sorted(p.glob("*.inter"))
    if inters:
        exact = [f for f in inters if f.stem == p.name]
        if exact or len(inters) == 1:
            return "recbole", (exact or inters)[0]
        raise InputError("several RecBole .inter files; give one of them: "
                         + ", ".join(f.name for f in inters), file=str(p))
    raise InputError("no MovieLens ratings here (looked for u.data, ratings.dat, ratings.csv, "
                     "*.inter)", file=str(p))


def is_movielens_folder(path) -> bool:
    try:
        return Path(path).is_dir() and bool(detect_layout(path))
    except InputError:
        return False


def dataset_label(folder: Path | str) -> str:
    """Human label from a folder or file stem: ml-100k -> "MovieLens 100K"."""
    name = Path(folder).name
    m = re.fullmatch(r"ml-(\d+)([km])", name, flags=re.I)
    if m:
        return f"MovieLens {m.group(1)}{m.group(2).upper()}"
    if name.lower() == "ml-latest-small":
        return "MovieLens latest (small)"
    if name.lower() == "ml-latest":
        return "MovieLens latest"
    return f"MovieLens ({name})"


# ---------------------------------------------------------------------- entry point
def load_movielens(path, rating_scale: tuple[float, float] | None = None) -> Ratings:
    """Ratings from a MovieLens folder (or rating file) in any of the ``LAYOUTS``.

    ``rating_scale`` (lowest, highest) overrides the layout's own scale (1..5 whole stars for
    ml-100k and ml-1m, 0.5..5 for the CSV sets, inferred for RecBole); ratings off it are an
    InputError naming file, line and value.
    """
    layout, ratings_file = detect_layout(path)
    loader = {"ml-100k": load_ml100k, "ml-1m": load_ml1m, "ml-csv": load_ml_csv,
              "recbole": load_recbole}[layout]
    return loader(ratings_file if Path(path).is_file() else ratings_file.parent,
                  rating_scale=rating_scale)


def _cached(paths, tag, parse, expect=("item", "title")) -> pd.DataFrame:
    from .cache import cached_frame

    return cached_frame([Path(p) for p in paths], tag, parse, expect=expect)


def _movielens_scale(values: np.ndarray) -> tuple[float, float]:
    """MovieLens' scales: 1..5 whole stars (100K, 1M) or 0.5..5 half stars (later sets)."""
    if values.min() >= 1 and np.all(np.mod(values, 1) == 0):
        return (1.0, 5.0)
    return (0.5, 5.0)


def _build(frame: pd.DataFrame, items: pd.DataFrame | None, *, name: str, source: str,
           scale=None) -> Ratings:
    return ratings_from_frame(frame, items, name=name, source=source, rating_scale=scale)


def _ratings_frame(file: Path, tag: str, *, sep, header, names=None, cols=None,
                   scale=(0.5, 5.0), quoting=_QUOTE_NONE, whole_stars=False) -> pd.DataFrame:
    """Parse (or reload from the parquet cache) a rating table into user,item,rating,ts.
    Ids are read as text (``recsys.io.text``); only rating and timestamp are numeric."""
    cols = cols or _RATING_COLS

    def parse():
        table = TextTable.open(file, sep=sep, header=header, names=names, quoting=quoting)
        use = [c for c in cols.values() if c]
        df = table.read(use, dtype={cols["user"]: str, cols["item"]: str},
                        numeric=tuple(c for c in (cols["rating"], cols.get("timestamp")) if c))
        return clean_ratings(table, df, cols, rating_scale=scale, whole_stars=whole_stars)

    return _cached([file], f"{tag}-{scale}-{whole_stars}", parse,
                   expect=("user", "item", "rating"))


# ---------------------------------------------------------------------- ml-100k
def load_ml100k(folder, rating_scale=None) -> Ratings:
    """GroupLens' ml-100k folder: ``u.data`` plus ``u.item`` (optional)."""
    folder = Path(folder)
    data = folder / "u.data" if folder.is_dir() else folder
    folder = data.parent
    frame = _ratings_frame(data, "ml100k-ratings", sep="\t", header=False,
                           names=["user", "item", "rating", "timestamp"],
                           scale=rating_scale or (1.0, 5.0), whole_stars=rating_scale is None)
    items = None
    if (folder / "u.item").is_file():
        items = _cached([folder / "u.item"], "ml100k-items",
                        lambda: read_u_item(folder / "u.item"))
    return _build(frame, items, name="MovieLens 100K", source=str(data),
                  scale=rating_scale or (1.0, 5.0))


def read_u_item(path) -> pd.DataFrame:
    """``u.item``: id|title|release date|video date|IMDb URL|19 genre flags (Latin-1)."""
    names = ["item", "title", "release", "video", "url"] + [f"g{k}" for k in range(19)]
    table = TextTable.open(path, sep="|", header=False, names=names, quoting=_QUOTE_NONE)
    df = table.read(names, dtype={"item": str, "title": str, "release": str})
    title, title_year = split_title_year(df["title"])
    release_year = pd.to_numeric(df["release"].str.extract(r"(\d{4})\s*$", expand=False),
                                 errors="coerce").astype("Int64")
    flags = df[[f"g{k}" for k in range(19)]].fillna(0).to_numpy() == 1
    genres = pd.Series([""] * len(df), index=df.index, dtype=object)
    for k, g in enumerate(ML100K_GENRES):
        if g != "unknown":
            genres = genres + np.where(flags[:, k], "|" + g, "")
    out = pd.DataFrame({"item": df["item"].str.strip(), "title": title,
                        "year": release_year.fillna(title_year),
                        "genres": genres.str.lstrip("|")})
    out.attrs["encodings"] = table.encodings
    return out


# ---------------------------------------------------------------------- ml-1m / ml-10m
def load_ml1m(folder, rating_scale=None) -> Ratings:
    """GroupLens' ml-1m (or ml-10m) folder: ``ratings.dat`` and ``movies.dat`` with ``::``."""
    folder = Path(folder)
    data = folder / "ratings.dat" if folder.is_dir() else folder
    folder = data.parent
    frame = _ratings_frame(data, "ml1m-ratings", sep="::", header=False,
                           names=["user", "item", "rating", "timestamp"],
                           scale=rating_scale or (1.0, 5.0), whole_stars=rating_scale is None)
    items = None
    if (folder / "movies.dat").is_file():
        items = _cached([folder / "movies.dat"], "ml1m-items",
                        lambda: read_movies_dat(folder / "movies.dat"))
    label = dataset_label(folder)
    return _build(frame, items, name="MovieLens 1M" if "(" in label else label,
                  source=str(data), scale=rating_scale or (1.0, 5.0))


def read_movies_dat(path) -> pd.DataFrame:
    """``movies.dat``: MovieID::Title (Year)::Genre|Genre (cp1252 in ml-1m, UTF-8 later).

    Split on the first and the last ``::`` of each line, so a title that itself holds ``::``
    (or a tab) is kept whole; a line with fewer than two ``::`` is an InputError with its line.
    """
    from .text import decode

    path = Path(path)
    text, enc = decode(path.read_bytes(), label=str(path))
    lines = pd.Series(text.split("\n"), dtype=object).str.rstrip("\r")
    lines.index = np.arange(1, len(lines) + 1)
    lines = lines[lines.str.strip() != ""]
    first = lines.str.find("::")
    last = lines.str.rfind("::")
    bad = (first < 0) | (first == last)
    if bad.any():
        n = int(bad.idxmax())
        raise InputError("malformed line: expected MovieID::Title::Genres", file=str(path),
                         line=n, value=lines[n])
    item = [t[:f].strip() for t, f in zip(lines, first)]
    title_raw = pd.Series([t[f + 2:e] for t, f, e in zip(lines, first, last)], dtype=object)
    genres = pd.Series([t[e + 2:] for t, e in zip(lines, last)], dtype=object)
    title, year = split_title_year(title_raw)
    out = pd.DataFrame({"item": item, "title": title, "year": year,
                        "genres": normalise_genres(genres)})
    out.attrs["encodings"] = {path.name: enc}
    return out


# ---------------------------------------------------------------------- ml-latest / 20m / 25m
def load_ml_csv(folder, rating_scale=None) -> Ratings:
    """ml-latest-small / ml-latest / ml-20m / ml-25m: ``ratings.csv`` and ``movies.csv``."""
    folder = Path(folder)
    data = folder / "ratings.csv" if folder.is_dir() else folder
    folder = data.parent
    cols = {"user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"}
    frame = _ratings_frame(data, "mlcsv-ratings", sep=",", header=True, cols=cols,
                           quoting=csv.QUOTE_MINIMAL, scale=rating_scale or (0.5, 5.0))
    items = None
    if (folder / "movies.csv").is_file():
        items = _cached([folder / "movies.csv"], "mlcsv-items",
                        lambda: load_titles(folder / "movies.csv", "movieId", "title", sep=","))
    return _build(frame, items, name=dataset_label(folder), source=str(data),
                  scale=rating_scale or _movielens_scale(frame["rating"].to_numpy()))


# ---------------------------------------------------------------------- RecBole atomic files
def _field_map(columns: list[str]) -> dict[str, str]:
    """``user_id:token`` -> {"user_id": "user_id:token"}."""
    return {c.split(":")[0].strip(): c for c in columns}


def load_recbole(path, rating_scale=None) -> Ratings:
    """RecBole atomic files: ``NAME.inter`` (user_id, item_id, rating[, timestamp]) and
    ``NAME.item`` (item_id, movie_title, release_year, class) next to it."""
    p = Path(path)
    inter = p if p.is_file() else detect_layout(p)[1]
    probe = TextTable.open(inter, sep="\t", header=True, quoting=_QUOTE_NONE)
    fields = _field_map(probe.columns)
    for need in ("user_id", "item_id", "rating"):
        if need not in fields:
            raise InputError(f"RecBole field {need!r} not found; fields found: "
                             f"{cap(', '.join(probe.columns))}", file=str(inter))
    cols = {"user": fields["user_id"], "item": fields["item_id"], "rating": fields["rating"],
            "timestamp": fields.get("timestamp")}
    frame = _ratings_frame(inter, "recbole-ratings", sep="\t", header=True, cols=cols,
                           scale=rating_scale)
    values = frame["rating"].to_numpy()
    scale = rating_scale or (_movielens_scale(values) if values.min() >= 0.5 and
                             values.max() <= 5 else None)
    item_file = inter.with_suffix(".item")
    items = None
    if item_file.is_file():
        items = _cached([item_file], "recbole-items", lambda: read_recbole_items(item_file))
    stem = inter.stem
    name = dataset_label(stem) if re.fullmatch(r"ml-.*", stem, flags=re.I) else stem
    return _build(frame, items, name=name, source=str(inter), scale=scale)


def read_recbole_items(path) -> pd.DataFrame:
    """``.item``: item_id:token, movie_title:token_seq, release_year:token, class:token_seq."""
    table = TextTable.open(path, sep="\t", header=True, quoting=_QUOTE_NONE)
    fields = _field_map(table.columns)
    if "item_id" not in fields:
        raise InputError(f"RecBole field 'item_id' not found; fields found: "
                         f"{cap(', '.join(table.columns))}", file=str(path))
    title_f = next((fields[f] for f in ("movie_title", "title", "name") if f in fields), None)
    year_f = next((fields[f] for f in ("release_year", "year") if f in fields), None)
    genre_f = next((fields[f] for f in ("class", "genre", "genres") if f in fields), None)
    use = [c for c in (fields["item_id"], title_f, year_f, genre_f) if c]
    df = table.read(use, dtype=str)
    out = pd.DataFrame({"item": df[fields["item_id"]].str.strip()})
    if title_f:
        title, title_year = split_title_year(df[title_f])
        out["title"] = title
        out["year"] = title_year
    if year_f:
        year = pd.to_numeric(df[year_f], errors="coerce").astype("Int64")
        out["year"] = year.fillna(out["year"]) if "year" in out else year
    if genre_f:
        out["genres"] = normalise_genres(df[genre_f], sep=" ")
    out.attrs["encodings"] = table.encodings
    return out
