"""Widget values that persist across pages (Streamlit docs' "Option 2").

A widget's own key is ``_<name>``; ``on_change`` mirrors it into the persistent key ``<name>``,
and every run copies ``<name>`` back into ``_<name>`` before the widget is drawn, so the value
survives page switches (Streamlit drops the state of widgets that are not drawn).
"""
from __future__ import annotations

import streamlit as st


def keep(persistent: str, widget: str) -> None:
    st.session_state[persistent] = st.session_state[widget]


def ensure(persistent: str, default) -> None:
    if persistent not in st.session_state:
        st.session_state[persistent] = default


def bind(name: str, default, *, lo=None, hi=None, options=None) -> dict:
    """Widget kwargs keeping a page setting in the persistent key ``name`` (widget key
    ``_name``): ``st.slider("Folds", 2, 10, **bind("cv_folds", 5, lo=2, hi=10))``.

    A kept value is fitted to the widget's *current* range before the widget is drawn, so no
    page raises because the dataset (and with it a range or a list of options) changed:
    numbers are clamped into ``lo..hi``; a value not in ``options`` falls back to ``default``
    (or the first option); a list (multiselect) keeps only the values still offered.
    """
    ensure(name, default)
    st.session_state[name] = fit_to_range(st.session_state[name], default, lo, hi, options)
    st.session_state["_" + name] = st.session_state[name]
    return {"key": "_" + name, "on_change": keep, "args": (name, "_" + name)}


def fit_to_range(value, default, lo=None, hi=None, options=None):
    """``value`` clamped into ``lo..hi`` and/or restricted to ``options`` (see ``bind``)."""
    if options is not None:
        options = list(options)
        if isinstance(value, (list, tuple)):
            return [v for v in value if v in options]
        if value not in options:
            value = default if default in options else (options[0] if options else default)
        return value
    if lo is not None and hi is not None and lo > hi:
        lo = hi
    try:
        if lo is not None and value < lo:
            value = type(value)(lo)
        if hi is not None and value > hi:
            value = type(value)(hi)
    except TypeError:  # a value of another kind (kept from an older version): start over
        value = default
    return value


# ---------------------------------------------------------------------- the view in the URL
#: URL parameter -> (session key, type). The current view (dataset, sample, seed, engine,
#: model, and each page's selection) lives in the URL, so a shared link opens the same view.
URL_KEYS = {
    "dataset": ("dataset", str), "users": ("sample_users", int), "all": ("all_users", bool),
    "seed": ("seed", int), "engine": ("engine", str), "model": ("model_algo", str),
    "user": ("explore_user", str), "item": ("explain_item", str),
    "movie": ("similar_item", str), "highlight": ("map_query", str),
    "method": ("map_method", str),
}
#: Model parameters carried in the URL as ``p_<name>`` for the URL's model.
URL_PARAM_PREFIX = "p_"


def _typed(value: str, kind):
    if kind is bool:
        return value.lower() in ("1", "true", "yes")
    return kind(value)


def url_read() -> None:
    """Once per browser session: copy the URL's view into session state (values are checked
    again, and clamped, by each widget's ``bind``; a malformed one is ignored)."""
    if st.session_state.get("_url_read"):
        return
    st.session_state["_url_read"] = True
    qp = st.query_params
    for name, (key, kind) in URL_KEYS.items():
        if name in qp:
            try:
                st.session_state[key] = _typed(qp[name], kind)
            except (TypeError, ValueError):
                continue
    algo = qp.get("model")
    if algo:
        from recsys.models import get_spec

        try:
            spec = get_spec(algo)
        except Exception:  # noqa: BLE001  an unknown model name in a link: ignore it
            return
        for p in spec.params:
            raw = qp.get(URL_PARAM_PREFIX + p.name)
            if raw is None or not p.ui:
                continue
            try:
                value = (raw.lower() in ("1", "true") if p.kind == "bool"
                         else int(raw) if p.kind == "int"
                         else float(raw) if p.kind == "float" else raw)
                st.session_state[f"model_{spec.name}_{p.name}"] = p.check(value, spec.name)
            except Exception:  # noqa: BLE001
                continue


def url_write() -> None:
    """Put the current view into the URL (uploads are session-only: not written)."""
    from recsys.models import get_spec

    out = {}
    for name, (key, kind) in URL_KEYS.items():
        value = st.session_state.get(key)
        if value is None or (name == "dataset" and str(value).startswith("upload")):
            continue
        out[name] = str(int(value)) if kind is bool else str(value)
    algo = st.session_state.get("model_algo")
    if algo:
        try:
            spec = get_spec(algo)
            for p in spec.params:
                k = f"model_{spec.name}_{p.name}"
                if p.ui and k in st.session_state and st.session_state[k] != p.default:
                    out[URL_PARAM_PREFIX + p.name] = str(st.session_state[k])
        except Exception:  # noqa: BLE001
            pass
    if {k: st.query_params.get(k) for k in st.query_params} != out:
        st.query_params.from_dict(out)
