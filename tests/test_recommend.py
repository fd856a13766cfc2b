"""recsys.recommend: vectorised top-n against Surprise's anti-testset, similar items, search."""
import numpy as np
import pandas as pd
import pytest
from surprise import NMF, SVD

from fixtures import make_ratings
from recsys.data import Ratings
from recsys.errors import InputError
from recsys.recommend import (item_similarities, search_titles, similar_items, top_n, top_n_all,
                              user_top_rated)


def fit(ratings, algo):
    return algo.fit(ratings.to_surprise().build_full_trainset())


@pytest.fixture(scope="module")
def ratings():
    return make_ratings()


@pytest.fixture(scope="module")
def svd(ratings):
    # a strong learning rate: many estimates saturate at 5 after clipping, as in the tutorial
    return fit(ratings, SVD(n_factors=6, n_epochs=40, lr_all=0.05, random_state=0))


@pytest.fixture(scope="module")
def nmf(ratings):
    return fit(ratings, NMF(n_factors=5, n_epochs=20, random_state=0))


def anti_testset_top(algo, raw_user, n):
    """The tutorial's way: predict every unrated pair with Surprise, sort by estimate."""
    anti = [p for p in algo.trainset.build_anti_testset() if p[0] == raw_user]
    preds = algo.test(anti)
    preds.sort(key=lambda p: (-p.est, -algo.predict(p.uid, p.iid, clip=False).est))
    return preds[:n]


@pytest.mark.parametrize("model", ["svd", "nmf"])
def test_top_n_equals_top_of_anti_testset(ratings, model, request):
    algo = request.getfixturevalue(model)
    for raw_u in ratings.user_ids[:10]:
        mine = top_n(algo, ratings, raw_u, n=8)
        ref = anti_testset_top(algo, raw_u, 8)
        assert mine["est"].tolist() == [p.est for p in ref]            # bit for bit
        assert mine["item"].tolist() == [p.iid for p in ref]
        assert mine["est"].tolist() == [algo.predict(raw_u, i).est for i in mine["item"]]
        assert mine["score"].tolist() == [algo.predict(raw_u, i, clip=False).est
                                          for i in mine["item"]]


def test_saturated_estimates_rank_by_unclipped_score(ratings):
    algo = fit(ratings, SVD(n_factors=6, n_epochs=40, lr_all=0.05, random_state=0))
    algo.bi[:] += 1.5            # push many sums over 5, as the tutorial's user 40 saw
    df = top_n(algo, ratings, "u1", n=10)
    assert list(df.columns) == ["rank", "item", "title", "year", "est", "score", "n_ratings",
                                "mean_rating"]
    assert df["rank"].tolist() == list(range(1, 11))
    assert (df["est"] == 5.0).sum() >= 3          # saturated at the top of the scale...
    assert (df["score"] > 5.0).sum() >= 3         # ...but the unclipped scores differ
    assert df["score"].is_monotonic_decreasing and df["est"].is_monotonic_decreasing
    stats = ratings.item_stats().set_index("item")
    assert df["n_ratings"].tolist() == stats.loc[df["item"], "n_ratings"].tolist()
    assert df["title"].tolist() == stats.loc[df["item"], "title"].tolist()


def test_ties_in_score_are_broken_by_inner_item_id(ratings):
    algo = fit(ratings, SVD(n_factors=3, n_epochs=2, random_state=0))
    algo.qi[:] = 0.0
    algo.bi[:] = 0.0          # every item scores μ + b_u: a complete tie
    df = top_n(algo, ratings, "u0", n=5, exclude_rated=False)
    assert df["item"].tolist() == ratings.item_ids[:5].tolist()
    assert df["score"].nunique() == 1


def test_exclude_rated_and_min_ratings(ratings, svd):
    rated = set(user_top_rated(ratings, "u2", n=None)["item"])
    excl = top_n(svd, ratings, "u2", n=40)
    assert not rated & set(excl["item"]) and len(excl) == ratings.n_items - len(rated)
    incl = top_n(svd, ratings, "u2", n=40, exclude_rated=False)
    assert set(incl["item"]) == set(ratings.item_ids)
    counts = dict(zip(ratings.item_info["item"], ratings.ratings_per_item()))
    cut = int(np.median(list(counts.values())))
    df = top_n(svd, ratings, "u2", n=40, min_ratings=cut)
    assert len(df) and all(counts[i] >= cut for i in df["item"])
    assert len(df) == sum(1 for i, c in counts.items() if c >= cut and i not in rated)


def test_top_n_all_matches_top_n_for_each_user(ratings, svd):
    items, est = top_n_all(svd, ratings, n=6, block=7)
    assert items.shape == est.shape == (ratings.n_users, 6)
    for u in range(ratings.n_users):
        one = top_n(svd, ratings, ratings.user_ids[u], n=6)
        assert ratings.item_ids[items[u]].tolist() == one["item"].tolist()
        assert est[u].tolist() == one["est"].tolist()


def test_bad_requests_are_input_errors(ratings, svd):
    with pytest.raises(InputError, match="unknown user"):
        top_n(svd, ratings, "nobody")
    with pytest.raises(InputError, match="unknown item"):
        similar_items(svd, ratings, "nothing")
    with pytest.raises(InputError, match="at least 1"):
        top_n(svd, ratings, "u0", n=0)
    with pytest.raises(InputError, match="metric"):
        similar_items(svd, ratings, "m0", metric="manhattan")
    with pytest.raises(InputError, match="other ratings"):
        top_n(svd, make_ratings(n_users=20, seed=3), "u0")


def test_user_top_rated_is_sorted_by_rating_then_inner_id():
    r = Ratings.from_arrays(["a", "a", "a", "b", "a"], ["x", "y", "z", "x", "w"],
                            [3, 5, 5, 1, 4], rating_scale=(1, 5))
    df = user_top_rated(r, "a", n=3)
    assert df["item"].tolist() == ["y", "z", "w"]
    assert df["rating"].tolist() == [5.0, 5.0, 4.0]
    assert df["n_ratings"].tolist() == [1, 1, 1]
    assert len(user_top_rated(r, "a", n=None)) == 4
    assert user_top_rated(r, "b", n=10)["mean_rating"].tolist() == [2.0]


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_neighbours_equal_brute_force(ratings, svd, metric):
    q = svd.qi
    i = ratings.item_inner("m5")
    brute = []
    for j in range(len(q)):
        if j == i:
            continue
        if metric == "cosine":
            s = sum(a * b for a, b in zip(q[i], q[j])) / (
                np.sqrt(sum(a * a for a in q[i])) * np.sqrt(sum(b * b for b in q[j])))
        elif metric == "dot":
            s = sum(a * b for a, b in zip(q[i], q[j]))
        else:
            s = -np.sqrt(sum((a - b) ** 2 for a, b in zip(q[i], q[j])))
        brute.append((-s, j))
    brute.sort()
    df = similar_items(svd, ratings, "m5", n=7, metric=metric)
    assert df["item"].tolist() == [ratings.item_ids[j] for _, j in brute[:7]]
    want = [-s for s, _ in brute[:7]]
    if metric == "euclidean":
        want = [-w for w in want]                # reported as a distance
    assert df["score"].to_numpy() == pytest.approx(want, abs=1e-12)
    assert "m5" not in set(df["item"])
    assert list(df.columns[:4]) == ["item", "title", "score", "n_ratings"]


def test_cosine_handles_a_zero_vector():
    qi = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    assert item_similarities(qi, 0, "cosine").tolist() == [1.0, 0.0, 1.0, 0.0]
    assert item_similarities(qi, 1, "cosine").tolist() == [0.0, 0.0, 0.0, 0.0]
    assert item_similarities(qi, 0, "euclidean").tolist() == [0.0, -1.0, -1.0, -np.sqrt(10)]


def test_similar_items_min_ratings(ratings, svd):
    df = similar_items(svd, ratings, "m0", n=40, min_ratings=12)
    counts = dict(zip(ratings.item_info["item"], ratings.ratings_per_item()))
    assert len(df) == sum(1 for i, c in counts.items() if c >= 12 and i != "m0")
    assert df["n_ratings"].min() >= 12


def test_search_titles_partial_case_insensitive():
    table = pd.DataFrame({"item": ["1", "2", "3", "50"],
                          "title": ["Star Wars", "Toy Story", "Star Trek", "Lone Star (1+1)"],
                          "year": [1977, 1995, None, 1996]})
    r = Ratings.from_arrays(["a", "b", "c", "a", "b", "a"], ["1", "2", "3", "3", "3", "50"],
                            [5, 4, 3, 2, 1, 4], item_table=table, rating_scale=(1, 5))
    df = search_titles(r, "sTaR")
    assert df["item"].tolist() == ["3", "1", "50"]       # most rated first, then inner id
    assert df["label"].tolist() == ["Star Trek [3]", "Star Wars (1977) [1]",
                                    "Lone Star (1+1) (1996) [50]"]
    assert search_titles(r, "(1+1)")["item"].tolist() == ["50"]     # literal, not a regex
    assert search_titles(r, "2")["item"].tolist() == ["2"]          # exact raw id
    assert len(search_titles(r, "")) == 4 and search_titles(r, "zzz").empty


def planted(n_users=240, n_items=80, n_genres=4, density=0.4, seed=0) -> Ratings:
    """Each item has one genre; each user loves one genre and dislikes another."""
    rng = np.random.default_rng(seed)
    genre = np.arange(n_items) % n_genres
    love = rng.integers(0, n_genres, size=n_users)
    hate = (love + 1 + rng.integers(0, n_genres - 1, size=n_users)) % n_genres
    cells = np.flatnonzero(rng.random(n_users * n_items) < density)
    u, i = cells // n_items, cells % n_items
    base = 3.0 + 1.5 * (genre[i] == love[u]) - 1.5 * (genre[i] == hate[u])
    values = np.clip(np.rint(base + rng.normal(0, 0.5, len(cells))), 1, 5)
    table = pd.DataFrame({"item": [str(k) for k in range(n_items)],
                          "title": [f"Film {k}" for k in range(n_items)],
                          "genres": [f"G{g}" for g in genre]})
    return Ratings.from_arrays(u.astype(str), i.astype(str), values, item_table=table,
                               rating_scale=(1, 5))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_planted_genres_are_recovered_by_neighbours(metric):
    r = planted()
    algo = fit(r, SVD(n_factors=8, n_epochs=30, random_state=0))
    genres = r.item_info.set_index("item")["genres"]
    shares = []
    for raw in r.item_ids:
        df = similar_items(algo, r, raw, n=10, metric=metric)
        shares.append(float((genres.loc[df["item"]] == genres.loc[raw]).mean()))
    # chance is (20 - 1) / 79 = 0.24 for 4 genres of 20 items
    assert np.mean(shares) > 0.8


def test_planted_genres_from_the_synthetic_generator(tmp_path, monkeypatch):
    synth = pytest.importorskip("recsys.io.synth")
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / ".cache"))
    r = synth.load_synthetic({"users": 1000, "items": 100, "ratings": 30000, "seed": 0})
    algo = fit(r, SVD(n_factors=8, n_epochs=60, lr_all=0.01, random_state=0))
    genres = r.item_info["genres"].to_numpy()
    counts = pd.Series(genres).value_counts(normalize=True)
    chance = float((counts ** 2).sum())
    shares = []
    for inner in range(r.n_items):
        df = similar_items(algo, r, r.item_ids[inner], n=5)
        nb = [genres[r.item_inner(x)] for x in df["item"]]
        shares.append(np.mean([g == genres[inner] for g in nb]))
    assert chance < 0.2 and np.mean(shares) > max(4 * chance, 0.6)   # measured: 0.76 vs 0.14
