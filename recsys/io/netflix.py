"""Netflix Prize loader: ``combined_data_*.txt`` / ``training_set/mv_*.txt`` + ``movie_titles.csv``.

Rating files hold ``MovieID:`` header lines, each followed by ``CustomerID,Rating,YYYY-MM-DD``
lines. Parsing is vectorised: each file is read in large chunks of bytes; numpy finds the line
breaks and the header lines (those ending in ``:``), gives every rating line its movie by a
cumulative count over headers, blanks the header bytes out in place, and pyarrow's C++ CSV reader
parses the remaining ``user,rating,date`` rows straight into integer columns. No Python object is
made per rating; the only Python loops run once per movie header or per file.

The parsed frame (raw customer id, raw movie id, stars, day) is cached as parquet by
``recsys.io.cache.cached_frame``, so a second load of unchanged files skips parsing.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..data import Ratings
from ..errors import InputError
from . import text as textrules
from .cache import cached_frame

RATING_SCALE = (1.0, 5.0)
TITLES_FILE = "movie_titles.csv"
#: Bytes parsed at a time; bounds the temporary arrays of one chunk (~20 bytes per line).
CHUNK_BYTES = 64 << 20
#: The shortest rating line, ``1,1,2005-01-01`` and its line break: file bytes / this bounds
#: the number of ratings.
_MIN_LINE_BYTES = 15
_INT32_MAX = np.iinfo(np.int32).max
_NL, _CR, _COLON = 10, 13, 58
_LINE_RE = r"^\d{1,18},\d{1,9},\d{4}-\d{2}-\d{2}\r?\n?$"
_COLUMNS = ("user", "item", "rating", "day")


# ---------------------------------------------------------------------- public API
def load_netflix(path, rating_scale: tuple[float, float] | None = None) -> Ratings:
    """Load a Netflix Prize folder (or one rating file) into ``Ratings``.

    ``path`` may be a folder holding any of ``combined_data_1..4.txt``, ``training_set/mv_*.txt``
    (or ``mv_*.txt`` directly) and ``movie_titles.csv``, or a single rating file (titles are then
    looked up next to it). A repeated (user, movie) pair keeps its newest rating (by date; file
    order breaks ties), with a notice. Raw ids are the customer and movie ids exactly as
    written (the format's ids are whole numbers; one with a leading zero is refused rather than
    merged with another); timestamps are seconds at 00:00 UTC. ``rating_scale`` overrides the
    format's 1..5 stars; a rating off the scale is an InputError naming file, line and value.
    """
    path = Path(path)
    scale = tuple(float(v) for v in (rating_scale or RATING_SCALE))
    files, titles_path = find_netflix_files(path)
    frame = cached_frame(files, f"netflix-{scale}",
                         lambda: parse_rating_files(files, rating_scale=scale), expect=_COLUMNS)
    if len(frame) == 0:
        raise InputError("no ratings found", file=str(path))
    titles = read_titles(titles_path) if titles_path is not None else None
    label = path.name or str(path)
    encodings = dict(frame.attrs.get("encodings", {}))
    if titles is not None:
        encodings.update(titles.attrs.get("encodings", {}))
    notices = tuple(frame.attrs.get("notices", ())) + (textrules.encoding_notice(encodings),)
    # Take the columns out one by one so that each is freed as soon as it is converted; the
    # int8 stars become float32 in from_arrays, after the ids are coded (a lower peak).
    cols = {c: frame.pop(c).to_numpy() for c in _COLUMNS}
    del frame
    timestamps = np.multiply(cols.pop("day"), 86400, dtype=np.int64)
    return Ratings.from_arrays(
        cols.pop("user"), cols.pop("item"), cols.pop("rating"), timestamps=timestamps,
        item_table=titles, rating_scale=scale, name=f"Netflix Prize ({label})",
        source=str(path), notices=notices)


def find_netflix_files(path: Path) -> tuple[list[Path], Path | None]:
    """The rating files under ``path`` (in a stable order) and the titles file, if any."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", file=str(path))
    if not path.is_dir():
        textrules.regular_file(path)
    if path.is_file():
        if path.name == TITLES_FILE:
            raise InputError("this is the titles file; give the folder or a rating file",
                             file=str(path))
        return [path], _first_file(path.parent / TITLES_FILE, path.parent.parent / TITLES_FILE)
    combined = sorted(path.glob("combined_data_*.txt"), key=_numeric_key)
    per_movie = sorted((path / "training_set").glob("mv_*.txt"), key=_numeric_key)
    per_movie += sorted(path.glob("mv_*.txt"), key=_numeric_key)
    files = [p for p in combined + per_movie if p.is_file()]   # is_file: no FIFO or device
    if not files:
        raise InputError("no Netflix rating files (combined_data_*.txt or training_set/mv_*.txt)"
                         " in this folder", file=str(path))
    return files, _first_file(path / TITLES_FILE, path.parent / TITLES_FILE)


def parse_rating_files(files: list[Path], rating_scale=RATING_SCALE) -> pd.DataFrame:
    """Parse rating files into a frame: user, item (int32 raw ids), rating (int8), day (int32).

    ``day`` counts days since 1970-01-01. A repeated (user, item) pair keeps its newest rating
    (``recsys.io.text.duplicate_mask``); ``frame.attrs["notices"]`` says how many were dropped,
    ``frame.attrs["encodings"]`` how each file was decoded.
    """
    out = _Columns(sum(_size(f) for f in files) // _MIN_LINE_BYTES + len(files))
    encodings = {}
    for f in files:
        try:
            encodings[Path(f).name] = _parse_file(Path(f), out, rating_scale)
        except OSError as err:
            raise InputError(f"cannot read the file ({err.strerror or err})", file=str(f)) \
                from None
    cols = out.columns()
    del out
    notices = []
    if len(cols[0]):
        lose = textrules.duplicate_mask(cols[0], cols[1], cols[3])
        if lose.any():
            label = files[0].name if len(files) == 1 else f"{len(files)} rating files"
            notices.append(textrules.duplicate_notice(lose, cols[0], cols[1], label=label,
                                                      timestamps=cols[3]))
            keep = ~lose
            del lose
            for k in range(len(cols)):   # one column at a time: one copy alive at once
                cols[k] = cols[k][keep]
    frame = pd.DataFrame(dict(zip(_COLUMNS, cols)), copy=False)
    del cols
    frame.attrs["notices"] = notices
    frame.attrs["encodings"] = encodings
    return frame


def read_titles(path: Path) -> pd.DataFrame:
    """``movie_titles.csv`` (``MovieID,Year,Title``; titles may hold commas, Year may be
    ``NULL``) as a frame with columns item (str), title, year (Int64). Decoded by
    ``recsys.io.text.decode`` (the original is ISO-8859-1/cp1252; UTF-8 and UTF-16 work too);
    ``frame.attrs["encodings"]`` names the encoding."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read the file ({err.strerror or err})", file=str(path)) \
            from None
    text, enc = textrules.decode(raw, label=str(path))
    # Split on \n only: str.splitlines would also break on \x85 and other separators.
    lines = pd.Series(text.split("\n"), dtype=object).str.rstrip("\r")
    lines.index = np.arange(1, len(lines) + 1)  # 1-based line numbers
    lines = lines[lines.str.strip() != ""]
    empty = pd.DataFrame({"item": pd.Series([], dtype=object), "title": [],
                          "year": pd.array([], dtype="Int64")})
    empty.attrs["encodings"] = {path.name: enc}
    if len(lines) == 0:
        return empty
    parts = lines.str.split(",", n=2, expand=True)
    if parts.shape[1] < 3:
        parts = parts.reindex(columns=range(3))
    ids = parts[0].str.strip()
    if not re.fullmatch(r"\d+", ids.iloc[0] or "") and "id" in (ids.iloc[0] or "").lower():
        parts, lines, ids = parts.iloc[1:], lines.iloc[1:], ids.iloc[1:]  # a header row
    bad = parts[2].isna()
    if bad.any():
        n = bad.idxmax()
        raise InputError("malformed title line: expected MovieID,Year,Title", file=str(path),
                         line=int(n), value=lines[n])
    bad = ~ids.str.fullmatch(r"\d+")
    if bad.any():
        n = bad.idxmax()
        raise InputError("MovieID is not a whole number", file=str(path), line=int(n),
                         value=ids[n])
    bad = ids.str.fullmatch(r"0\d+")
    if bad.any():
        n = bad.idxmax()
        raise InputError("MovieID has a leading zero (Netflix ids are plain whole numbers)",
                         file=str(path), line=int(n), value=ids[n])
    years = parts[1].str.strip()
    missing = years.str.upper().isin(["NULL", ""])
    bad = ~missing & ~years.str.fullmatch(r"\d{1,4}")
    if bad.any():
        n = bad.idxmax()
        raise InputError("Year is neither a whole number nor NULL", file=str(path), line=int(n),
                         value=years[n])
    year = pd.array(np.where(missing, "0", years).astype(np.int64), dtype="Int64")
    year[missing.to_numpy()] = pd.NA
    out = pd.DataFrame({"item": ids.to_numpy(dtype=object),
                        "title": parts[2].str.strip().to_numpy(dtype=object), "year": year})
    out.attrs["encodings"] = {path.name: enc}
    return out


# ---------------------------------------------------------------------- parsing internals
class _Columns:
    """The parsed columns (users, items, stars, days), filled chunk by chunk into arrays
    allocated once for all files. No chunk's arrays are kept: freed, they would stay resident
    as holes in the heap, and a final concatenation would hold the data twice. ``capacity``
    bounds the rating lines (see ``_MIN_LINE_BYTES``); the pages past the last rating are never
    written, so they take no memory. Should the bound ever be passed, the arrays grow (a copy)."""

    DTYPES = (np.int32, np.int32, np.int8, np.int32)

    def __init__(self, capacity: int):
        self.arrays = [np.empty(capacity, dt) for dt in self.DTYPES]
        self.n = 0

    def add(self, cols) -> None:
        m = len(cols[0])
        if self.n + m > len(self.arrays[0]):
            size = max(2 * len(self.arrays[0]), self.n + m)
            for k, a in enumerate(self.arrays):
                grown = np.empty(size, a.dtype)
                grown[:self.n] = a[:self.n]
                self.arrays[k] = grown
        for a, c in zip(self.arrays, cols):
            a[self.n:self.n + m] = c
        self.n += m

    def columns(self) -> list[np.ndarray]:
        return [a[:self.n] for a in self.arrays]


def _size(path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0   # reported when the file is read


def _first_file(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def _numeric_key(p: Path):
    nums = re.findall(r"\d+", p.stem)
    return (int(nums[-1]) if nums else -1, p.name)


def _open_utf8(path: Path):
    """(binary file object, size, codec) of a rating file. ASCII/UTF-8/cp1252 files are read
    as they are (their digits and separators are single bytes); a UTF-16 file is decoded
    whole and re-encoded as UTF-8 in memory."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if not head:
        return open(path, "rb"), 0, "utf-8"
    enc = textrules.sniff_encoding(head, label=str(path), complete=len(head) < 1 << 16) \
        if (b"\x00" in head or head[:2] in (b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    if enc.startswith("utf-16"):
        data = textrules.decode(path.read_bytes(), label=str(path))[0].encode("utf-8")
        return io.BytesIO(data), len(data), enc
    return open(path, "rb"), path.stat().st_size, enc


def _parse_file(path: Path, out: _Columns, rating_scale=RATING_SCALE) -> str:
    """Parse one rating file chunk by chunk (each chunk ends on a line break) into ``out``;
    returns the codec it was read with."""
    name = str(path)
    movie = None          # the movie of the last header seen in this file
    next_line = 1         # 1-based number of the first line of the next chunk
    content = False       # any non-blank line so far
    fh, size, enc = _open_utf8(path)
    with fh:
        left = np.empty(0, np.uint8)
        while True:
            want = max(min(CHUNK_BYTES, size + 1), 1)
            buf = np.empty(len(left) + want, np.uint8)
            buf[:len(left)] = left
            got = fh.readinto(memoryview(buf)[len(left):])
            total = len(left) + got
            if got == 0:
                cut = total           # end of file: the rest, newline or not
            else:
                nls = np.flatnonzero(buf[:total] == _NL)
                if len(nls) == 0:     # a very long line: keep reading
                    left = buf[:total]
                    continue
                cut = int(nls[-1]) + 1
            if cut:
                chunk = buf[:cut]
                if next_line == 1 and chunk[:3].tobytes() == b"\xef\xbb\xbf":
                    chunk = chunk[3:]  # a UTF-8 byte order mark
                res, movie, n_lines, nonblank = _parse_chunk(chunk, name, next_line, movie,
                                                             rating_scale)
                content = content or nonblank
                if len(res[0]):
                    out.add(res)
                del res
                next_line += n_lines
            left = buf[cut:total].copy()
            del buf
            if got == 0:
                break
    if not content:
        raise InputError("file is empty: no MovieID or rating lines", file=name)
    return enc


def _parse_chunk(buf: np.ndarray, name: str, first_line: int, movie,
                 rating_scale=RATING_SCALE):
    """Parse whole lines in ``buf`` (modified in place). Returns
    ((users, items, stars, days), last movie, number of lines, any non-blank line)."""
    zeros = np.flatnonzero(buf == 0)
    if len(zeros):
        line = first_line + int(np.count_nonzero(buf[:zeros[0]] == _NL))
        raise InputError("not a text file (binary data)", file=name, line=line)
    ends = np.flatnonzero(buf == _NL)
    if len(buf) and buf[-1] != _NL:
        ends = np.append(ends, len(buf))
    n_lines = len(ends)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    eff = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR))  # drop a \r
    nonblank = eff > starts
    header = nonblank & (buf[np.maximum(eff - 1, 0)] == _COLON)
    rating = nonblank & ~header

    # Movie ids from the header lines (one Python step per movie, not per rating).
    h_idx = np.flatnonzero(header)
    ids = np.empty(len(h_idx) + 1, np.int64)
    ids[0] = -1 if movie is None else movie
    for k, h in enumerate(h_idx):
        text = buf[starts[h]:eff[h] - 1].tobytes()
        if not (text.isdigit() and 0 < int(text) <= _INT32_MAX and text[:1] != b"0"):
            raise InputError("bad MovieID line: expected a whole number followed by ':'",
                             file=name, line=first_line + int(h),
                             value=buf[starts[h]:eff[h]].tobytes().decode("latin-1"))
        ids[k + 1] = int(text)
        buf[starts[h]:ends[h]] = _NL  # blank the header out for the CSV reader
    r_idx = np.flatnonzero(rating)
    last_movie = int(ids[-1]) if ids[-1] >= 0 else None
    empty = (np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int8),
             np.empty(0, np.int32))
    if len(r_idx) == 0:
        return empty, last_movie, n_lines, bool(nonblank.any())
    seg = np.cumsum(header, dtype=np.int32)[r_idx]   # 0 = before any header in this chunk
    items = ids[seg]
    if items[0] < 0:
        line = first_line + int(r_idx[0])
        raise InputError("rating line before any 'MovieID:' line", file=name, line=line,
                         value=_line_text(buf, starts, eff, r_idx[0]))

    table = None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(buf)),
            read_options=pacsv.ReadOptions(column_names=["user", "rating", "date"]),
            parse_options=pacsv.ParseOptions(delimiter=",", quote_char=False,
                                              ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={"user": pa.int64(), "rating": pa.int32(), "date": pa.date32()},
                null_values=[], strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        _diagnose(buf, starts, eff, r_idx, name, first_line, str(err))
    if table is None or table.num_rows != len(r_idx):
        _diagnose(buf, starts, eff, r_idx, name, first_line, "unexpected number of rows")
    users = table.column("user").to_numpy()
    bad = (users < 0) | (users > _INT32_MAX)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError("CustomerID out of range", file=name, line=first_line + int(r_idx[k]),
                         value=str(users[k]))
    # Ids are kept as written: "07" would read as 7 and merge with another id, so refuse it.
    s0 = starts[r_idx]
    lead0 = (buf[s0] == ord("0")) & (buf[np.minimum(s0 + 1, len(buf) - 1)] != ord(","))
    if lead0.any():
        k = int(np.flatnonzero(lead0)[0])
        raise InputError("CustomerID has a leading zero (Netflix ids are plain whole numbers)",
                         file=name, line=first_line + int(r_idx[k]),
                         value=_line_text(buf, starts, eff, r_idx[k]))
    stars = table.column("rating").to_numpy()
    lo, hi = rating_scale
    bad = (stars < lo) | (stars > hi)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(f"rating off the scale {lo:g}..{hi:g}", file=name,
                         line=first_line + int(r_idx[k]), value=str(stars[k]))
    days = pc.cast(table.column("date"), pa.int32()).to_numpy()
    return ((users.astype(np.int32), items.astype(np.int32), stars.astype(np.int8),
             days.astype(np.int32, copy=False)), last_movie, n_lines, True)


def _line_text(buf, starts, eff, i) -> str:
    return buf[starts[i]:eff[i]].tobytes().decode("latin-1")


def _diagnose(buf, starts, eff, r_idx, name, first_line, arrow_msg):
    """Find the first bad rating line (vectorised) and raise an InputError naming it."""
    offsets = np.append(starts, len(buf)).astype(np.int64)
    lines = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(starts),
                                             [None, pa.py_buffer(offsets), pa.py_buffer(buf)])
    lines = lines.take(pa.array(r_idx))
    ok = pc.match_substring_regex(lines, _LINE_RE).to_numpy(zero_copy_only=False)
    bad_pos = np.flatnonzero(~ok)
    first_bad = int(bad_pos[0]) if len(bad_pos) else len(r_idx)
    if first_bad > 0:
        good = lines.slice(0, first_bad).cast(pa.large_string())
        dates = pc.utf8_slice_codeunits(pc.utf8_rtrim(good, characters="\r\n"), -10)
        parsed = pc.strptime(dates, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2005-02-30 over to March: a valid date formats back to itself.
        same = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), dates)
        bad_dates = np.flatnonzero(~pc.fill_null(same, False).to_numpy(zero_copy_only=False))
        if len(bad_dates):
            first_bad = int(bad_dates[0])
    if first_bad >= len(r_idx):
        raise InputError(f"could not parse the rating lines ({arrow_msg})", file=name)
    i = r_idx[first_bad]
    message, value = _explain(_line_text(buf, starts, eff, i))
    raise InputError(message, file=name, line=first_line + int(i), value=value)


def _explain(text: str) -> tuple[str, str]:
    """Why one rating line is bad, and the offending value."""
    fields = text.split(",")
    if len(fields) != 3:
        return (f"malformed line: expected CustomerID,Rating,YYYY-MM-DD "
                f"({len(fields)} field{'s' if len(fields) != 1 else ''} found)", text)
    user, star, date = fields
    if not re.fullmatch(r"\d{1,18}", user):
        return "CustomerID is not a whole number", user
    if not re.fullmatch(r"\d{1,9}", star):
        return "bad rating: expected a whole number of stars 1..5", star
    return "bad date: expected a valid YYYY-MM-DD", date
