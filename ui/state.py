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


def bind(name: str, default) -> dict:
    """Widget kwargs keeping a page setting in the persistent key ``name`` (widget key
    ``_name``): ``st.slider("Folds", 2, 10, **bind("cv_folds", 5))``."""
    ensure(name, default)
    st.session_state["_" + name] = st.session_state[name]
    return {"key": "_" + name, "on_change": keep, "args": (name, "_" + name)}
