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
