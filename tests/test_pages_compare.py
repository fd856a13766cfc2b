"""AppTest of the model comparison page and of implicit models on the evaluation/explorer pages."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from recsys.compare import compare_models, comparison_table, lessons
from recsys.io.datasets import load_dataset
from recsys.ranking import TEST_ITEMS_CAVEAT

TIMEOUT = 180
REPO = Path(__file__).resolve().parent.parent
COMPARE = str(REPO / "pages" / "9_Compare_models.py")
CV = str(REPO / "pages" / "2_Cross_validation.py")
GRID = str(REPO / "pages" / "3_Grid_search.py")
TOP = str(REPO / "pages" / "5_Top_N.py")
BREAKDOWN = str(REPO / "pages" / "4_Prediction_breakdown.py")

SMALL = {"model_svd_n_factors": 4, "model_svd_n_epochs": 5, "model_nmf_n_epochs": 5,
         "model_als_factors": 4, "model_als_iterations": 3, "model_bpr_factors": 4,
         "model_bpr_iterations": 10}


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))


def _app(path: str, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    at.session_state["dataset"] = "synthetic"
    at.session_state["sample_users"] = 60
    at.session_state["engine"] = "surprise"
    for k, v in {**SMALL, **state}.items():
        at.session_state[k] = v
    return at.run()


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [s.value for s in at.success] + [w.value for w in at.warning]
    parts += [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def test_compare_page_runs_only_on_the_button_and_matches_the_core():
    at = _app(COMPARE, cmp_folds=3)
    assert not at.exception
    assert not at.dataframe                       # nothing runs until the button
    at.button(key="cmp_run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["model"]) == ["SVD", "NMF", "Baseline only", "MostPopular", "ALS", "BPR"]
    # RMSE only where the model predicts ratings
    results = at.session_state["cmp_last"]["results"]
    assert [r_ if r_ == "— (score)" else float(r_) for r_ in table["rmse"]][3:] == \
        ["— (score)"] * 3
    assert [float(v) for v in table["rmse"][:3]] == [
        pytest.approx(r_["mean"]["rmse"], abs=5e-4) for r_ in results[:3]]
    assert list(table["precision@10"]) == [r_["mean"]["precision@10"] for r_ in results]
    settings = at.session_state["cmp_last"]["settings"]
    assert settings["n_folds"] == 3 and settings["k"] == 10
    texts = _texts(at)
    assert "What to notice" in [s.value for s in at.subheader]
    assert "generated from the measured numbers" in texts
    # the lesson sentences on screen are the ones computed from the table shown
    expected = lessons(comparison_table(at.session_state["cmp_last"]["results"]), 10)
    assert expected and all(s in texts for s in expected)
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    # a changed setting marks the result stale
    at.slider(key="_cmp_k").set_value(5).run()
    assert "Stale" in _texts(at)


def test_compare_numbers_equal_cross_validate(ml100k_dir):
    r = load_dataset("ml-100k").sample_users(120, seed=0)
    res = compare_models(r, ("mostpop", "svd"), {"svd": {"n_epochs": 5}}, "fast", n_folds=2)
    from recsys.evaluate import cross_validate

    direct = cross_validate(r, "mostpop", {}, "fast", n_folds=2, seed=0)
    for m in ("precision@10", "recall@10", "ndcg@10", "map@10", "coverage", "novelty"):
        assert res[0]["mean"][m] == direct["mean"][m]
    table = comparison_table(res)
    assert table["rmse"].isna().tolist() == [True, False]


def test_lessons_follow_the_numbers():
    import pandas as pd

    def table(rows):
        return pd.DataFrame(rows, columns=["algo", "model", "rmse", "precision@10", "coverage",
                                           "novelty", "mean_popularity"])

    t = table([["svd", "SVD (x)", 0.90, 0.05, 0.10, 3.0, 150],
               ["mostpop", "MostPopular (x)", None, 0.12, 0.02, 1.4, 350],
               ["als", "ALS (x)", None, 0.20, 0.30, 2.5, 190]])
    s = lessons(t)
    assert s[0].startswith("SVD predicts ratings best (lowest RMSE, 0.900) but ranks 3rd of 3")
    assert "ALS (precision@10 0.200, 4.0× as high)" in s[0]
    assert s[1].startswith("SVD loses to the plain MostPopular list (precision@10 0.120)")
    assert "MostPopular recommends only 2.0% of the catalogue" in s[2]
    assert s[3].startswith("MostPopular leans most on blockbusters")
    # if the rating model wins, the text says so instead
    t2 = table([["svd", "SVD (x)", 0.90, 0.30, 0.10, 3.0, 150],
                ["mostpop", "MostPopular (x)", None, 0.12, 0.02, 1.4, 350]])
    s2 = lessons(t2)
    assert "both the lowest RMSE" in s2[0] and "Every rating model beats" in s2[1]
    assert lessons(table([])) == []


def test_cv_page_with_als_and_the_test_items_protocol():
    at = _app(CV, cv_folds=2, cv_algos=["als"], cv_protocol="test-items")
    assert not at.exception
    assert TEST_ITEMS_CAVEAT in _texts(at)
    at.button(key="cv_run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert "RMSE (testset)" not in table.index and "precision@10" in table.index
    assert "MAP@10" not in table.index            # test-items: precision/recall/NDCG only
    at.radio(key="_cv_protocol").set_value("full").run()
    at.button(key="cv_run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"NDCG@10", "MAP@10", "hit rate@10", "coverage"} <= set(table.index)


def test_grid_page_offers_ranking_measures_for_als():
    at = _app(GRID, grid_algo="als", grid_factors="2, 4", grid_epochs="2", grid_folds=2)
    assert not at.exception
    assert at.selectbox(key="_grid_measure").options[0] == "precision@10"
    at.button(key="grid_run").click().run()
    assert not at.exception
    assert "Best precision@10" in _texts(at)


def test_top_n_and_breakdown_pages_with_als():
    at = _app(TOP, model_algo="als")
    assert not at.exception
    assert "not a rating" in _texts(at)
    recs = at.dataframe[0].value
    assert list(recs["score"]) == sorted(recs["score"], reverse=True)
    at = _app(BREAKDOWN, model_algo="bpr")
    assert not at.exception
    assert "NOT a rating" in _texts(at)
