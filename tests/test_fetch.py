"""fetch ml-100k: verification by content, the GroupLens and PyPI paths, and the real fetch."""
import hashlib
import zipfile

import numpy as np
import pytest

from recsys.io import fetch
from recsys.errors import InputError
from recsys.io.movielens import load_movielens

INTER = ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
         "196\t242\t3\t881250949\n186\t302\t3\t891717742\n").encode()
ITEM = ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "242\tKolya\t1996\tComedy\n302\tL.A. Confidential\t1997\tCrime Thriller\n").encode()
U_DATA = b"186\t302\t3\t891717742\n196\t242\t3\t881250949\n"  # same ratings, other order


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Make the tiny fixture the 'expected' ml-100k, so the real logic runs offline."""
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(fetch, "RECBOLE_FILES", {
        "ml-100k.inter": hashlib.sha256(INTER).hexdigest(),
        "ml-100k.item": hashlib.sha256(ITEM).hexdigest()})
    monkeypatch.setattr(fetch, "ML100K_CANONICAL",
                        fetch.canonical_hash([196, 186], [242, 302], [3, 3],
                                             [881250949, 891717742]))
    return tmp_path


def make_wheel(path, inter=INTER, item=ITEM):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(fetch.RECBOLE_MEMBER_DIR + "ml-100k.inter", inter)
        zf.writestr(fetch.RECBOLE_MEMBER_DIR + "ml-100k.item", item)
        zf.writestr("recbole/__init__.py", "")
    return path


def make_grouplens_zip(path, u_data=U_DATA):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-100k/u.data", u_data)
        zf.writestr("ml-100k/u.item", "242|Kolya (1996)|24-Jan-1997||x|" + "|".join("0" * 19))
        zf.writestr("ml-100k/README", "MovieLens")
    return path


def test_canonical_hash_is_order_independent_and_exact():
    a = fetch.canonical_hash([1, 2], [5, 6], [3, 4], [10, 20])
    assert a == fetch.canonical_hash([2, 1], [6, 5], [4.0, 3.0], [20, 10])
    assert a != fetch.canonical_hash([1, 2], [5, 6], [3, 5], [10, 20])
    rows = np.array([[1, 5, 3, 10], [2, 6, 4, 20]], dtype="<i8")
    assert a == hashlib.sha256(rows.tobytes()).hexdigest()
    with pytest.raises(InputError, match="whole numbers"):
        fetch.canonical_hash([1], [2], [3.5], [4])


def test_published_constants_are_consistent():
    assert len(fetch.ML100K_CANONICAL) == 64 and set(fetch.RECBOLE_FILES) == {
        "ml-100k.inter", "ml-100k.item"}


def test_verify_accepts_good_and_rejects_corrupt(tiny):
    folder = tiny / "copy"
    folder.mkdir()
    (folder / "ml-100k.inter").write_bytes(INTER)
    (folder / "ml-100k.item").write_bytes(ITEM)
    assert fetch.verify_ml100k(folder) == "recbole"
    (folder / "ml-100k.inter").write_bytes(INTER.replace(b"\t3\t881250949", b"\t4\t881250949"))
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        fetch.verify_ml100k(folder)
    (folder / "ml-100k.inter").write_bytes(INTER)
    (folder / "ml-100k.item").unlink()
    with pytest.raises(InputError, match="ml-100k.item is missing"):
        fetch.verify_ml100k(folder)
    gl = tiny / "gl"
    gl.mkdir()
    (gl / "u.data").write_bytes(U_DATA)
    (gl / "u.item").write_text("242|Kolya (1996)||||0")
    assert fetch.verify_ml100k(gl) == "grouplens"
    (gl / "u.data").write_bytes(U_DATA.replace(b"\t3\t891717742", b"\t5\t891717742"))
    with pytest.raises(InputError, match="canonical hash mismatch"):
        fetch.verify_ml100k(gl)
    with pytest.raises(InputError, match="not found"):
        fetch.verify_ml100k(tiny / "nothing")


def test_extract_from_wheel_rejects_tampered_or_incomplete(tiny):
    staging = tiny / "s"
    staging.mkdir()
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        fetch.extract_from_wheel(make_wheel(tiny / "bad.whl", item=ITEM + b"999\tX\t2000\tY\n"),
                                 staging)
    with zipfile.ZipFile(tiny / "empty.whl", "w") as zf:
        zf.writestr("recbole/__init__.py", "")
    with pytest.raises(InputError, match="is not in the wheel"):
        fetch.extract_from_wheel(tiny / "empty.whl", staging)
    (tiny / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad zip file"):
        fetch.extract_from_wheel(tiny / "junk.whl", staging)


def test_fetch_falls_back_to_pypi_then_reuses_the_copy(tiny, monkeypatch):
    wheel = make_wheel(tiny / "recbole-1.2.1-py3-none-any.whl")
    calls = []

    def fake_download(tmp, timeout):
        calls.append(tmp)
        return wheel

    monkeypatch.setattr(fetch, "_download_wheel", fake_download)
    unreachable = (tiny / "no-such.zip").as_uri()
    path = fetch.fetch_ml100k(url=unreachable)
    assert path == tiny / "data" / "ml-100k"
    assert sorted(p.name for p in path.iterdir()) == ["SOURCE", "ml-100k.inter", "ml-100k.item"]
    assert fetch.read_source(path).startswith("PyPI recbole==1.2.1 wheel")
    assert [p.name for p in (tiny / "data").iterdir()] == ["ml-100k"]  # no staging left over
    r = load_movielens(path)
    assert r.name == "MovieLens 100K" and r.n_ratings == 2
    assert fetch.fetch_ml100k(url=unreachable) == path and len(calls) == 1


def test_fetch_from_grouplens_zip(tiny, monkeypatch):
    monkeypatch.setattr(fetch, "_download_wheel", lambda *a: pytest.fail("PyPI not needed"))
    url = make_grouplens_zip(tiny / "ml-100k.zip").as_uri()
    path = fetch.fetch_ml100k(url=url)
    assert sorted(p.name for p in path.iterdir()) == ["README", "SOURCE", "u.data", "u.item"]
    assert fetch.read_source(path).startswith(f"GroupLens {url}")
    r = load_movielens(path)
    assert r.title(r.item_inner("242")) == "Kolya"


def test_wrong_grouplens_data_falls_back_and_both_failures_are_reported(tiny, monkeypatch):
    url = make_grouplens_zip(tiny / "ml-100k.zip", u_data=b"1\t2\t3\t4\n").as_uri()

    def no_pypi(tmp, timeout):
        raise InputError("pip download recbole==1.2.1 failed: no network")

    monkeypatch.setattr(fetch, "_download_wheel", no_pypi)
    with pytest.raises(InputError) as e:
        fetch.fetch_ml100k(url=url)
    msg = str(e.value)
    assert msg.startswith("could not fetch MovieLens 100K: GroupLens: ")
    assert "canonical hash mismatch" in msg and "PyPI: pip download recbole==1.2.1 failed" in msg
    assert not (tiny / "data" / "ml-100k").exists()
    assert list((tiny / "data").iterdir()) == []


def test_unverified_existing_folder(tiny, monkeypatch):
    wheel = make_wheel(tiny / "r.whl")
    monkeypatch.setattr(fetch, "_download_wheel", lambda tmp, timeout: wheel)
    target = tiny / "data" / "ml-100k"
    target.mkdir(parents=True)
    (target / "u.data").write_text("1\t2\t3\t4\n")
    (target / "u.item").write_text("2|x||||0\n")
    url = (tiny / "none.zip").as_uri()
    with pytest.raises(InputError, match="exists but is not a verified MovieLens 100K copy"):
        fetch.fetch_ml100k(url=url)
    assert (target / "u.data").read_text() == "1\t2\t3\t4\n"  # user's files untouched
    assert fetch.fetch_ml100k(url=url, force=True) == target
    assert fetch.verify_ml100k(target) == "recbole"
    # a damaged copy of our own (it has SOURCE) is replaced without --force
    (target / "ml-100k.item").write_bytes(b"damaged")
    assert fetch.fetch_ml100k(url=url) == target
    assert (target / "ml-100k.item").read_bytes() == ITEM


@pytest.mark.slow
def test_real_fetch_through_pypi(tmp_path, monkeypatch):
    """The real thing: GroupLens (when reachable) or the recbole wheel from PyPI."""
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path))
    path = fetch.fetch_ml100k(timeout=5)
    kind = fetch.verify_ml100k(path)
    assert kind in ("grouplens", "recbole")
    r = load_movielens(path)
    assert (r.n_ratings, r.n_users, r.n_items) == (100000, 943, 1682)
    assert r.stats()["rating_counts"] == {"1": 6110, "2": 11370, "3": 27145, "4": 34174,
                                          "5": 21201}
    assert r.name == "MovieLens 100K"
