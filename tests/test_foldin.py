"""Fold-in of a new user (recsys.foldin): the solve, its linear split, the Top N path, the data."""
from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
from fixtures import make_ratings

from recsys import foldin as F
from recsys.errors import InputError
from recsys.explain import model_parts
from recsys.models import fit_full
from recsys.recommend import top_n_inner

SMALL = {"n_factors": 5, "n_epochs": 30, "random_state": 0}
ENGINES = ["surprise", "fast"]
# a person who rated 6 movies of the tiny set (ids m0..m39)
PERSON = {"m3": 5, "m7": 1, "m11": 4, "m2": 2, "m20": 5, "m33": 3}


@pytest.fixture(scope="module")
def tiny():
    return make_ratings()


def fit(tiny, name="svd", engine="fast", **params):
    return fit_full(tiny, name, {**SMALL, **params}, engine)


def augmented(algo, fold):
    """The fold-in least-squares problem written out: [A; √Λ] x ≈ [y; 0], x = (b_u, p_u)."""
    parts = model_parts(algo)
    Q = parts.qi[fold.items]
    k = Q.shape[1]
    if fold.biased:
        A = np.hstack([np.ones((len(Q), 1)), Q])
        lam = np.concatenate([[fold.reg_bu], np.full(k, fold.reg_pu)])
    else:
        A, lam = Q, np.full(k, fold.reg_pu)
    M = np.vstack([A, np.diag(np.sqrt(lam))])
    y = np.concatenate([fold.ratings - fold.offsets, np.zeros(len(lam))])
    x = np.concatenate([[fold.bu], fold.pu]) if fold.biased else fold.pu
    return M, y, x


# ---------------------------------------------------------------------------- SVD: ridge
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("biased", [True, False])
def test_svd_solution_has_zero_gradient_and_equals_lstsq(tiny, engine, biased):
    algo = fit(tiny, engine=engine, biased=biased)
    fold = F.solve_fold_in(algo, PERSON)
    assert fold.method == "ridge" and fold.n_ratings == 6
    assert fold.reg_pu == pytest.approx(6 * algo.reg_pu)        # λ once per rating (n λ)
    g = F.objective_gradient(algo, fold)
    assert np.max(np.abs(g)) < 1e-9
    M, y, x = augmented(algo, fold)
    ref = scipy.linalg.lstsq(M, y)[0]
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-9)
    assert (fold.bu != 0.0) == biased
    bu, pu = F.fold_in(algo, PERSON)
    assert bu == fold.bu and np.array_equal(pu, fold.pu)


def test_per_rating_false_uses_lambda_once(tiny):
    algo = fit(tiny)
    fold = F.solve_fold_in(algo, PERSON, per_rating=False)
    assert fold.reg_pu == algo.reg_pu and fold.reg_bu == algo.reg_bu
    assert np.max(np.abs(F.objective_gradient(algo, fold))) < 1e-9
    M, y, x = augmented(algo, fold)
    np.testing.assert_allclose(x, scipy.linalg.lstsq(M, y)[0], rtol=0, atol=1e-9)


def test_engines_agree(tiny):
    a = F.solve_fold_in(fit(tiny, engine="surprise"), PERSON)
    b = F.solve_fold_in(fit(tiny, engine="fast"), PERSON)
    assert a.bu == pytest.approx(b.bu, abs=1e-9)
    np.testing.assert_allclose(a.pu, b.pu, atol=1e-9)


# ---------------------------------------------------------------------------- NMF: nnls
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("biased", [False, True])
def test_nmf_solution_is_the_nnls_optimum(tiny, engine, biased):
    algo = fit(tiny, "nmf", engine=engine, biased=biased)
    fold = F.solve_fold_in(algo, PERSON)
    assert fold.method == "nnls" and (fold.pu >= 0).all()
    g = F.objective_gradient(algo, fold)
    free = np.concatenate([[biased], fold.active])     # b_u is unconstrained when biased
    assert np.max(np.abs(g[free])) < 1e-9              # KKT: zero on the free coordinates
    assert (g[1:][~fold.active] >= -1e-9).all()        # ... and pushing up at the zeros
    # scipy's nnls on the same system (b = b⁺ − b⁻) reaches the same minimum
    M, y, x = augmented(algo, fold)
    if biased:
        Msplit = np.hstack([M[:, :1], -M[:, :1], M[:, 1:]])
        z = scipy.optimize.nnls(Msplit, y)[0]
        ref = np.concatenate([[z[0] - z[1]], z[2:]])
    else:
        ref = scipy.optimize.nnls(M, y)[0]
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-8)
    # on its active set it is the plain least-squares solution (the linearity the split uses)
    cols = np.concatenate([[biased], fold.active]) if biased else fold.active
    xa = scipy.linalg.lstsq(M[:, cols], y)[0]
    np.testing.assert_allclose(x[cols], xa, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------- contributions
@pytest.mark.parametrize("name, biased", [("svd", True), ("svd", False), ("nmf", False),
                                          ("nmf", True)])
def test_contributions_sum_to_the_prediction(tiny, name, biased):
    algo = fit(tiny, name, biased=biased)
    fold = F.solve_fold_in(algo, PERSON)
    parts = model_parts(algo)
    for i in range(tiny.n_items):
        c = F.contributions(algo, fold, i)
        assert len(c["terms"]) == 6
        assert abs(c["total"] - c["score"]) < 1e-9 and c["gap"] == c["total"] - c["score"]
        manual = (parts.mu + fold.bu + parts.bi[i] if biased else 0.0) + parts.qi[i] @ fold.pu
        assert c["score"] == pytest.approx(manual, abs=1e-12)
        assert c["est"] == min(5.0, max(1.0, c["score"]))
        assert c["constant"] == (parts.mu + parts.bi[i] if biased else 0.0)
    # a term is weight x (rating − what the model expected of that movie)
    t = F.contributions(algo, fold, 0)["terms"][0]
    assert t["term"] == pytest.approx(t["weight"] * (t["rating"] - t["offset"]), abs=1e-15)


def test_rating_a_movie_higher_raises_its_own_score(tiny):
    algo = fit(tiny)
    low = F.solve_fold_in(algo, {**PERSON, "m20": 1})
    high = F.solve_fold_in(algo, {**PERSON, "m20": 5})
    i = tiny.item_inner("m20")
    assert F.contributions(algo, high, i)["score"] > F.contributions(algo, low, i)["score"]


# ---------------------------------------------------------------------------- top-N and cold start
@pytest.mark.parametrize("biased", [True, False])
def test_zero_ratings_fall_back_to_the_cold_start_prediction(tiny, biased):
    algo = fit(tiny, biased=biased)
    fold = F.solve_fold_in(algo, {})
    assert fold.cold_start and fold.bu == 0.0 and not fold.pu.any()
    cold = np.array([algo.predict("nobody", iid).est for iid in tiny.item_ids])
    np.testing.assert_array_equal(np.clip(F.scores(algo, fold), 1, 5), cold)
    top = F.top_n(algo, tiny, fold, n=5)
    np.testing.assert_array_equal(top["est"], np.sort(cold)[::-1][:5])
    for i in range(3):
        assert F.contributions(algo, fold, i)["est"] == cold[i]


def test_top_n_uses_the_top_n_path_and_excludes_rated(tiny):
    algo = fit(tiny)
    fold = F.solve_fold_in(algo, PERSON)
    top = F.top_n(algo, tiny, fold, n=40)
    assert len(top) == 40 - 6 and not set(PERSON) & set(top["item"])
    assert list(top.columns) == ["rank", "item", "title", "year", "est", "score", "n_ratings",
                                 "mean_rating"]
    s = F.scores(algo, fold)
    expect = np.lexsort((np.arange(len(s)), -s))
    expect = [tiny.item_ids[i] for i in expect if tiny.item_ids[i] not in PERSON]
    assert list(top["item"]) == expect
    for row in top.head(5).itertuples():
        c = F.contributions(algo, fold, tiny.item_inner(row.item))
        assert row.score == c["score"] and row.est == c["est"]
    every = F.top_n(algo, tiny, fold, n=40, exclude_rated=False)
    assert set(PERSON) <= set(every["item"])
    # the same function ranks a real user when given their own parts (one path)
    items, _, _ = top_n_inner(algo, tiny, 0, 5)
    parts = replace(model_parts(algo), bu=algo.bu[[0]], pu=algo.pu[[0]])
    items2, _, _ = top_n_inner(algo, tiny, 0, 5, parts=parts,
                               rated=tiny.items[tiny.users == 0])
    assert list(items) == list(items2)
    filtered = F.top_n(algo, tiny, fold, n=10, min_ratings=14)
    assert (filtered["n_ratings"] >= 14).all()


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("given, message", [
    ({"nope": 3}, "unknown item id"),
    ({"m1": 6}, "off the scale 1..5"),
    ({"m1": 0.5}, "off the scale"),
    ({"m1": float("nan")}, "off the scale"),
    ({"m1": "good"}, "not a number"),
    ([("m1", 3), ("m1", 4)], "rated twice"),
])
def test_bad_ratings_are_input_errors(tiny, given, message):
    with pytest.raises(InputError, match=message):
        F.solve_fold_in(fit(tiny), given)


def test_model_without_factors_is_an_input_error(tiny):
    base = fit_full(tiny, "baseline", {}, "surprise")
    with pytest.raises(InputError, match="not a fitted matrix-factorisation"):
        F.solve_fold_in(base, PERSON)


def test_diverged_model_is_an_input_error(tiny):
    algo = fit(tiny)
    algo.qi = algo.qi.copy()
    algo.qi[tiny.item_inner("m3")] = np.nan
    with pytest.raises(InputError, match="diverged"):
        F.solve_fold_in(algo, PERSON)


def test_parse_rate_arg():
    assert F.parse_rate_arg("50=5, 172=4.5,") == [("50", 5.0), ("172", 4.5)]
    for bad, message in (("", "at least one"), (" , ", "at least one"), ("50", "ITEM=RATING"),
                         ("50=", "ITEM=RATING"), ("50=five", "not a number")):
        with pytest.raises(InputError, match=message):
            F.parse_rate_arg(bad)


def test_ratings_csv_round_trip_and_errors(tiny):
    pairs = [("m3", 5.0), ("m7", 1.0)]
    data = F.ratings_to_csv(tiny, pairs)
    assert data.decode().splitlines()[0] == "item,title,rating"
    assert F.ratings_from_csv(data) == pairs
    with pytest.raises(InputError, match=r"mine.csv, line 3: rating is not a number.*'x'"):
        F.ratings_from_csv(b"item,rating\nm1,4\nm2,x\n", "mine.csv")
    with pytest.raises(InputError, match="line 3: item rated twice"):
        F.ratings_from_csv(b"item,rating\nm1,4\nm1,3\n")
    with pytest.raises(InputError, match="needs a column named 'rating'"):
        F.ratings_from_csv(b"item,stars\nm1,4\n")


def test_csv_export_neutralises_formulas():
    import pandas as pd

    from recsys.data import Ratings

    r = Ratings.from_arrays(["u1", "u1"], ["a", "b"], [1, 5], rating_scale=(1, 5),
                            item_table=pd.DataFrame({"item": ["a", "b"],
                                                     "title": ["=HYPERLINK(1)", "Fine"]}))
    text = F.ratings_to_csv(r, [("a", 3)]).decode()
    assert "'=HYPERLINK(1)" in text


def test_rating_values():
    from recsys.data import Ratings

    assert F.rating_values(make_ratings()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    half = Ratings.from_arrays(["u", "u"], ["a", "b"], [0.5, 4.5], rating_scale=(0.5, 5))
    assert F.rating_values(half) == [0.5 * k for k in range(1, 11)]


# ---------------------------------------------------------------------------- refit comparison
def test_with_new_user_keeps_every_inner_id(tiny):
    items = np.array([tiny.item_inner(i) for i in PERSON])
    bigger, uid = F.with_new_user(tiny, items, np.array(list(PERSON.values()), float))
    assert uid == "you" and bigger.n_users == tiny.n_users + 1
    assert np.array_equal(bigger.item_ids, tiny.item_ids)
    assert np.array_equal(bigger.users[:tiny.n_ratings], tiny.users)
    assert sorted(bigger.item_ids[bigger.items[bigger.users == tiny.n_users]]) == sorted(PERSON)


def test_refit_compare(tiny):
    algo = fit(tiny)
    fold = F.solve_fold_in(algo, PERSON)
    cmp = F.refit_compare(algo, tiny, fold, "svd", SMALL, "fast", n=10)
    assert cmp["n"] == 10 and 0.0 <= cmp["overlap"] <= 1.0
    both = set(cmp["foldin_top"]["item"]) & set(cmp["refit_top"]["item"])
    assert cmp["overlap"] == len(both) / 10
    assert not set(PERSON) & set(cmp["refit_top"]["item"])
    assert -1.0 <= cmp["kendall"] <= 1.0 and -1.0 <= cmp["spearman"] <= 1.0
    assert cmp["foldin_seconds"] > 0 and cmp["refit_seconds"] > 0
    with pytest.raises(InputError, match="at least one movie"):
        F.refit_compare(algo, tiny, F.solve_fold_in(algo, {}), "svd", SMALL, "fast")


# ---------------------------------------------------------------------------- ml-100k held out
def held_out_comparison(ratings, name, params, n_users=50, seed=0, per_rating=True):
    """Take ``n_users`` real users (≥ 20 ratings) out, hold out 20% of each one's ratings.

    Model A is trained with the users' other 80%; model B without the users at all, then each
    user is folded into B from their 80%. Returns the RMSE on the held-out 20% of A, of the
    fold-in, and of B's cold-start prediction (μ + b_i), and the number of held-out ratings.
    """
    rng = np.random.default_rng(seed)
    counts = ratings.ratings_per_user()
    users = rng.choice(np.flatnonzero(counts >= 20), n_users, replace=False)
    test = np.zeros(ratings.n_ratings, dtype=bool)
    for u in users:
        idx = np.flatnonzero(ratings.users == u)
        test[rng.choice(idx, len(idx) // 5, replace=False)] = True
    chosen = np.isin(ratings.users, users)
    with_them = fit_full(ratings.subset(~test), name, params, "fast")
    rest = ratings.subset(~chosen)
    without = fit_full(rest, name, params, "fast")
    known = set(rest.item_ids.tolist())
    truth, a, b, c = [], [], [], []
    for u in users:
        mine = (ratings.users == u) & ~test
        given = {ratings.item_ids[i]: float(v) for i, v in
                 zip(ratings.items[mine], ratings.ratings[mine]) if ratings.item_ids[i] in known}
        fold = F.solve_fold_in(without, given, per_rating=per_rating)
        for j in np.flatnonzero((ratings.users == u) & test):
            iid = ratings.item_ids[ratings.items[j]]
            truth.append(float(ratings.ratings[j]))
            a.append(with_them.predict(ratings.user_ids[u], iid).est)
            cold = without.predict("nobody", iid).est
            c.append(cold)
            b.append(F.contributions(without, fold, without.trainset.to_inner_iid(iid))["est"]
                     if iid in known else cold)
    rmse = lambda p: float(np.sqrt(np.mean((np.asarray(p) - np.asarray(truth)) ** 2)))
    return rmse(a), rmse(b), rmse(c), len(truth)


@pytest.mark.parametrize("name", ["svd", "nmf"])
def test_ml100k_held_out_rmse_close_to_a_model_trained_with_them(ml100k_dir, name):
    from recsys.io.datasets import load_dataset

    r = load_dataset("ml-100k")
    trained, folded, cold, n = held_out_comparison(r, name, {"random_state": 0})
    print(f"\n{name}: held-out RMSE over {n} ratings of 50 users: trained with them {trained:.4f}, "
          f"folded in {folded:.4f}, cold start {cold:.4f}")
    # close to (NMF: better than; its multiplicative updates stop short of the optimum that
    # the fold-in solves exactly) the model trained with them, far better than the cold start
    assert folded < trained + 0.03
    assert folded < cold - 0.05
    if name == "svd":   # λ once (penalty outside the sum) overfits: worse than the cold start
        _, once, _, _ = held_out_comparison(r, name, {"random_state": 0}, per_rating=False)
        print(f"svd with λ once instead of n·λ: folded in {once:.4f}")
        assert once > folded + 0.1
