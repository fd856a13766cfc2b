"""The algorithm registry (recsys.models): parameters, validation, factories, fit_full."""
import numpy as np
import pytest
import surprise

from recsys.data import Ratings
from recsys.errors import InputError
from recsys.models import (REGISTRY, SeededNormalPredictor, default_params, describe,
                           fast_available, fit_full, get_spec, make_algo, normalize_params)


@pytest.fixture(scope="module")
def tiny() -> Ratings:
    rng = np.random.default_rng(1)
    n = 400
    users = rng.integers(0, 30, n)
    items = rng.integers(0, 25, n)
    keep = ~np.array([False] + [(users[i], items[i]) in set(zip(users[:i], items[:i]))
                                for i in range(1, n)])
    return Ratings.from_arrays([f"u{u}" for u in users[keep]], [f"i{i}" for i in items[keep]],
                               rng.integers(1, 6, n)[keep].astype(float), rating_scale=(1, 5))


def test_registry_names_and_params():
    assert list(REGISTRY) == ["svd", "nmf", "svdpp", "baseline", "globalmean", "normal",
                             "knnbaseline", "mostpop", "als", "bpr"]
    svd = get_spec("SVD")
    assert svd.param_names == ("n_factors", "n_epochs", "lr_all", "reg_all", "biased",
                               "init_std_dev", "random_state")
    assert svd.engines == ("surprise", "fast") and get_spec("svdpp").engines == ("surprise",)
    for spec in REGISTRY.values():
        for p in spec.params:
            assert p.help
            if p.kind in ("int", "float"):
                assert p.low <= p.default <= p.high
    # Surprise's defaults
    assert default_params("svd") == {"n_factors": 100, "n_epochs": 20, "lr_all": 0.005,
                                     "reg_all": 0.02, "biased": True, "init_std_dev": 0.1,
                                     "random_state": 0}
    d = default_params("nmf")
    assert (d["n_factors"], d["n_epochs"], d["biased"], d["reg_pu"]) == (15, 50, False, 0.06)


@pytest.mark.parametrize("name,params,words", [
    ("svd", {"n_factors": 0}, ["n_factors", "1..500"]),
    ("svd", {"lr_all": 2.0}, ["lr_all", "0.0001..0.5"]),
    ("svd", {"n_epochs": 2.5}, ["n_epochs", "whole number"]),
    ("svd", {"reg_all": "abc"}, ["reg_all", "number"]),
    ("svd", {"biased": "maybe"}, ["biased", "true or false"]),
    ("svd", {"n_factors": True}, ["n_factors"]),
    ("nmf", {"reg_pu": -1}, ["reg_pu", "0..2"]),
    ("baseline", {"method": "newton"}, ["method", "als | sgd"]),
    ("svd", {"lr": 0.1}, ["unknown parameter 'lr'", "lr_all"]),
    ("knnbaseline", {"k": 0}, ["k must be", "1..500"]),
])
def test_bad_values_name_the_parameter_and_range(name, params, words):
    with pytest.raises(InputError) as err:
        make_algo(name, params)
    for w in words:
        assert w in str(err.value)


def test_unknown_algorithm_and_engine():
    with pytest.raises(InputError, match="known: svd, nmf"):
        get_spec("warp")
    with pytest.raises(InputError, match="engine"):
        make_algo("svd", {}, engine="gpu")


def test_types_are_converted_and_aliases_expand():
    p = normalize_params("svd", {"n_factors": "30", "n_epochs": 5.0, "biased": "false"})
    assert p["n_factors"] == 30 and isinstance(p["n_factors"], int)
    assert p["n_epochs"] == 5 and p["biased"] is False
    nmf = normalize_params("nmf", {"reg_all": 0.1, "reg_qi": 0.3, "lr_all": 0.01})
    assert (nmf["reg_pu"], nmf["reg_qi"], nmf["lr_bu"], nmf["lr_bi"]) == (0.1, 0.3, 0.01, 0.01)
    # baseline: Surprise's method-specific default epochs unless given
    assert normalize_params("baseline", {"method": "sgd"})["n_epochs"] == 20
    assert normalize_params("baseline", {})["n_epochs"] == 10
    assert normalize_params("baseline", {"method": "sgd", "n_epochs": 3})["n_epochs"] == 3


def test_factories_build_surprise_algorithms_with_the_params():
    svd = make_algo("svd", {"n_factors": 7, "lr_all": 0.01, "biased": False, "random_state": 3})
    assert type(svd) is surprise.SVD
    assert (svd.n_factors, svd.lr_bu, svd.lr_qi, svd.biased, svd.random_state) == (
        7, 0.01, 0.01, False, 3)
    nmf = make_algo("nmf", {"reg_all": 0.2})
    assert type(nmf) is surprise.NMF and nmf.reg_pu == 0.2 and nmf.reg_qi == 0.2
    assert type(make_algo("svdpp")) is surprise.SVDpp
    b = make_algo("baseline", {"method": "sgd", "lr_all": 0.01})
    assert b.bsl_options == {"method": "sgd", "n_epochs": 20, "reg": 0.02, "learning_rate": 0.01}
    knn = make_algo("knnbaseline", {"k": 5})
    assert knn.k == 5 and knn.sim_options["name"] == "pearson_baseline"
    assert knn.sim_options["user_based"] is False
    # the engine is ignored by algorithms without a fast version
    assert type(make_algo("svdpp", engine="fast")) is surprise.SVDpp


@pytest.mark.skipif(not fast_available(), reason="recsys.fast not installed")
def test_fast_engine_maps_svd_and_nmf():
    from recsys.fast import FastNMF, FastSVD

    a = make_algo("svd", {"n_factors": 4}, engine="fast")
    assert isinstance(a, FastSVD) and a.n_factors == 4
    assert isinstance(make_algo("nmf", {}, engine="fast"), FastNMF)


def test_fit_full_uses_every_rating_and_the_same_inner_ids(tiny):
    algo = fit_full(tiny, "svd", {"n_factors": 3, "n_epochs": 2})
    ts = algo.trainset
    assert ts.n_ratings == tiny.n_ratings
    assert [ts.to_inner_uid(u) for u in tiny.user_ids] == list(range(tiny.n_users))
    assert [ts.to_inner_iid(i) for i in tiny.item_ids] == list(range(tiny.n_items))
    assert algo.pu.shape == (tiny.n_users, 3)
    # same seed -> same model, bit for bit
    again = fit_full(tiny, "svd", {"n_factors": 3, "n_epochs": 2})
    assert np.array_equal(algo.pu, again.pu) and np.array_equal(algo.bi, again.bi)


@pytest.mark.parametrize("name", ["svdpp", "baseline", "knnbaseline", "normal", "nmf"])
def test_every_algorithm_fits_and_predicts(tiny, name):
    params = {"n_epochs": 2} if name in ("svdpp", "nmf") else {}
    algo = fit_full(tiny, name, params)
    pred = algo.predict(tiny.user_ids[0], tiny.item_ids[0])
    assert 1.0 <= pred.est <= 5.0


def test_normal_predictor_is_seeded(tiny):
    test = [(tiny.user_ids[u], tiny.item_ids[i], 3.0) for u, i in zip(tiny.users[:50],
                                                                    tiny.items[:50])]
    a = [p.est for p in fit_full(tiny, "normal", {"random_state": 5}).test(test)]
    b = [p.est for p in fit_full(tiny, "normal", {"random_state": 5}).test(test)]
    c = [p.est for p in fit_full(tiny, "normal", {"random_state": 6}).test(test)]
    assert a == b and a != c
    assert isinstance(make_algo("normal"), SeededNormalPredictor)


def test_describe():
    assert describe("svd", {"n_factors": 30, "biased": False}) == (
        "SVD (Funk, SGD): n_factors=30, n_epochs=20, biased=False [surprise]")
    assert describe("svdpp", {}, engine="fast").endswith("[surprise]")


@pytest.mark.parametrize("name", ["svd", "nmf"])
def test_fit_full_fast_engine_uses_arrays_and_equals_surprise(tiny, name):
    """The fast engine fits from the Ratings arrays (no Surprise Trainset) and gives the model
    Surprise fits on build_full_trainset()."""
    from recsys.fast import ArrayTrainset

    params = {"n_factors": 3, "n_epochs": 7, "random_state": 1, "biased": True}
    fast = fit_full(tiny, name, params, "fast")
    ref = fit_full(tiny, name, params, "surprise")
    assert isinstance(fast.trainset, ArrayTrainset)
    np.testing.assert_allclose(fast.pu, ref.pu, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.qi, ref.qi, rtol=0, atol=1e-9)
    for u, i in [("u1", "i1"), ("u2", "i3"), ("u1", "nope")]:
        assert fast.predict(u, i).est == pytest.approx(ref.predict(u, i).est, abs=1e-9)
