"""The reference predictors on the array path equal Surprise's GlobalMean and BaselineOnly."""
import threading

import numpy as np
import pytest
from surprise import BaselineOnly

from recsys import evaluate
from recsys.baselines import FastBaseline, FastGlobalMean
from recsys.errors import InputError
from recsys.evaluate import cross_validate, reference_results
from recsys.models import fit_full, make_algo
from tests.fixtures import make_ratings


@pytest.mark.parametrize("params", [{}, {"method": "sgd"},
                                    {"method": "als", "n_epochs": 3, "reg_u": 2, "reg_i": 1},
                                    {"method": "sgd", "n_epochs": 7, "learning_rate": 0.05}])
def test_baseline_cv_equals_surprise(params):
    r = make_ratings(30, 40, seed=3)
    fast = cross_validate(r, "baseline", params, "fast", n_folds=3, seed=1)
    ref = cross_validate(r, "baseline", params, "surprise", n_folds=3, seed=1)
    for m in ("rmse", "mae", "precision@10", "recall@10", "ndcg@10"):
        for f, g in zip(fast["folds"], ref["folds"]):
            assert f[m] == pytest.approx(g[m], abs=1e-9, nan_ok=True), m


def test_globalmean_cv_equals_surprise():
    r = make_ratings(30, 40, seed=4)
    fast = cross_validate(r, "globalmean", {}, "fast", n_folds=4, seed=2)
    ref = cross_validate(r, "globalmean", {}, "surprise", n_folds=4, seed=2)
    assert [f["rmse"] for f in fast["folds"]] == pytest.approx(
        [f["rmse"] for f in ref["folds"]], abs=1e-12)
    assert fast["mean"]["ndcg@10"] == pytest.approx(ref["mean"]["ndcg@10"], abs=1e-12)


def test_full_fit_biases_and_predictions_equal_surprise():
    r = make_ratings(25, 30, seed=5)
    for params in ({}, {"method": "sgd"}):
        fast = fit_full(r, "baseline", params, "fast")
        ref = fit_full(r, "baseline", params, "surprise")
        assert isinstance(fast, FastBaseline) and isinstance(fast, BaselineOnly)
        np.testing.assert_allclose(fast.bu, ref.bu, atol=1e-12)
        np.testing.assert_allclose(fast.bi, ref.bi, atol=1e-12)
        uid, iid = r.user_ids[0], r.item_ids[3]
        assert fast.predict(uid, iid).est == pytest.approx(ref.predict(uid, iid).est, abs=1e-12)
        # an unknown user gets μ + b_i, clipped to the scale, as Surprise's predict
        assert fast.predict("nobody", iid).est == pytest.approx(
            ref.predict("nobody", iid).est, abs=1e-12)
        est = fast.predict_arrays(np.array([0, -1, 2]), np.array([3, 3, -1]))
        mu = fast.trainset.global_mean
        assert est == pytest.approx([np.clip(mu + fast.bu[0] + fast.bi[3], 1, 5),
                                     np.clip(mu + fast.bi[3], 1, 5),
                                     np.clip(mu + fast.bu[2], 1, 5)], abs=1e-12)


def test_hand_computed_als_one_epoch():
    # 2 users, 2 items: r(0,0)=5, r(0,1)=3, r(1,0)=4; μ = 4
    algo = make_algo("baseline", {"n_epochs": 1, "reg_u": 1.0, "reg_i": 2.0}, "fast")
    algo.fit_arrays(np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([5.0, 3.0, 4.0]))
    # b_i = Σ(r − μ − 0) / (2 + |U_i|): item 0: (1 + 0) / 4; item 1: −1 / 3
    np.testing.assert_allclose(algo.bi, [0.25, -1 / 3])
    # b_u = Σ(r − μ − b_i) / (1 + |I_u|): user 0: ((1 − .25) + (−1 + 1/3)) / 3; user 1: −.25 / 2
    np.testing.assert_allclose(algo.bu, [(0.75 - 2 / 3) / 3, -0.125])


def test_global_mean_fast_and_bad_input():
    algo = FastGlobalMean().fit_arrays(np.array([0, 1]), np.array([0, 0]), np.array([1.0, 4.0]))
    assert algo.predict_arrays(np.array([0, -1]), np.array([5, 0])).tolist() == [2.5, 2.5]
    with pytest.raises(InputError, match="method"):
        make_algo("baseline", {"method": "als"}, "fast").__class__(
            bsl_options={"method": "newton"}).fit_arrays(np.array([0]), np.array([0]),
                                                         np.array([3.0]))
    with pytest.raises(InputError, match="finite"):
        FastGlobalMean().fit_arrays(np.array([0]), np.array([0]), np.array([np.nan]))


def test_reference_rows_computed_once_for_sessions_asking_at_once(monkeypatch):
    r = make_ratings(20, 25, seed=6)
    calls = []
    real = evaluate.cross_validate

    def counted(*a, **kw):
        calls.append(a[1])
        return real(*a, **kw)

    monkeypatch.setattr(evaluate, "cross_validate", counted)
    out = []
    threads = [threading.Thread(target=lambda: out.append(reference_results(r, n_folds=3,
                                                                           seed=9)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == ["baseline", "globalmean"]      # once each, not once a session
    assert all(o is out[0] for o in out)
    surprise_rows = [real(r, n, {}, "surprise", n_folds=3, seed=9) for n in ("globalmean",
                                                                             "baseline")]
    for got, want in zip(out[0], surprise_rows):
        assert got["mean"]["rmse"] == pytest.approx(want["mean"]["rmse"], abs=1e-9)
