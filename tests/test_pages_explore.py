"""AppTest of the explorer pages (4-7): each page opened first, its main control used."""
from pathlib import Path

import pytest
from fixtures import shown
from streamlit.testing.v1 import AppTest

TIMEOUT = 120
PAGES = Path(__file__).resolve().parent.parent / "pages"


def open_page(name: str, **state) -> AppTest:
    """The page run first (deep link) on a small, quick setup: 100 users, SVD with 20 factors."""
    at = AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT)
    at.session_state["sample_users"] = 100
    at.session_state["model_svd_n_factors"] = 20
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def test_breakdown_page(ml100k_dir):
    at = open_page("4_Prediction_breakdown.py")
    m = metrics(at)
    assert m["Manual sum"] == m["predict().est"] or "clips" in shown(at.info[0].value)
    assert m["Clipped to the scale"] == m["predict().est"]
    assert len(at.get("plotly_chart")) == 2                     # waterfall + factor bars
    # main control: the movie filter + random pick; rated movies show the true rating
    at.radio(key="_explain_filter").set_value("Rated by this user").run()
    at.button(key="rand_item").click().run()
    assert not at.exception and metrics(at)["True rating"] != "—"
    at.radio(key="_explain_filter").set_value("Not yet rated").run()
    assert metrics(at)["True rating"] == "—"
    # cold start: a user the model never saw
    at.text_input(key="_explain_user_any").set_value("no-such-user").run()
    assert not at.exception
    assert "Cold start" in shown(at.warning[0].value) and "was_impossible = False" in shown(at.warning[0].value)
    assert metrics(at)["q_iᵀp_u"] == "—"
    at.button(key="outside_user").click().run()                 # a real user outside the sample
    assert not at.exception and "Cold start" in shown(at.warning[0].value)


def test_top_n_page(ml100k_dir):
    at = open_page("5_Top_N.py")
    top, rated = at.dataframe
    assert top.value.shape[0] == 10 and list(top.value["rank"]) == list(range(1, 11))
    assert top.value["est"].is_monotonic_decreasing
    at.slider(key="_top_n").set_value(5).run()
    assert at.dataframe[0].value.shape[0] == 5
    at.button(key="rand_user").click().run()
    at.slider(key="_top_min_ratings").set_value(20).run()
    assert not at.exception and (at.dataframe[0].value["n_ratings"] >= 20).all()
    at.checkbox(key="_top_exclude_rated").uncheck().run()
    assert not at.exception
    assert at.get("download_button")


def test_similar_page(ml100k_dir):
    at = open_page("6_Similar_movies.py")
    at.text_input(key="_similar_query").set_value("star wars").run()
    assert not at.exception
    assert "Star Wars" in shown(at.subheader[0].value)
    table = at.dataframe[0].value
    assert len(table) == 10 and "Star Wars" not in set(table["title"])
    assert table["score"].is_monotonic_decreasing
    at.radio(key="_similar_metric").set_value("euclidean").run()
    assert at.dataframe[0].value["score"].is_monotonic_increasing
    at.text_input(key="_similar_query").set_value("no title like this").run()
    assert not at.exception and "No title contains" in shown(at.warning[0].value)


def test_factor_map_page_pca(ml100k_dir):
    at = open_page("7_Factor_map.py")
    assert at.radio(key="_map_method").value == "pca"              # instant, automatic
    from recsys.embed import default_min_ratings
    from recsys.io.datasets import load_dataset

    expected = default_min_ratings(load_dataset("ml-100k").sample_users(100, seed=0))
    assert at.slider(key="_map_min_ratings").value == expected == 10   # derived from the data
    cap = captions(at)
    assert "PCA of" in cap and len(at.get("plotly_chart")) == 1
    assert "Map neighbours share a genre" in cap and "(chance" in cap
    at.selectbox(key="_map_colour").set_value("genre").run()
    at.selectbox(key="_map_genre").set_value("Comedy").run()
    at.text_input(key="_map_query").set_value("toy story").run()
    assert not at.exception and "★ Toy Story" in shown(captions(at))


@pytest.mark.slow
def test_factor_map_tsne_runs_only_on_request_and_marks_stale(ml100k_dir):
    at = open_page("7_Factor_map.py", map_method="tsne", map_n_iter=250, sample_users=60)
    # opening the page (or switching to t-SNE) never starts t-SNE by itself
    assert "TSNE" not in captions(at) and "t-SNE of" not in captions(at)
    assert any("Compute the t-SNE map" in i.value for i in at.info)
    at.button(key="map_run").click().run()
    assert not at.exception
    first = captions(at)
    assert "t-SNE of" in first and "computed in" in first
    at.selectbox(key="_map_colour").set_value("b_i").run()          # same map, no rerun
    assert not at.exception and "t-SNE of" in captions(at)
    at.slider(key="_map_perplexity").set_value(10).run()            # other settings: stale
    assert not at.exception
    warn = " ".join(shown(w.value) for w in at.warning)
    assert "Stale" in warn and "perplexity 30 → 10" in warn
