"""Cross-validation, grid search and learning curves (recsys.evaluate)."""
import numpy as np
import pytest
from surprise import SVD
from surprise.model_selection import GridSearchCV, KFold
from surprise.model_selection import cross_validate as surprise_cv

from recsys.data import Ratings
from recsys.errors import InputError
from recsys.evaluate import (_curve_point, auto_jobs, cross_validate, curve_epochs,
                             grid_search, kfold_indices, learning_curve, summary_table)
from recsys.models import fast_available

FAST = pytest.mark.skipif(not fast_available(), reason="recsys.fast not installed")
QUALITY = ("rmse", "mae", "precision@10", "recall@10", "ndcg@10")


@pytest.fixture(scope="module")
def small() -> Ratings:
    """60 users x 40 items, 900 distinct ratings with a planted rank-2 structure."""
    rng = np.random.default_rng(7)
    cells = rng.choice(60 * 40, size=900, replace=False)
    u, i = cells // 40, cells % 40
    pu, qi = rng.normal(size=(60, 2)), rng.normal(size=(40, 2))
    r = np.clip(np.round(3.5 + (pu[u] * qi[i]).sum(1) + rng.normal(0, 0.5, 900)), 1, 5)
    return Ratings.from_arrays([f"u{x}" for x in u], [f"m{x}" for x in i], r, rating_scale=(1, 5))


def _quality(res):
    return [[f[m] for m in QUALITY] for f in res["folds"]]


def test_kfold_indices_are_surprise_kfold(small):
    data = small.to_surprise()
    ours = kfold_indices(len(data.raw_ratings), 4, 3)
    theirs = list(KFold(4, random_state=3, shuffle=True).split(data))
    assert len(ours) == len(theirs) == 4
    for (train_idx, test_idx), (trainset, testset) in zip(ours, theirs):
        assert [data.raw_ratings[j][:3] for j in test_idx] == testset
        mine = data.construct_trainset([data.raw_ratings[j] for j in train_idx])
        assert list(mine.all_ratings()) == list(trainset.all_ratings())   # same order, same ids
        assert mine._raw2inner_id_users == trainset._raw2inner_id_users


def test_cross_validate_equals_surprise_and_is_deterministic(small):
    calls = []
    res = cross_validate(small, "svd", {"n_factors": 5, "n_epochs": 5, "random_state": 1},
                         n_folds=3, seed=4, callback=calls.append)
    ref = surprise_cv(SVD(n_factors=5, n_epochs=5, random_state=1), small.to_surprise(),
                      cv=KFold(3, random_state=4, shuffle=True))
    assert [f["rmse"] for f in res["folds"]] == list(ref["test_rmse"])     # bit for bit
    assert [f["mae"] for f in res["folds"]] == list(ref["test_mae"])
    assert [c["fold"] for c in calls] == [0, 1, 2]
    assert res["mean"]["rmse"] == pytest.approx(np.mean(ref["test_rmse"]))
    assert res["std"]["rmse"] == pytest.approx(np.std(ref["test_rmse"]))
    assert set(res["folds"][0]) >= set(QUALITY) | {"fit_time", "test_time", "n_train", "n_test"}
    assert sum(f["n_test"] for f in res["folds"]) == small.n_ratings
    again = cross_validate(small, "svd", {"n_factors": 5, "n_epochs": 5, "random_state": 1},
                           n_folds=3, seed=4)
    assert _quality(again) == _quality(res)
    other_seed = cross_validate(small, "svd", {"n_factors": 5, "n_epochs": 5,
                                               "random_state": 1}, n_folds=3, seed=5)
    assert _quality(other_seed) != _quality(res)
    table = summary_table(res)
    assert list(table.columns) == ["Fold 1", "Fold 2", "Fold 3", "Mean", "Std"]
    assert table.loc["RMSE (testset)", "Mean"] == res["mean"]["rmse"]


def test_parallel_processes_give_the_same_numbers(small):
    params = {"n_factors": 4, "n_epochs": 4}
    seq = cross_validate(small, "nmf", params, n_folds=4, seed=2, n_jobs=1)
    seen = []
    par = cross_validate(small, "nmf", params, n_folds=4, seed=2, n_jobs=2, callback=seen.append)
    assert _quality(par) == _quality(seq)
    assert sorted(s["fold"] for s in seen) == [0, 1, 2, 3]


def test_should_stop_returns_the_folds_done(small):
    done = []
    res = cross_validate(small, "baseline", {}, n_folds=5, seed=0, callback=done.append,
                         should_stop=lambda: len(done) >= 2)
    assert res["stopped"] and [f["fold"] for f in res["folds"]] == [0, 1]
    assert not np.isnan(res["mean"]["rmse"])


def test_bad_folds_and_params_raise_input_error(small):
    with pytest.raises(InputError, match="folds"):
        cross_validate(small, "svd", {}, n_folds=1)
    with pytest.raises(InputError, match="n_factors"):
        cross_validate(small, "svd", {"n_factors": -3})
    with pytest.raises(InputError, match="grid parameter n_epochs has no values"):
        grid_search(small, "svd", {"n_factors": [2], "n_epochs": []})
    with pytest.raises(InputError, match="n_epochs"):
        grid_search(small, "svd", {"n_epochs": [2, 0]})


def test_every_algorithm_cross_validates(small):
    for name in ("svdpp", "baseline", "normal", "knnbaseline"):
        p = {"n_epochs": 2} if name == "svdpp" else {}
        # KNN has no vectorised all-items scores: full-catalogue ranking is refused, clearly
        protocol = "test-items" if name == "knnbaseline" else "full"
        res = cross_validate(small, name, p, n_folds=2, seed=0, protocol=protocol)
        assert 0.3 < res["mean"]["rmse"] < 2.5, name
    with pytest.raises(InputError, match="KNNBaseline has no vectorised scores.*test-items"):
        cross_validate(small, "knnbaseline", n_folds=2, seed=0)


def test_grid_search_picks_the_best_cell_like_gridsearchcv(small):
    grid = {"n_factors": [2, 8], "n_epochs": [1, 15]}
    cells_seen = []
    res = grid_search(small, "svd", grid, n_folds=3, seed=1, callback=cells_seen.append,
                      base_params={"random_state": 0, "lr_all": 0.01})
    means = [c["mean"]["rmse"] for c in res["cells"]]
    assert [c["params"] for c in res["cells"]] == [
        {"n_factors": 2, "n_epochs": 1}, {"n_factors": 2, "n_epochs": 15},
        {"n_factors": 8, "n_epochs": 1}, {"n_factors": 8, "n_epochs": 15}]
    assert res["best_index"] == int(np.argmin(means))
    assert res["best_score"] == min(means)
    assert res["best_params"] == {"random_state": 0, "lr_all": 0.01,
                                  **res["cells"][res["best_index"]]["params"]}
    assert res["cells"][res["best_index"]]["rank"] == 1
    assert len(cells_seen) == 4
    cvr = res["cv_results"]
    assert cvr["rank_test_rmse"][res["best_index"]] == 1
    assert cvr["param_n_factors"] == [2, 2, 8, 8]
    # Surprise's GridSearchCV on the same folds agrees cell by cell
    gs = GridSearchCV(SVD, {"n_factors": [2, 8], "n_epochs": [1, 15], "random_state": [0],
                            "lr_all": [0.01]}, measures=["rmse", "mae"],
                      cv=KFold(3, random_state=1, shuffle=True))
    gs.fit(small.to_surprise())
    assert list(gs.cv_results["mean_test_rmse"]) == pytest.approx(means, abs=1e-12)
    assert gs.best_params["rmse"]["n_factors"] == res["best_params"]["n_factors"]
    assert gs.best_params["rmse"]["n_epochs"] == res["best_params"]["n_epochs"]
    # MAE as the measure; ranking metrics: higher is better
    by_ndcg = grid_search(small, "svd", grid, n_folds=3, seed=1, measure="ndcg@10")
    nd = [c["mean"]["ndcg@10"] for c in by_ndcg["cells"]]
    assert by_ndcg["best_index"] == int(np.argmax(nd))


def test_grid_search_nmf_alias_and_stop(small):
    res = grid_search(small, "nmf", {"reg_all": [0.02, 0.5]}, n_folds=2, seed=0,
                      base_params={"n_epochs": 3},
                      should_stop=lambda: False)
    assert [c["params"] for c in res["cells"]] == [{"reg_all": 0.02}, {"reg_all": 0.5}]
    n = [0]

    def stop():
        n[0] += 1
        return n[0] > 2          # lets two folds (one cell) finish
    part = grid_search(small, "nmf", {"reg_all": [0.02, 0.5]}, n_folds=2, seed=0,
                       base_params={"n_epochs": 3}, should_stop=stop)
    assert part["stopped"] and len(part["cells"]) == 1
    assert part["cells"][0]["mean"]["rmse"] == res["cells"][0]["mean"]["rmse"]


def test_curve_epochs():
    assert curve_epochs(5) == [1, 2, 3, 4, 5]
    pts = curve_epochs(100, 8)
    assert pts[0] == 1 and pts[-1] == 100 and len(pts) == 8


def test_learning_curve_points_equal_refits_surprise(small):
    params = {"n_factors": 3, "n_epochs": 12, "random_state": 2}
    lc = learning_curve(small, "svd", params, engine="surprise", seed=3, max_points=4)
    assert lc["method"] == "refit" and lc["epochs"] == [1, 5, 8, 12]
    full = lc["params"]
    for e, tr, te in zip(lc["epochs"], lc["train_rmse"], lc["test_rmse"]):
        assert _curve_point(small, "svd", full, "surprise", 3, 0.2, e) == (e, tr, te)
    assert lc["train_rmse"][-1] < lc["train_rmse"][0]
    with pytest.raises(InputError, match="svd and nmf"):
        learning_curve(small, "baseline", {})


@FAST
@pytest.mark.parametrize("name", ["svd", "nmf"])
def test_learning_curve_one_pass_equals_refitting(small, name):
    """The fast engine's per-epoch callback gives, at every epoch e, the model a fresh fit
    with n_epochs=e gives (same split, same seed)."""
    params = {"n_factors": 3, "n_epochs": 6, "random_state": 2}
    points = []
    lc = learning_curve(small, name, params, engine="fast", seed=3, callback=points.append)
    assert lc["method"] == "callback" and lc["epochs"] == [1, 2, 3, 4, 5, 6]
    assert [p["epoch"] for p in points] == lc["epochs"]
    full = lc["params"]
    for e in (1, 4, 6):
        _, tr, te = _curve_point(small, name, full, "fast", 3, 0.2, e)
        assert lc["train_rmse"][e - 1] == pytest.approx(tr, abs=1e-12)
        assert lc["test_rmse"][e - 1] == pytest.approx(te, abs=1e-12)
        # and Surprise's own class, refitted, agrees with the fast engine
        _, tr_s, te_s = _curve_point(small, name, full, "surprise", 3, 0.2, e)
        assert lc["test_rmse"][e - 1] == pytest.approx(te_s, abs=1e-9)


@FAST
def test_fast_engine_cv_equals_surprise_engine(small):
    p = {"n_factors": 4, "n_epochs": 6}
    a = cross_validate(small, "svd", p, engine="surprise", n_folds=3, seed=0)
    b = cross_validate(small, "svd", p, engine="fast", n_folds=3, seed=0)
    assert np.allclose(_quality(a), _quality(b), rtol=0, atol=1e-9)
    assert [f["n_train"] for f in a["folds"]] == [f["n_train"] for f in b["folds"]]


def test_auto_jobs():
    assert auto_jobs(1000, 5) == 1
    assert auto_jobs(100_000, 1) == 1
    assert auto_jobs(100_000, 5, engine="fast") == 1
    assert auto_jobs(100_000, 5) in (1, 2)


@pytest.mark.slow
def test_ml100k_defaults_match_surprise_published_table(ml100k_dir):
    """Surprise's table: ml-100k, 5 folds, defaults: SVD 0.934, NMF 0.963 RMSE."""
    from recsys.io.datasets import load_dataset

    r = load_dataset("ml-100k")
    assert r.n_ratings == 100_000
    svd = cross_validate(r, "svd", {}, n_folds=5, seed=0, n_jobs=2)
    nmf = cross_validate(r, "nmf", {}, n_folds=5, seed=0, n_jobs=2)
    assert svd["mean"]["rmse"] == pytest.approx(0.934, abs=0.01)
    assert nmf["mean"]["rmse"] == pytest.approx(0.963, abs=0.01)
