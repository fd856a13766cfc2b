"""AppTest of the shell (home page, shared sidebar) and the Data page."""
import shutil
from pathlib import Path

import pytest
from fixtures import shown
from streamlit.testing.v1 import AppTest

TIMEOUT = 60
REPO = Path(__file__).resolve().parent.parent


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [i.value for i in at.info] + [w.value for w in at.warning]
    return shown("\n".join(str(p) for p in parts))


def test_home_page_renders_formula_and_links(ml100k_dir):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("q_i^\\top p_u" in l.value for l in at.latex)
    assert at.sidebar.selectbox(key="_dataset").value == "ml-100k"
    # default sample: the tutorial's 500 users
    assert at.sidebar.slider(key="_sample_users").value == 500
    assert "500 users" in _texts(at)


def test_data_page_deep_link_first(ml100k_dir):
    """A page opened first (no app.py run before) draws its own sidebar and works."""
    at = AppTest.from_file(str(REPO / "pages/1_Data.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    text = _texts(at)
    assert "500 users" in text and "interactions" in text
    assert at.metric[1].value == "500"
    assert len(at.get("plotly_chart")) == 3
    assert len(at.dataframe) == 1


def test_sample_slider_changes_summary_and_survives_page_switch(ml100k_dir):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    at.sidebar.slider(key="_sample_users").set_value(120).run()
    assert not at.exception
    assert "120 users" in _texts(at)
    at.switch_page("pages/1_Data.py").run()
    assert not at.exception
    assert at.sidebar.slider(key="_sample_users").value == 120
    assert at.metric[1].value == "120"
    # the seed changes the sample but not its size
    at.sidebar.number_input(key="_seed").set_value(7).run()
    assert not at.exception
    assert at.metric[1].value == "120"


def test_bad_dataset_shows_error_and_keeps_previous(ml100k_dir, tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "netflix" / "broken").mkdir(parents=True)
    shutil.copytree(ml100k_dir, data / "ml-100k")
    (data / "netflix" / "broken" / "combined_data_1.txt").write_text(
        "1:\n6,3,2005-09-06\n7,x,2005-09-06\n")
    monkeypatch.setenv("FACTORLAB_DATA", str(data))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages/1_Data.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    options = at.sidebar.selectbox(key="_dataset").options
    broken = [o for o in options if "broken" in o]
    assert broken, options
    at.sidebar.selectbox(key="_dataset").set_value(broken[0]).run()
    assert not at.exception
    errors = shown("\n".join(e.value for e in at.error))
    assert "combined_data_1.txt" in errors and "line 3" in errors
    # the previously loaded dataset is still shown
    assert "500 users" in _texts(at)
    assert at.metric[1].value == "500"


@pytest.mark.parametrize("text,scale", [("", None), ("1-5", (1.0, 5.0)), ("0.5..5", (0.5, 5.0)),
                                        ("-10 - 10", (-10.0, 10.0)), ("1,10", (1.0, 10.0))])
def test_upload_rating_scale_parsing(text, scale):
    from recsys.data import parse_scale

    assert parse_scale(text) == scale


def test_upload_rating_scale_rejects_garbage():
    from recsys.errors import InputError
    from recsys.data import parse_scale

    with pytest.raises(InputError, match="LOW,HIGH"):
        parse_scale("one to five")


def _synth_app(**qp) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / "1_Data.py"), default_timeout=TIMEOUT)
    for k, v in qp.items():
        at.query_params[k] = v
    return at


def test_number_box_and_all_users_set_the_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    at = _synth_app(dataset="synthetic")
    at.run()
    assert not at.exception
    at.sidebar.number_input(key="_sample_users_box").set_value(77).run()
    assert at.sidebar.slider(key="_sample_users").value == 77
    assert "77 users" in _texts(at)
    at.sidebar.slider(key="_sample_users").set_value(33).run()
    assert at.sidebar.number_input(key="_sample_users_box").value == 33
    at.sidebar.checkbox(key="_all_users").check().run()
    from recsys.io.datasets import load_dataset
    n_all = load_dataset("synthetic").n_users
    assert f"{n_all} users" in _texts(at) and not at.sidebar.slider


def test_the_view_lives_in_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    at = _synth_app(dataset="synthetic", users="42", seed="3", model="svd", p_n_factors="7")
    at.run()
    assert not at.exception
    assert at.sidebar.slider(key="_sample_users").value == 42
    assert at.session_state["seed"] == 3 and at.session_state["model_svd_n_factors"] == 7
    assert "42 users" in _texts(at)
    qp = dict(at.query_params)
    assert qp["users"] in ("42", ["42"]) and qp["p_n_factors"] in ("7", ["7"])
    # a malformed link is ignored, not an error
    bad = _synth_app(dataset="synthetic", users="lots", seed="-5", model="nope")
    bad.run()
    assert not bad.exception
