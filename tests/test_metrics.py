"""Metric functions on hand-computed cases (recsys.metrics)."""
import math

import numpy as np
import pytest
from surprise import accuracy
from surprise.prediction_algorithms.predictions import Prediction

from recsys.metrics import mae, ranking_metrics, ranking_metrics_arrays, rmse


def P(u, i, true, est):
    return Prediction(u, i, true, est, {})


# user A: ranked by est a(5) b(3) c(4) d(2) e(4); relevant (>= 4): a, c, e
# user B: ranked x(2) y(5); relevant: y
# user C: nothing relevant -> left out of every average
PREDS = [
    P("A", "a", 5, 4.5), P("A", "b", 3, 4.0), P("A", "c", 4, 3.5), P("A", "d", 2, 3.0),
    P("A", "e", 4, 2.0),
    P("B", "x", 2, 4.9), P("B", "y", 5, 1.0),
    P("C", "z", 1, 5.0),
]


def test_rmse_mae_hand_computed_and_equal_to_surprise():
    preds = [P("u", "i", 4, 3.0), P("u", "j", 2, 2.5), P("v", "i", 5, 5.0)]
    assert rmse(preds) == pytest.approx(math.sqrt((1 + 0.25 + 0) / 3))
    assert mae(preds) == pytest.approx((1 + 0.5 + 0) / 3)
    assert rmse(PREDS) == accuracy.rmse(PREDS, verbose=False)
    assert mae(PREDS) == accuracy.mae(PREDS, verbose=False)
    with pytest.raises(ValueError):
        rmse([])


def test_precision_recall_ndcg_at_3_hand_computed():
    m = ranking_metrics(PREDS, k=3, threshold=4)
    # A: top-3 = a, b, c -> 2 hits of 3 recommended, 3 relevant
    #    DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4)
    # B: only 2 items -> both recommended; 1 hit; DCG = 1/log2(3); IDCG = 1
    ndcg_a = 1.5 / (1 + 1 / math.log2(3) + 0.5)
    ndcg_b = 1 / math.log2(3)
    assert m["n_users"] == 2
    assert m["precision@3"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["recall@3"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["ndcg@3"] == pytest.approx((ndcg_a + ndcg_b) / 2)
    assert ndcg_a == pytest.approx(0.703918, abs=1e-6)


def test_k_1_and_threshold_change_the_answer():
    m = ranking_metrics(PREDS, k=1, threshold=4)
    # A: top-1 = a (relevant); B: top-1 = x (not relevant)
    assert m["precision@1"] == pytest.approx(0.5)
    assert m["recall@1"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["ndcg@1"] == pytest.approx(0.5)
    m5 = ranking_metrics(PREDS, k=10, threshold=5)
    # relevant = 5 stars only: A has a (ranked 1st), B has y (ranked 2nd); C out
    assert m5["n_users"] == 2
    assert m5["recall@10"] == 1.0
    assert m5["precision@10"] == pytest.approx((1 / 5 + 1 / 2) / 2)
    assert m5["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_ties_keep_the_given_order():
    first = [P("D", "p", 5, 3.0), P("D", "q", 1, 3.0)]
    assert ranking_metrics(first, k=1)["precision@1"] == 1.0
    assert ranking_metrics(first[::-1], k=1)["precision@1"] == 0.0


def test_no_relevant_items_anywhere_gives_nan_and_empty_input():
    m = ranking_metrics([P("C", "z", 1, 5.0)], k=5)
    assert m["n_users"] == 0 and math.isnan(m["precision@5"]) and math.isnan(m["ndcg@5"])
    assert math.isnan(ranking_metrics([], k=5)["recall@5"])
    with pytest.raises(ValueError):
        ranking_metrics(PREDS, k=0)


def test_array_version_equals_prediction_version():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 30, 500)
    true = rng.integers(1, 6, 500).astype(float)
    est = np.round(rng.uniform(1, 5, 500), 1)   # rounded: plenty of ties
    preds = [P(str(u), str(n), t, e) for n, (u, t, e) in enumerate(zip(users, true, est))]
    assert ranking_metrics(preds, k=5) == ranking_metrics_arrays(users, true, est, k=5)
