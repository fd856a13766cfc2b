"""Generic CSV/TSV loading: sniffing, column mapping, scales, uploads and bad input."""
import io

import numpy as np
import pytest

from recsys.io.csv import (guess_columns, load_csv, load_titles, sniff_columns,
                            split_title_year)
from recsys.errors import InputError


@pytest.fixture(autouse=True)
def _tmp_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("FACTORLAB_CACHE", raising=False)


def write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return p


def load(src, **kw):
    args = dict(user_col="user", item_col="item", rating_col="rating")
    args.update(kw)
    return load_csv(src, **args)


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_sniff_separators(tmp_path, sep):
    p = write(tmp_path, "r.txt", sep.join(["user", "item", "rating"]) + "\n"
              + sep.join(["1", "a", "4"]) + "\n")
    assert sniff_columns(p) == ["user", "item", "rating"]
    r = load(p)
    assert r.to_frame()[["user", "item", "rating"]].values.tolist() == [["1", "a", 4.0]]


def test_headerless_file_gets_numbered_columns(tmp_path):
    p = write(tmp_path, "u.data", "1\t2\t3\t100\n4\t5\t1\t101\n")
    assert sniff_columns(p) == ["col1", "col2", "col3", "col4"]
    assert guess_columns(sniff_columns(p)) == {"user": "col1", "item": "col2",
                                               "rating": "col3", "timestamp": "col4"}
    r = load(p, user_col="col1", item_col="col2", rating_col="col3", timestamp_col="col4")
    assert r.timestamps.tolist() == [100, 101] and list(r.user_ids) == ["1", "4"]


def test_exact_load_crlf_quotes_duplicates_blank_lines(tmp_path):
    p = write(tmp_path, "ratings.csv",
              'user,item,rating,when\r\n007,"Heat, 1995",4\r\nbob,x,2\r\n\r\n'
              '007,"Heat, 1995",5\r\nbob , y ,3\r\n\r\n\r\n')
    r = load(p)
    assert r.name == "ratings"
    assert list(r.user_ids) == ["bob", "007"]  # "007" keeps its zeros; first 007 row dropped
    assert list(r.item_ids) == ["x", "Heat, 1995", "y"]
    assert r.ratings.tolist() == [2, 5, 3]
    assert r.notices == (
        "rating scale 1..5 inferred from the values (set it with --rating-scale LOW,HIGH, or in "
        "the upload form)",
        f"1 (user, item) pair(s) rated more than once in {p} (e.g. user 007, item Heat, 1995); "
        "kept the last rating of each pair in file order (no timestamps); dropped 1 older "
        "rating(s)",
        "text encoding: ratings.csv: UTF-8")


def test_rating_scale_inferred_and_overridden(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,rating\n1,a,7\n2,a,3\n")
    assert load(p).rating_scale == (1.0, 10.0)
    assert load(p, rating_scale=(0, 10)).rating_scale == (0.0, 10.0)
    with pytest.raises(InputError) as e:
        load(p, rating_scale=(1, 5))
    assert str(e.value) == f"{p}, line 2: rating off the scale 1..5 (value: '7')"


def test_timestamps_numbers_and_dates(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,rating,ts\n1,a,4,2005-01-02\n2,b,3,2005-01-03\n")
    assert load(p, timestamp_col="ts").timestamps.tolist() == [1104624000, 1104710400]
    p = write(tmp_path, "s.csv", "user,item,rating,ts\n1,a,4,10\n2,b,3,11.0\n")
    assert load(p, timestamp_col="ts").timestamps.tolist() == [10, 11]
    p = write(tmp_path, "t.csv", "user,item,rating,ts\n1,a,4,10\n2,b,3,soon\n")
    with pytest.raises(InputError) as e:
        load(p, timestamp_col="ts")
    assert (e.value.line, e.value.value) == (3, "soon")


def test_missing_column_names_it_and_the_columns_found(tmp_path):
    p = write(tmp_path, "r.csv", "userId,movieId,score\n1,2,3\n")
    with pytest.raises(InputError) as e:
        load(p, user_col="userId", item_col="movieId")
    assert str(e.value) == f"{p}: column 'rating' not found; columns found: userId, movieId, score"
    with pytest.raises(InputError, match="same column is mapped to two roles"):
        load(p, user_col="userId", item_col="userId", rating_col="score")


def test_non_numeric_rating_reports_line_and_value(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,rating\n1,a,4\n\n2,b,five\n3,c,2\n")
    with pytest.raises(InputError) as e:
        load(p)
    assert str(e.value) == f"{p}, line 4: rating is not a number (value: 'five')"
    assert e.value.line == 4 and e.value.value == "five"


def test_malformed_and_missing_fields(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,rating\n1,a,4\nHeat, 1995,2,3\n")
    with pytest.raises(InputError) as e:
        load(p)
    assert (e.value.line, e.value.message) == (3, "expected 3 fields, found 4")
    p = write(tmp_path, "s.csv", "user,item,rating\n1,a,4\n2,,3\n")
    with pytest.raises(InputError) as e:
        load(p)
    assert (e.value.line, e.value.message) == (3, "missing item id")
    p = write(tmp_path, "t.csv", "user,item,rating\n1,a,4\n2,b,\n")
    with pytest.raises(InputError) as e:
        load(p)
    assert (e.value.line, e.value.message) == (3, "missing rating")


def test_binary_empty_and_header_only(tmp_path):
    cases = [
        (b"\x00\x00\x01\x02\xff\xfe\x00binary", "not a text file (it contains NUL bytes)"),
        (b"PK\x03\x04\x14\x00rest", "not a text file (looks like a zip archive)"),
        (b"\x1f\x8b\x08\x00", "not a text file (looks like a gzip archive)"),
        (b"", "file is empty"),
        (b"\r\n\n   \n", "file is empty (only blank lines)"),
        (b"user,item,rating\r\n\r\n", "no ratings found (the file has no data lines)"),
    ]
    for k, (content, message) in enumerate(cases):
        p = write(tmp_path, f"f{k}.csv", content)
        with pytest.raises(InputError) as e:
            load(p)
        assert e.value.message == message and e.value.file == str(p)
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "nope.csv")


def test_encodings_utf8_bom_latin1_fallback_utf16(tmp_path):
    r = load(write(tmp_path, "a.csv", b"\xef\xbb\xbfuser,item,rating\n1,caf\xc3\xa9,4\n"))
    assert list(r.item_ids) == ["café"]
    assert r.notices[-1] == "text encoding: a.csv: UTF-8 (with BOM)"
    p = write(tmp_path, "b.csv", b"user,item,rating\n1,caf\xe9,4\n")
    r = load(p)
    assert list(r.item_ids) == ["café"]
    assert r.notices[-1] == "text encoding: b.csv: cp1252 (not valid UTF-8)"
    r = load(write(tmp_path, "c.csv", "user,item,rating\n1,ü,4\n".encode("utf-16")))
    assert list(r.item_ids) == ["ü"] and r.notices[-1] == "text encoding: c.csv: UTF-16"


def test_upload_bytes_and_file_like_with_titles():
    data = b"userId;movieId;rating\n1;10;8\n2;11;6\n"
    titles = ('movieId,title,genres\n10,"Heat, The (1995)",Action|Crime\n'
              '11,Crónica (2006),(no genres listed)\n').encode("latin-1")
    r = load_csv(data, "userId", "movieId", "rating", titles_path=io.BytesIO(titles),
                 name="upload.csv", titles_name="titles.csv")
    assert r.name == "upload.csv" and r.rating_scale == (1.0, 10.0)
    assert r.item_info[["title", "year", "genres"]].values.tolist() == [
        ["Heat, The", 1995, "Action|Crime"], ["Crónica", 2006, ""]]
    assert sniff_columns(io.BytesIO(data)) == ["userId", "movieId", "rating"]
    with pytest.raises(InputError) as e:
        load_csv(b"userId;movieId;rating\n1;10;x\n", "userId", "movieId", "rating",
                 name="up.csv")
    assert str(e.value) == "up.csv, line 2: rating is not a number (value: 'x')"


def test_titles_file_with_explicit_columns(tmp_path):
    p = write(tmp_path, "titles.tsv", "id\tname\textra\nA\tAlpha (1999)\tz\nB\tBeta\tz\n")
    t = load_titles(p, "id", "name")
    assert list(t.columns) == ["item", "title", "year"]
    assert t[["item", "title"]].values.tolist() == [["A", "Alpha"], ["B", "Beta"]]
    assert t["year"].iloc[0] == 1999 and t["year"].isna().tolist() == [False, True]
    with pytest.raises(InputError, match="cannot tell the item and title columns"):
        load_titles(write(tmp_path, "x.csv", "a,b\n1,2\n"))


def test_cached_reload_is_identical(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,rating\n1,a,4\n2,a,3\n1,a,5\n")
    a, b = load(p), load(p)
    assert list((tmp_path / "data" / ".cache").glob("csv-*.parquet"))
    assert np.array_equal(a.ratings, b.ratings) and a.notices == b.notices
    assert list(a.user_ids) == list(b.user_ids)


def test_guess_columns_by_common_names():
    assert guess_columns(["userId", "movieId", "rating", "timestamp"]) == {
        "user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"}
    assert guess_columns(["user_id:token", "item_id:token", "rating:float"]) == {
        "user": "user_id:token", "item": "item_id:token", "rating": "rating:float",
        "timestamp": None}
    assert guess_columns(["CustomerID", "MovieID", "Stars", "Date"]) == {
        "user": "CustomerID", "item": "MovieID", "rating": "Stars", "timestamp": "Date"}
    assert guess_columns(["a", "b"]) == {"user": None, "item": None, "rating": None,
                                         "timestamp": None}


def test_split_title_year():
    import pandas as pd

    titles, years = split_title_year(pd.Series(["Toy Story (1995)", "Seven (Se7en) (1995) ",
                                                "Babylon 5", "(500) Days of Summer (2009)",
                                                None]))
    assert titles.tolist() == ["Toy Story", "Seven (Se7en)", "Babylon 5", "(500) Days of Summer",
                               ""]
    assert years.tolist()[:2] == [1995, 1995] and years.isna().tolist() == [
        False, False, True, False, True]
