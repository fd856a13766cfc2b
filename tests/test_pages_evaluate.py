"""AppTest of the evaluation pages: cross-validation (+ learning curve) and grid search."""
from pathlib import Path

import pytest
from fixtures import shown
from streamlit.testing.v1 import AppTest

from recsys.io.datasets import load_dataset
from recsys.evaluate import cross_validate

TIMEOUT = 120
REPO = Path(__file__).resolve().parent.parent
CV = str(REPO / "pages" / "2_Cross_validation.py")
GRID = str(REPO / "pages" / "3_Grid_search.py")


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))


def _app(path: str, **state) -> AppTest:
    """The page on 40 users of the synthetic demo set, Surprise engine, tiny models."""
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    at.session_state["dataset"] = "synthetic"
    at.session_state["sample_users"] = 40
    at.session_state["engine"] = "surprise"
    at.session_state["model_svd_n_factors"] = 4
    at.session_state["model_svd_n_epochs"] = 5
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [s.value for s in at.success] + [w.value for w in at.warning]
    return shown("\n".join(str(p) for p in parts))


def test_cv_page_runs_and_matches_the_core():
    at = _app(CV, cv_folds=3)
    assert not at.exception
    assert "Active model: SVD (Funk, SGD): n_factors=4, n_epochs=5 [surprise]" in _texts(at)
    at.button(key="cv_run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["Fold 1", "Fold 2", "Fold 3", "Mean", "Std"]
    assert "RMSE (testset)" in table.index and "NDCG@10" in table.index
    sample = load_dataset("synthetic").sample_users(40, seed=0)
    core = cross_validate(sample, "svd", {"n_factors": 4, "n_epochs": 5, "random_state": 0},
                          n_folds=3, seed=0)
    assert list(table.loc["RMSE (testset)"])[:3] == [f["rmse"] for f in core["folds"]]
    history = at.dataframe[-1].value
    assert len(history) == 1 and history["RMSE"].iloc[0] == core["mean"]["rmse"]
    assert len(at.get("plotly_chart")) >= 3           # per-fold charts + means bar chart
    # change a slider, run again: a second row in the session's comparison table
    at.slider(key="_cv_folds").set_value(2).run()
    at.button(key="cv_run").click().run()
    assert not at.exception
    history = at.dataframe[-1].value
    assert list(history["folds"]) == ["3/3", "2/2"]
    assert at.get("download_button")
    at.button(key="cv_clear").click().run()
    assert not at.exception
    assert "Runs in this session" not in _texts(at)


def test_cv_page_two_algorithms_and_learning_curve():
    at = _app(CV, cv_folds=2, cv_algos=["svd", "baseline"], curve_algo="svd")
    at.button(key="cv_run").click().run()
    assert not at.exception
    assert len(at.dataframe[-1].value) == 2          # one history row per algorithm
    at.button(key="curve_run").click().run()
    assert not at.exception
    assert "refitted at each epoch shown" in _texts(at)


def test_tutorial_preset_sets_the_notebook_run():
    at = _app(CV)
    at.button(key="cv_tutorial").click().run()
    assert not at.exception
    assert at.multiselect(key="_cv_algos").value == ["svd", "nmf"]
    assert at.slider(key="_cv_folds").value == 5
    assert at.sidebar.slider(key="_sample_users").value == 500
    for algo in ("svd", "nmf"):
        assert at.session_state[f"model_{algo}_n_factors"] == 30
        assert at.session_state[f"model_{algo}_n_epochs"] == 100
        assert at.session_state[f"model_{algo}_biased"] is True
    assert any("biased NMF" in e.label for e in at.expander)


def test_grid_page_heatmap_best_cell_and_use_these_parameters():
    at = _app(GRID, grid_factors="2, 6", grid_epochs="2, 6", grid_folds=2)
    assert not at.exception
    assert "4 cells × 2 folds = **8 fits**" in _texts(at)
    at.button(key="grid_run").click().run()
    assert not at.exception
    best = at.success[0].value
    assert best.startswith("Best RMSE") and "★" in best
    table = at.dataframe[0].value
    assert len(table) == 4 and table["best"].sum() == 1
    row = table[table["best"]].iloc[0]
    assert row["mean_rmse"] == table["mean_rmse"].min()
    at.button(key="grid_use").click().run()
    assert not at.exception
    assert at.session_state["model_algo"] == "svd"
    assert at.session_state["model_svd_n_factors"] == int(row["n_factors"])
    assert at.session_state["model_svd_n_epochs"] == int(row["n_epochs"])
    assert "These parameters are the active model" in _texts(at)


def test_grid_page_cap_and_bad_values():
    at = _app(GRID, grid_factors="1,2,3,4,5,6,7,8,9,10,11", grid_epochs="1,2,3", grid_folds=2)
    assert not at.exception
    assert any("over the cap" in w.value for w in at.warning)
    assert at.button(key="grid_run").disabled
    at.text_input(key="_grid_factors").set_value("2, x").run()
    assert not at.exception
    assert "n_factors: not a number" in shown(at.error[0].value)


def _explorer_page():
    """What an explorer page does: sidebar, then the shared active model."""
    import streamlit as st

    from ui.model import active_model
    from ui.sidebar import sidebar

    sel = sidebar()
    algo, text = active_model(sel, algos=("svd", "nmf"))
    st.session_state["seen"] = (type(algo).__name__, algo.pu.shape, text, id(algo),
                                algo.trainset.n_ratings, sel.ratings.n_ratings)


def test_active_model_is_fitted_on_the_sample_cached_and_restricted():
    at = AppTest.from_function(_explorer_page, default_timeout=TIMEOUT)
    at.session_state["dataset"] = "synthetic"
    at.session_state["sample_users"] = 40
    at.session_state["engine"] = "surprise"
    at.session_state["model_svd_n_factors"] = 4
    at.session_state["model_svd_n_epochs"] = 3
    at.run()
    assert not at.exception
    name, shape, text, obj, n_train, n_sample = at.session_state["seen"]
    assert name == "SVD" and shape == (40, 4) and n_train == n_sample
    assert text == "SVD (Funk, SGD): n_factors=4, n_epochs=3 [surprise]"
    assert any("Active model: " + text in s.value for s in at.sidebar.success)
    at.run()
    assert at.session_state["seen"][3] == obj                      # cached, not refitted
    # an active model without factors falls back (with a notice) on a factor page
    at.session_state["model_algo"] = "baseline"
    at.run()
    assert not at.exception
    assert at.session_state["seen"][0] == "SVD"
    assert any("no factors" in i.value for i in at.sidebar.info)
    # a new parameter value is a new model
    at.session_state["model_algo"] = "nmf"
    at.session_state["model_nmf_n_factors"] = 3
    at.session_state["model_nmf_n_epochs"] = 2
    at.run()
    assert at.session_state["seen"][0] == "NMF" and at.session_state["seen"][1] == (40, 3)


def test_a_stopped_run_keeps_the_finished_folds():
    """A run stopped after two of three folds (its job cancelled) keeps what finished."""
    from recsys.jobs import Job

    sample = load_dataset("synthetic").sample_users(40, seed=0)
    seen = []
    part = cross_validate(sample, "svd", {"n_factors": 4, "n_epochs": 5, "random_state": 0},
                          n_folds=3, seed=0, callback=seen.append,
                          should_stop=lambda: len(seen) >= 2)
    assert part["stopped"] and len(part["folds"]) == 2
    at = _app(CV, cv_folds=3)
    at.button(key="cv_run").click().run()                      # a complete run first
    job = Job(99, "s", "cross-validation", lambda j: None)
    job.state, job.result, job.settings, job.seen = "cancelled", {
        "results": [part], "references": []}, {}, 0
    job._done.set()
    at.session_state["cv_job"] = job
    at.run()
    assert not at.exception
    assert any("stopped" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert list(table.columns) == ["Fold 1", "Fold 2", "Mean", "Std"]
    history = at.dataframe[-1].value
    assert list(history["folds"]) == ["3/3", "2/3"] and list(history["stopped"]) == [False, True]


def test_results_for_other_settings_are_marked_stale():
    at = _app(CV, cv_folds=3)
    at.button(key="cv_run").click().run()
    assert not any("Stale" in shown(w.value) for w in at.warning)
    at.sidebar.slider(key="_sample_users").set_value(30).run()      # the sample changed
    warn = " ".join(shown(w.value) for w in at.warning)
    assert "Stale: these results are for other settings (sample changed)" in warn
    at.slider(key="_cv_folds").set_value(2).run()
    warn = " ".join(shown(w.value) for w in at.warning)
    assert "folds 3 → 2" in warn


def test_a_stopped_grid_search_keeps_the_finished_cells():
    """The grid's job cancelled after its first cell: that cell is the result, said so."""
    from recsys.evaluate import grid_search
    from recsys.jobs import Job

    sample = load_dataset("synthetic").sample_users(40, seed=0)
    seen = []
    part = grid_search(sample, "svd", {"n_factors": [2, 6], "n_epochs": [2]}, "surprise",
                       n_folds=2, seed=0, callback=seen.append, should_stop=lambda: len(seen) >= 1,
                       base_params={"random_state": 0})
    assert part["stopped"] and len(part["cells"]) == 1
    at = _app(GRID, grid_factors="2, 6", grid_epochs="2", grid_folds=2)
    job = Job(98, "s", "grid search", lambda j: None)
    job.state, job.result, job.seen = "cancelled", {"result": part, "references": []}, 0
    job.settings = {"cells": [{"n_factors": 2, "n_epochs": 2}, {"n_factors": 6, "n_epochs": 2}]}
    job._done.set()
    at.session_state["grid_job"] = job
    at.run()
    assert not at.exception
    assert any("1 of 2 cells finished" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == 1
