"""Pickers shared by the explorer pages (one user picker, state key shared across pages)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.model import bind

#: Above this many users a selectbox is too heavy for the browser; a text box replaces it.
MAX_PICKER = 20_000


def pick_random(key: str, options) -> None:
    st.session_state[key] = str(np.random.default_rng().choice(options))


def user_picker(r, key: str = "explore_user") -> str:
    """A searchable user picker (text box for huge samples) and a random-pick button."""
    users = r.user_ids.tolist()
    if len(users) <= MAX_PICKER:
        st.selectbox("User (type to search)", users, **bind(key, users[0], options=users),
                     format_func=lambda u: f"user {u}")
    else:
        st.text_input(f"User id ({len(users):,} users)", **bind(key, users[0]))
    st.button("Random user", icon=":material/casino:", on_click=pick_random, args=(key, users),
              key="rand_user")
    return st.session_state[key]


def threshold_slider(container, r, key: str, label: str = "Relevant if true rating ≥",
                     disabled: bool = False) -> float:
    """The relevance threshold of ranking metrics on ``r``'s own scale (default: the top
    quarter, ``recsys.data.default_threshold``: 4 on 1..5, 1 on 0/1 data, 188 on 150..200).
    A kept value is reset to the default when the scale changes, so it always means the same
    thing."""
    from recsys.data import default_threshold, rating_step

    lo, hi = (float(v) for v in r.rating_scale)
    step = rating_step(r.ratings) or round((hi - lo) / 100, 6)
    default = default_threshold((lo, hi), step)
    if st.session_state.get(key + "_scale") != (lo, hi):
        st.session_state[key] = default
        st.session_state[key + "_scale"] = (lo, hi)
    return float(container.slider(
        label, lo, hi, step=float(step), disabled=disabled,
        **bind(key, default, lo=lo, hi=hi),
        help=f"A test rating at or above this counts as relevant for precision, recall and "
             f"NDCG. Default {default:g}: the top quarter of this data's scale {lo:g}..{hi:g}."))
