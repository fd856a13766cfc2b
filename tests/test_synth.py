"""Synthetic Netflix-format generator: statistics, determinism, files, load_synthetic, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.io import synth
from recsys.cli import main
from recsys.errors import InputError
from recsys.io.netflix import load_netflix
from recsys.io.synth import NETFLIX_HISTOGRAM, generate, load_synthetic, planted_genres


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def demo():
    return generate()   # the defaults: 2000 users, 500 items, 100,000 ratings, seed 0


@pytest.fixture(scope="module")
def sparse():
    return generate(20000, 1000, 200_000, 3)


def test_defaults_exact_sizes(demo):
    assert len(demo.ratings) == 100_000
    assert len(np.unique(demo.users)) == 2000
    np.testing.assert_array_equal(np.unique(demo.items), np.arange(1, 501))
    assert demo.users.dtype == np.int32 and demo.items.dtype == np.int32
    assert demo.ratings.dtype == np.int8 and demo.days.dtype == np.int32
    assert 8 <= len(demo.genre_names) <= 12
    assert len(demo.titles) == len(demo.years) == len(demo.item_genre) == 500


@pytest.mark.parametrize("name", ["demo", "sparse"])
def test_histogram_close_to_netflix(name, request):
    d = request.getfixturevalue(name)
    shares = np.bincount(d.ratings, minlength=6)[1:] / len(d.ratings)
    np.testing.assert_allclose(shares, NETFLIX_HISTOGRAM, atol=0.01)
    assert d.ratings.min() == 1 and d.ratings.max() == 5


@pytest.mark.parametrize("name", ["demo", "sparse"])
def test_no_duplicate_pairs_and_grouped_by_movie(name, request):
    d = request.getfixturevalue(name)
    key = d.items.astype(np.int64) << 32 | d.users
    assert len(np.unique(key)) == len(key)
    assert np.all(np.diff(d.items) >= 0)   # MovieID blocks in ascending order


def test_power_law_popularity_and_activity(sparse):
    per_item = np.sort(np.bincount(sparse.items)[1:])[::-1]
    assert per_item[: len(per_item) // 10].sum() / per_item.sum() > 0.45  # uniform: 0.10
    _, per_user = np.unique(sparse.users, return_counts=True)
    per_user = np.sort(per_user)[::-1]
    assert per_user[: len(per_user) // 10].sum() / per_user.sum() > 0.25
    assert per_user.min() >= 1 and per_item.min() >= 1
    assert per_user.max() > 10 * np.median(per_user)


def test_deterministic_for_a_seed():
    a, b, c = generate(300, 80, 5000, 7), generate(300, 80, 5000, 7), generate(300, 80, 5000, 8)
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y
    assert not np.array_equal(a.users, c.users) or not np.array_equal(a.ratings, c.ratings)


def test_dense_request_is_exact():
    d = generate(10, 8, 60, 1)
    key = d.users.astype(np.int64) * 100 + d.items
    assert len(d.ratings) == 60 and len(np.unique(key)) == 60


def _nearest_same_genre(d, values):
    """Share of items whose most cosine-similar other item (rows: items, columns: users)
    shares its planted genre, and the mean similarity within vs across genres."""
    from scipy.sparse import csr_matrix

    _, u = np.unique(d.users, return_inverse=True)
    m = csr_matrix((values, (d.items - 1, u)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    sim = (m @ m.T).toarray() / np.outer(norms, norms)
    same = d.item_genre[:, None] == d.item_genre[None, :]
    np.fill_diagonal(same, False)
    off = ~same
    np.fill_diagonal(off, False)
    within, across = sim[same].mean(), sim[off].mean()
    np.fill_diagonal(sim, -np.inf)
    return np.mean(d.item_genre[sim.argmax(axis=1)] == d.item_genre), within, across


def test_planted_genres_shape_ratings(demo):
    """Users who love an item tend to love other items of its genre: genre-mates have more
    similar rating profiles than items of different genres (chance of a hit: about 1/10)."""
    chance = np.sum((np.bincount(demo.item_genre) / len(demo.item_genre)) ** 2)
    assert chance < 0.2
    hit, within, across = _nearest_same_genre(demo, demo.ratings - 3.6)
    assert hit > 0.45 and within > across + 0.02
    # Which movies a user rates follows the genres too.
    hit, within, across = _nearest_same_genre(demo, np.ones(len(demo.ratings)))
    assert hit > 0.8 and within > across


def test_write_and_load_round_trip(tmp_path):
    out = tmp_path / "set"
    stats = synth.write_netflix(out, 300, 60, 4000, 5)
    assert stats["n_ratings"] == 4000 and stats["n_users"] == 300 and stats["n_items"] == 60
    assert sum(stats["rating_counts"].values()) == 4000
    data = generate(300, 60, 4000, 5)
    r = load_netflix(out)
    assert r.n_ratings == 4000
    assert r.notices == ("text encoding: combined_data_1.txt: UTF-8; movie_titles.csv: cp1252 "
                         "(not valid UTF-8)",)
    np.testing.assert_array_equal(r.user_ids[r.users].astype(np.int64), data.users)
    np.testing.assert_array_equal(r.item_ids[r.items].astype(np.int64), data.items)
    np.testing.assert_array_equal(r.ratings, data.ratings)
    np.testing.assert_array_equal(r.timestamps, data.days.astype(np.int64) * 86400)
    info = r.item_info.set_index("item")
    titles = info.loc[[str(k) for k in range(1, 61)], "title"].tolist()
    assert titles == data.titles
    assert any("," in t for t in titles) and any('"' in t for t in titles)
    years = info.loc[[str(k) for k in range(1, 61)], "year"]
    assert years.isna().tolist() == (data.years == 0).tolist()
    assert (data.years == 0).any()
    raw = (out / "movie_titles.csv").read_bytes()
    assert b",NULL," in raw
    genres = planted_genres(out)
    assert genres == {str(k + 1): data.genre_names[g] for k, g in enumerate(data.item_genre)}


def test_titles_are_latin1():
    titles, _ = synth._titles(np.random.default_rng(0), 400)
    assert any(any(ord(ch) > 127 for ch in t) for t in titles)
    for t in titles:
        t.encode("iso-8859-1")


def test_load_synthetic_writes_once_with_genres(tmp_path, monkeypatch):
    params = {"users": "120", "items": "30", "ratings": "1500", "seed": "2"}
    r = load_synthetic(params)
    folder = tmp_path / "data" / "synthetic" / "u120_i30_r1500_s2"
    assert (folder / "combined_data_1.txt").is_file() and (folder / "genres.csv").is_file()
    assert r.n_ratings == 1500 and r.n_users == 120 and r.n_items == 30
    assert set(r.item_info["genres"]) <= set(synth.GENRE_NAMES)
    expected = planted_genres(folder)
    assert r.item_info["genres"].tolist() == [expected[i] for i in r.item_info["item"]]
    assert "synthetic" in r.name

    def boom(*a, **k):
        raise AssertionError("regenerated")

    monkeypatch.setattr(synth, "write_netflix", boom)
    again = load_synthetic({"users": 120, "items": 30, "ratings": 1500, "seed": 2})
    np.testing.assert_array_equal(again.ratings, r.ratings)
    assert not [p for p in folder.parent.iterdir() if p.name.endswith(".tmp")]


def test_load_synthetic_rebuilds_stale_folder(tmp_path):
    params = {"users": 60, "items": 20, "ratings": 500, "seed": 1}
    folder = synth.ensure_synthetic(params)
    meta = json.loads((folder / "synth.json").read_text())
    assert meta["generator_version"] == synth.GENERATOR_VERSION and meta["users"] == 60
    (folder / "synth.json").write_text(json.dumps({**meta, "generator_version": -1}))
    (folder / "combined_data_1.txt").write_bytes(b"1:\n1,1,2005-01-01\n")
    r = load_synthetic(params)
    assert r.n_ratings == 500
    assert json.loads((folder / "synth.json").read_text())["generator_version"] > 0


@pytest.mark.parametrize("params, message", [
    ({"colour": "red"}, "unknown synthetic option"),
    ({"users": "many"}, "whole number"),
    ({"users": 0}, "too small"),
    ({"seed": -1}, "too small"),
    ({"users": 3, "items": 3, "ratings": 10}, "more ratings than"),
])
def test_synthetic_params_errors(params, message):
    with pytest.raises(InputError, match=message):
        load_synthetic(params)


def test_synthetic_defaults():
    assert synth.synthetic_params({}) == {"users": 2000, "items": 500, "ratings": 100_000,
                                          "seed": 0}


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["synth", "--users", "200", "--items", "40", "--ratings", "3000", "--seed", "4",
               "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "3000 ratings, 200 users, 40 movies" in text
    assert "stars: 1: 4.6%" in text
    assert {p.name for p in out.iterdir()} == {"combined_data_1.txt", "movie_titles.csv",
                                                "genres.csv", "synth.json"}
    rc = main(["synth", "--users", "200", "--items", "40", "--ratings", "3000", "--seed", "4",
               "--out", str(out), "--json"])
    stats = json.loads(capsys.readouterr().out)
    assert rc == 0 and stats["n_ratings"] == 3000 and stats["path"] == str(out)
    assert load_netflix(out).n_ratings == 3000


def test_cli_synth_default_folder(tmp_path, capsys):
    rc = main(["synth", "--users", "50", "--items", "20", "--ratings", "400"])
    assert rc == 0
    assert (tmp_path / "data" / "synthetic" / "u50_i20_r400_s0" / "genres.csv").is_file()


def test_cli_synth_bad_input(capsys):
    rc = main(["synth", "--users", "5", "--items", "5", "--ratings", "26"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_genres_file_format(tmp_path):
    synth.write_netflix(tmp_path / "g", 40, 12, 200, 0)
    df = pd.read_csv(tmp_path / "g" / "genres.csv")
    assert df.columns.tolist() == ["item", "genre"] and df["item"].tolist() == list(range(1, 13))
