"""recsys.explain: the breakdown μ + b_u + b_i + q_iᵀp_u against Surprise's predict()."""
import numpy as np
import pytest
from surprise import NMF, SVD, SVDpp, BaselineOnly

from fixtures import make_ratings
from recsys.errors import InputError
from recsys.explain import breakdown, check_aligned, model_parts


MODELS = {
    # strong learning rates so that some sums leave the 1..5 scale on both sides (clipping)
    "svd-biased": lambda: SVD(n_factors=6, n_epochs=40, lr_all=0.05, random_state=0),
    "svd-unbiased": lambda: SVD(n_factors=6, n_epochs=60, lr_all=0.02, init_std_dev=0.5,
                                biased=False, random_state=0),
    "nmf-unbiased": lambda: NMF(n_factors=5, n_epochs=20, random_state=0),
    "nmf-biased": lambda: NMF(n_factors=5, n_epochs=20, biased=True, random_state=0),
}


@pytest.fixture(scope="module")
def ratings():
    return make_ratings()


@pytest.fixture(scope="module")
def fitted(ratings):
    ts = ratings.to_surprise().build_full_trainset()
    return {name: make().fit(ts) for name, make in MODELS.items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_manual_sum_equals_predict_for_every_pair(ratings, fitted, name):
    algo = fitted[name]
    biased = name.endswith("-biased")
    n_unclipped = n_clipped = 0
    for raw_u in ratings.user_ids[:12]:
        for raw_i in ratings.item_ids:
            b = breakdown(algo, ratings, raw_u, raw_i)
            assert b["predict"] == algo.predict(raw_u, raw_i).est
            assert b["clipped"] == b["predict"]          # bit for bit, always
            assert b["difference"] == 0.0
            if b["manual"] == b["clipped"]:
                n_unclipped += 1
            else:
                n_clipped += 1
                assert not 1.0 <= b["manual"] <= 5.0
                assert "clips" in b["explanation"]
            expected = (b["mu"] + b["bu"] + b["bi"] + b["dot"]) if biased else b["dot"]
            assert b["manual"] == pytest.approx(expected, abs=1e-12)
            assert b["terms"] == (["mu", "bu", "bi", "dot"] if biased else ["dot"])
            assert b["was_impossible"] is False
    assert n_unclipped > 300
    if name.startswith("svd"):
        assert n_clipped > 20


def test_products_are_the_factor_by_factor_terms(ratings, fitted):
    algo = fitted["svd-biased"]
    b = breakdown(algo, ratings, "u3", "m7")
    u, i = algo.trainset.to_inner_uid("u3"), algo.trainset.to_inner_iid("m7")
    assert len(b["products"]) == 6 == b["n_factors"]
    assert b["products"] == (algo.qi[i] * algo.pu[u]).tolist()
    assert sum(b["products"]) == pytest.approx(b["dot"], abs=1e-12)
    assert b["bu"] == algo.bu[u] and b["bi"] == algo.bi[i]
    assert b["mu"] == pytest.approx(ratings.global_mean, abs=1e-12)


def test_pinned_parameters_give_pinned_numbers(ratings):
    algo = SVD(n_factors=2, n_epochs=1, random_state=0).fit(
        ratings.to_surprise().build_full_trainset())
    u, i = algo.trainset.to_inner_uid("u0"), algo.trainset.to_inner_iid("m1")
    algo.bu[u], algo.bi[i] = 0.25, -0.5
    algo.pu[u], algo.qi[i] = [1.0, 2.0], [0.5, -0.125]
    b = breakdown(algo, ratings, "u0", "m1")
    mu = algo.trainset.global_mean
    assert (b["bu"], b["bi"], b["dot"], b["products"]) == (0.25, -0.5, 0.25, [0.5, -0.25])
    assert b["manual"] == mu + 0.25 - 0.5 + 0.25 == b["predict"]
    # push the sum over the top of the scale: predict clips, the explanation says so
    algo.bi[i] = 4.0
    b = breakdown(algo, ratings, "u0", "m1")
    assert b["manual"] == mu + 0.25 + 4.0 + 0.25 > 5.0
    assert b["clipped"] == b["predict"] == 5.0
    assert "above the rating scale" in b["explanation"]


def test_true_rating_when_rated(ratings, fitted):
    df = ratings.to_frame()
    user, item, rating = df.iloc[5][["user", "item", "rating"]]
    b = breakdown(fitted["svd-biased"], ratings, user, item)
    assert b["true_rating"] == rating
    rated = set(df[df.user == "u0"].item)
    unrated = next(i for i in ratings.item_ids if i not in rated)
    assert breakdown(fitted["svd-biased"], ratings, "u0", unrated)["true_rating"] is None
    assert b["title"] == ratings.title(ratings.item_inner(item))


@pytest.mark.parametrize("name", ["svd-biased", "nmf-biased"])
def test_cold_start_biased_falls_back_on_mu_plus_known_bias(ratings, fitted, name):
    algo = fitted[name]
    ts = algo.trainset
    mu = ts.global_mean
    i, u = ts.to_inner_iid("m2"), ts.to_inner_uid("u4")
    cases = {("nobody", "m2"): (mu + algo.bi[i], ["mu", "bi"], False, True),
             ("u4", "nothing"): (mu + algo.bu[u], ["mu", "bu"], True, False),
             ("nobody", "nothing"): (mu, ["mu"], False, False)}
    for (raw_u, raw_i), (value, terms, ku, ki) in cases.items():
        b = breakdown(algo, ratings, raw_u, raw_i)
        pred = algo.predict(raw_u, raw_i)
        assert b["manual"] == value == b["predict"] == pred.est
        assert b["was_impossible"] is False is pred.details["was_impossible"]
        assert (b["known_user"], b["known_item"], b["terms"]) == (ku, ki, terms)
        assert b["dot"] == 0.0 and b["products"] == []
        assert "Cold start" in b["explanation"] and "no q_iᵀp_u" in b["explanation"]
        assert b["true_rating"] is None


@pytest.mark.parametrize("name", ["svd-unbiased", "nmf-unbiased"])
def test_cold_start_unbiased_is_impossible_and_returns_global_mean(ratings, fitted, name):
    algo = fitted[name]
    mu = algo.trainset.global_mean
    for raw_u, raw_i in (("nobody", "m2"), ("u4", "nothing"), ("nobody", "nothing")):
        b = breakdown(algo, ratings, raw_u, raw_i)
        assert b["predict"] == mu == b["manual"] == b["clipped"]
        assert b["was_impossible"] is True
        assert b["reason"] == "User and item are unknown."
        assert b["terms"] == [] and b["products"] == []
        assert "PredictionImpossible" in b["explanation"]


def test_unbiased_and_nmf_are_explained_in_words(ratings, fitted):
    b = breakdown(fitted["svd-unbiased"], ratings, "u1", "m1")
    assert "Unbiased model" in b["explanation"] and (b["bu"], b["bi"]) == (0.0, 0.0)
    b = breakdown(fitted["nmf-unbiased"], ratings, "u1", "m1")
    assert "factors of this NMF model are ≥ 0 (checked)" in b["explanation"]
    assert min(b["products"]) >= 0.0
    assert "equals predict() exactly" in b["explanation"]


def test_models_the_breakdown_does_not_cover_are_input_errors(ratings):
    ts = ratings.to_surprise().build_full_trainset()
    with pytest.raises(InputError, match="not a fitted matrix-factorisation"):
        model_parts(BaselineOnly(verbose=False).fit(ts))
    with pytest.raises(InputError, match="SVD\\+\\+"):
        model_parts(SVDpp(n_factors=2, n_epochs=1, random_state=0).fit(ts))
    with pytest.raises(InputError, match="not a fitted"):
        model_parts(SVD())


def test_model_trained_on_other_ratings_is_detected(ratings, fitted):
    check_aligned(fitted["svd-biased"], ratings)
    other = make_ratings(seed=2)
    with pytest.raises(InputError, match="other ratings|numbering"):
        check_aligned(fitted["svd-biased"], other)


@pytest.mark.parametrize("cls, kw", [
    ("FastSVD", {"n_factors": 6, "n_epochs": 40, "lr_all": 0.05}),
    ("FastSVD", {"n_factors": 6, "biased": False}),
    ("FastNMF", {"n_factors": 5, "n_epochs": 20}),
    ("FastNMF", {"n_factors": 5, "biased": True}),
])
def test_fast_engine_breakdown_identity_and_cold_start(ratings, cls, kw):
    fast = pytest.importorskip("recsys.fast")
    algo = getattr(fast, cls)(random_state=0, **kw)
    algo.fit(ratings.to_surprise().build_full_trainset())
    for raw_u in ratings.user_ids[:5]:
        for raw_i in ratings.item_ids:
            b = breakdown(algo, ratings, raw_u, raw_i)
            assert b["clipped"] == b["predict"] == algo.predict(raw_u, raw_i).est
    b = breakdown(algo, ratings, "nobody", "m1")
    assert b["was_impossible"] is (not algo.biased) and b["predict"] == algo.predict(
        "nobody", "m1").est
