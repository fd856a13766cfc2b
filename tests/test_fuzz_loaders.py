"""Property-based fuzzing (hypothesis) of every loader and of the upload path (issue 8).

The only outcomes allowed: a ``Ratings`` whose counts match the input, or an ``InputError``
that names the file (and, where a line is at fault, the line), with a capped message. Any other
exception, a wrong count or a wrong value fails.
"""
import csv
import io
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data import Ratings
from recsys.errors import InputError
from recsys.io.csv import load_csv, load_titles, sniff_columns
from recsys.io.movielens import load_movielens, read_movies_dat, read_u_item
from recsys.io.netflix import load_netflix, read_titles

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))


def _fresh(tmp_path: Path, name: str) -> Path:
    """A new empty folder per example (hypothesis reuses the function's tmp_path)."""
    k = 0
    while (tmp_path / f"{name}{k}").exists():
        k += 1
    d = tmp_path / f"{name}{k}"
    d.mkdir()
    return d


def _allowed(fn, label: str):
    """Run ``fn``: a Ratings, a DataFrame, or an InputError naming ``label`` (capped)."""
    try:
        return fn()
    except InputError as err:
        text = str(err)
        assert err.file is not None and label in err.file, text
        assert len(text) < 1000 and "\n" not in text
        return err


# ---------------------------------------------------------------------- random bytes
BYTES = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=300).map(lambda s: s.encode("utf-8")),
    st.lists(st.sampled_from([b"1", b"2", b"::", b",", b"\t", b"|", b"\n", b"\r\n", b":",
                              b"5", b"x", b"\xe9", b"\x85", b" ", b"2005-01-01", b"NA",
                              b"\xef\xbb\xbf", b"\"", b"-", b"."]),
             max_size=120).map(b"".join),
)


@FUZZ
@given(data=BYTES)
def test_random_bytes_every_loader(tmp_path, data):
    d = _fresh(tmp_path, "b")
    # CSV upload path (bytes in memory) and the same file on disk
    up = _allowed(lambda: sniff_columns(data, name="up.csv"), "up.csv")
    if isinstance(up, list) and len(up) >= 3:
        out = _allowed(lambda: load_csv(data, up[0], up[1], up[2], name="up.csv"), "up.csv")
        assert isinstance(out, (Ratings, InputError))
        if isinstance(out, Ratings):
            assert 0 < out.n_ratings <= data.count(b"\n") + 1
    f = d / "r.csv"
    f.write_bytes(data)
    cols = _allowed(lambda: sniff_columns(f), "r.csv")
    if isinstance(cols, list) and len(cols) >= 3 and len(set(cols[:3])) == 3:
        _allowed(lambda: load_csv(f, cols[0], cols[1], cols[2]), "r.csv")
    # MovieLens layouts
    for sub, name in (("ml-100k", "u.data"), ("ml-1m", "ratings.dat"), ("mlc", "ratings.csv"),
                      ("rb", "rb.inter")):
        folder = d / sub
        folder.mkdir()
        (folder / name).write_bytes(data)
        out = _allowed(lambda: load_movielens(folder), name)
        if isinstance(out, Ratings):
            assert 0 < out.n_ratings <= data.count(b"\n") + 1
    # Netflix rating file and every titles reader
    nf = d / "nf"
    nf.mkdir()
    (nf / "combined_data_1.txt").write_bytes(data)
    out = _allowed(lambda: load_netflix(nf), "combined_data_1.txt")
    if isinstance(out, Ratings):
        assert 0 < out.n_ratings <= data.count(b"\n") + 1
    for reader, name in ((read_titles, "movie_titles.csv"), (read_u_item, "u.item"),
                         (read_movies_dat, "movies.dat"), (load_titles, "titles.csv")):
        p = d / name
        p.write_bytes(data)
        _allowed(lambda: reader(p), name)


# ---------------------------------------------------------------------- random CSV shapes
ID_CHARS = string.ascii_letters + string.digits + "._-'é€ "
IDS = st.one_of(
    st.text(ID_CHARS, min_size=1, max_size=8).map(str.strip).filter(bool),
    st.sampled_from(["NA", "None", "null", "nan", "NaN", "007", "7", "0155061224", "1e5",
                     "12.0", "-3", "#", "=1+1"]),
)
SCALES = st.sampled_from([((1, 5), 1.0), ((0.5, 5), 0.5), ((0, 1), 1.0), ((1, 10), 1.0),
                          ((0, 100), 1.0), ((-10, 10), 0.5), ((150, 200), 1.0)])


@st.composite
def csv_files(draw):
    (lo, hi), step = draw(SCALES)
    n_steps = int(round((hi - lo) / step))
    n = draw(st.integers(1, 40))
    users = draw(st.lists(IDS, min_size=1, max_size=6))
    items = draw(st.lists(IDS, min_size=1, max_size=6))
    rows = []
    for t in range(n):
        rows.append((draw(st.sampled_from(users)), draw(st.sampled_from(items)),
                     lo + step * draw(st.integers(0, n_steps)), draw(st.integers(0, 5))))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    with_ts = draw(st.booleans())
    header = ["userId", "movieId", "rating"] + (["timestamp"] if with_ts else [])
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    w.writerow(header)
    for u, i, r, t in rows:
        w.writerow([u, i, f"{r:g}"] + ([t] if with_ts else []))
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return buf.getvalue().encode(enc), rows, with_ts, ((lo, hi) if draw(st.booleans()) else None)


def _expected(rows, with_ts):
    """(user, item) -> rating under the duplicate rule: newest timestamp, then the last line."""
    best = {}
    for pos, (u, i, r, t) in enumerate(rows):
        key = (u, i)
        rank = (t if with_ts else 0, pos)
        if key not in best or rank >= best[key][0]:
            best[key] = (rank, r)
    return {k: v[1] for k, v in best.items()}


@FUZZ
@given(case=csv_files())
def test_random_csv_shapes_load_exactly(tmp_path, case):
    data, rows, with_ts, scale = case
    want = _expected(rows, with_ts)
    for how in ("upload", "file"):
        if how == "upload":
            src = data
        else:
            src = _fresh(tmp_path, "c") / "ratings.csv"
            src.write_bytes(data)
        cols = sniff_columns(src, name="up.csv" if how == "upload" else None)
        assert cols[:3] == ["userId", "movieId", "rating"]
        r = load_csv(src, "userId", "movieId", "rating",
                     timestamp_col="timestamp" if with_ts else None, rating_scale=scale,
                     name="up.csv" if how == "upload" else None)
        got = {(r.user_ids[u], r.item_ids[i]): float(v)
               for u, i, v in zip(r.users, r.items, r.ratings)}
        assert r.n_ratings == len(want) == len(got)
        assert got == pytest.approx({k: float(v) for k, v in want.items()})
        lo, hi = r.rating_scale
        assert lo <= r.ratings.min() and r.ratings.max() <= hi
        if scale is not None:
            assert r.rating_scale == scale


@FUZZ
@given(case=csv_files())
def test_random_movielens_csv_and_inter(tmp_path, case):
    _, rows, with_ts, _ = case
    want = _expected(rows, with_ts)
    d = _fresh(tmp_path, "m")
    lines = ["user_id:token\titem_id:token\trating:float" + ("\ttimestamp:float" if with_ts
                                                             else "")]
    ok = all("\t" not in u and "\t" not in i for u, i, _, _ in rows)
    if not ok:
        return
    for u, i, r, t in rows:
        lines.append("\t".join([u, i, f"{r:g}"] + ([str(t)] if with_ts else [])))
    (d / "x.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = load_movielens(d / "x.inter")
    got = {(r.user_ids[u], r.item_ids[i]): float(v) for u, i, v in zip(r.users, r.items,
                                                                         r.ratings)}
    assert got == pytest.approx({k: float(v) for k, v in want.items()})


@st.composite
def netflix_files(draw):
    movies = draw(st.lists(st.integers(1, 20000), min_size=1, max_size=5))
    lines, rows = [], []
    for m in movies:
        lines.append(f"{m}:")
        for _ in range(draw(st.integers(0, 6))):
            u = draw(st.integers(1, 60))
            s = draw(st.integers(1, 5))
            day = draw(st.integers(1, 28))
            lines.append(f"{u},{s},2005-02-{day:02d}")
            rows.append((str(u), str(m), s, day))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    return (nl.join(lines) + draw(st.sampled_from(["", nl]))).encode("ascii"), rows


@FUZZ
@given(case=netflix_files())
def test_random_netflix_files_load_exactly(tmp_path, case):
    data, rows = case
    d = _fresh(tmp_path, "n")
    (d / "combined_data_1.txt").write_bytes(data)
    if not rows:
        with pytest.raises(InputError, match="no ratings|empty"):
            load_netflix(d)
        return
    r = load_netflix(d)
    want = _expected(rows, True)
    got = {(r.user_ids[u], r.item_ids[i]): float(v) for u, i, v in zip(r.users, r.items,
                                                                         r.ratings)}
    assert got == {k: float(v) for k, v in want.items()}
    assert np.all(r.timestamps % 86400 == 0)
