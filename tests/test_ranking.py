"""Full-catalogue top-N evaluation (recsys.ranking): metrics on tiny hand-computed fixtures, the
top-k order, the scores of every model kind, the protocols in cross_validate, and the published
MostPopular anchor on MovieLens 100K."""
import math

import numpy as np
import pytest

from recsys.data import Ratings
from recsys.errors import InputError
from recsys.evaluate import cross_validate, fold_indices, grid_search
from recsys.models import fit_full
from recsys.ranking import (full_catalogue_metrics, metric_names, model_numbering,
                            score_function, top_k)

L3 = 1 / math.log2(3)   # discount of rank 2

# Fixture: 3 users x 5 items (model inner ids).
# train: u0 {0}; u1 {1, 2}; u2 {0, 1, 2, 3, 4}     -> item counts 2, 2, 2, 1, 1; 3 train users
# test:  u0: item 2 (5 stars), item 3 (2 stars); u1: item 4 (4 stars), item 0 (1 star)
TRAIN_U = [0, 1, 1, 2, 2, 2, 2, 2]
TRAIN_I = [0, 1, 2, 0, 1, 2, 3, 4]
TEST_U = [0, 0, 1, 1]
TEST_I = [2, 3, 4, 0]
TEST_R = [5.0, 2.0, 4.0, 1.0]
SCORES = np.array([[9.0, 8, 7, 6, 5],     # u0: candidates 1..4 -> top-2 = [1, 2]
                   [1.0, 9, 9, 2, 3],     # u1: candidates 0, 3, 4 -> top-2 = [4, 3]
                   [0.0, 0, 0, 0, 0]])


def score(users):
    return SCORES[users]


def metrics(relevant="threshold", **kw):
    args = dict(train_users=TRAIN_U, train_items=TRAIN_I, test_users=TEST_U, test_items=TEST_I,
                test_ratings=TEST_R)
    args.update(kw)
    return full_catalogue_metrics(score, n_users=3, n_items=5, k=2, threshold=4.0,
                                  relevant=relevant, **args)


def test_hand_computed_explicit_view():
    m = metrics("threshold")
    # u0: relevant {2}, list [1, 2] -> hit at rank 2; u1: relevant {4}, list [4, 3] -> rank 1
    assert m["n_users"] == 2
    assert m["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["recall@2"] == pytest.approx((1 + 1) / 2)
    assert m["ndcg@2"] == pytest.approx((L3 / 1 + 1 / 1) / 2)
    assert m["map@2"] == pytest.approx(((1 / 2) / 1 + 1 / 1) / 2)
    assert m["hit@2"] == 1.0
    # lists {1, 2} and {4, 3}: 4 of the 5 catalogue items
    assert m["coverage"] == pytest.approx(4 / 5)
    pops = np.array([2, 2, 1, 1]) / 3            # items 1, 2, 4, 3
    assert m["novelty"] == pytest.approx(np.mean(-np.log2(pops)))
    assert m["mean_popularity"] == pytest.approx(1.5)


def test_hand_computed_implicit_view():
    m = metrics("all")
    # u0: relevant {2, 3}, list [1, 2]: hit at rank 2; u1: relevant {4, 0}, list [4, 3]: rank 1
    assert m["precision@2"] == pytest.approx(0.5)
    assert m["recall@2"] == pytest.approx(0.5)
    ndcg0 = L3 / (1 + L3)
    ndcg1 = 1 / (1 + L3)
    assert m["ndcg@2"] == pytest.approx((ndcg0 + ndcg1) / 2)
    assert m["map@2"] == pytest.approx(((1 / 2) / 2 + 1 / 2) / 2)
    assert m["hit@2"] == 1.0


def test_relevant_item_unknown_to_the_model_counts_in_recall_only():
    # u0 also liked an item absent from training (-1): R_u0 = 2, still one hit
    m = metrics("threshold", test_users=TEST_U + [0], test_items=TEST_I + [-1],
                test_ratings=TEST_R + [5.0])
    assert m["recall@2"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["precision@2"] == pytest.approx(0.5)
    # IDCG over min(k, R_u0) = 2 relevant items
    assert m["ndcg@2"] == pytest.approx((L3 / (1 + L3) + 1) / 2)


def test_unknown_user_and_no_relevant_user_are_left_out():
    # a test user unknown to the model (-1) is skipped; with threshold 6 nobody is relevant
    m = metrics("threshold", test_users=TEST_U + [-1], test_items=TEST_I + [1],
                test_ratings=TEST_R + [5.0])
    assert m["n_users"] == 2
    none = full_catalogue_metrics(score, TRAIN_U, TRAIN_I, TEST_U, TEST_I, TEST_R, 3, 5, k=2,
                                  threshold=6.0)
    assert none["n_users"] == 0 and math.isnan(none["precision@2"])
    assert none["coverage"] == pytest.approx(4 / 5)   # lists are still made


def test_blocks_do_not_change_the_numbers():
    whole = metrics("all")
    one_user_blocks = full_catalogue_metrics(score, TRAIN_U, TRAIN_I, TEST_U, TEST_I, TEST_R,
                                             3, 5, k=2, relevant="all", block_cells=1)
    assert one_user_blocks == whole


def test_top_k_order_ties_and_exclusions():
    s = np.array([[1.0, 3, 3, 3, 0],
                  [5.0, -np.inf, 5, 4, 5],
                  [-np.inf, -np.inf, 2, -np.inf, -np.inf]])
    top = top_k(s, 2)
    assert top[0].tolist() == [1, 2]          # three tied at 3: lowest ids
    assert top[1].tolist() == [0, 2]          # tied at 5: lowest ids, best first
    assert top[2][0] == 2 and np.isneginf(s[2, top[2][1]])
    assert top_k(s, 10).shape == (3, 5)


def test_top_k_equals_a_full_sort_with_many_ties():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 4, size=(200, 30)).astype(float)
    s[rng.random(s.shape) < 0.2] = -np.inf
    cols = np.arange(30)
    expected = np.array([np.lexsort((cols, -row))[:7] for row in s])
    assert np.array_equal(top_k(s, 7), expected)


def test_a_user_with_nothing_left_to_rank_gets_no_hits():
    m = full_catalogue_metrics(score, [0, 0, 0, 0, 0], [0, 1, 2, 3, 4], [0], [-1], [5.0],
                               1, 5, k=2)
    assert m["precision@2"] == 0.0 and m["coverage"] == 0.0 and math.isnan(m["novelty"])


def test_bad_arguments():
    with pytest.raises(InputError, match="relevant"):
        metrics("maybe")
    with pytest.raises(InputError, match="k must"):
        full_catalogue_metrics(score, TRAIN_U, TRAIN_I, TEST_U, TEST_I, TEST_R, 3, 5, k=0)


# ---------------------------------------------------------------------- scores of every model
def _small(seed=0, n_users=40, n_items=30, n=600):
    rng = np.random.default_rng(seed)
    pairs = np.unique(np.c_[rng.integers(0, n_users, n), rng.integers(0, n_items, n)], axis=0)
    rng.shuffle(pairs)
    return Ratings.from_arrays([f"u{u}" for u in pairs[:, 0]], [f"i{i}" for i in pairs[:, 1]],
                               rng.integers(1, 6, len(pairs)).astype(float), rating_scale=(1, 5))


@pytest.mark.parametrize("name,engine", [("svd", "surprise"), ("svd", "fast"),
                                         ("nmf", "surprise"), ("svdpp", "surprise"),
                                         ("baseline", "surprise"), ("als", "surprise"),
                                         ("bpr", "surprise"), ("mostpop", "surprise")])
def test_score_matrix_equals_predict(name, engine):
    r = _small()
    params = {"n_epochs": 3} if name in ("svd", "nmf", "svdpp") else {}
    algo = fit_full(r, name, params, engine)
    users = np.array([0, 5, 7])
    s = score_function(algo)(users)
    assert s.shape == (3, r.n_items)
    for row, u in enumerate(users):
        for i in (0, 3, r.n_items - 1):
            est = algo.predict(r.user_ids[u], r.item_ids[i], clip=False).est
            assert s[row, i] == pytest.approx(est, rel=1e-9, abs=1e-9)


def test_knn_has_no_vectorised_scores():
    algo = fit_full(_small(), "knnbaseline")
    with pytest.raises(InputError, match="test-items"):
        score_function(algo)


def test_model_numbering_matches_surprise_trainset():
    r = _small()
    train_idx, test_idx = fold_indices(r.n_ratings, 3, 1, 0)
    tr_u, tr_i, te_u, te_i, n_u, n_i = model_numbering(r, train_idx, test_idx)
    data = r.to_surprise()
    ts = data.construct_trainset([data.raw_ratings[j] for j in train_idx])
    assert (n_u, n_i) == (ts.n_users, ts.n_items)
    for j in (0, 5, len(train_idx) - 1):
        assert ts.to_inner_uid(r.user_ids[r.users[train_idx[j]]]) == tr_u[j]
        assert ts.to_inner_iid(r.item_ids[r.items[train_idx[j]]]) == tr_i[j]
    for j in np.flatnonzero(te_i >= 0)[:3]:
        assert ts.to_inner_iid(r.item_ids[r.items[test_idx[j]]]) == te_i[j]
    for j in np.flatnonzero(te_i < 0)[:3]:     # items only in the test fold
        with pytest.raises(ValueError):
            ts.to_inner_iid(r.item_ids[r.items[test_idx[j]]])


# ---------------------------------------------------------------------- in cross-validation
def test_protocols_in_cross_validate():
    r = _small()
    full = cross_validate(r, "svd", {"n_epochs": 5}, "fast", n_folds=3, seed=0)
    assert full["protocol"] == "full" and full["relevant"] == "threshold"
    assert set(metric_names(10)) <= set(full["mean"])
    test_items = cross_validate(r, "svd", {"n_epochs": 5}, "fast", n_folds=3, seed=0,
                                protocol="test-items")
    assert set(test_items["mean"]) == {"rmse", "mae", "fit_time", "test_time", "precision@10",
                                       "recall@10", "ndcg@10"}
    # same fits: the rating errors agree, only the ranking differs
    assert test_items["mean"]["rmse"] == full["mean"]["rmse"]
    # ranking only the test items is far easier
    assert test_items["mean"]["precision@10"] > full["mean"]["precision@10"]
    # surprise and fast engines give the same full-catalogue numbers
    sur = cross_validate(r, "svd", {"n_epochs": 5}, "surprise", n_folds=3, seed=0)
    for m in metric_names(10):
        assert sur["mean"][m] == pytest.approx(full["mean"][m], abs=1e-9)
    with pytest.raises(InputError, match="protocol"):
        cross_validate(r, "svd", n_folds=3, protocol="everything")


def test_implicit_models_have_no_rating_error():
    r = _small()
    res = cross_validate(r, "als", {"factors": 4, "iterations": 3}, n_folds=3, seed=0)
    assert "rmse" not in res["mean"] and "mae" not in res["mean"]
    assert all("rmse" not in f for f in res["folds"])
    assert 0.0 <= res["mean"]["precision@10"] <= 1.0
    with pytest.raises(InputError, match="precision@10"):
        grid_search(r, "als", {"factors": [2, 4]}, n_folds=2, measure="rmse")
    g = grid_search(r, "als", {"factors": [2, 4]}, n_folds=2, measure="ndcg@10",
                    base_params={"iterations": 2})
    assert g["best_index"] in (0, 1) and "mean_test_rmse" not in g["cv_results"]


# ---------------------------------------------------------------------- the published anchor
def test_most_popular_anchor_on_ml100k(ml100k_dir):
    """Recommenders.jl's MovieLens 100K table: a most-popular list on a random 80/20 split with
    every held-out rating relevant scores precision@10 0.190, recall@10 0.118, NDCG@10 0.220.
    Our 5 folds are five random 80/20 splits."""
    from recsys.io.datasets import load_dataset

    r = load_dataset("ml-100k")
    res = cross_validate(r, "mostpop", n_folds=5, seed=0, k=10, relevant="all")
    m = res["mean"]
    assert m["precision@10"] == pytest.approx(0.190, abs=0.02)
    assert m["recall@10"] == pytest.approx(0.118, abs=0.02)
    assert m["ndcg@10"] == pytest.approx(0.220, abs=0.02)
    # one split alone is within the band too
    fold0 = res["folds"][0]
    assert fold0["precision@10"] == pytest.approx(0.190, abs=0.02)
