"""recsys.embed: 2-D maps of the item factors (PCA, t-SNE): shapes, order, determinism."""
import numpy as np
import pandas as pd
import pytest
from surprise import NMF, SVD

from recsys.data import Ratings
from recsys.embed import (MapStopped, default_min_ratings, genre_agreement, item_map,
                          most_rated, primary_genre, project)
from recsys.errors import InputError

COLUMNS = ["item", "title", "year", "x", "y", "n_ratings", "mean_rating", "bi", "genres"]


def make_ratings(n_users=40, n_items=60, density=0.3, seed=1) -> Ratings:
    rng = np.random.default_rng(seed)
    cells = np.flatnonzero(rng.random(n_users * n_items) < density * (1 + np.arange(
        n_users * n_items) % n_items / n_items))       # later items a little more popular
    users, items = cells // n_items, cells % n_items
    values = rng.integers(1, 6, size=len(cells))
    table = pd.DataFrame({"item": [f"m{i}" for i in range(n_items)],
                          "title": [f"Movie {i}" for i in range(n_items)],
                          "year": [1980 + i for i in range(n_items)],
                          "genres": ["Drama|Comedy" if i % 3 else "" for i in range(n_items)]})
    return Ratings.from_arrays([f"u{u}" for u in users], [f"m{i}" for i in items], values,
                               item_table=table, rating_scale=(1, 5), name="tiny")


@pytest.fixture(scope="module")
def ratings():
    return make_ratings()


@pytest.fixture(scope="module")
def svd(ratings):
    return SVD(n_factors=5, n_epochs=10, random_state=0).fit(
        ratings.to_surprise().build_full_trainset())


def test_most_rated_order_and_ties():
    r = Ratings.from_arrays(["a", "b", "a", "b", "c", "a"], ["x", "y", "y", "z", "z", "w"],
                            [1, 2, 3, 4, 5, 1], rating_scale=(1, 5))
    # counts: x 1, y 2, z 2, w 1 -> y, z (tie: inner id), then x, w
    assert most_rated(r, None).tolist() == [1, 2, 0, 3]
    assert most_rated(r, 3).tolist() == [1, 2, 0]
    with pytest.raises(InputError, match="at least 2"):
        most_rated(r, 1)


def test_pca_map_shape_columns_and_values(ratings, svd):
    df = item_map(svd, ratings, method="pca")
    assert list(df.columns[:9]) == COLUMNS and len(df) == ratings.n_items
    assert df["n_ratings"].is_monotonic_decreasing
    order = most_rated(ratings, None)
    assert df["item"].tolist() == ratings.item_ids[order].tolist()
    assert df["bi"].tolist() == svd.bi[order].tolist()
    counts = ratings.ratings_per_item()[order]
    assert df["n_ratings"].tolist() == counts.tolist()
    # PCA: centred coordinates whose variances are the two largest eigenvalues of cov(q_i)
    X = svd.qi[order]
    eig = np.sort(np.linalg.eigvalsh(np.cov(X.T)))[::-1]
    assert df[["x", "y"]].var(ddof=1).to_numpy() == pytest.approx(eig[:2], rel=1e-9)
    assert df[["x", "y"]].mean().to_numpy() == pytest.approx([0, 0], abs=1e-12)
    assert df["genre"].tolist()[:3] == primary_genre(df["genres"]).tolist()[:3]


def test_pca_map_is_deterministic_and_n_items_takes_the_most_rated(ratings, svd):
    a = item_map(svd, ratings, method="pca", n_items=25)
    b = item_map(svd, ratings, method="pca", n_items=25)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 25
    assert set(a["item"]) == set(item_map(svd, ratings, method="pca")["item"][:25])


def test_tsne_map_deterministic_for_a_seed_with_progress(ratings, svd):
    seen = []
    a = item_map(svd, ratings, method="tsne", perplexity=10, n_iter=250, seed=3,
                 callback=lambda done, total: seen.append((done, total)))
    b = item_map(svd, ratings, method="tsne", perplexity=10, n_iter=250, seed=3)
    c = item_map(svd, ratings, method="tsne", perplexity=10, n_iter=250, seed=4)
    assert a.shape == (ratings.n_items, 11) and np.isfinite(a[["x", "y"]]).all().all()
    assert np.array_equal(a[["x", "y"]].to_numpy(), b[["x", "y"]].to_numpy())
    assert not np.array_equal(a[["x", "y"]].to_numpy(), c[["x", "y"]].to_numpy())
    assert seen[0] == (0, 250) and seen[-1] == (250, 250)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) >= 4


def test_tsne_neighbours_in_factor_space_stay_close():
    # two tight clusters of factors -> two separated groups on the map
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.05, (20, 6)) + 1, rng.normal(0, 0.05, (20, 6)) - 1])
    xy, notes = project(X, "tsne", perplexity=5, n_iter=1000, seed=0)
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = d.argmin(axis=1)
    assert ((nearest < 20) == (np.arange(40) < 20)).all() and notes == []


def test_small_maps_adjust_perplexity_and_bad_options_are_input_errors(ratings, svd):
    df = item_map(svd, ratings, method="tsne", perplexity=30, n_iter=250, n_items=12)
    assert len(df) == 12 and "perplexity 30 is too large" in df.attrs["notes"][0]
    with pytest.raises(InputError, match="unknown map method"):
        item_map(svd, ratings, method="umap")
    with pytest.raises(InputError, match="250 iterations"):
        item_map(svd, ratings, method="tsne", n_iter=100)


def test_unbiased_nmf_map_has_zero_bi(ratings):
    nmf = NMF(n_factors=3, n_epochs=5, random_state=0).fit(
        ratings.to_surprise().build_full_trainset())
    df = item_map(nmf, ratings, method="pca", n_items=10)
    assert (df["bi"] == 0.0).all() and len(df) == 10


def test_primary_genre():
    s = pd.Series(["Drama|Comedy", "", None, "Action"])
    assert primary_genre(s).tolist() == ["Drama", "(none)", "(none)", "Action"]


def test_genre_agreement_exact():
    # A and B are 2 points each, far apart; k=1: every nearest neighbour is the other twin
    xy = np.array([[0, 0], [0, 1], [10, 0], [10, 1], [20, 0]], dtype=float)
    g = ["Drama", "Drama|War", "Comedy", "Comedy", "Drama|Comedy"]
    out = genre_agreement(xy, g, k=1)
    # neighbours: 0<->1 (share Drama), 2<->3 (Comedy), 4 -> 3 (Comedy): all 5 share
    assert out["share"] == 1.0 and out["n"] == 5 and out["k"] == 1
    # pairs sharing a genre: (0,1) (0,4) (1,4) (2,3) (2,4) (3,4) = 6 of 10
    assert out["chance"] == pytest.approx(6 / 10)
    assert genre_agreement(xy, ["", "", "", "", "x"], k=1) is None


def test_min_ratings_normalise_and_stop(ratings, svd):
    counts = ratings.ratings_per_item()
    m = int(np.median(counts))
    df = item_map(svd, ratings, method="pca", min_ratings=m, normalise=True)
    assert len(df) == int((counts >= m).sum()) and (df["n_ratings"] >= m).all()
    X = svd.qi[df["inner"].to_numpy()]
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    from sklearn.decomposition import PCA
    assert np.abs(df[["x", "y"]].to_numpy()).sum() == pytest.approx(
        np.abs(PCA(2, svd_solver="full").fit_transform(Xn)).sum())
    with pytest.raises(InputError, match="fewer than 2 movies have at least"):
        item_map(svd, ratings, method="pca", min_ratings=10_000)
    calls = []
    with pytest.raises(MapStopped):
        item_map(svd, ratings, method="tsne", n_iter=500, perplexity=5,
                 should_stop=lambda: calls.append(1) or len(calls) > 2)


def _with_counts(counts) -> Ratings:
    users = [f"u{k}" for c in counts for k in range(c)]
    items = [f"m{i}" for i, c in enumerate(counts) for _ in range(c)]
    return Ratings.from_arrays(users, items, [3] * len(users), rating_scale=(1, 5))


@pytest.mark.parametrize("counts, expected", [
    ([30] * 200 + [3] * 50, 20),      # 200 movies with >= 20 ratings: the target
    ([12] * 250, 10),                 # none reaches 20; all reach 10
    ([6] * 150 + [1] * 100, 5),       # 150 reach 5 (all that can): keep 200 is unreachable
    ([1] * 300, 1),
])
def test_default_min_ratings(counts, expected):
    assert default_min_ratings(_with_counts(counts)) == expected


def test_labels_never_overlap():
    from recsys.embed import place_labels

    xy = np.array([[0, 0], [0.01, 0.0], [5, 5], [5.05, 5.1], [10, 10], [0, 10]], dtype=float)
    # extent 10 x 10: boxes 1.4 wide, 0.35 high; point 1 and 3 collide with 0 and 2
    assert place_labels(xy, 10) == [0, 2, 4, 5]
    assert place_labels(xy, 2) == [0, 2]
    got = place_labels(np.random.default_rng(0).normal(size=(500, 2)), 40)
    assert 0 < len(got) <= 40 and got == sorted(got)
