"""Generic CSV/TSV ratings: columns mapped by the user, optional titles file, sniffed separator.

Also the text-table primitives the MovieLens loaders share (``TextTable``, ``clean_ratings``):
one vectorised pandas C-parser pass on the happy path; only when a value is bad is the file read
a second time (as text, blank lines kept) to name the 1-based line that holds it.

Decoding, ids and duplicates follow ``recsys.io.text`` (one policy for every loader): BOM, then
UTF-8, then cp1252; ids are the exact strings of the file; the newest rating of a repeated
(user, item) pair wins. A file with NUL bytes (other than UTF-16) or a known binary signature
(zip, gzip, parquet, ...) is rejected as "not a text file"; an empty or blank file as empty.
"""
from __future__ import annotations

import csv
import io
import itertools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Ratings, describe_scale, infer_rating_scale
from ..errors import InputError, cap
from . import text as textrules

SEPARATORS = (",", ";", "\t", "|")
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", "::": "'::'"}
_HEAD_BYTES = 1 << 16

# Column names recognised for each role (lower-case, letters and digits only).
_ROLE_NAMES = {
    "user": ("userid", "user", "uid", "customerid", "customer", "reviewerid", "userno", "users"),
    "item": ("movieid", "itemid", "item", "iid", "movie", "productid", "product", "asin",
             "bookid", "isbn", "filmid", "film", "items"),
    "rating": ("rating", "ratings", "score", "stars", "star", "bookrating", "rate", "value"),
    "timestamp": ("timestamp", "time", "date", "ts", "datetime", "ratedat", "unixtime",
                  "unixreviewtime"),
}
_TITLE_NAMES = {
    "item": _ROLE_NAMES["item"] + ("id",),
    "title": ("title", "movietitle", "name", "moviename", "itemname", "booktitle"),
    "year": ("year", "releaseyear", "yearofpublication"),
    "genres": ("genres", "genre", "class", "categories", "category"),
}
_YEAR_IN_TITLE = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$")


# ---------------------------------------------------------------------- sources
@dataclass
class Source:
    """A file path or in-memory bytes (an upload), with the label used in messages."""

    label: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of(cls, source, name: str | None = None) -> "Source":
        if isinstance(source, Source):
            return source
        if isinstance(source, (str, Path)):
            path = Path(source).expanduser()
            textrules.regular_file(path)
            return cls(label=name or str(path), path=path)
        if isinstance(source, (bytes, bytearray, memoryview)):
            return cls(label=name or "upload", data=bytes(source))
        if hasattr(source, "getvalue"):  # BytesIO, Streamlit's UploadedFile
            data = source.getvalue()
        elif hasattr(source, "read"):
            data = source.read()
        else:
            raise TypeError(f"cannot read ratings from {type(source).__name__}")
        if isinstance(data, str):
            data = data.encode("utf-8")
        return cls(label=name or str(getattr(source, "name", "upload")), data=bytes(data))

    def head(self, n: int = _HEAD_BYTES) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with open(self.path, "rb") as fh:
            return fh.read(n)

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def handle(self):
        """What pandas reads: the path, or a fresh BytesIO over the bytes."""
        return io.BytesIO(self.data) if self.data is not None else str(self.path)


def text_encoding(src: Source) -> str:
    """The codec to read ``src`` with (``recsys.io.text.sniff_encoding``); InputError for an
    empty, blank or binary file."""
    head = src.head()
    enc = textrules.sniff_encoding(head, label=src.label, complete=src.size() <= len(head))
    if not head.strip() and src.size() <= len(head):
        raise InputError("file is empty (only blank lines)", file=src.label)
    return enc


def sniff_separator(lines: list[str]) -> str:
    """The separator (, ; tab |) that splits the sample lines into the most consistent fields."""
    best, best_key = ",", (False, 1)
    for sep in SEPARATORS:
        counts = [len(row) for row in csv.reader(lines, delimiter=sep, skipinitialspace=True)]
        if not counts or counts[0] < 2:
            continue
        key = (len(set(counts)) == 1, counts[0])
        if key > best_key:
            best, best_key = sep, key
    return best


def _head_lines(src: Source, encoding: str, limit: int = 50) -> list[str]:
    head = src.head()
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if len(head) < src.size() and lines:
        lines = lines[:-1]  # the last line may be cut off
    return [ln for ln in lines if ln.strip()][:limit]


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------- the table reader
@dataclass
class TextTable:
    """A delimited text file: layout sniffed once, read fast, bad values located by line."""

    src: Source
    sep: str
    encoding: str
    header: bool
    columns: list[str]
    quoting: int = csv.QUOTE_MINIMAL
    notices: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, source, *, sep: str | None = None, header: bool | None = None,
             names: list[str] | None = None, quoting: int = csv.QUOTE_MINIMAL,
             name: str | None = None) -> "TextTable":
        """Sniff separator, header and encoding (``recsys.io.text``). ``sep="::"`` (MovieLens
        1M) is rewritten to a tab in memory so the C parser can read it. ``names`` gives a
        header-less file's columns."""
        src = Source.of(source, name)
        encoding = text_encoding(src)
        if sep == "::":
            raw = src.data if src.data is not None else src.path.read_bytes()
            if b"\t" in raw:
                pos = raw.index(b"\t")
                line = raw[:pos].count(b"\n") + 1
                start = raw.rfind(b"\n", 0, pos) + 1
                end = raw.find(b"\n", pos)
                raise InputError("unexpected tab character in a '::'-separated file",
                                 file=src.label, line=line,
                                 value=raw[start:end if end >= 0 else None].decode(
                                     encoding, errors=textrules.ERRORS).rstrip("\r"))
            src = replace(src, data=raw.replace(b"::", b"\t"), path=None)
            sep = "\t"
        lines = _head_lines(src, encoding)
        if not lines:
            head = src.head()
            if head.strip():  # text, but no line break in the first 64 KiB
                raise InputError(f"line 1 is longer than {_HEAD_BYTES // 1024} KiB (no line "
                                 "break found): not a rating file", file=src.label, line=1,
                                 value=head[:200].decode(encoding, errors="replace"))
            raise InputError("file is empty (only blank lines)", file=src.label)
        if sep is None:
            sep = sniff_separator(lines)
        first = next(csv.reader(lines[:1], delimiter=sep, skipinitialspace=True,
                                quoting=quoting))
        first = [c.strip() for c in first]
        if names is not None:
            header = bool(header)
            columns = list(names)
        else:
            if header is None:  # a first line of numbers only is data, not a header
                header = not all(_is_number(c) for c in first if c != "")
            columns = first if header else [f"col{k + 1}" for k in range(len(first))]
        if header and len(set(columns)) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            raise InputError("duplicate column name in the header", file=src.label, line=1,
                             value=dup)
        return cls(src=src, sep=sep, encoding=encoding, header=header, columns=columns,
                   quoting=quoting)

    @property
    def encodings(self) -> dict[str, str]:
        """{file label: codec} for the dataset's encoding notice."""
        return {Path(self.label).name: self.encoding}

    @property
    def label(self) -> str:
        return self.src.label

    def require(self, *cols: str) -> None:
        """InputError naming the first missing column and the columns found."""
        for col in cols:
            if col not in self.columns:
                raise InputError(f"column {col!r} not found; columns found: "
                                 f"{cap(', '.join(self.columns))}", file=self.label)

    def _kwargs(self) -> dict:
        # keep_default_na=False: "NA", "null", "None", "nan" are ids and titles like any other.
        kw = dict(sep=self.sep, quoting=self.quoting, skipinitialspace=True, engine="c",
                  encoding=self.encoding, keep_default_na=False)
        if self.encoding == textrules.FALLBACK:
            kw["encoding_errors"] = textrules.ERRORS
        if self.header:
            kw.update(header=0)
        else:
            kw.update(header=None, names=self.columns)
        return kw

    def read(self, usecols: list[str], dtype: dict | None = None,
             numeric: tuple[str, ...] = ()) -> pd.DataFrame:
        """One C-parser pass; returns the columns asked for; parser errors carry their line.

        Columns in ``numeric`` read ``recsys.io.text.MISSING_RATING`` strings as missing; every
        other column keeps its text exactly (an id ``NA`` is the string "NA").
        """
        self.require(*usecols)
        kw = self._kwargs()
        kw["na_values"] = {c: textrules.MISSING_RATING for c in numeric}
        try:
            # No ``usecols``: with it the C parser silently accepts lines with extra fields.
            df = pd.read_csv(self.src.handle(), dtype=dtype, **kw)
            return df[usecols]
        except UnicodeError as err:
            raise InputError(f"cannot decode the text as {textrules.encoding_name(self.encoding)}"
                             f" ({err.reason})", file=self.label) from None
        except pd.errors.EmptyDataError:
            raise InputError("file is empty", file=self.label) from None
        except pd.errors.ParserError as err:
            msg = str(err)
            m = re.search(r"line (\d+), saw (\d+)", msg)
            if m:
                line = int(m.group(1))
                raise InputError(f"expected {len(self.columns)} fields, found {m.group(2)}",
                                 file=self.label, line=line, value=self._line(line)) from None
            m = re.search(r"EOF inside string starting at row (\d+)", msg)
            if m:
                line = int(m.group(1)) + 1   # pandas counts rows from 0, header included
                raise InputError("a quoted field is never closed (unterminated \")",
                                 file=self.label, line=line, value=self._line(line)) from None
            raise InputError("cannot parse the file as a delimited table", file=self.label,
                             value=msg.splitlines()[0] if msg else None) from None
        except (ValueError, TypeError) as err:  # a dtype that does not fit: locate it
            for col, kind in (dtype.items() if isinstance(dtype, dict) else ()):
                if kind not in (str, "str", object):
                    self.fail(col, lambda s: pd.to_numeric(s, errors="coerce").isna(),
                              f"{col}: not a number")
            raise InputError("cannot parse the file as a delimited table", file=self.label,
                             value=str(err)) from None

    def _line(self, line: int) -> str | None:
        """The text of 1-based ``line`` (for messages; InputError caps its length)."""
        if self.encoding.startswith("utf-16"):
            return None
        handle = self.src.handle()
        try:
            with (open(handle, "rb") if isinstance(handle, str) else handle) as fh:
                raw = next(itertools.islice(fh, line - 1, None), b"")
        except OSError:
            return None
        return raw[:4096].decode(self.encoding, errors=textrules.ERRORS).rstrip("\r\n")

    def raw(self) -> pd.DataFrame:
        """Every column as text, blank lines kept: row k is line k + 1 (+1 with a header)."""
        return pd.read_csv(self.src.handle(), dtype=str, na_filter=False,
                           skip_blank_lines=False, **self._kwargs())

    def fail(self, col: str, bad, message: str):
        """Raise InputError for the first non-blank line whose ``col`` text satisfies ``bad``."""
        raw = self.raw()
        blank = (raw == "").all(axis=1).to_numpy()
        mask = np.asarray(bad(raw[col].str.strip()), dtype=bool) & ~blank
        hits = np.flatnonzero(mask)
        if len(hits) == 0:
            raise InputError(message, file=self.label)
        k = int(hits[0])
        raise InputError(message, file=self.label, line=k + 1 + int(self.header),
                         value=str(raw[col].iat[k]))


# ---------------------------------------------------------------------- validation
def _not_finite(s: pd.Series) -> pd.Series:
    v = pd.to_numeric(s, errors="coerce")
    return ~np.isfinite(v.to_numpy(dtype=np.float64, na_value=np.nan))


def clean_ratings(table: TextTable, df: pd.DataFrame, cols: dict[str, str | None], *,
                  rating_scale: tuple[float, float] | None = None,
                  whole_stars: bool = False) -> pd.DataFrame:
    """Validate and normalise a parsed frame to columns user, item, rating[, timestamp].

    ``cols`` maps user/item/rating/timestamp to column names (timestamp may be None); ``df``
    holds the ids as text (``TextTable.read`` with ``dtype=str`` for them). Missing ids or
    ratings, non-numeric or non-finite ratings, ratings off ``rating_scale`` (or not whole
    numbers with ``whole_stars``) and bad timestamps raise InputError with the line. Repeated
    (user, item) pairs keep the newest rating (``recsys.io.text.duplicate_mask``), with a
    notice in ``out.attrs["notices"]``; ``out.attrs["encodings"]`` names the file's encoding.
    """
    if len(df) == 0:
        raise InputError("no ratings found (the file has no data lines)", file=table.label)
    out = pd.DataFrame(index=df.index)
    for role in ("user", "item"):
        s = pd.Series(textrules.id_strings(df[cols[role]]), index=df.index)
        if (s == "").any():
            table.fail(cols[role], lambda t: t == "", f"missing {role} id")
        out[role] = s
    r = df[cols["rating"]]
    rcol = cols["rating"]
    if not pd.api.types.is_numeric_dtype(r) or pd.api.types.is_bool_dtype(r):
        table.fail(rcol, lambda t: ~t.isin(textrules.MISSING_RATING) & _not_finite(t),
                   "rating is not a number")
    values = r.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        table.fail(rcol, lambda t: t.isin(textrules.MISSING_RATING), "missing rating")
    if not np.isfinite(values).all():
        table.fail(rcol, _not_finite, "rating is not a finite number")
    big = np.finfo(np.float32).max
    if (np.abs(values) > big).any():
        table.fail(rcol, lambda t: np.abs(pd.to_numeric(t, errors="coerce")) > big,
                   "rating is too large for a rating")
    if whole_stars and (np.mod(values, 1) != 0).any():
        table.fail(rcol, lambda t: (np.mod(pd.to_numeric(t, errors="coerce"), 1) != 0).fillna(
            False).to_numpy(), "this format has whole stars only; found a fraction")
    if rating_scale is not None:
        lo, hi = float(rating_scale[0]), float(rating_scale[1])
        if ((values < lo) | (values > hi)).any():
            def off(t, lo=lo, hi=hi):
                v = pd.to_numeric(t, errors="coerce")
                return ((v < lo) | (v > hi)).fillna(False).to_numpy()
            table.fail(rcol, off, f"rating off the scale {lo:g}..{hi:g}")
    out["rating"] = values.astype(np.float32)
    if cols.get("timestamp"):
        out["timestamp"] = _timestamps(table, df[cols["timestamp"]], cols["timestamp"])
    out = out.reset_index(drop=True)
    notices = []
    ts = out["timestamp"].to_numpy() if "timestamp" in out else None
    lose = textrules.duplicate_mask(out["user"].to_numpy(), out["item"].to_numpy(), ts)
    if lose.any():
        notices.append(textrules.duplicate_notice(lose, out["user"].to_numpy(),
                                                  out["item"].to_numpy(), label=table.label,
                                                  timestamps=ts))
        out = out.loc[~lose].reset_index(drop=True)
    out.attrs["notices"] = notices
    out.attrs["encodings"] = table.encodings
    return out


def _timestamps(table: TextTable, s: pd.Series, col: str) -> np.ndarray:
    """Seconds since the epoch from integer/float seconds or date strings."""
    if s.isna().any():
        table.fail(col, lambda t: t.isin(textrules.MISSING_RATING), "missing timestamp")
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            table.fail(col, _not_finite, "timestamp is not a finite number")
        return np.round(v).astype(np.int64)
    try:
        dt = pd.to_datetime(s, format="mixed", utc=True)
    except (ValueError, TypeError, OverflowError):
        def bad(t):  # the first line that differs in kind from the first value
            num = pd.to_numeric(t, errors="coerce").notna().to_numpy()
            date = pd.to_datetime(t, format="mixed", utc=True, errors="coerce").notna()
            filled = np.flatnonzero((t != "").to_numpy())
            numeric_column = len(filled) > 0 and num[filled[0]]
            return ~num if numeric_column else ~date.to_numpy()
        table.fail(col, bad, "timestamp is neither a number nor a date")
    secs = (dt - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    return secs.to_numpy(dtype=np.int64)


# ---------------------------------------------------------------------- public API
def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.split(":")[0].lower())


def guess_columns(columns: list[str]) -> dict[str, str | None]:
    """Best guess of user/item/rating/timestamp columns from their names (None when unsure).

    Header-less files (columns col1, col2, ...) map to user, item, rating[, timestamp].
    """
    guess: dict[str, str | None] = {"user": None, "item": None, "rating": None,
                                    "timestamp": None}
    if columns and all(re.fullmatch(r"col\d+", c) for c in columns) and len(columns) >= 3:
        guess.update(user=columns[0], item=columns[1], rating=columns[2])
        if len(columns) >= 4:
            guess["timestamp"] = columns[3]
        return guess
    norm = [_norm(c) for c in columns]
    for role, names in _ROLE_NAMES.items():
        for candidate in names:
            hits = [c for c, n in zip(columns, norm) if n == candidate and c not in
                    guess.values()]
            if hits:
                guess[role] = hits[0]
                break
    return guess


def sniff_columns(source, sep: str | None = None, name: str | None = None) -> list[str]:
    """The column names of a CSV/TSV file or upload (``col1..colN`` when it has no header)."""
    return list(TextTable.open(source, sep=sep, name=name).columns)


def load_csv(source, user_col: str, item_col: str, rating_col: str,
             timestamp_col: str | None = None, sep: str | None = None, titles_path=None,
             titles_item_col: str | None = None, titles_title_col: str | None = None,
             rating_scale: tuple[float, float] | None = None, *, name: str | None = None,
             titles_name: str | None = None) -> Ratings:
    """Ratings from a delimited file (path, bytes or file-like upload) with mapped columns.

    ``sep`` None sniffs , ; tab |. ``rating_scale`` None infers it from the values
    (``recsys.data.infer_rating_scale``); given, ratings outside it are an InputError with the
    line. ``titles_path`` (path, bytes or file-like; ``titles_name`` labels an upload) adds
    titles, and year/genres when it has such columns or "Title (Year)" titles. ``name`` is the
    display name (defaults to the file's stem).
    """
    table = TextTable.open(source, sep=sep, name=name)
    roles = {"user": user_col, "item": item_col, "rating": rating_col,
             "timestamp": timestamp_col or None}
    used = [c for c in roles.values() if c]
    table.require(*used)
    if len(set(used)) != len(used):
        raise InputError("the same column is mapped to two roles", file=table.label,
                         value=", ".join(used))

    def parse() -> pd.DataFrame:
        df = table.read(used, dtype={user_col: str, item_col: str},
                        numeric=tuple(c for c in (rating_col, timestamp_col) if c))
        return clean_ratings(table, df, roles, rating_scale=rating_scale)

    if table.src.path is not None and table.src.data is None:
        from .cache import cached_frame

        tag = "csv-" + "-".join([repr(table.sep)] + used + [repr(rating_scale)])
        frame = cached_frame([table.src.path], tag, parse, expect=("user", "item", "rating"))
    else:
        frame = parse()
    items = None
    if titles_path is not None:
        items = load_titles(titles_path, titles_item_col, titles_title_col, name=titles_name)
    label = name or (Path(table.label).stem if table.src.path is not None else table.label)
    return ratings_from_frame(frame, items, name=label, source=table.label,
                              rating_scale=rating_scale)


def ratings_from_frame(frame: pd.DataFrame, items: pd.DataFrame | None, *, name: str,
                       source: str, rating_scale=None) -> Ratings:
    """``Ratings`` from a ``clean_ratings`` frame and an optional titles table, with the
    loaders' notices (duplicates, ...) and one notice naming each text file's encoding."""
    notices = []
    if rating_scale is None:
        rating_scale = infer_rating_scale(frame["rating"].to_numpy())
        notices.append(f"rating scale {describe_scale(rating_scale, frame['rating'].to_numpy())}"
                       " inferred from the values "
                       "(set it with --rating-scale LOW,HIGH, or in the upload form)")
    r = Ratings.from_arrays(frame["user"].to_numpy(), frame["item"].to_numpy(),
                            frame["rating"].to_numpy(), item_table=items,
                            timestamps=frame["timestamp"].to_numpy()
                            if "timestamp" in frame else None,
                            rating_scale=rating_scale, name=name, source=source)
    notices += list(frame.attrs.get("notices", ()))
    encodings = dict(frame.attrs.get("encodings", {}))
    if items is not None:
        notices += list(items.attrs.get("notices", ()))
        encodings.update(items.attrs.get("encodings", {}))
    enc = textrules.encoding_notice(encodings)
    return replace(r, notices=r.notices + tuple(notices) + ((enc,) if enc else ()))


def split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """"Toy Story (1995)" -> ("Toy Story", 1995); titles without a year keep year <NA>."""
    titles = titles.fillna("").astype(str).str.strip()
    year = titles.str.extract(_YEAR_IN_TITLE, expand=False)
    clean = titles.str.replace(_YEAR_IN_TITLE, "", regex=True).str.strip()
    clean = clean.where(clean != "", titles)
    return clean, pd.to_numeric(year, errors="coerce").astype("Int64")


def load_titles(source, item_col: str | None = None, title_col: str | None = None, *,
                sep: str | None = None, name: str | None = None) -> pd.DataFrame:
    """A titles table (columns item, title, year, genres) from a delimited file or upload."""
    table = TextTable.open(source, sep=sep, name=name)
    norm = {_norm(c): c for c in reversed(table.columns)}

    def pick(role, given):
        if given:
            table.require(given)
            return given
        for cand in _TITLE_NAMES[role]:
            if cand in norm:
                return norm[cand]
        return None

    icol, tcol = pick("item", item_col), pick("title", title_col)
    if icol is None or tcol is None:
        raise InputError("cannot tell the item and title columns of the titles file; "
                         f"columns found: {cap(', '.join(table.columns))}", file=table.label)
    ycol, gcol = pick("year", None), pick("genres", None)
    use = [c for c in dict.fromkeys([icol, tcol, ycol, gcol]) if c]
    df = table.read(use, dtype={c: str for c in use})
    out = pd.DataFrame({"item": df[icol].astype(str).str.strip()})
    title, year = split_title_year(df[tcol])
    out["title"] = title
    if ycol and ycol != tcol:
        out["year"] = pd.to_numeric(df[ycol], errors="coerce").astype("Int64")
    else:
        out["year"] = year
    if gcol:
        out["genres"] = normalise_genres(df[gcol])
    out.attrs["encodings"] = table.encodings
    return out


def normalise_genres(genres: pd.Series, sep: str | None = None) -> pd.Series:
    """"|"-joined genres; "(no genres listed)" and "unknown" become empty."""
    g = genres.fillna("").astype(str).str.strip()
    if sep is not None and sep != "|":
        g = g.str.split(sep).str.join("|") if sep != " " else g.str.split().str.join("|")
    g = g.str.replace(r"\s*\|\s*", "|", regex=True)
    return g.where(~g.str.lower().isin(["(no genres listed)", "unknown", "unkonwn"]), "")
