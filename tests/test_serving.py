"""What keeps page opens cheap when many sessions share one server (issue 12, part 5)."""
import tomllib
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from streamlit.testing.v1 import AppTest

from ui.charts import subplots

ROOT = Path(__file__).resolve().parents[1]


def test_server_config_has_no_per_session_watcher_and_no_gc_after_each_run():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    # the watcher polls every module path for every session; the GC pass holds the GIL
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["runner"]["postScriptGC"] is False


def test_subplots_equals_make_subplots_and_copies_are_independent():
    kw = dict(horizontal_spacing=0.08, vertical_spacing=0.22)
    a = subplots(2, 2, subplot_titles=("RMSE", "MAE", "fit", "test"), **kw)
    b = make_subplots(rows=2, cols=2, subplot_titles=("RMSE", "MAE", "fit", "test"), **kw)
    assert a.to_dict() == b.to_dict()
    a.add_trace(go.Scatter(x=[1], y=[2]), row=2, col=2)        # the grid travels with the copy
    a.update_yaxes(range=[0, 1], row=1, col=1)
    assert a.data[0].xaxis == "x4" and a.layout.yaxis.range == (0, 1)
    c = subplots(2, 2, subplot_titles=("RMSE", "MAE", "fit", "test"), **kw)
    assert len(c.data) == 0 and c.layout.yaxis.range is None   # the cached grid is untouched


def test_second_session_page_open_has_no_warm_up_box(ml100k_dir, monkeypatch):
    import ui.model
    import ui.preload

    ui.preload.THREAD.join(120)   # the process's own background warm-up is over
    calls = []
    real = ui.model._fast_engine_warm
    monkeypatch.setattr(ui.model, "_fast_engine_warm", lambda: calls.append(1) or real())
    monkeypatch.setattr(ui.model, "_WARM", __import__("threading").Event())   # a fresh process
    for _ in range(2):    # two sessions: the first loads the kernels, the second pays nothing
        at = AppTest.from_file(str(ROOT / "pages" / "2_Cross_validation.py"), default_timeout=120)
        at.run()
        assert not at.exception
    # st.status sleeps 0.1 s per use: only the first session of the process shows the box
    assert calls == [1]


def test_background_warm_up_loads_kernels_and_page_modules():
    import sys

    import ui.model
    import ui.preload

    ui.preload.THREAD.join(120)
    assert not ui.preload.THREAD.is_alive()
    assert ui.model._WARM.is_set()          # the first model page shows no warm-up box
    assert all(name in sys.modules for name in ui.preload.PRELOAD)
