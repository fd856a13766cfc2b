"""Issue 8 in the pages (AppTest): scale-driven controls, kept values clamped, divergence shown
as an error, reference rows and thin-data warnings."""
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from recsys.data import Ratings

TIMEOUT = 120
REPO = Path(__file__).resolve().parent.parent
PAGES = sorted(str(p) for p in (REPO / "pages").glob("*.py"))
CV = str(REPO / "pages" / "2_Cross_validation.py")


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))


def scaled(lo, hi, n_users=40, n_items=25, seed=0) -> Ratings:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n_users), 8)
    i = np.concatenate([rng.choice(n_items, 8, replace=False) for _ in range(n_users)])
    r = rng.integers(lo, hi + 1, len(u))
    return Ratings.from_arrays([f"u{x}" for x in u], [f"m{x}" for x in i], r,
                               rating_scale=(lo, hi), name=f"scale {lo}-{hi}")


def _app(path, ratings, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    spec = "upload:data.csv:abc"
    at.session_state["uploads"] = {spec: ratings}
    at.session_state["dataset"] = spec
    at.session_state["engine"] = "fast"
    for algo in ("svd", "nmf"):
        at.session_state[f"model_{algo}_n_factors"] = 4
        at.session_state[f"model_{algo}_n_epochs"] = 5
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _errors(at) -> str:
    return "\n".join(str(e.value) for e in at.error)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p).stem)
def test_every_page_survives_another_scale_with_kept_values(page):
    # values kept from a 1..5 dataset (and out of range here) must not make any page raise
    at = _app(page, scaled(150, 200), cv_threshold=4.0, cv_threshold_scale=(1.0, 5.0),
              top_min_ratings=400, similar_min_ratings=400, map_n_draw=5000,
              explain_item="not-an-item", similar_item="not-an-item",
              explore_user="not-a-user", map_method="pca")
    assert not at.exception, at.exception


def test_cv_threshold_follows_the_scale_and_reference_rows_show():
    at = _app(CV, scaled(150, 200), cv_threshold=4.0, cv_folds=3,
              cv_threshold_scale=(1.0, 5.0))
    assert at.slider(key="_cv_threshold").value == 188.0
    assert at.slider(key="_cv_threshold").min == 150.0
    at.button(key="cv_run").click().run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    cmp = next(f for f in frames if "kind" in getattr(f, "columns", []))
    assert cmp["kind"].tolist() == ["model", "reference", "reference"]
    assert cmp["algorithm"].tolist()[1:] == ["Global mean (μ)", "Baseline only (μ + b_u + b_i)"]


def test_binary_data_threshold_is_one():
    at = _app(CV, scaled(0, 1), cv_folds=3)
    s = at.slider(key="_cv_threshold")
    assert (s.min, s.max, s.value) == (0.0, 1.0, 1.0)


def test_divergence_is_an_error_on_the_explorer_pages():
    r = Ratings.from_arrays(["1", "1", "2", "2", "3"], ["1", "2", "1", "3", "2"],
                            [1, 660, 1, 2, 660], rating_scale=(1, 660))
    for page in [p for p in PAGES if Path(p).stem[0] in "45678"]:    # pages that fit a model
        at = AppTest.from_file(page, default_timeout=TIMEOUT)
        at.session_state["uploads"] = {"upload:d.csv:x": r}
        at.session_state["dataset"] = "upload:d.csv:x"
        at.session_state["map_method"] = "pca"
        at.run()
        assert not at.exception, (page, at.exception)
        assert "SGD diverged" in _errors(at), page


def test_thin_sample_warning_in_the_sidebar():
    at = _app(str(REPO / "pages" / "1_Data.py"), scaled(1, 5, n_users=40, n_items=400))
    warn = "\n".join(str(w.value) for w in at.sidebar.warning)
    assert "Thin data: the median user has 8 rating(s)" in warn
