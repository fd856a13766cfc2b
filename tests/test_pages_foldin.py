"""AppTest of the Rate movies page: rate, quick start, edit/remove, why, breakdown, refit."""
import base64
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

TIMEOUT = 120
PAGE = Path(__file__).resolve().parent.parent / "pages" / "8_Rate_movies.py"


def open_page(**state) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.session_state["sample_users"] = 100
    at.session_state["model_svd_n_factors"] = 20
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    ok(at)
    return at


def ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_rate_movies_page(ml100k_dir):
    at = open_page()
    assert metrics(at)["Ratings used"] == "0"
    assert "cold-start user" in at.info[0].value
    top = at.dataframe[0].value
    assert len(top) == 10 and top["est"].is_monotonic_decreasing

    # rate Star Wars 5 stars: search, pick, save
    at.text_input(key="_rate_query").set_value("star wars").run()
    assert at.selectbox(key="_rate_item").value == "50"
    at.select_slider(key="_rate_value").set_value(5.0).run()
    at.button(key="rate_save").click().run()
    ok(at)
    assert metrics(at)["Ratings used"] == "1"
    assert at.session_state["rate_ratings"]["ml-100k"] == {"50": 5.0}
    ratings_list, top = at.dataframe[0].value, at.dataframe[1].value
    assert list(ratings_list["rating"]) == [5.0] and "Star Wars" in ratings_list["movie"][0]
    assert "50" not in set(top["item"])                       # rated movies are left out

    # quick start: 10 popular movies, rate three of them
    at.button(key="rate_quick").click().run()
    sliders = [at.select_slider(key=f"rate_quick_{k}") for k in range(10)]
    sliders[0].set_value(1.0)
    sliders[1].set_value(4.0)
    sliders[2].set_value(2.0)
    next(b for b in at.button if b.label == "Save these ratings").click().run()
    ok(at)
    assert metrics(at)["Ratings used"] == "4"
    assert "50" in at.session_state["rate_ratings"]["ml-100k"]

    # the numbers are recsys.foldin's for the same model and sample
    from recsys import foldin as F
    from recsys.io.datasets import load_dataset
    from recsys.models import fit_full

    sample = load_dataset("ml-100k").sample_users(100, seed=0)
    algo = fit_full(sample, "svd", {"n_factors": 20, "random_state": 0}, "fast")
    fold = F.solve_fold_in(algo, at.session_state["rate_ratings"]["ml-100k"])
    assert metrics(at)["b_u (your bias)"] == f"{fold.bu:+.3f}"
    expect = F.top_n(algo, sample, fold, n=10)
    assert list(at.dataframe[1].value["item"]) == list(expect["item"])
    assert list(at.dataframe[1].value["est"]) == list(expect["est"])
    y = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"]   # plotly typed array
    assert np.array_equal(np.frombuffer(base64.b64decode(y["bdata"]), y["dtype"]), fold.pu)

    # why this movie: the terms add up to the prediction, and the page says so
    assert "add up to the prediction exactly" in at.success[0].value
    assert len(at.get("plotly_chart")) == 3           # your vector, waterfall, factor map
    top = at.dataframe[1].value
    # the movie explained follows your #1 until you pick one; the breakdown tab shows the
    # same number as the top table for it
    assert at.selectbox(key="_rate_why").value == top["item"].iloc[0]
    assert metrics(at)["Clipped"] == f"{top['est'].iloc[0]:.3f}"
    at.selectbox(key="_rate_why").set_value(top["item"].iloc[1]).run()
    assert metrics(at)["Clipped"] == f"{top['est'].iloc[1]:.3f}"
    assert at.dataframe[1].value.equals(top)

    # edit and remove
    at.selectbox(key="_rate_edit").set_value("50").run()
    at.select_slider(key="_rate_edit_value").set_value(2.0).run()
    at.button(key="rate_update").click().run()
    ok(at)
    assert at.session_state["rate_ratings"]["ml-100k"]["50"] == 2.0
    at.button(key="rate_remove").click().run()
    ok(at)
    assert "50" not in at.session_state["rate_ratings"]["ml-100k"]
    assert metrics(at)["Ratings used"] == "3"

    # refit comparison behind a button; marked stale once the ratings change
    at.button(key="rate_refit").click().run()
    ok(at)
    m = metrics(at)
    assert m["Overlap@10"].endswith("%") and float(m["Rank correlation"]) > 0
    assert "Refit time" in m and not any("Stale" in w.value for w in at.warning)
    at.text_input(key="_rate_query").set_value("").run()
    at.selectbox(key="_rate_item").set_value("100").run()      # Fargo
    at.button(key="rate_save").click().run()
    assert any("Stale" in w.value for w in at.warning)


TRICKY = "*Bold* [click](http://example.com) <b>x</b> $x$"


def test_titles_are_shown_as_text_never_markdown(tmp_path, monkeypatch):
    """A title full of Markdown/HTML reaches the page only through text elements and cells."""
    folder = tmp_path / "data" / "netflix" / "md"
    folder.mkdir(parents=True)
    lines = []
    for movie in range(1, 9):
        lines.append(f"{movie}:")
        lines += [f"{u},{1 + (u * movie) % 5},2005-09-06" for u in range(1, 13)]
    (folder / "combined_data_1.txt").write_text("\n".join(lines) + "\n")
    titles = [f"{m},2000,Movie {m}" for m in range(2, 9)]
    (folder / "movie_titles.csv").write_text(f"1,1999,{TRICKY}\n" + "\n".join(titles) + "\n",
                                             encoding="latin-1")
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.session_state["model_svd_n_factors"] = 3
    at.run()
    ok(at)
    label = next(o for o in at.sidebar.selectbox(key="_dataset").options if "md" in o)
    at.sidebar.selectbox(key="_dataset").set_value(label).run()
    ok(at)
    spec = at.session_state["dataset"]
    assert spec.startswith("netflix:")
    at.session_state["rate_ratings"] = {spec: {"1": 5.0, "2": 1.0}}
    at.run()
    ok(at)
    shown_as_markup = [e.value for kind in ("markdown", "caption", "info", "success", "warning",
                                            "subheader", "title") for e in at.get(kind)]
    assert not [v for v in shown_as_markup if "click" in str(v)], shown_as_markup
    # plain-text widgets and cells carry it as is; the chart gets it HTML-escaped
    assert f"{TRICKY} (1999) [1]" in at.selectbox(key="_rate_edit").options
    assert at.dataframe[0].value["movie"].iloc[0] == f"{TRICKY} (1999) [1]"
    names = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]["y"]
    assert "*Bold* [click](http://example.com) &lt;b… (5★)" in names
    assert not [n for n in names if "<" in n]
