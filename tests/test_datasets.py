"""Dataset specs, discovery of local data, and the `fetch` / `info` CLI commands."""
import json
import subprocess
import sys
import types

import pytest

from recsys.io import datasets, fetch
from recsys.cli import main
from recsys.io.datasets import list_datasets, load_dataset, parse_params, parse_spec
from recsys.errors import InputError
from recsys.io.paths import REPO_DIR

from test_fetch import INTER, ITEM, make_wheel
from test_movielens import write_ml1m, write_ml100k, write_ml_latest


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("FACTORLAB_CACHE", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def write_netflix(folder):
    folder.mkdir(parents=True)
    (folder / "combined_data_1.txt").write_text("1:\n10,3,2005-09-06\n11,4,2005-05-13\n"
                                               "2:\n10,5,2005-10-19\n")
    (folder / "movie_titles.csv").write_bytes(b"1,2003,Dinosaur Planet\n2,NULL,Caf\xe9, Sam\n")
    return folder


def test_parse_spec_forms():
    assert parse_spec("ml-100k") == ("ml-100k", "")
    assert parse_spec("synthetic") == ("synthetic", "")
    assert parse_spec("synthetic:users=5,seed=2") == ("synthetic", "users=5,seed=2")
    assert parse_spec("netflix:data/netflix") == ("netflix", "data/netflix")
    assert parse_spec("movielens:/x/ml-1m") == ("movielens", "/x/ml-1m")
    assert parse_spec("csv:C:/ratings.csv") == ("csv", "C:/ratings.csv")
    with pytest.raises(InputError) as e:
        parse_spec("ml-200k")
    assert str(e.value) == ("unknown dataset; use one of: ml-100k | netflix:PATH | movielens:PATH"
                            " | csv:PATH | synthetic[:users=N,items=M,ratings=R,seed=S] "
                            "(value: 'ml-200k')")
    with pytest.raises(InputError, match="csv: needs a path"):
        parse_spec("csv:")


def test_bare_path_gets_a_hint(tmp_path):
    with pytest.raises(InputError, match="prefix it with netflix:, movielens: or csv:"):
        parse_spec(str(tmp_path))


def test_parse_params():
    assert parse_params("users=500, items=200,seed=1,scale=0.5,kind=x") == {
        "users": 500, "items": 200, "seed": 1, "scale": 0.5, "kind": "x"}
    assert parse_params("") == {}
    with pytest.raises(InputError, match="key=value pairs"):
        parse_params("users")


def test_movielens_and_netflix_specs(data):
    r = load_dataset(f"movielens:{write_ml1m(data / 'ml-1m')}")
    assert r.name == "MovieLens 1M" and r.n_ratings == 3
    n = load_dataset(f"netflix:{write_netflix(data / 'netflix')}")
    assert (n.n_ratings, n.n_users, n.n_items) == (3, 2, 2)
    assert n.title(n.item_inner("1")) == "Dinosaur Planet"


def test_csv_spec_guesses_columns(data):
    p = data / "mine.tsv"
    p.write_text("customer_id\tmovie_id\tstars\tdate\nA\tm1\t8\t2020-01-01\nB\tm1\t2\t2020-01-02\n")
    r = load_dataset(f"csv:{p}")
    assert r.name == "mine" and r.rating_scale == (1.0, 10.0)
    assert list(r.user_ids) == ["A", "B"] and r.timestamps.tolist() == [1577836800, 1577923200]
    q = data / "odd.csv"
    q.write_text("who,what,how\n1,2,3\n")
    with pytest.raises(InputError) as e:
        load_dataset(f"csv:{q}")
    assert "cannot tell which column holds the user and item and rating; columns found: who, " \
           "what, how" in str(e.value)


def test_synthetic_spec_passes_params(monkeypatch):
    seen = []
    fake = types.ModuleType("recsys.io.synth")
    fake.load_synthetic = lambda params: seen.append(params) or "ratings"
    monkeypatch.setitem(sys.modules, "recsys.io.synth", fake)
    assert load_dataset("synthetic") == "ratings"
    assert load_dataset("synthetic:users=50,items=20,ratings=300,seed=1") == "ratings"
    assert seen == [{}, {"users": 50, "items": 20, "ratings": 300, "seed": 1}]


def test_synthetic_spec_for_real(data):
    r = load_dataset("synthetic:users=40,items=15,ratings=200,seed=3")
    assert r.n_ratings == 200 and r.n_items <= 15 and r.n_users <= 40


def _install_tiny_ml100k(data, monkeypatch):
    """Make a tiny RecBole copy the verified ml-100k (the real one is tested in test_fetch)."""
    import hashlib

    monkeypatch.setattr(fetch, "RECBOLE_FILES", {
        "ml-100k.inter": hashlib.sha256(INTER).hexdigest(),
        "ml-100k.item": hashlib.sha256(ITEM).hexdigest()})
    wheel = make_wheel(data.parent / "recbole-1.2.1-py3-none-any.whl")
    monkeypatch.setattr(fetch, "_download_wheel", lambda tmp, timeout: wheel)
    monkeypatch.setattr(fetch, "ML100K_URL", (data.parent / "none.zip").as_uri())


def test_ml100k_spec_fetches_when_missing(data, monkeypatch):
    _install_tiny_ml100k(data, monkeypatch)
    r = load_dataset("ml-100k")
    assert r.name == "MovieLens 100K" and r.n_ratings == 2
    assert (data / "ml-100k" / "SOURCE").is_file()


def test_list_datasets(data):
    write_netflix(data / "netflix")
    write_netflix(data / "netflix" / "part")
    (data / "netflix" / "other" / "training_set").mkdir(parents=True)
    (data / "netflix" / "other" / "training_set" / "mv_0000001.txt").write_text(
        "1:\n5,4,2005-01-01\n6,2,2005-01-02\n7,1,2005-01-03\n")
    (data / "netflix" / "empty" / "training_set").mkdir(parents=True)
    write_ml1m(data / "ml-1m")
    write_ml_latest(data / "movielens" / "ml-latest-small")
    write_ml100k(data / "ml-100k")           # the demo: listed once, as the demo
    (data / "notes").mkdir()
    (data / ".cache").mkdir()
    assert list_datasets() == [
        ("MovieLens 100K (demo)", "ml-100k"),
        ("Synthetic (demo)", "synthetic"),
        ("Netflix Prize (data/netflix)", f"netflix:{data / 'netflix'}"),
        ("Netflix Prize (data/netflix/other)", f"netflix:{data / 'netflix' / 'other'}"),
        ("Netflix Prize (data/netflix/part)", f"netflix:{data / 'netflix' / 'part'}"),
        ("MovieLens 1M (ml-1m)", f"movielens:{data / 'ml-1m'}"),
        ("MovieLens latest (small) (movielens/ml-latest-small)",
         f"movielens:{data / 'movielens' / 'ml-latest-small'}"),
    ]
    for _, spec in list_datasets()[2:]:
        assert load_dataset(spec).n_ratings >= 3


def test_list_datasets_without_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "absent"))
    assert list_datasets() == [datasets.DEMO, datasets.SYNTHETIC_DEMO]


# ---------------------------------------------------------------------- CLI
def test_cli_info_json(data, capsys):
    folder = write_ml100k(data / "ml-100k-copy")
    assert main(["info", f"movielens:{folder}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"name": "MovieLens 100K", "n_ratings": 4, "n_users": 2, "n_items": 3,
                   "density": pytest.approx(4 / 6),
                   "rating_counts": {"1": 1, "2": 1, "3": 1, "5": 1}, "rating_scale": [1.0, 5.0]}


def test_cli_info_text_and_sample(data, capsys):
    folder = write_ml100k(data / "ml-100k-copy")
    assert main(["info", f"movielens:{folder}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "MovieLens 100K"
    assert out[1] == ("4 interactions, 2 users, 3 movies are selected; only 66.67% of possible "
                      "interactions are observed")
    assert out[2].startswith("rating scale: 1..5")
    assert [ln.split()[:3] for ln in out[4:]] == [["1", "1", "25.0%"], ["2", "1", "25.0%"],
                                                   ["3", "1", "25.0%"], ["5", "1", "25.0%"]]
    assert main(["info", f"movielens:{folder}", "--sample-users", "1", "--seed", "0",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_users"] == 1
    assert main(["info", f"movielens:{folder}", "--sample-users", "9", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_users"] == 2
    assert captured.err.splitlines() == [
        f"note: 1 (user, item) pair(s) rated more than once in {folder / 'u.data'} (e.g. user 7, "
        "item 10); kept the newest rating of each pair (by timestamp; file order breaks ties); "
        "dropped 1 older rating(s)",
        "note: text encoding: u.data: UTF-8; u.item: cp1252 (not valid UTF-8)",
        "note: asked for 9 users but the data has 2; using all of them",
        "note: Thin data: the median user has 2 rating(s) and the median movie 1; 4 ratings for "
        "505 parameters of MF at k=100 (0.0079 per parameter). MF cannot learn much here, so "
        "compare it with the global-mean and baseline rows. Sample more users, or use a denser "
        "subset (users and movies with at least 20 ratings)."]


def test_cli_bad_input_exits_2(data, capsys):
    assert main(["info", f"movielens:{data / 'nowhere'}"]) == 2
    assert capsys.readouterr().err == f"error: {data / 'nowhere'}: no such file or folder\n"
    bad = data / "bad.csv"
    bad.write_text("user,item,rating\n1,2,x\n")
    assert main(["info", f"csv:{bad}"]) == 2
    assert capsys.readouterr().err == f"error: {bad}, line 2: rating is not a number (value: 'x')\n"
    folder = write_ml100k(data / "ml-100k-copy")
    assert main(["info", f"movielens:{folder}", "--sample-users", "0"]) == 2
    assert capsys.readouterr().err == "error: sample size must be at least 1 user (value: 0)\n"
    assert main(["info", "nonsense"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown dataset; use one of: ml-100k")


def test_cli_subprocess_bad_path_one_line_exit_2(tmp_path):
    env = {"FACTORLAB_DATA": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "recsys", "info", "netflix:/no/such/dir"],
                          capture_output=True, text=True, cwd=REPO_DIR, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "error: /no/such/dir: no such file or folder\n"


def test_cli_fetch_prints_path_and_source(data, monkeypatch, capsys):
    _install_tiny_ml100k(data, monkeypatch)
    assert main(["fetch", "ml-100k"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ml-100k: {data / 'ml-100k'}"
    assert out[1].startswith("source: PyPI recbole==1.2.1 wheel")
