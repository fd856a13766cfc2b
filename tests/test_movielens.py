"""MovieLens loaders on tiny exact fixtures: ml-100k, ml-1m, ml-latest(-small), RecBole."""
import numpy as np
import pytest

from recsys.errors import InputError
from recsys.io.movielens import (detect_layout, is_movielens_folder, load_ml100k, load_movielens,
                              read_u_item)


@pytest.fixture(autouse=True)
def _tmp_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("FACTORLAB_CACHE", raising=False)


def _flags(*on):
    return "|".join("1" if k in on else "0" for k in range(19))


def write_ml100k(folder, data=None):
    folder.mkdir(parents=True, exist_ok=True)
    # duplicate (7, 10): the later rating (2) wins; CRLF line ends; trailing blank lines.
    data = data if data is not None else (
        "7\t10\t4\t881250949\r\n5\t20\t5\t881250950\r\n7\t30\t1\t881250951\r\n"
        "5\t10\t3\t881250952\r\n7\t10\t2\t881250953\r\n\r\n\r\n")
    (folder / "u.data").write_bytes(data.encode("ascii"))
    lines = [
        f"10|Café au lait (1994)|01-Jan-1994||http://x|{_flags(5, 14)}",   # Comedy, Romance
        f"20|Amélie (2001)||||{_flags(8)}",                                # year from the title
        f"30|unknown||||{_flags(0)}",                                      # genre "unknown" dropped
    ]
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return folder


def test_ml100k_exact(tmp_path):
    r = load_movielens(write_ml100k(tmp_path / "ml-100k"))
    assert r.name == "MovieLens 100K"
    assert r.rating_scale == (1.0, 5.0)
    assert list(r.user_ids) == ["5", "7"]         # (7, 10, 4) was dropped: first user is now 5
    assert list(r.item_ids) == ["20", "30", "10"]
    assert r.to_frame()[["user", "item", "rating"]].values.tolist() == [
        ["5", "20", 5.0], ["7", "30", 1.0], ["5", "10", 3.0], ["7", "10", 2.0]]
    assert r.timestamps.tolist() == [881250950, 881250951, 881250952, 881250953]
    info = r.item_info.set_index("item")
    assert info.loc["10", "title"] == "Café au lait"
    assert info.loc["10", "year"] == 1994
    assert info.loc["10", "genres"] == "Comedy|Romance"
    assert info.loc["20", "title"] == "Amélie" and info.loc["20", "year"] == 2001
    assert info.loc["20", "genres"] == "Drama"
    assert info.loc["30", "title"] == "unknown" and info.loc["30", "genres"] == ""
    assert r.notices == (
        f"1 (user, item) pair(s) rated more than once in {tmp_path / 'ml-100k' / 'u.data'} "
        "(e.g. user 7, item 10); kept the newest rating of each pair (by timestamp; file order "
        "breaks ties); dropped 1 older rating(s)",
        "text encoding: u.data: UTF-8; u.item: cp1252 (not valid UTF-8)")


def test_ml100k_second_load_comes_from_cache(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k")
    a = load_movielens(folder)
    cache = list((tmp_path / "data" / ".cache").glob("*.parquet"))
    assert len(cache) == 2  # ratings and items
    b = load_movielens(folder)
    assert np.array_equal(a.users, b.users) and np.array_equal(a.ratings, b.ratings)
    assert list(a.item_ids) == list(b.item_ids)
    assert a.item_info.equals(b.item_info)
    assert a.notices == b.notices  # notices survive the parquet round trip


def test_ml100k_without_u_item_uses_placeholder_titles(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k")
    (folder / "u.item").unlink()
    r = load_ml100k(folder)
    assert r.item_info["title"].tolist() == ["item 20", "item 30", "item 10"]


@pytest.mark.parametrize("data, line, message, value", [
    ("1\t2\t4\t5\n1\t3\tfour\t6\n", 2, "rating is not a number", "four"),
    ("1\t2\t4\t5\n\n1\t3\t9\t6\n", 3, "rating off the scale 1..5", "9"),
    ("1\t2\t4\t5\n1\t3\t4.5\t6\n", 2, "this format has whole stars only; found a fraction",
     "4.5"),
    ("1\t2\t4\t5\n1\t3\n", 2, "missing rating", ""),
    ("1\t2\t4\t5\n1\t3\t4\t6\t7\n", 2, "expected 4 fields, found 5", "1\t3\t4\t6\t7"),
    ("1\t2\t4\t5\n\t3\t4\t6\n", 2, "missing user id", ""),
])
def test_ml100k_bad_lines(tmp_path, data, line, message, value):
    folder = write_ml100k(tmp_path / "ml-100k", data)
    with pytest.raises(InputError) as e:
        load_movielens(folder)
    err = e.value
    assert err.line == line and err.message == message and err.value == value
    assert err.file == str(folder / "u.data")


def test_u_item_reader_alone(tmp_path):
    items = read_u_item(write_ml100k(tmp_path / "x") / "u.item")
    assert items["item"].tolist() == ["10", "20", "30"]
    assert items["year"].tolist()[:2] == [1994, 2001]


def write_ml1m(folder):
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_bytes(b"1::1193::5::978300760\n1::661::3::978302109\n"
                                         b"2::1193::4::978298413\n")
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1"))
    (folder / "users.dat").write_bytes(b"1::F::1::10::48067\n")
    return folder


def test_ml1m(tmp_path):
    r = load_movielens(write_ml1m(tmp_path / "ml-1m"))
    assert r.name == "MovieLens 1M"
    assert r.to_frame()[["user", "item", "rating"]].values.tolist() == [
        ["1", "1193", 5.0], ["1", "661", 3.0], ["2", "1193", 4.0]]
    info = r.item_info.set_index("item")
    assert info.loc["661", "title"] == "Misérables, Les"
    assert info.loc["661", "year"] == 1995
    assert info.loc["661", "genres"] == "Drama|Musical"
    assert info.loc["1193", "title"] == "One Flew Over the Cuckoo's Nest"
    assert r.rating_scale == (1.0, 5.0)
    assert r.notices == ("text encoding: ratings.dat: UTF-8; movies.dat: cp1252 (not valid UTF-8)",)


def write_ml_latest(folder):
    folder.mkdir(parents=True)
    (folder / "ratings.csv").write_bytes(
        b"userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,3,4.5,964981247\r\n"
        b"2,11,0.5,964982224\r\n\r\n")
    (folder / "movies.csv").write_bytes(
        'movieId,title,genres\r\n1,Toy Story (1995),Adventure|Animation|Children\r\n'
        '11,"American President, The (1995)",Comedy|Drama|Romance\r\n'
        '3,"Crónica de una fuga (2006\u20132007) ",(no genres listed)\r\n'
        '4,Babylon 5,Sci-Fi\r\n'.encode("utf-8"))
    return folder


def test_ml_latest_small(tmp_path):
    r = load_movielens(write_ml_latest(tmp_path / "ml-latest-small"))
    assert r.name == "MovieLens latest (small)"
    assert r.rating_scale == (0.5, 5.0)
    assert r.ratings.tolist() == [4.0, 4.5, 0.5]
    assert r.stats()["rating_counts"] == {"0.5": 1, "4": 1, "4.5": 1}
    info = r.item_info.set_index("item")
    assert info.loc["11", "title"] == "American President, The"
    assert info.loc["11", "year"] == 1995 and info.loc["11", "genres"] == "Comedy|Drama|Romance"
    assert info.loc["3", "title"] == "Crónica de una fuga" and info.loc["3", "year"] == 2006
    assert info.loc["3", "genres"] == ""
    assert info.loc["1", "genres"] == "Adventure|Animation|Children"


def test_ml25m_label_and_rating_file_path(tmp_path):
    folder = write_ml_latest(tmp_path / "ml-25m")
    r = load_movielens(folder / "ratings.csv")
    assert r.name == "MovieLens 25M" and r.n_ratings == 3
    assert r.title(r.item_inner("1")) == "Toy Story"


def test_ml_latest_off_scale_and_missing_column(tmp_path):
    folder = write_ml_latest(tmp_path / "ml-latest-small")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,5\n1,2,5.5,6\n")
    with pytest.raises(InputError) as e:
        load_movielens(folder)
    assert (e.value.line, e.value.value) == (3, "5.5")
    assert "off the scale 0.5..5" in str(e.value)
    (folder / "ratings.csv").write_text("user,movieId,rating,timestamp\n1,1,4,5\n")
    with pytest.raises(InputError, match="column 'userId' not found; columns found: user, "
                                         "movieId, rating, timestamp"):
        load_movielens(folder)


def write_recbole(folder, stem="ml-100k"):
    folder.mkdir(parents=True)
    (folder / f"{stem}.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881251000\n")
    (folder / f"{stem}.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "242\tKolya\t1996\tComedy\n"
        "302\tL.A. Confidential\t1997\tCrime Film-Noir Mystery Thriller\n")
    return folder


def test_recbole_atomic_files(tmp_path):
    r = load_movielens(write_recbole(tmp_path / "ml-100k"))
    assert r.name == "MovieLens 100K"
    assert list(r.user_ids) == ["196", "186"] and list(r.item_ids) == ["242", "302"]
    assert r.ratings.tolist() == [3, 3, 5]
    assert r.timestamps.tolist() == [881250949, 891717742, 881251000]
    info = r.item_info.set_index("item")
    assert info.loc["302", "title"] == "L.A. Confidential"
    assert info.loc["302", "year"] == 1997
    assert info.loc["302", "genres"] == "Crime|Film-Noir|Mystery|Thriller"


def test_recbole_other_name_and_missing_field(tmp_path):
    folder = write_recbole(tmp_path / "stuff", stem="mydata")
    r = load_movielens(folder / "mydata.inter")
    assert r.name == "mydata" and r.n_ratings == 3
    (folder / "mydata.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(InputError, match="RecBole field 'rating' not found; fields found: "
                                         "user_id:token, item_id:token"):
        load_movielens(folder)


def test_detection(tmp_path):
    assert detect_layout(write_ml100k(tmp_path / "a"))[0] == "ml-100k"
    assert detect_layout(write_ml1m(tmp_path / "b"))[0] == "ml-1m"
    assert detect_layout(write_ml_latest(tmp_path / "c"))[0] == "ml-csv"
    assert detect_layout(write_recbole(tmp_path / "d"))[0] == "recbole"
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("hello")
    assert not is_movielens_folder(tmp_path / "e")
    with pytest.raises(InputError, match="no MovieLens ratings here"):
        load_movielens(tmp_path / "e")
    with pytest.raises(InputError, match="no such file or folder"):
        load_movielens(tmp_path / "missing")
    with pytest.raises(InputError, match="not a MovieLens rating file"):
        load_movielens(tmp_path / "e" / "notes.txt")


def test_binary_and_empty_rating_files(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k")
    (folder / "u.data").write_bytes(b"\x00\x01\x02garbage\x00")
    with pytest.raises(InputError, match="not a text file"):
        load_movielens(folder)
    (folder / "u.data").write_bytes(b"")
    with pytest.raises(InputError, match="file is empty"):
        load_movielens(folder)
