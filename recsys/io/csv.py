"""Generic CSV/TSV ratings: columns mapped by the user, optional titles file, sniffed separator.

Also the text-table primitives the MovieLens loaders share (``TextTable``, ``clean_ratings``):
one vectorised pandas C-parser pass on the happy path; only when a value is bad is the file read
a second time (as text, blank lines kept) to name the 1-based line that holds it.

Encoding policy (decided here, used by every loader in this module and ``recsys.movielens``):
text is read as UTF-8 (a UTF-8 BOM is skipped; UTF-16 with a BOM is decoded); bytes that are not
valid UTF-8 are read as Latin-1 (ISO-8859-1, the encoding of MovieLens and Netflix title files),
which cannot fail, and a notice on the ``Ratings`` says so. A file with NUL bytes or a known
binary signature (zip, gzip, parquet, ...) is rejected as "not a text file"; an empty or blank
file is rejected as empty.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Ratings
from ..errors import InputError

SEPARATORS = (",", ";", "\t", "|")
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", "::": "'::'"}
_HEAD_BYTES = 1 << 16
_MAGIC = {
    b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip archive", b"PAR1": "a parquet file",
    b"BZh": "a bzip2 archive", b"\xfd7zXZ": "an xz archive", b"7z\xbc\xaf": "a 7-zip archive",
    b"%PDF": "a PDF document", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database", b"\x7fELF": "an executable",
}

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
            if not path.exists():
                raise InputError("no such file", file=str(path))
            if path.is_dir():
                raise InputError("is a folder, not a file", file=str(path))
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


def text_encoding(src: Source, notices: list[str] | None = None) -> str:
    """The encoding to read ``src`` with; InputError for an empty, blank or binary file."""
    head = src.head()
    if not head:
        raise InputError("file is empty", file=src.label)
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            return enc
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise InputError(f"not a text file (looks like {what})", file=src.label)
    if b"\x00" in head:
        raise InputError("not a text file (it contains NUL bytes)", file=src.label)
    control = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if control > max(8, len(head) // 100):
        raise InputError("not a text file (too many control characters)", file=src.label)
    if not head.strip() and src.size() <= len(head):
        raise InputError("file is empty (only blank lines)", file=src.label)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=src.size() <= len(head))
    except UnicodeDecodeError:
        if notices is not None:
            notices.append(f"{src.label} is not UTF-8; read it as Latin-1 (ISO-8859-1)")
        return "latin-1"
    return "utf-8"


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
    text = head.decode(encoding, errors="replace")
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
             name: str | None = None, encoding: str | None = None) -> "TextTable":
        """Sniff separator, header and encoding. ``sep="::"`` (MovieLens 1M) is rewritten to a
        tab in memory so the C parser can read it. ``names`` gives a header-less file's columns.
        ``encoding`` forces a known encoding (binary and empty files are still rejected)."""
        src = Source.of(source, name)
        notices: list[str] = []
        sniffed = text_encoding(src, notices)
        if encoding is None:
            encoding = sniffed
        else:
            notices.clear()
        if sep == "::":
            raw = src.data if src.data is not None else src.path.read_bytes()
            if b"\t" in raw:
                raise InputError("unexpected tab character in a '::'-separated file",
                                 file=src.label)
            src = replace(src, data=raw.replace(b"::", b"\t"), path=None)
            sep = "\t"
        lines = _head_lines(src, encoding)
        if not lines:
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
                   quoting=quoting, notices=notices)

    @property
    def label(self) -> str:
        return self.src.label

    def require(self, *cols: str) -> None:
        """InputError naming the first missing column and the columns found."""
        for col in cols:
            if col not in self.columns:
                raise InputError(f"column {col!r} not found; columns found: "
                                 f"{', '.join(self.columns)}", file=self.label)

    def _kwargs(self) -> dict:
        kw = dict(sep=self.sep, quoting=self.quoting, skipinitialspace=True, engine="c")
        if self.header:
            kw.update(header=0)
        else:
            kw.update(header=None, names=self.columns)
        return kw

    def read(self, usecols: list[str], dtype: dict | None = None) -> pd.DataFrame:
        """One C-parser pass; returns the columns asked for; parser errors carry their line."""
        self.require(*usecols)
        kw = self._kwargs()
        try:
            return self._read(kw, usecols, dtype)
        except UnicodeDecodeError:
            if self.encoding == "latin-1":
                raise
            self.notices.append(f"{self.label} is not UTF-8; read it as Latin-1 (ISO-8859-1)")
            self.encoding = "latin-1"
            return self._read(kw, usecols, dtype)

    def _read(self, kw, usecols, dtype):
        try:
            # No ``usecols``: with it the C parser silently accepts lines with extra fields.
            df = pd.read_csv(self.src.handle(), dtype=dtype, encoding=self.encoding, **kw)
            return df[usecols]
        except UnicodeDecodeError:
            raise
        except pd.errors.EmptyDataError:
            raise InputError("file is empty", file=self.label) from None
        except pd.errors.ParserError as err:
            m = re.search(r"line (\d+), saw (\d+)", str(err))
            if m:
                raise InputError(f"expected {len(self.columns)} fields, found {m.group(2)}",
                                 file=self.label, line=int(m.group(1))) from None
            raise InputError(f"cannot parse: {str(err).splitlines()[0]}",
                             file=self.label) from None
        except (ValueError, TypeError) as err:  # a dtype that does not fit: locate it
            for col, kind in (dtype.items() if isinstance(dtype, dict) else ()):
                if kind not in (str, "str", object):
                    self.fail(col, lambda s: pd.to_numeric(s, errors="coerce").isna(),
                              f"{col}: not a number")
            raise InputError(f"cannot parse: {err}", file=self.label) from None

    def raw(self) -> pd.DataFrame:
        """Every column as text, blank lines kept: row k is line k + 1 (+1 with a header)."""
        return pd.read_csv(self.src.handle(), dtype=str, na_filter=False,
                           skip_blank_lines=False, encoding=self.encoding, **self._kwargs())

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
                  rating_scale: tuple[float, float] | None = None) -> pd.DataFrame:
    """Validate and normalise a parsed frame to columns user, item, rating[, timestamp].

    ``cols`` maps user/item/rating/timestamp to column names (timestamp may be None). Missing
    ids or ratings, non-numeric ratings, ratings off ``rating_scale`` and bad timestamps raise
    InputError with the line. Duplicate (user, item) pairs keep the last rating, with a notice
    in ``out.attrs["notices"]``.
    """
    if len(df) == 0:
        raise InputError("no ratings found (the file has no data lines)", file=table.label)
    out = pd.DataFrame(index=df.index)
    for role in ("user", "item"):
        s = df[cols[role]]
        if s.isna().any():
            table.fail(cols[role], lambda t: t == "", f"missing {role} id")
        if not pd.api.types.is_numeric_dtype(s):
            s = s.astype(str).str.strip()
        elif s.dtype.kind == "f":  # a column of whole numbers read as float: keep them int
            s = s.astype(np.int64) if np.all(np.mod(s.to_numpy(), 1) == 0) else s
        out[role] = s
    r = df[cols["rating"]]
    rcol = cols["rating"]
    if not pd.api.types.is_numeric_dtype(r) or pd.api.types.is_bool_dtype(r):
        table.fail(rcol, lambda t: (t != "") & _not_finite(t), "rating is not a number")
    values = r.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        table.fail(rcol, lambda t: t == "", "missing rating")
    if not np.isfinite(values).all():
        table.fail(rcol, _not_finite, "rating is not a finite number")
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
    notices = list(table.notices)
    dup = _duplicated_pairs(out["user"], out["item"])
    if dup.any():
        out = out.loc[~dup].reset_index(drop=True)
        notices.append(f"{int(dup.sum())} duplicate (user, item) ratings in {table.label}; "
                       "kept the last rating of each pair")
    out.attrs["notices"] = notices
    return out


def _duplicated_pairs(users: pd.Series, items: pd.Series) -> np.ndarray:
    """True for every (user, item) pair seen again later (keep the last), vectorised."""
    u_codes, _ = pd.factorize(users, sort=False)
    i_codes, i_uni = pd.factorize(items, sort=False)
    key = u_codes.astype(np.int64) * max(len(i_uni), 1) + i_codes
    return pd.Series(key).duplicated(keep="last").to_numpy()


def _timestamps(table: TextTable, s: pd.Series, col: str) -> np.ndarray:
    """Seconds since the epoch from integer/float seconds or date strings."""
    if s.isna().any():
        table.fail(col, lambda t: t == "", "missing timestamp")
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
        df = table.read(used, dtype={user_col: str, item_col: str})
        return clean_ratings(table, df, roles, rating_scale=rating_scale)

    if table.src.path is not None and table.src.data is None:
        from .cache import cached_frame

        tag = "csv-" + "-".join([repr(table.sep)] + used + [repr(rating_scale)])
        frame = cached_frame([table.src.path], tag, parse)
    else:
        frame = parse()
    items = None
    if titles_path is not None:
        items = load_titles(titles_path, titles_item_col, titles_title_col, name=titles_name)
    label = name or (Path(table.label).stem if table.src.path is not None else table.label)
    r = Ratings.from_arrays(frame["user"].to_numpy(), frame["item"].to_numpy(),
                            frame["rating"].to_numpy(), item_table=items,
                            timestamps=frame["timestamp"].to_numpy()
                            if "timestamp" in frame else None,
                            rating_scale=rating_scale, name=label, source=table.label)
    return replace(r, notices=r.notices + tuple(frame.attrs.get("notices", ())))


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
                         f"columns found: {', '.join(table.columns)}", file=table.label)
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
    return out


def normalise_genres(genres: pd.Series, sep: str | None = None) -> pd.Series:
    """"|"-joined genres; "(no genres listed)" and "unknown" become empty."""
    g = genres.fillna("").astype(str).str.strip()
    if sep is not None and sep != "|":
        g = g.str.split(sep).str.join("|") if sep != " " else g.str.split().str.join("|")
    g = g.str.replace(r"\s*\|\s*", "|", regex=True)
    return g.where(~g.str.lower().isin(["(no genres listed)", "unknown", "unkonwn"]), "")
