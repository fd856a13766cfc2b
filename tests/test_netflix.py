"""Netflix Prize loader and the parquet cache, on tiny exact fixtures written here."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.io import cache as cache_mod
from recsys.io import netflix
from recsys.data import Ratings
from recsys.errors import InputError
from recsys.io.netflix import load_netflix

DAY = 86400


def _ts(date: str) -> int:
    return int(pd.Timestamp(date, tz="UTC").timestamp())


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))


TITLES = ('1,2003,"Dr. Strangelove, or: How I Learned to Stop Worrying"\r\n'
          "2,NULL,Dr. Seuss' \"The Grinch\", the Musical\r\n"
          "3,1999,Amélie, Café des 2 Moulins\r\n"
          "\r\n").encode("iso-8859-1")


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "nf"
    d.mkdir()
    # CRLF line ends and trailing blank lines in file 1; plain \n in file 2.
    (d / "combined_data_1.txt").write_bytes(
        b"1:\r\n1488844,3,2005-09-06\r\n822109,5,2005-05-13\r\n"
        b"2:\r\n822109,4,2004-01-01\r\n\r\n\r\n")
    (d / "combined_data_2.txt").write_bytes(
        b"3:\n30878,4,2005-12-26\n1488844,1,2003-03-03\n\n")
    (d / "movie_titles.csv").write_bytes(TITLES)
    return d


def test_combined_files_exact(folder):
    r = load_netflix(folder)
    assert list(r.user_ids) == ["1488844", "822109", "30878"]
    assert list(r.item_ids) == ["1", "2", "3"]
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32
    assert r.ratings.dtype == np.float32 and r.timestamps.dtype == np.int64
    np.testing.assert_array_equal(r.users, [0, 1, 1, 2, 0])
    np.testing.assert_array_equal(r.items, [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(r.ratings, [3, 5, 4, 4, 1])
    assert r.timestamps.tolist() == [_ts("2005-09-06"), _ts("2005-05-13"), _ts("2004-01-01"),
                                     _ts("2005-12-26"), _ts("2003-03-03")]
    assert r.rating_scale == (1.0, 5.0)
    assert r.notices[-1].startswith("text encoding: combined_data_1.txt: UTF-8;")
    assert len(r.notices) == 1
    assert r.name == "Netflix Prize (nf)"


def test_titles_with_commas_quotes_null_year_latin1(folder):
    info = load_netflix(folder).item_info
    # Titles are taken verbatim after the second comma (the Netflix file does not quote).
    assert info["title"].tolist() == [
        '"Dr. Strangelove, or: How I Learned to Stop Worrying"',
        "Dr. Seuss' \"The Grinch\", the Musical",
        "Amélie, Café des 2 Moulins"]
    assert info["year"].tolist()[0] == 2003
    assert info["year"].isna().tolist() == [False, True, False]
    assert info["year"].tolist()[2] == 1999
    assert info["genres"].tolist() == ["", "", ""]


def test_same_numbering_as_from_arrays(folder):
    r = load_netflix(folder)
    df = r.to_frame()
    ref = Ratings.from_arrays(df["user"], df["item"], df["rating"])
    np.testing.assert_array_equal(r.users, ref.users)
    np.testing.assert_array_equal(r.items, ref.items)
    assert list(r.user_ids) == list(ref.user_ids)


def test_missing_titles_file_and_missing_movie(tmp_path):
    d = tmp_path / "x"
    d.mkdir()
    (d / "combined_data_3.txt").write_bytes(b"7:\n5,2,2001-01-01\n")
    r = load_netflix(d)
    assert r.item_info["title"].tolist() == ["item 7"]
    assert r.item_info["year"].isna().all()


def test_duplicate_ratings_keep_last_with_notice(tmp_path):
    d = tmp_path / "dup"
    d.mkdir()
    (d / "combined_data_1.txt").write_bytes(
        b"1:\n10,1,2005-01-01\n11,2,2005-01-02\n10,5,2005-01-03\n2:\n10,3,2005-01-04\n")
    (d / "combined_data_2.txt").write_bytes(b"2:\n10,4,2005-01-05\n")
    r = load_netflix(d)
    frame = r.to_frame()
    assert frame[["user", "item", "rating"]].values.tolist() == [
        ["11", "1", 2.0], ["10", "1", 5.0], ["10", "2", 4.0]]
    assert r.timestamps.tolist() == [_ts("2005-01-02"), _ts("2005-01-03"), _ts("2005-01-05")]
    assert r.notices[0] == (
        "2 (user, item) pair(s) rated more than once in 2 rating files (e.g. user 10, item 1); "
        "kept the newest rating of each pair (by timestamp; file order breaks ties); dropped 2 "
        "older rating(s)")
    # The notice survives a reload from the cache.
    assert load_netflix(d).notices == r.notices


def test_combined_files_in_numeric_order(tmp_path):
    d = tmp_path / "order"
    d.mkdir()
    (d / "combined_data_2.txt").write_bytes(b"2:\n1,2,2005-01-01\n")
    (d / "combined_data_1.txt").write_bytes(b"1:\n2,1,2005-01-01\n")
    r = load_netflix(d)
    assert list(r.item_ids) == ["1", "2"] and list(r.user_ids) == ["2", "1"]


def test_training_set_layout(tmp_path):
    d = tmp_path / "prize"
    (d / "training_set").mkdir(parents=True)
    (d / "training_set" / "mv_0000002.txt").write_bytes(b"2:\r\n6,4,2005-01-02\r\n")
    (d / "training_set" / "mv_0000001.txt").write_bytes(b"1:\n6,3,2005-01-01\n7,5,2005-01-01\n")
    (d / "movie_titles.csv").write_bytes(TITLES)
    for path in (d, d / "training_set"):   # the folder or the training_set folder itself
        r = load_netflix(path)
        assert list(r.item_ids) == ["1", "2"]
        assert list(r.user_ids) == ["6", "7"]
        np.testing.assert_array_equal(r.ratings, [3, 5, 4])
        assert r.item_info["title"].iloc[1] == "Dr. Seuss' \"The Grinch\", the Musical"
    single = load_netflix(d / "training_set" / "mv_0000002.txt")
    assert single.n_ratings == 1 and single.item_info["year"].isna().all()


def test_byte_order_mark_is_ignored(tmp_path):
    d = tmp_path / "bom"
    d.mkdir()
    (d / "combined_data_1.txt").write_bytes(b"\xef\xbb\xbf1:\n6,3,2005-01-01\n")
    r = load_netflix(d)
    assert list(r.item_ids) == ["1"] and r.ratings.tolist() == [3.0]


def test_small_chunks_give_same_result(folder, monkeypatch):
    big = load_netflix(folder)
    monkeypatch.setattr(netflix, "CHUNK_BYTES", 7)
    small = netflix.parse_rating_files(netflix.find_netflix_files(folder)[0])
    frame = big.to_frame()
    assert small["user"].astype(str).tolist() == frame["user"].tolist()
    assert small["item"].astype(str).tolist() == frame["item"].tolist()
    assert small["rating"].tolist() == frame["rating"].tolist()
    assert (small["day"].astype(np.int64) * DAY).tolist() == big.timestamps.tolist()


def _err(tmp_path, content: bytes, name="combined_data_1.txt") -> InputError:
    d = tmp_path / "bad"
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(content)
    with pytest.raises(InputError) as info:
        load_netflix(d)
    return info.value


def test_duplicates_across_chunks_and_files(tmp_path, monkeypatch):
    """A pair repeated in another chunk of the same file and in the next file: every chunk
    size gives the same ratings (the newest wins, then the later line) and the same notice."""
    d = tmp_path / "dupchunks"
    d.mkdir()
    (d / "combined_data_1.txt").write_bytes(
        b"1:\n10,1,2005-01-01\n11,2,2005-01-02\n12,3,2005-01-02\n"
        b"2:\n10,3,2005-01-04\n11,4,2005-01-04\n"
        b"1:\n10,5,2005-01-03\n12,1,2005-01-01\n11,5,2005-01-02\n")
    (d / "combined_data_2.txt").write_bytes(b"2:\n10,4,2005-01-05\n11,1,2005-01-03\n")
    want = [["12", "1", 3.0], ["11", "2", 4.0], ["10", "1", 5.0], ["11", "1", 5.0],
            ["10", "2", 4.0]]
    files = netflix.find_netflix_files(d)[0]
    ref = netflix.parse_rating_files(files)
    for size, line_bytes in ((7, 15), (16, 15), (23, 1000), (40, 15), (1 << 20, 1000)):
        monkeypatch.setattr(netflix, "CHUNK_BYTES", size)
        monkeypatch.setattr(netflix, "_MIN_LINE_BYTES", line_bytes)   # 1000: arrays must grow
        frame = netflix.parse_rating_files(files)
        pd.testing.assert_frame_equal(frame, ref)
        assert frame.attrs == ref.attrs
        r = load_netflix(d)
        assert r.to_frame()[["user", "item", "rating"]].values.tolist() == want
        assert (r.timestamps // DAY).tolist() == [12785, 12787, 12786, 12785, 12788]
        assert r.notices[0] == (
            "5 (user, item) pair(s) rated more than once in 2 rating files (e.g. user 10, "
            "item 1); kept the newest rating of each pair (by timestamp; file order breaks "
            "ties); dropped 5 older rating(s)")
        os.utime(files[0], ns=(0, files[0].stat().st_mtime_ns + 1_000_000_000))  # re-parse
    assert ref["user"].dtype == np.int32 and ref["item"].dtype == np.int32
    assert ref["rating"].dtype == np.int8 and ref["day"].dtype == np.int32


@pytest.mark.parametrize("content, line, message, value", [
    (b"6,3,2005-09-06\n1:\n", 1, "before any 'MovieID:'", "6,3,2005-09-06"),
    (b"\n\n6,3,2005-09-06\n", 3, "before any 'MovieID:'", "6,3,2005-09-06"),
    (b"1:\n6,3\n", 2, "malformed line", "6,3"),
    (b"1:\n6,3,2005-01-01,x\n", 2, "malformed line", "6,3,2005-01-01,x"),
    (b"1:\n6,3,2005-01-01\nabc,3,2005-01-01\n", 3, "CustomerID is not a whole number", "abc"),
    (b"1:\r\n6,3,2005-01-01\r\n6.5,3,2005-01-01\r\n", 3, "CustomerID", "6.5"),
    (b"1:\n6,3,2005-01-01\n7,x,2005-01-01\n", 3, "bad rating", "x"),
    (b"1:\n7,3.5,2005-01-01\n", 2, "bad rating", "3.5"),
    (b"1:\n7,,2005-01-01\n", 2, "bad rating", ""),
    (b"1:\n6,3,2005-13-01\n", 2, "bad date", "2005-13-01"),
    (b"1:\n6,3,2005-01-01\n2:\n6,3,2005-02-30\n", 4, "bad date", "2005-02-30"),
    (b"1:\n6,3,05/01/2001\n", 2, "bad date", "05/01/2001"),
    (b"1:\n6,3,2005-01-01\n6,6,2005-01-01\n", 3, "rating off the scale 1..5", "6"),
    (b"1:\n6,0,2005-01-01\n", 2, "rating off the scale 1..5", "0"),
    (b"1:\n6,3,2005-01-01\nx1:\n7,3,2005-01-01\n", 3, "bad MovieID", "x1:"),
    (b"1:\n-6,3,2005-01-01\n", 2, "CustomerID", "-6"),
    (b"1:\r\n6,3,2005-01-01\r\n\r\n7,3,2005-01-01,\r\n", 4, "malformed line", "7,3,2005-01-01,"),
])
def test_bad_lines_name_file_line_value(tmp_path, content, line, message, value):
    err = _err(tmp_path, content)
    assert err.file.endswith("combined_data_1.txt")
    assert err.line == line
    assert message in err.message
    assert err.value == value
    assert f"combined_data_1.txt, line {line}: " in str(err)


def test_bad_line_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(netflix, "CHUNK_BYTES", 10)
    err = _err(tmp_path, b"1:\n6,3,2005-01-01\n7,4,2005-01-01\n8,9,2005-01-01\n")
    assert (err.line, err.value) == (4, "9")


def test_error_names_the_second_file(tmp_path):
    d = tmp_path / "two"
    d.mkdir()
    (d / "combined_data_1.txt").write_bytes(b"1:\n6,3,2005-01-01\n")
    (d / "combined_data_2.txt").write_bytes(b"2:\n6,3,2005-01-01\n7,3,yesterday\n")
    with pytest.raises(InputError) as info:
        load_netflix(d)
    assert info.value.file.endswith("combined_data_2.txt") and info.value.line == 3


def test_per_movie_file_must_start_with_its_header(tmp_path):
    d = tmp_path / "ts"
    (d / "training_set").mkdir(parents=True)
    (d / "training_set" / "mv_0000001.txt").write_bytes(b"1:\n6,3,2005-01-01\n")
    (d / "training_set" / "mv_0000002.txt").write_bytes(b"7,3,2005-01-01\n")
    with pytest.raises(InputError) as info:
        load_netflix(d)
    assert info.value.file.endswith("mv_0000002.txt") and info.value.line == 1


def test_binary_file(tmp_path):
    err = _err(tmp_path, b"1:\n6,3,2005-01-01\n\x00\x01\x02\xff\n")
    assert "not a text file" in err.message and err.line == 3


@pytest.mark.parametrize("content", [b"", b"\n\r\n\n"])
def test_empty_file(tmp_path, content):
    err = _err(tmp_path, content)
    assert "empty" in err.message and err.file.endswith("combined_data_1.txt")


def test_only_headers_no_ratings(tmp_path):
    err = _err(tmp_path, b"1:\n2:\n")
    assert "no ratings" in err.message


def test_folder_without_rating_files(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "movie_titles.csv").write_bytes(TITLES)
    with pytest.raises(InputError, match="no Netflix rating files"):
        load_netflix(tmp_path / "empty")
    with pytest.raises(InputError, match="no such file"):
        load_netflix(tmp_path / "missing")


@pytest.mark.parametrize("titles, line, message, value", [
    (b"1,2001,Fine\n2,2002\n", 2, "malformed title line", "2,2002"),
    (b"1,2001,Fine\nA2,2002,Title\n", 2, "MovieID is not a whole number", "A2"),
    (b"1,2001,Fine\n\n3,19x9,Title, with comma\n", 3, "Year", "19x9"),
])
def test_bad_titles(tmp_path, titles, line, message, value):
    d = tmp_path / "t"
    d.mkdir()
    (d / "combined_data_1.txt").write_bytes(b"1:\n6,3,2005-01-01\n")
    (d / "movie_titles.csv").write_bytes(titles)
    with pytest.raises(InputError) as info:
        load_netflix(d)
    err = info.value
    assert err.file.endswith("movie_titles.csv")
    assert (err.line, err.value) == (line, value) and message in err.message


def test_binary_titles(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "combined_data_1.txt").write_bytes(b"1:\n6,3,2005-01-01\n")
    (d / "movie_titles.csv").write_bytes(b"1,2001,A\n\x00\x00")
    with pytest.raises(InputError, match="not a text file"):
        load_netflix(d)


# ---------------------------------------------------------------------- the parquet cache
def _count_parses(monkeypatch):
    calls = []
    real = netflix.parse_rating_files

    def counting(files, **kw):
        calls.append(list(files))
        return real(files, **kw)

    monkeypatch.setattr(netflix, "parse_rating_files", counting)
    return calls


def test_second_load_hits_the_cache(folder, tmp_path, monkeypatch):
    calls = _count_parses(monkeypatch)
    first = load_netflix(folder)
    assert len(calls) == 1
    assert list((tmp_path / "cache").glob("netflix-*.parquet"))
    second = load_netflix(folder)
    assert len(calls) == 1  # not parsed again
    np.testing.assert_array_equal(first.users, second.users)
    np.testing.assert_array_equal(first.ratings, second.ratings)
    np.testing.assert_array_equal(first.timestamps, second.timestamps)
    assert list(first.user_ids) == list(second.user_ids)


def test_cache_invalidated_by_mtime_and_content(folder, monkeypatch):
    calls = _count_parses(monkeypatch)
    load_netflix(folder)
    f = folder / "combined_data_2.txt"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    load_netflix(folder)
    assert len(calls) == 2
    f.write_bytes(b"3:\n30878,2,2005-12-26\n")
    r = load_netflix(folder)
    assert len(calls) == 3 and r.n_ratings == 4 and r.ratings[-1] == 2
    load_netflix(folder)
    assert len(calls) == 3
    assert len(list(cache_mod.cache_path([f], "netflix").parent.glob("*.parquet"))) == 1


def test_corrupt_cache_is_rebuilt(folder, monkeypatch):
    calls = _count_parses(monkeypatch)
    load_netflix(folder)
    files = netflix.find_netflix_files(folder)[0]
    target = cache_mod.cache_path(files, f"netflix-{netflix.RATING_SCALE}")
    target.write_bytes(b"PAR1 not really parquet")
    r = load_netflix(folder)
    assert len(calls) == 2 and r.n_ratings == 5
    load_netflix(folder)
    assert len(calls) == 2  # the rebuilt file is good


def test_cached_frame_generic(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("x")
    made = []

    def parse():
        made.append(1)
        df = pd.DataFrame({"a": np.arange(3, dtype=np.int32), "b": ["x", "y", None]})
        df.attrs["notices"] = ["hello"]
        return df

    one = cache_mod.cached_frame([src], "t1", parse)
    two = cache_mod.cached_frame([src], "t1", parse)
    assert len(made) == 1
    assert two["a"].dtype == np.int32 and two["a"].tolist() == [0, 1, 2]
    assert two["b"].tolist()[:2] == ["x", "y"] and pd.isna(two["b"].iloc[2])
    assert two.attrs["notices"] == ["hello"] == one.attrs["notices"]
    cache_mod.cached_frame([src], "t2", parse)   # another tag: another entry
    assert len(made) == 2
    assert not list((tmp_path / "cache").glob("*.tmp"))  # no temporary file left behind
