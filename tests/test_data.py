"""recsys.data.Ratings: construction, ids, stats, sampling, subsets, the Surprise bridge."""
import numpy as np
import pandas as pd
import pytest

from recsys.data import Ratings, infer_rating_scale, make_item_info
from recsys.errors import InputError

# user, item, rating: users appear in the order u3, u1, u2; items i9, i7, i8.
ROWS = [("u3", "i9", 4), ("u1", "i9", 5), ("u1", "i7", 3), ("u2", "i8", 1),
        ("u3", "i7", 2), ("u2", "i9", 4), ("u1", "i8", 5)]


@pytest.fixture
def small():
    u, i, r = zip(*ROWS)
    table = pd.DataFrame({"item": ["i7", "i9"], "title": ["Seven", "Nine"],
                          "year": [1995, None], "genres": ["Drama|War", None]})
    return Ratings.from_arrays(u, i, r, item_table=table, name="small",
                               timestamps=np.arange(7) * 10)


def test_first_appearance_numbering(small):
    assert list(small.user_ids) == ["u3", "u1", "u2"]
    assert list(small.item_ids) == ["i9", "i7", "i8"]
    assert small.users.tolist() == [0, 1, 1, 2, 0, 2, 1]
    assert small.items.tolist() == [0, 0, 1, 2, 1, 0, 2]
    assert small.users.dtype == np.int32 and small.items.dtype == np.int32
    assert small.ratings.dtype == np.float32
    assert small.rating_scale == (1.0, 5.0)


def test_item_info_aligned_to_inner_ids(small):
    info = small.item_info
    assert list(info.columns) == ["item", "title", "year", "genres"]
    assert info["item"].tolist() == ["i9", "i7", "i8"]
    assert info["title"].tolist() == ["Nine", "Seven", "item i8"]
    assert info["year"].tolist()[1] == 1995 and info["year"].isna().tolist() == [True, False, True]
    assert info["genres"].tolist() == ["", "Drama|War", ""]
    assert small.title(1) == "Seven"


def test_float_ids_keep_integer_form():
    r = Ratings.from_arrays(np.array([12.0, 7.0]), [1, 2], [3, 4])
    assert list(r.user_ids) == ["12", "7"]
    assert list(r.item_ids) == ["1", "2"]


def test_integer_ids_number_like_their_strings():
    users = np.array([30, 4, 30, 7, 4], dtype=np.int64)
    items = np.array([2, 2, 9, 1, 9], dtype=np.uint32)
    a = Ratings.from_arrays(users, items, [1, 2, 3, 4, 5])
    b = Ratings.from_arrays(users.astype(str), items.astype(str), [1, 2, 3, 4, 5])
    assert list(a.user_ids) == list(b.user_ids) == ["30", "4", "7"]
    assert list(a.item_ids) == list(b.item_ids) == ["2", "9", "1"]
    assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items)
    assert all(type(x) is str for x in a.user_ids)


@pytest.mark.parametrize("chunk", [1, 2, 1 << 22])
def test_integer_ids_numbered_chunk_by_chunk_like_factorize(chunk, monkeypatch):
    """Integer ids are numbered a chunk at a time into int32 codes: the same codes and ids as
    pandas.factorize in order of first appearance, whatever the chunk."""
    import recsys.data as data

    monkeypatch.setattr(data, "_CODE_CHUNK", chunk)
    rng = np.random.default_rng(3)
    for values in (rng.integers(0, 9, 25).astype(np.int32), rng.integers(-5, 5, 25),
                   rng.integers(0, 9, 25).astype(np.uint64) << np.uint64(60),
                   np.array([7], dtype=np.int16)):
        codes, ids = data._factorize_ids(values)
        want_codes, want_ids = pd.factorize(values, sort=False)
        assert codes.dtype == np.int32 and codes.tolist() == want_codes.tolist()
        assert ids.tolist() == [str(v) for v in want_ids]


def test_stats_and_summary(small):
    s = small.stats()
    assert s == {"n_ratings": 7, "n_users": 3, "n_items": 3, "density": pytest.approx(7 / 9),
                 "rating_counts": {"1": 1, "2": 1, "3": 1, "4": 2, "5": 2},
                 "rating_scale": [1.0, 5.0]}
    assert small.summary() == ("7 interactions, 3 users, 3 movies are selected; only 77.78% of "
                               "possible interactions are observed")
    half = Ratings.from_arrays(["a", "b"], ["x", "x"], [0.5, 4.5])
    assert half.stats()["rating_counts"] == {"0.5": 1, "4.5": 1}
    assert half.rating_scale == (0.5, 5.0)


def test_per_user_item_counts_and_item_stats(small):
    assert small.ratings_per_user().tolist() == [2, 3, 2]
    assert small.ratings_per_item().tolist() == [3, 2, 2]
    st = small.item_stats()
    assert st["n_ratings"].tolist() == [3, 2, 2]
    assert st["mean_rating"].tolist() == pytest.approx([13 / 3, 2.5, 3.0])
    assert small.global_mean == pytest.approx(24 / 7)


def test_to_frame_round_trip(small):
    df = small.to_frame()
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert list(zip(df["user"], df["item"], df["rating"].astype(int))) == ROWS
    assert df["timestamp"].tolist() == [0, 10, 20, 30, 40, 50, 60]


def test_unknown_ids(small):
    assert small.user_inner("u2") == 2 and small.item_inner("i7") == 1
    assert small.user_inner(" u2".strip()) == 2
    with pytest.raises(InputError) as e:
        small.user_inner("nobody")
    assert "unknown user id" in str(e.value) and "'nobody'" in str(e.value)
    with pytest.raises(InputError, match="unknown item id"):
        small.item_inner(42)


def test_subset_recodes_by_first_appearance(small):
    keep = np.array([False, True, True, True, True, False, False])  # u1 i9, u1 i7, u2 i8, u3 i7
    sub = small.subset(keep, name="sub", notices=("n1",))
    assert list(sub.user_ids) == ["u1", "u2", "u3"]
    assert list(sub.item_ids) == ["i9", "i7", "i8"]
    assert sub.users.tolist() == [0, 0, 1, 2]
    assert sub.items.tolist() == [0, 1, 2, 1]
    assert sub.ratings.tolist() == [5, 3, 1, 2]
    assert sub.timestamps.tolist() == [10, 20, 30, 40]
    assert sub.item_info["title"].tolist() == ["Nine", "Seven", "item i8"]
    assert sub.name == "sub" and sub.notices == ("n1",)
    assert sub.rating_scale == small.rating_scale
    with pytest.raises(InputError, match="selection is empty"):
        small.subset(np.zeros(7, dtype=bool))


def _many(n_users=50):
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(n_users), 4)
    items = rng.integers(0, 30, len(users))
    return Ratings.from_arrays(users, items, rng.integers(1, 6, len(users)), name="many")


def test_sampling_is_deterministic():
    r = _many()
    a, b, c = r.sample_users(10, seed=7), r.sample_users(10, seed=7), r.sample_users(10, seed=8)
    assert a.n_users == 10 and a.n_ratings == 40
    assert list(a.user_ids) == list(b.user_ids)
    assert np.array_equal(a.items, b.items) and np.array_equal(a.ratings, b.ratings)
    assert set(a.user_ids) != set(c.user_ids)
    assert a.name == "many (10 users, seed 7)"
    # every kept user keeps all their ratings
    full = r.to_frame()
    for uid in a.user_ids:
        assert (a.to_frame()["user"] == uid).sum() == (full["user"] == uid).sum()


def test_sampling_clamps_with_notice_and_rejects_empty():
    r = _many(5)
    assert r.sample_users(None) is r
    same = r.sample_users(5)
    assert same.n_users == 5 and same.notices == ()
    big = r.sample_users(8)
    assert big.n_users == 5 and big.n_ratings == r.n_ratings
    assert big.notices == ("asked for 8 users but the data has 5; using all of them",)
    for bad in (0, -3):
        with pytest.raises(InputError, match="at least 1 user"):
            r.sample_users(bad)


def test_to_surprise_same_inner_ids_as_build_full_trainset(small):
    trainset = small.to_surprise().build_full_trainset()
    assert trainset.n_users == small.n_users and trainset.n_items == small.n_items
    for inner, raw in enumerate(small.user_ids):
        assert trainset.to_inner_uid(raw) == inner
    for inner, raw in enumerate(small.item_ids):
        assert trainset.to_inner_iid(raw) == inner
    got = sorted((u, i, r) for u, i, r in trainset.all_ratings())
    want = sorted(zip(small.users.tolist(), small.items.tolist(), small.ratings.tolist()))
    assert got == want
    assert trainset.rating_scale == (1.0, 5.0)
    assert trainset.global_mean == pytest.approx(small.global_mean)


def test_sample_to_surprise_keeps_numbering():
    s = _many().sample_users(6, seed=1)
    ts = s.to_surprise().build_full_trainset()
    assert [ts.to_raw_uid(k) for k in range(s.n_users)] == list(s.user_ids)
    assert [ts.to_raw_iid(k) for k in range(s.n_items)] == list(s.item_ids)


def test_bad_construction():
    with pytest.raises(InputError, match="no ratings found"):
        Ratings.from_arrays([], [], [], source="f.csv")
    with pytest.raises(InputError, match="not a number"):
        Ratings.from_arrays(["a"], ["b"], [np.nan])
    with pytest.raises(InputError) as e:
        Ratings.from_arrays(["a", "b"], ["x", "y"], [3, 6], rating_scale=(1, 5), source="f.csv")
    assert str(e.value) == "f.csv: rating off the scale 1..5 (value: 6.0)"
    with pytest.raises(InputError, match="lowest < highest"):
        Ratings.from_arrays(["a"], ["x"], [3], rating_scale=(5, 1))


@pytest.mark.parametrize("values, scale", [
    ([1, 5, 3], (1.0, 5.0)), ([0.5, 4.5], (0.5, 5.0)), ([0, 5], (0.0, 5.0)),
    ([1, 10], (1.0, 10.0)), ([0, 7], (0.0, 10.0)), ([3, 80], (1.0, 100.0)),
    ([-2, 3], (-2.0, 3.0)), ([-4, -4], (-5.0, -4.0)),
])
def test_infer_rating_scale(values, scale):
    assert infer_rating_scale(np.array(values, dtype=np.float32)) == scale


def test_make_item_info_without_table():
    info = make_item_info(np.array(["a", "b"], dtype=object), None)
    assert info["title"].tolist() == ["item a", "item b"]
    assert info["genres"].tolist() == ["", ""]
    assert str(info["year"].dtype) == "Int64"


def test_long_tails_and_matrix_slice_exact():
    # users a (3 ratings), b (2), c (1); items x (3), y (2), z (1)
    r = Ratings.from_arrays(["a", "a", "a", "b", "b", "c"], ["x", "y", "z", "x", "y", "x"],
                            [5, 4, 3, 2, 1, 5], rating_scale=(1, 5))
    t = r.long_tails()
    assert t["per_user"].tolist() == [3, 2, 1] and t["per_item"].tolist() == [3, 2, 1]
    assert t["median_per_user"] == 2.0 and t["median_per_item"] == 2.0
    assert t["top10pct_item_share"] == 0.5  # the top item (x) holds 3 of 6 ratings
    m, users, titles = r.matrix_slice(2)
    assert users.tolist() == ["a", "b"] and titles.tolist() == ["item x", "item y"]
    np.testing.assert_array_equal(m, [[5, 4], [2, 1]])
    m3, _, _ = r.matrix_slice(3)
    assert np.isnan(m3[1, 2]) and np.isnan(m3[2, 1]) and m3[2, 0] == 5
