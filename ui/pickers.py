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
        if st.session_state.get(key) not in users:
            st.session_state[key] = users[0]
        st.selectbox("User (type to search)", users, **bind(key, users[0]),
                     format_func=lambda u: f"user {u}")
    else:
        st.text_input(f"User id ({len(users):,} users)", **bind(key, users[0]))
    st.button("🎲 Random user", on_click=pick_random, args=(key, users), key="rand_user")
    return st.session_state[key]
