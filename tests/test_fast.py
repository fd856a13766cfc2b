"""The fast engine against Surprise itself: same numbers, same contract, faster."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from surprise import NMF, SVD, Dataset, Reader
from surprise.model_selection import GridSearchCV, KFold, cross_validate

from recsys import evaluate
from recsys.data import Ratings
from recsys.evaluate import kfold_indices
from recsys.fast import FastNMF, FastSVD, surprise_numbering, warm_up

# ---------------------------------------------------------------------------------- fixtures
TINY = [  # (user, item, rating): 8 users, 6 items, 26 ratings, ids not in first-appearance order
    ("u3", "m2", 4), ("u1", "m1", 5), ("u1", "m3", 3), ("u2", "m1", 4), ("u3", "m1", 2),
    ("u2", "m4", 1), ("u4", "m2", 5), ("u4", "m5", 4), ("u5", "m3", 2), ("u1", "m5", 1),
    ("u6", "m6", 3), ("u2", "m2", 5), ("u7", "m1", 4), ("u7", "m4", 2), ("u3", "m6", 5),
    ("u8", "m3", 3), ("u5", "m5", 4), ("u6", "m1", 2), ("u8", "m2", 1), ("u4", "m6", 3),
    ("u1", "m2", 4), ("u5", "m1", 5), ("u6", "m4", 4), ("u2", "m6", 2), ("u7", "m3", 3),
    ("u8", "m5", 5),
]


def tiny_data():
    df = pd.DataFrame(TINY, columns=["user", "item", "rating"])
    return Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))


def planted(n_users=943, n_items=1682, n_ratings=100_000, seed=0):
    """ml-100k-sized ratings with low-rank structure: (users, items, ratings float32)."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n_users, n_ratings)
    i = (rng.zipf(1.3, n_ratings) - 1) % n_items  # popular items, like real data
    p = rng.normal(0, 0.5, (n_users, 3))
    q = rng.normal(0, 0.5, (n_items, 3))
    bu = rng.normal(0, 0.4, n_users)
    bi = rng.normal(0, 0.4, n_items)
    r = 3.5 + bu[u] + bi[i] + (p[u] * q[i]).sum(1) + rng.normal(0, 0.6, n_ratings)
    return u, i, np.clip(np.rint(r), 1, 5).astype(np.float32)


def as_ratings(u, i, r) -> Ratings:
    return Ratings.from_arrays(np.asarray(u).astype(str), np.asarray(i).astype(str), r,
                               rating_scale=(1, 5), name="planted")


@pytest.fixture(scope="module")
def tiny_trainset():
    return tiny_data().build_full_trainset()


@pytest.fixture(scope="module")
def big():
    u, i, r = planted()
    ratings = as_ratings(u, i, r)
    return ratings, ratings.to_surprise().build_full_trainset()


def assert_same_model(a, b, atol):
    for name in ("pu", "qi", "bu", "bi"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == np.float64 and y.shape == x.shape, name
        if atol == 0:
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=name)


# ---------------------------------------------------------------------------------- equality
CASES = [
    (SVD, FastSVD, {"biased": True}),
    (SVD, FastSVD, {"biased": False}),
    (SVD, FastSVD, {"n_factors": 7, "lr_bu": .01, "reg_qi": .05, "init_mean": .1}),
    (NMF, FastNMF, {"biased": False}),
    (NMF, FastNMF, {"biased": True, "n_factors": 4, "reg_bu": .05, "lr_bi": .01}),
]


@pytest.mark.parametrize("mode,atol", [("bitwise", 0), ("exact", 1e-9)])
@pytest.mark.parametrize("ref_cls,fast_cls,params", CASES)
def test_equals_surprise_on_tiny_data(tiny_trainset, ref_cls, fast_cls, params, mode, atol):
    ref = ref_cls(random_state=3, **params).fit(tiny_trainset)
    fast = fast_cls(random_state=3, mode=mode, **params).fit(tiny_trainset)
    assert fast.fitted_mode_ == mode
    assert_same_model(ref, fast, atol)
    pairs = [("u1", "m1", 5), ("u3", "m4", None), ("nobody", "m2", None), ("u2", "nothing", 1),
             ("nobody", "nothing", None)]
    for uid, iid, r in pairs:
        a, b = ref.predict(uid, iid, r), fast.predict(uid, iid, r)
        assert b.est == pytest.approx(a.est, abs=atol if atol else 1e-15)
        assert a.details == b.details


def test_unknown_user_semantics(tiny_trainset):
    unbiased = FastSVD(n_factors=3, biased=False, random_state=0).fit(tiny_trainset)
    p = unbiased.predict("nobody", "m1")
    assert p.details == {"was_impossible": True, "reason": "User and item are unknown."}
    assert p.est == pytest.approx(np.mean([r for _, _, r in TINY]))
    biased = FastSVD(n_factors=3, random_state=0).fit(tiny_trainset)
    p = biased.predict("nobody", "m1")
    inner = tiny_trainset.to_inner_iid("m1")
    assert not p.details["was_impossible"]
    assert p.est == tiny_trainset.global_mean + biased.bi[inner]


def test_equals_surprise_ml100k_sized_svd(big):
    _, trainset = big
    ref = SVD(random_state=11).fit(trainset)
    fast = FastSVD(random_state=11, mode="exact").fit(trainset)
    assert_same_model(ref, fast, 1e-9)
    unb = SVD(random_state=12, biased=False, n_epochs=5).fit(trainset)
    fast_unb = FastSVD(random_state=12, biased=False, n_epochs=5, mode="bitwise").fit(trainset)
    assert_same_model(unb, fast_unb, 0)


def test_equals_surprise_ml100k_sized_nmf(big):
    _, trainset = big
    ref = NMF(random_state=5, n_epochs=20).fit(trainset)
    fast = FastNMF(random_state=5, n_epochs=20).fit(trainset)
    assert fast.fitted_mode_ == "exact"
    assert_same_model(ref, fast, 0)  # NMF's exact mode is bitwise
    ref_b = NMF(random_state=6, n_epochs=10, biased=True).fit(trainset)
    fast_b = FastNMF(random_state=6, n_epochs=10, biased=True).fit(trainset)
    assert_same_model(ref_b, fast_b, 0)


def test_fit_ratings_and_float32_arrays_equal_full_trainset(big):
    ratings, trainset = big
    assert ratings.ratings.dtype == np.float32
    ref = FastSVD(n_factors=10, n_epochs=3, random_state=1, mode="bitwise").fit(trainset)
    via_ratings = FastSVD(n_factors=10, n_epochs=3, random_state=1,
                          mode="bitwise").fit_ratings(ratings)
    assert_same_model(ref, via_ratings, 0)
    assert via_ratings.trainset.global_mean == trainset.global_mean
    via64 = FastSVD(n_factors=10, n_epochs=3, random_state=1, mode="bitwise").fit_arrays(
        ratings.users.astype(np.int64), ratings.items, ratings.ratings.astype(np.float64))
    assert_same_model(ref, via64, 0)
    # raw-id predict through AlgoBase works on an array-fitted model, same as Surprise's
    uid, iid = ratings.user_ids[5], ratings.item_ids[9]
    assert via_ratings.predict(uid, iid).est == ref.predict(uid, iid).est
    assert via_ratings.predict("no such", iid).est == ref.predict("no such", iid).est
    est = via_ratings.predict_arrays(np.array([5, -1, 5]), np.array([9, 9, -1]))
    assert est == pytest.approx([ref.predict(uid, iid).est, ref.predict("x", iid).est,
                                 ref.predict(uid, "x").est], abs=1e-12)


# ---------------------------------------------------------------------------------- Surprise tools
def test_inside_surprise_cross_validate():
    data = tiny_data()
    ref = cross_validate(SVD(n_factors=4, random_state=2), data, cv=KFold(3, random_state=9))
    fast = cross_validate(FastSVD(n_factors=4, random_state=2, mode="bitwise"), data,
                          cv=KFold(3, random_state=9))
    np.testing.assert_array_equal(ref["test_rmse"], fast["test_rmse"])
    np.testing.assert_array_equal(ref["test_mae"], fast["test_mae"])
    nmf_ref = cross_validate(NMF(n_factors=3, random_state=2), data, cv=KFold(3, random_state=9))
    nmf = cross_validate(FastNMF(n_factors=3, random_state=2), data, cv=KFold(3, random_state=9))
    np.testing.assert_array_equal(nmf_ref["test_rmse"], nmf["test_rmse"])


def test_inside_surprise_grid_search():
    data = tiny_data()
    grid = {"n_factors": [2, 5], "lr_all": [.005, .05], "random_state": [4]}
    ref = GridSearchCV(SVD, grid, measures=["rmse"], cv=KFold(3, random_state=1))
    fast = GridSearchCV(FastSVD, grid, measures=["rmse"], cv=KFold(3, random_state=1))
    ref.fit(data)
    fast.fit(data)
    assert fast.best_params["rmse"] == ref.best_params["rmse"]
    np.testing.assert_allclose(fast.cv_results["mean_test_rmse"],
                               ref.cv_results["mean_test_rmse"], rtol=0, atol=1e-9)
    assert isinstance(fast.best_estimator["rmse"], FastSVD)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vector_sgd_step_any_width(dtype):
    """The exact kernel's explicit-vector row step, for widths around the vector sizes (main
    loop of 2 vectors, then one vector of each narrower width), also with i2 == i."""
    from numba import njit

    from recsys.fast_kernels import _sgd_rows

    step = njit(lambda pu, u, qi, i, i2, c_p, g_p, c_q, g_q:
                _sgd_rows(pu, u, qi, i, i2, c_p, g_p, c_q, g_q))
    tol = 1e-12 if dtype is np.float64 else 1e-4
    for k in (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 100, 104, 128):
        rng = np.random.default_rng(k)
        pu = rng.normal(size=(3, k)).astype(dtype)
        qi = rng.normal(size=(4, k)).astype(dtype)
        c = [dtype(x) for x in (0.9, 0.3, 0.8, -0.7)]
        for i2 in (3, 2):
            pu0, qi0 = pu.copy(), qi.copy()
            p, q, q2 = pu[1].copy(), qi[2].copy(), qi[i2].copy()
            got = step(pu, np.int32(1), qi, np.int32(2), np.int32(i2), *c)
            np.testing.assert_allclose(got, [q2 @ p, q2 @ q], rtol=0, atol=tol * k)
            np.testing.assert_allclose(pu[1], c[0] * p + c[1] * q, rtol=0, atol=tol)
            np.testing.assert_allclose(qi[2], c[2] * q + c[3] * p, rtol=0, atol=tol)
            np.testing.assert_array_equal(pu[[0, 2]], pu0[[0, 2]])  # other rows untouched
            np.testing.assert_array_equal(qi[[0, 1, 3]], qi0[[0, 1, 3]])
            pu[1], qi[2] = p, q


# ---------------------------------------------------------------------------------- callback
@pytest.mark.parametrize("cls,mode", [(FastSVD, "exact"), (FastNMF, "exact"),
                                      (FastSVD, "parallel")])
def test_epoch_callback_equals_refit(big, cls, mode):
    ratings, _ = big
    seen = {}

    def cb(epoch, algo):
        seen[epoch] = (algo.pu.copy(), algo.qi.copy(), algo.bu.copy(), algo.bi.copy())

    cls(n_factors=8, n_epochs=4, random_state=3, mode=mode).fit_ratings(ratings, epoch_callback=cb)
    assert sorted(seen) == [1, 2, 3, 4]
    for e in (1, 3):
        refit = cls(n_factors=8, n_epochs=e, random_state=3, mode=mode).fit_ratings(ratings)
        for got, want in zip(seen[e], (refit.pu, refit.qi, refit.bu, refit.bi)):
            np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------- parallel
@pytest.mark.parametrize("cls", [FastSVD, FastNMF])
def test_parallel_mode_heldout_rmse_close_to_exact(big, cls):
    ratings, _ = big
    n = ratings.n_ratings
    test = np.random.default_rng(1).random(n) < 0.2
    tr_u, tr_i, back_u, back_i = surprise_numbering(ratings.users[~test], ratings.items[~test])
    umap = np.full(ratings.n_users, -1)
    umap[back_u] = np.arange(len(back_u))
    imap = np.full(ratings.n_items, -1)
    imap[back_i] = np.arange(len(back_i))
    truth = ratings.ratings[test].astype(np.float64)
    rmse = {}
    for mode in ("exact", "parallel"):
        algo = cls(random_state=0, n_epochs=20, mode=mode).fit_arrays(tr_u, tr_i,
                                                                      ratings.ratings[~test])
        assert algo.fitted_mode_ == mode
        est = algo.predict_arrays(umap[ratings.users[test]], imap[ratings.items[test]])
        rmse[mode] = float(np.sqrt(np.mean((truth - est) ** 2)))
    assert abs(rmse["parallel"] - rmse["exact"]) < 0.002, rmse
    again = cls(random_state=0, n_epochs=20, mode="parallel").fit_arrays(tr_u, tr_i,
                                                                         ratings.ratings[~test])
    np.testing.assert_array_equal(again.predict_arrays(umap[ratings.users[test]],
                                                       imap[ratings.items[test]]), est)


def _heldout(ratings, seed=1):
    """An 80/20 split of ``ratings``: (train arrays renumbered as Surprise would, test ids mapped
    to them (-1 = unknown), test ratings)."""
    n = ratings.n_ratings
    test = np.random.default_rng(seed).random(n) < 0.2
    tr_u, tr_i, back_u, back_i = surprise_numbering(ratings.users[~test], ratings.items[~test])
    umap = np.full(ratings.n_users, -1)
    umap[back_u] = np.arange(len(back_u))
    imap = np.full(ratings.n_items, -1)
    imap[back_i] = np.arange(len(back_i))
    return ((tr_u, tr_i, ratings.ratings[~test]),
            (umap[ratings.users[test]], imap[ratings.items[test]]),
            ratings.ratings[test].astype(np.float64))


@pytest.mark.parametrize("mode", ["exact", "parallel"])
def test_float32_heldout_rmse_close_to_float64_exact(big, mode):
    ratings, _ = big
    train, test_ids, truth = _heldout(ratings)
    rmse = lambda algo: float(np.sqrt(np.mean((truth - algo.predict_arrays(*test_ids)) ** 2)))
    ref = FastSVD(random_state=0, mode="exact").fit_arrays(*train)
    f32 = FastSVD(random_state=0, mode=mode, dtype="float32").fit_arrays(*train)
    assert f32.fitted_mode_ == mode
    for name in ("pu", "qi", "bu", "bi"):
        assert getattr(f32, name).dtype == np.float32, name
    assert abs(rmse(f32) - rmse(ref)) < 0.002, (rmse(f32), rmse(ref))
    assert 0.5 < rmse(f32) < 1.2  # a model, not noise (planted noise sd 0.6, rounding)
    # deterministic: the same seed gives the same bits
    again = FastSVD(random_state=0, mode=mode, dtype="float32").fit_arrays(*train)
    for name in ("pu", "qi", "bu", "bi"):
        np.testing.assert_array_equal(getattr(again, name), getattr(f32, name), err_msg=name)
    # a different seed gives another model
    other = FastSVD(random_state=1, mode=mode, dtype="float32").fit_arrays(*train)
    assert not np.array_equal(other.qi, f32.qi)


def test_float32_predict_agrees_with_predict_arrays(tiny_trainset):
    algo = FastSVD(n_factors=5, random_state=0, dtype="float32").fit(tiny_trainset)
    assert algo.pu.dtype == np.float32 and algo.fitted_mode_ == "exact"
    ts = tiny_trainset
    for uid, iid in [("u1", "m1"), ("u3", "m4"), ("nobody", "m2"), ("u2", "nothing")]:
        u = ts.to_inner_uid(uid) if uid != "nobody" else -1
        i = ts.to_inner_iid(iid) if iid != "nothing" else -1
        est = algo.predict(uid, iid).est
        assert est == pytest.approx(algo.predict_arrays(np.array([u]), np.array([i]))[0],
                                    abs=1e-9)
    # float32 parameters, float64 sums
    u, i = ts.to_inner_uid("u1"), ts.to_inner_iid("m1")
    want = (ts.global_mean + float(algo.bu[u]) + float(algo.bi[i])
            + float(np.dot(algo.qi[i].astype(float), algo.pu[u].astype(float))))
    assert algo.estimate(u, i) == pytest.approx(want, abs=1e-12)
    unb = FastSVD(n_factors=5, random_state=0, biased=False, dtype=np.float32).fit(ts)
    assert unb.estimate(u, i) == pytest.approx(
        float(np.dot(unb.qi[i].astype(float), unb.pu[u].astype(float))), abs=1e-12)


def test_float32_rejected_where_it_cannot_hold(tiny_trainset):
    with pytest.raises(ValueError, match="dtype"):
        FastSVD(mode="bitwise", dtype="float32").fit(tiny_trainset)
    with pytest.raises(ValueError, match="dtype"):
        FastSVD(dtype="float16").fit(tiny_trainset)
    with pytest.raises(ValueError, match="dtype"):
        FastSVD(dtype="fast").fit(tiny_trainset)


@pytest.mark.parametrize("cls,params", [(FastSVD, {}), (FastSVD, {"dtype": "float32"}),
                                        (FastSVD, {"biased": False}), (FastNMF, {"biased": True})])
def test_parallel_mode_same_bits_on_one_thread_or_all(big, cls, params):
    """Parallel mode may run any epoch on the calling thread (busy cores, another fit holding the
    parallel kernel): the model is the same, bit for bit, whichever way each epoch ran."""
    ratings, _ = big
    models = {}
    units = 4 * (4 if cls is FastSVD else 1)  # SVD: B = 4 stages an epoch; NMF: one unit
    mixed = ["serial" if bit == "1" else "parallel" for bit in f"{0b1001110100101101:016b}"]
    for plan in (["parallel"] * units, ["serial"] * units, mixed[:units]):
        algo = cls(n_factors=12, n_epochs=4, random_state=7, mode="parallel", **params)
        algo.n_blocks_ = 4
        algo.block_plan_ = plan
        algo.fit_ratings(ratings)
        assert algo.epoch_threads_ == {w: plan.count(w) for w in ("parallel", "serial")}
        models[tuple(plan)] = algo
    first, *rest = models.values()
    for other in rest:
        for name in ("pu", "qi", "bu", "bi"):
            np.testing.assert_array_equal(getattr(other, name), getattr(first, name), err_msg=name)


@pytest.mark.parametrize("m", [1, 3])
def test_block_layout_is_a_stable_sort_by_block_then_user(m):
    from recsys import fast_kernels as K
    from recsys.fast import _groups

    rng = np.random.default_rng(3)
    n_users, n_items, n, nb = 50, 30, 2000, 4
    us = rng.integers(0, n_users, n).astype(np.int32)
    its = rng.integers(0, n_items, n).astype(np.int32)
    rs = np.arange(n, dtype=np.float32)  # the rating carries its input position
    uf = _groups(np.bincount(us, minlength=n_users), nb * m)
    ug = _groups(np.bincount(us, minlength=n_users), nb)
    np.testing.assert_array_equal(uf // m, ug)  # the fine groups cut the block's user groups
    ig = _groups(np.bincount(its, minlength=n_items), nb)
    bu_, bi_, br, starts = K.block_layout(us, its, rs, uf, ig, nb, m)
    for got, want in zip(K.block_layout_serial(us, its, rs, uf, ig, nb, m),
                         (bu_, bi_, br, starts)):
        np.testing.assert_array_equal(got, want)
    stage = (ig[its].astype(np.int64) - ug[us]) % nb  # blocks stored stage by stage
    block = stage * nb + ug[us]
    want = np.lexsort((np.arange(n), us, block))  # block, then user, then input order
    np.testing.assert_array_equal(br, rs[want])
    np.testing.assert_array_equal(bu_, us[want])
    np.testing.assert_array_equal(bi_, its[want])
    np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(
        np.bincount(block, minlength=nb * nb))]))
    # the parallel counting sort gives the same layout for any number of chunks (threads)
    for chunks in (1, 2, 3, 7, n + 5):
        got = K._block_layout_chunks(us, its, rs, uf, ig, nb, m, chunks)
        for g, w in zip(got, (bu_, bi_, br, starts)):
            np.testing.assert_array_equal(g, w)


def test_layout_buckets_aim_at_a_cache_sized_share_of_the_ratings():
    from recsys.fast import BUCKET_RATINGS, _fine_groups

    assert _fine_groups(100_000, 4) == 1  # ml-100k: one bucket a block
    assert _fine_groups(19_244_597, 4) == 36  # 24M set's train split: ~33K ratings a bucket
    assert 19_244_597 / (16 * 36) < 1.1 * BUCKET_RATINGS
    assert _fine_groups(10**10, 4) == 256


def _fake_epochs(parallel_s, serial_s, n, threads=2, busy=False, calls=None):
    """Run the adaptive chooser for n units (of 1000 ratings each; 4 units an epoch, as SVD's
    stages with B = 4) with kernels that 'take' the given seconds per unit on a fake clock;
    return the ways in order, a way per unit."""
    from recsys.fast import _BlockEpochs

    now = [0.0]
    ways = []

    def run(way, lo, hi):
        if calls is not None:
            calls.append((way, lo, hi))
        for _ in range(lo, hi):
            ways.append(way)
            now[0] += parallel_s if way == "parallel" else serial_s

    units = min(4, n)
    sched = _BlockEpochs(run, [1000] * units, clock=lambda: now[0],
                         other_cores_busy=lambda: busy)
    sched.threads = threads
    for _ in range(n // units):
        sched()
    return ways


def test_parallel_mode_falls_back_to_one_thread_when_cores_are_busy():
    def cost(ways, parallel_s, serial_s):
        return sum(parallel_s if w == "parallel" else serial_s for w in ways)

    # quiet machine: 2 threads win; the single thread is re-measured, at ~1/10 of the time
    quiet = _fake_epochs(0.6, 1.0, 80)
    assert quiet[:2] == ["parallel", "serial"] and quiet[2:6] == ["parallel"] * 4
    assert 2 <= quiet.count("serial") <= 12
    assert cost(quiet, 0.6, 1.0) <= 1.12 * 80 * 0.6
    # busy other core: every stage waits for a descheduled thread, 1 thread wins, and the slow
    # way is hardly re-tried
    busy = _fake_epochs(7.0, 1.0, 80)
    assert busy[:2] == ["parallel", "serial"] and busy.count("parallel") <= 2
    assert cost(busy, 7.0, 1.0) <= 1.12 * 80 * 1.0 + 7.0  # + the first, measuring, unit
    # a close call is re-checked often
    assert _fake_epochs(0.95, 1.0, 80).count("serial") >= 10
    # one numba thread: never the parallel kernel
    assert set(_fake_epochs(0.5, 1.0, 5, threads=1)) == {"serial"}


def test_parallel_mode_runs_the_rest_of_an_epoch_in_one_call():
    calls = []
    _fake_epochs(0.6, 1.0, 4, calls=calls)  # first epoch: measure each way on a stage
    assert calls == [("parallel", 0, 1), ("serial", 1, 2), ("parallel", 2, 4)]


def test_parallel_mode_stays_on_one_thread_while_other_cores_are_busy():
    calls = []
    ways = _fake_epochs(0.6, 1.0, 4, busy=True, calls=calls)
    assert ways == ["serial"] * 4 and calls == [("serial", 0, 4)]


def test_other_cores_busy_reads_the_runnable_count(monkeypatch):
    import io

    from recsys import fast

    cores = len(os.sched_getaffinity(0))
    for running, want in ((1, False), (cores - 1, False), (cores, True), (cores + 3, True)):
        text = f"0.50 0.40 0.30 {running}/120 4242\n"
        monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO(text))
        assert fast._other_cores_busy() is want, running
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO("garbage"))
    assert fast._other_cores_busy() is False  # unknown: the adaptive timing decides


def test_other_cores_busy_sees_a_busy_loop_on_every_other_core():
    import subprocess
    import sys
    import time

    from recsys import fast

    cores = len(os.sched_getaffinity(0))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(cores - 1)]
    try:
        time.sleep(0.5)
        assert sum(fast._other_cores_busy() for _ in range(20)) >= 15
    finally:
        for b in burners:
            b.kill()
            b.wait()


def test_parallel_mode_does_not_queue_behind_another_fit(big):
    from recsys.fast import _PARALLEL_LOCK

    ratings, _ = big
    want = FastSVD(n_factors=6, n_epochs=3, random_state=2, mode="parallel").fit_ratings(ratings)
    with _PARALLEL_LOCK:  # another session's fit holds the parallel kernel
        got = FastSVD(n_factors=6, n_epochs=3, random_state=2, mode="parallel").fit_ratings(
            ratings)
    assert got.epoch_threads_["parallel"] == 0 and got.epoch_threads_["serial"] >= 3
    np.testing.assert_array_equal(got.qi, want.qi)


def test_auto_mode_is_exact_for_small_data(tiny_trainset):
    assert FastSVD(n_factors=2).fit(tiny_trainset).fitted_mode_ == "exact"
    assert FastSVD().resolved_mode(50_000_000) == "parallel"


# ---------------------------------------------------------------------------------- array CV
def test_surprise_numbering_matches_kfold_trainsets():
    data = tiny_data()
    ours = kfold_indices(len(TINY), 4, 13)
    for (tr_set, te_set), (tr, te) in zip(KFold(4, random_state=13).split(data), ours):
        assert te_set == [(TINY[k][0], TINY[k][1], float(TINY[k][2])) for k in te]
        ui, ii, back_u, back_i = surprise_numbering(np.array([TINY[k][0] for k in tr]),
                                                    np.array([TINY[k][1] for k in tr]))
        assert [tr_set.to_raw_uid(k) for k in range(tr_set.n_users)] == list(back_u)
        assert [tr_set.to_raw_iid(k) for k in range(tr_set.n_items)] == list(back_i)


def test_array_cv_equals_surprise_cv():
    u, i, r = planted(n_users=120, n_items=80, n_ratings=3000, seed=4)
    ratings = as_ratings(u, i, r)
    ref = cross_validate(SVD(n_factors=6, random_state=0), ratings.to_surprise(),
                         cv=KFold(4, random_state=21))
    rows = []
    ours = evaluate.cross_validate(ratings, "svd", {"n_factors": 6, "random_state": 0},
                                   engine="fast", n_folds=4, seed=21, callback=rows.append)
    np.testing.assert_allclose([f["rmse"] for f in ours["folds"]], ref["test_rmse"],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose([f["mae"] for f in ours["folds"]], ref["test_mae"],
                               rtol=0, atol=1e-12)
    assert sorted(row["fold"] for row in rows) == [0, 1, 2, 3]
    nmf_ref = cross_validate(NMF(random_state=0, biased=True), ratings.to_surprise(),
                             cv=KFold(3, random_state=2))
    nmf = evaluate.cross_validate(ratings, "nmf", {"random_state": 0, "biased": True},
                                  engine="fast", n_folds=3, seed=2)
    np.testing.assert_allclose([f["rmse"] for f in nmf["folds"]], nmf_ref["test_rmse"],
                               rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls,params,name", [
    (FastSVD, {"n_factors": 0}, "n_factors"),
    (FastSVD, {"n_factors": 2.5}, "n_factors"),
    (FastSVD, {"n_epochs": -1}, "n_epochs"),
    (FastSVD, {"lr_all": "fast"}, "lr_all"),
    (FastSVD, {"reg_qi": float("nan")}, "reg_qi"),
    (FastSVD, {"init_std_dev": -1}, "init_std_dev"),
    (FastSVD, {"mode": "turbo"}, "mode"),
    (FastNMF, {"n_factors": -3}, "n_factors"),
    (FastNMF, {"reg_pu": None}, "reg_pu"),
    (FastNMF, {"mode": "gpu"}, "mode"),
])
def test_bad_parameters_rejected(tiny_trainset, cls, params, name):
    algo = cls(**params)  # __init__ stores, fit validates
    with pytest.raises(ValueError, match=name):
        algo.fit(tiny_trainset)
    with pytest.raises(ValueError, match=name):
        algo.fit_arrays(np.array([0, 1]), np.array([1, 0]), np.array([3.0, 4.0]))


def test_bad_arrays_and_nmf_init_rejected():
    with pytest.raises(ValueError, match="init_low"):
        FastNMF(init_low=-1)
    with pytest.raises(ValueError, match="equal length"):
        FastSVD().fit_arrays(np.array([0, 1]), np.array([0]), np.array([3.0, 4.0]))
    with pytest.raises(ValueError, match="out of range"):
        FastSVD().fit_arrays(np.array([0, 5]), np.array([0, 0]), np.array([3.0, 4.0]), n_users=2)


def test_warm_up_reports_seconds():
    assert warm_up() > 0


def test_after_warm_up_no_fit_compiles(big):
    """Set-up (``python -m recsys warm``) compiles every signature the engine uses, so no page
    waits for numba: the fits, CV and predictions below add no kernel signature."""
    from recsys.fast import kernels, warm_report

    rep = warm_report()
    assert rep["seconds"] > 0 and rep["cache_dir"]
    before = {n: set(k.signatures) for n, k in kernels().items()}
    assert all(before[n] for n in before if not n.startswith("_"))  # helpers: inlined callees
    assert before["_block_layout_chunks"]  # the parallel layout (fits of 1M ratings or more)
    ratings, trainset = big
    u, i, r = planted(n_users=60, n_items=40, n_ratings=800, seed=5)
    ro = [np.asarray(a) for a in (u[::-1], i[::-1], r[::-1])]  # strided views
    frozen = [a.copy() for a in (u, i, r)]
    for a in frozen:
        a.flags.writeable = False  # as arrays read from a cache can be
    for cls in (FastSVD, FastNMF):
        for mode in ("bitwise", "exact", "parallel"):
            algo = cls(n_factors=4, n_epochs=2, random_state=0, mode=mode)
            algo.fit(trainset)
            algo.fit_ratings(ratings)
            algo.fit_arrays(*ro)
            algo.fit_arrays(u.astype(np.int64), i.astype(np.uint16), r.astype(np.float64))
            algo.fit_arrays(*frozen).predict_arrays(frozen[0], frozen[1])
            if cls is FastSVD and mode != "bitwise":
                algo.dtype = "float32"
                algo.fit(trainset).predict_arrays(frozen[0], frozen[1])
                algo.fit_arrays(*ro)
                algo.fit_arrays(*frozen)
    evaluate.cross_validate(as_ratings(u, i, r), "svd", {"n_factors": 4, "random_state": 0},
                            engine="fast", n_folds=3, seed=0)
    from recsys.fast import _PARALLEL_LOCK

    with _PARALLEL_LOCK:  # another session's fit holds both cores
        for dtype in ("float64", "float32"):
            FastSVD(n_factors=4, n_epochs=2, mode="parallel", dtype=dtype).fit_arrays(u, i, r)
        FastNMF(n_factors=4, n_epochs=2, mode="parallel").fit_arrays(u, i, r)
    after = {n: set(k.signatures) for n, k in kernels().items()}
    assert after == before, {n: after[n] - before[n] for n in after if after[n] != before[n]}
    assert warm_report()["compiled"] == 0


def test_every_kernel_releases_the_gil_and_is_cached_on_disk():
    """nogil: a fit in one Streamlit session thread never freezes the others (DESIGN.md);
    cache: compiled code is reused across processes (warmed during set-up)."""
    from numba.core.caching import FunctionCache
    from numba.core.dispatcher import Dispatcher

    from recsys import fast_kernels as K

    kernels = {n: v for n, v in vars(K).items() if isinstance(v, Dispatcher)}
    assert {"svd_epoch_bitwise", "svd_epoch_exact", "svd_epoch_blocks", "nmf_epoch",
            "nmf_epoch_blocks", "predict", "stable_order", "is_sorted"} <= set(kernels)
    for name, kernel in kernels.items():
        assert kernel.targetoptions.get("nogil") is True, name
        assert isinstance(kernel._cache, FunctionCache), name


def test_parallel_kernels_are_safe_from_several_threads():
    """Streamlit runs sessions in threads; numba's workqueue layer would abort on overlap."""
    import threading

    u, i, r = planted(n_users=200, n_items=100, n_ratings=5000, seed=2)
    want = FastSVD(n_factors=4, n_epochs=3, random_state=0, mode="parallel").fit_arrays(u, i, r)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                algo = FastSVD(n_factors=4, n_epochs=3, random_state=0,
                               mode="parallel").fit_arrays(u, i, r)
                results.append(algo.predict_arrays(u[:50], i[:50]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 9
    for got in results:
        np.testing.assert_array_equal(got, want.predict_arrays(u[:50], i[:50]))


def test_normal_icdf_matches_scipy_to_acklams_bound():
    from scipy.special import ndtri

    from recsys import fast_kernels as K

    p = np.concatenate([np.geomspace(1e-300, 0.5, 4000), 1 - np.geomspace(1e-16, 0.5, 4000),
                        np.linspace(0.001, 0.999, 4001)])
    got = np.array([K._normal_icdf(x) for x in p])
    want = ndtri(p)
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    assert rel[np.abs(want) > 1e-6].max() < 1.2e-9  # Acklam's stated bound, 1.15e-9
    assert np.abs(got - want)[np.abs(want) <= 1e-6].max() < 1e-14
    # both passes of the batch kernel give the scalar function's values
    u = np.random.default_rng(5).random(50_000)
    for ft in (np.float64, np.float32):
        out = np.empty(len(u), dtype=ft)
        K.normals_from_uniforms(u, out, 0.25, 0.1)
        want = np.array([0.25 + 0.1 * K._normal_icdf(x + 2.0 ** -54) for x in u])
        np.testing.assert_allclose(out, want, rtol=1e-12 if ft is np.float64 else 1e-7)
    # the grid's ends (u = 0 and the largest u below 1) give finite, opposite normals
    out = np.empty(2)
    K.normals_from_uniforms(np.array([0.0, 1 - 2.0 ** -53]), out, 0.0, 1.0)
    assert np.isfinite(out).all() and out[0] == -out[1] and out[0] < -8.2


def test_parallel_initial_factors_are_normal_and_do_not_depend_on_threads():
    from scipy import stats

    from recsys import fast
    from recsys import fast_kernels as K

    seq = np.random.SeedSequence(11)
    big = fast._normal(seq, 0.0, 0.1, (12_000, 100), np.float64)  # >= 1M values: 2 threads
    again = fast._normal(np.random.SeedSequence(11), 0.0, 0.1, (12_000, 100), np.float64)
    np.testing.assert_array_equal(big, again)
    # chunk k is Φ⁻¹ of stream k's uniforms, row after row, whoever fills it
    streams = np.random.SeedSequence(11).spawn(fast.INIT_CHUNKS)
    bounds = np.linspace(0, 12_000, fast.INIT_CHUNKS + 1).astype(int)
    k = 3
    u = np.random.Generator(np.random.PCG64(streams[k])).random((bounds[k + 1] - bounds[k]) * 100)
    np.testing.assert_allclose(big[bounds[k]:bounds[k + 1]].ravel(),
                               0.1 * stats.norm.ppf(u + 2.0 ** -54), rtol=2e-9, atol=1e-15)
    z = big.ravel() / 0.1
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert stats.kstest(z[:200_000], "norm").pvalue > 1e-3
    assert abs(np.mean(np.abs(z) > 2.5) / (2 * stats.norm.sf(2.5)) - 1) < 0.05  # tails
    f32 = fast._normal(np.random.SeedSequence(11), 0.5, 0.1, (12_000, 100), np.float32)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, big + 0.5, rtol=1e-6)
    # drawn into the kernels' padded rows (as parallel mode does): the same numbers, zero padding
    for rows in (12_000, 50):  # on 2 threads and on one
        want = fast._normal(np.random.SeedSequence(11), 0.0, 0.1, (rows, 100), np.float64)
        padded = fast._normal(np.random.SeedSequence(11), 0.0, 0.1, (rows, 100), np.float64,
                              out=fast._line_rows_empty(rows, 100, np.float64, zero=False))
        assert padded.shape[1] >= 100 and padded.ctypes.data % K.VECTOR_BYTES == 0
        np.testing.assert_array_equal(padded[:, :100], want)
        assert not padded[:, 100:].any()
    other = fast._normal(np.random.SeedSequence(12), 0.0, 0.1, (12_000, 100), np.float64)
    assert abs(np.corrcoef(other.ravel(), big.ravel())[0, 1]) < 0.005


def test_id_counts_check_every_id_and_count_them():
    from recsys import fast_kernels as K
    from recsys.errors import InputError
    from recsys.fast import _id_counts

    rng = np.random.default_rng(4)
    ids = rng.integers(0, 5000, 1_200_000).astype(np.int32)  # >= 1M: the parallel count
    want = np.bincount(ids, minlength=5000)
    np.testing.assert_array_equal(_id_counts(ids, 5000, "user"), want)
    np.testing.assert_array_equal(_id_counts(ids.astype(np.int64), 5000, "user"), want)
    np.testing.assert_array_equal(_id_counts(ids[:1000], 5000, "user"),
                                  np.bincount(ids[:1000], minlength=5000))
    for chunks in (1, 2, 3, 7):
        counts, lo, hi = K.id_counts_checked(ids, 5000, chunks)
        np.testing.assert_array_equal(counts, want)
        assert (lo, hi) == (ids.min(), ids.max())
    # runs of equal ids (a file sorted by item, or by user) are counted run by run: the same
    # counts and range, for runs cut by chunk ends, a run at each end, and a single id
    for runny in (np.sort(ids), np.repeat(np.array([7, 3, 3, 4999, 0], np.int32),
                                          [5, 400_000, 1, 3, 800_000]),
                  np.full(1_100_000, 42, np.int32)):
        want_r = np.bincount(runny, minlength=5000)
        for chunks in (1, 2, 3):
            counts, lo, hi = K.id_counts_checked(runny, 5000, chunks)
            np.testing.assert_array_equal(counts, want_r)
            assert (lo, hi) == (runny.min(), runny.max())
        counts, lo, hi = K.id_counts_checked_serial(runny, 5000)
        np.testing.assert_array_equal(counts, want_r)
        assert (lo, hi) == (runny.min(), runny.max())
        np.testing.assert_array_equal(_id_counts(runny, 5000, "user"), want_r)
    for bad, where in ((5000, -1), (-3, 0), (70000, 600_000)):
        wrong = ids.copy()
        wrong[where] = bad
        for n in (len(wrong), 999):  # the parallel and the serial count
            with pytest.raises(InputError, match=r"item id out of range 0\.\.4999") as e:
                _id_counts(wrong[-n:] if where == -1 else wrong[:max(n, where + 1)], 5000,
                           "item")
            assert e.value.value == bad


def test_parallel_mode_checks_the_cores_only_before_measuring():
    """A measured-best parallel way runs without the check (numba's own workers can still count
    as runnable just after a parallel call); a probe of it waits for free cores."""
    from recsys.fast import _BlockEpochs

    now, ways, checks = [0.0], [], []

    def run(way, lo, hi):
        ways.extend([way] * (hi - lo))
        now[0] += (hi - lo) * (0.6 if way == "parallel" else 1.0)

    def busy():
        checks.append(len(ways))
        return len(ways) >= 8  # the machine gets busy after two epochs

    sched = _BlockEpochs(run, [1000] * 4, clock=lambda: now[0], other_cores_busy=busy)
    sched.threads = 2
    for _ in range(5):
        sched()
    assert checks == [0]  # one probe of the parallel way, at the start
    assert ways[:2] == ["parallel", "serial"] and ways[2:8] == ["parallel"] * 6
    assert ways.count("parallel") >= 17  # the rest: parallel, but for a re-measured serial stage


def test_parallel_mode_reads_the_load_again_only_after_some_serial_work():
    """After a check found the other cores busy, the next check waits for CHECK_GAP seconds of
    work on the calling thread (a read of /proc/loadavg cost ~40 us under load): 20 epochs of
    4 ms make 4 checks, not 20; once the cores are free again, the next probe runs parallel."""
    from recsys.fast import _BlockEpochs

    now, ways, checks = [0.0], [], []
    busy = [True]

    def run(way, lo, hi):
        ways.extend([way] * (hi - lo))
        now[0] += (hi - lo) * 0.001

    def other_cores_busy():
        checks.append(len(ways))
        return busy[0]

    sched = _BlockEpochs(run, [1000] * 4, clock=lambda: now[0], other_cores_busy=other_cores_busy)
    sched.threads = 2
    assert sched.CHECK_GAP == 0.02
    for _ in range(20):
        sched()
    assert ways == ["serial"] * 80
    assert checks == [0, 20, 40, 60]  # every 5 epochs of 4 ms
    busy[0] = False
    for _ in range(5):
        sched()
    assert checks[4:] == [80] and ways[80] == "parallel"


def test_parallel_mode_sums_ratings_in_one_pass_and_still_rejects_non_finite(monkeypatch):
    """Parallel mode (from SERIAL_LAYOUT_BELOW ratings) checks finiteness and takes the global
    mean from one chunked float64 sum: the same value on any thread count or way (parallel or
    serial), within float64 rounding of numpy's mean; a NaN or an infinity is still refused."""
    from recsys import fast
    from recsys import fast_kernels as K
    from recsys.errors import InputError

    rng = np.random.default_rng(8)
    rs = rng.integers(1, 6, 100_003).astype(np.float32) * np.float32(0.5)
    want = float(np.sum(rs, dtype=np.float64))
    assert want == np.sum(rs.astype(np.float64))  # halves of small integers: exact sums
    for r in (rs, rs.astype(np.float64)):
        for chunks in (1, 3, fast.SUM_CHUNKS):
            assert K.ratings_sum(r, chunks) == K.ratings_sum_serial(r, chunks) == want
    monkeypatch.setattr(fast, "SERIAL_LAYOUT_BELOW", 1000)
    us = rng.integers(0, 300, len(rs)).astype(np.int32)
    its = rng.integers(0, 200, len(rs)).astype(np.int32)
    for dtype in ("float32", "float64"):
        algo = FastSVD(n_factors=2, n_epochs=1, mode="parallel", dtype=dtype, random_state=0)
        algo.fit_arrays(us, its, rs)
        assert algo.trainset.global_mean == want / len(rs)
        exact = FastSVD(n_factors=2, n_epochs=1, mode="exact", dtype=dtype).fit_arrays(us, its, rs)
        assert exact.trainset.global_mean == pytest.approx(want / len(rs), rel=1e-15)
        for bad in (np.nan, np.inf, -np.inf):
            wrong = rs.copy()
            wrong[54_321] = bad
            with pytest.raises(InputError, match="not a finite number"):
                FastSVD(n_factors=2, n_epochs=1, mode="parallel", dtype=dtype).fit_arrays(
                    us, its, wrong)
    # float64 ratings whose sum overflows are finite: not refused (numpy's mean then decides)
    huge = np.full(2000, 1e308)
    algo = FastSVD(n_factors=2, n_epochs=1, mode="parallel", random_state=0)
    with np.errstate(over="ignore"):
        algo.fit_arrays(us[:2000], its[:2000], huge, rating_scale=(0.0, 1e308))
    assert np.isinf(algo.trainset.global_mean)


def test_parallel_layout_is_reused_across_fits_on_one_trainset(big):
    """Goal 3: GridSearchCV's cells (and the app's repeated fits) on one trainset lay the ratings
    out once; the model is the same bits as with a fresh layout. Keyed by B and rating type (up to
    KEPT_LAYOUTS, the oldest dropped); fit_arrays lays out every time; folds are other objects."""
    ratings, trainset = big
    fresh = ratings.to_surprise().build_full_trainset()  # same ratings, another object

    def fit(ts, cls=FastSVD, nb=2, **p):
        algo = cls(n_factors=6, n_epochs=3, random_state=1, mode="parallel", **p)
        algo.n_blocks_ = nb
        return algo.fit(ts)

    trainset.__dict__.pop("_recsys_fast_layouts", None)
    first = fit(trainset, lr_all=.01)
    assert first.layout_reused_ is False
    cell = fit(trainset, lr_all=.02, reg_all=.05)  # another grid cell
    assert cell.layout_reused_ is True
    alone = fit(fresh, lr_all=.02, reg_all=.05)
    assert alone.layout_reused_ is False
    for name in ("pu", "qi", "bu", "bi"):
        np.testing.assert_array_equal(getattr(cell, name), getattr(alone, name), err_msg=name)
    nmf = fit(trainset, cls=FastNMF, biased=True)  # same ratings and B: the same layout
    assert nmf.layout_reused_ is True
    f32 = fit(trainset, dtype="float32")  # float32 ratings: a layout of their own
    assert f32.layout_reused_ is False and fit(trainset, dtype="float32").layout_reused_ is True
    assert len(trainset._recsys_fast_layouts) == 2
    assert fit(trainset, nb=3).layout_reused_ is False  # a third key drops the oldest (float64)
    assert set(k[:2] for k in trainset._recsys_fast_layouts) == {(2, "<f4"), (3, "<f8")}
    assert fit(trainset).layout_reused_ is False
    exact = FastSVD(n_factors=6, n_epochs=1, mode="exact").fit(trainset)
    assert exact.layout_reused_ is None
    for _ in range(2):
        algo = FastSVD(n_factors=6, n_epochs=1, mode="parallel").fit_ratings(ratings)
        assert algo.layout_reused_ is False
