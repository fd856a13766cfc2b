"""The model controls and the shared active model.

Widgets are built from the registry (``recsys.models.REGISTRY``): one control per parameter, in the
parameter's range, with its help text. Values live in persistent ``st.session_state`` keys
(``model_algo`` for the active algorithm, ``model_<algo>_<param>`` for each parameter); a widget's
own key is ``_<where>_<persistent key>``, mirrored into the persistent key by ``on_change``, so the
same parameter can be edited from the sidebar and from a page and survives page switches.

The *active model* is the algorithm and parameters in those keys, fitted with ``fit_full`` on
every rating of the current sample (the tutorial's ``build_full_trainset``); the explorer pages
share it through ``active_model(sel)``. "Use these parameters" (grid page) calls
``set_active_model``.
"""
from __future__ import annotations

import threading

import streamlit as st

from ui.state import bind, ensure, keep  # noqa: F401  (bind: used by pages)

from recsys.errors import InputError
from recsys.safetext import md
from recsys.models import (REGISTRY, default_params, describe, fast_available, fit_full,
                           get_spec, normalize_params)

ALGO_KEY = "model_algo"
DEFAULT_ALGO = "svd"

# Nice values for log-scaled parameters (learning rates); a value set elsewhere is added.
_LOG_STEPS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.015, 0.02,
              0.03, 0.05, 0.1, 0.2, 0.5)


def param_key(algo: str, param: str) -> str:
    return f"model_{algo}_{param}"


def stored_params(algo: str) -> dict:
    """The UI parameters of ``algo`` currently stored in session state (defaults otherwise)."""
    spec = get_spec(algo)
    out = {}
    for p in spec.params:
        if p.ui:
            out[p.name] = st.session_state.get(param_key(spec.name, p.name), p.default)
    return out


def ui_params(algo: str, seed: int) -> dict:
    """Stored parameters plus the sidebar seed as random_state (seeded algorithms)."""
    params = stored_params(algo)
    if get_spec(algo).has_random_state:
        params["random_state"] = int(seed)
    return params


def param_controls(algo: str, where: str = "main") -> dict:
    """Draw one control per UI parameter of ``algo`` (in the current container); returns the
    values. ``where`` makes the widget keys unique per place (sidebar, cv, grid...)."""
    spec = get_spec(algo)
    for p in spec.params:
        if not p.ui:
            continue
        pk = param_key(spec.name, p.name)
        wk = f"_{where}_{pk}"
        ensure(pk, p.default)
        value = st.session_state[pk]
        label = p.name
        if p.kind == "bool":
            st.session_state[wk] = bool(value)
            st.checkbox(label, key=wk, help=p.help, on_change=keep, args=(pk, wk))
        elif p.kind == "choice":
            st.session_state[wk] = value
            st.selectbox(label, list(p.choices), key=wk, help=p.help, on_change=keep,
                         args=(pk, wk))
        elif p.log:
            options = sorted(set(_LOG_STEPS) | {float(value), float(p.default)})
            options = [o for o in options if p.low <= o <= p.high]
            st.session_state[wk] = float(value)
            st.select_slider(label, options=options, key=wk, help=p.help, on_change=keep,
                             args=(pk, wk), format_func=lambda v: f"{v:g}")
        elif p.kind == "int":
            hi = int(min(p.high, 300)) if p.high is not None else 300
            hi = max(hi, int(value))
            st.session_state[wk] = int(value)
            st.slider(label, min_value=int(p.low), max_value=hi, step=int(p.step or 1), key=wk,
                      help=p.help, on_change=keep, args=(pk, wk))
        else:
            st.session_state[wk] = float(value)
            st.slider(label, min_value=float(p.low), max_value=float(p.high),
                      step=float(p.step or 0.01), key=wk, help=p.help, on_change=keep,
                      args=(pk, wk), format="%.3f")
    return stored_params(spec.name)


def active_algo(algos=None) -> str:
    """The active algorithm's name (``algos`` restricts it; the first allowed otherwise)."""
    ensure(ALGO_KEY, DEFAULT_ALGO)
    name = st.session_state[ALGO_KEY]
    allowed = list(algos or REGISTRY)
    return name if name in allowed else allowed[0]


_WARM = threading.Event()   # set once this process has the kernels loaded
_WARM_LOCK = threading.Lock()


def _fast_engine_warm() -> None:
    """Load the kernels once per process (a second caller waits for the first)."""
    with _WARM_LOCK:
        if not _WARM.is_set():
            from recsys.fast import warm_up

            warm_up()
            _WARM.set()


def warm_fast_engine_quietly() -> None:
    """Load the kernels outside any page (``ui.preload``'s thread): no box."""
    if fast_available():
        _fast_engine_warm()


def warm_up_fast_engine() -> None:
    """Compile (or load from numba's disk cache) the fast kernels once per process, visibly.

    Once they are loaded, a page open costs nothing here: no status box (``st.status`` sleeps
    0.1 s per use, on every session's first page, which the load bench counts)."""
    if _WARM.is_set():
        return
    box = st.empty()    # shown only while the kernels load; gone once they are ready
    with box.status("Loading the fast engine (its kernels are compiled once, at set-up)…",
                    expanded=False):
        _fast_engine_warm()
    box.empty()


def model_controls(sel, algos=None, show_active: bool = True) -> tuple[str, dict]:
    """Sidebar: the active algorithm and its parameters. Returns ``(name, params)`` with
    params = UI values + the sidebar seed as random_state."""
    if sel.engine == "fast":
        warm_up_fast_engine()
    allowed = list(algos or REGISTRY)
    name = active_algo(allowed)
    wk = "_sidebar_" + ALGO_KEY
    st.session_state[wk] = name
    with st.sidebar:
        st.header("Model")
        st.selectbox("Algorithm", allowed, key=wk, on_change=keep, args=(ALGO_KEY, wk),
                     format_func=lambda a: REGISTRY[a].label,
                     help="The model the explorer pages use (fitted on every rating of the "
                          "sample).")
        with st.expander("Parameters", expanded=False):
            param_controls(st.session_state[ALGO_KEY], "sidebar")
            if st.button("Reset to defaults", key="_model_reset"):
                reset_params(st.session_state[ALGO_KEY])
                st.rerun()
    name = active_algo(allowed)
    params = ui_params(name, sel.seed)
    try:
        text = describe(name, params, effective_engine(sel, name))
    except InputError as err:
        text = f"invalid parameters: {err}"
    if show_active:
        st.sidebar.caption(f"Active model: {text}")
    return name, params


def reset_params(algo: str) -> None:
    for p in get_spec(algo).params:
        if p.ui:
            st.session_state[param_key(algo, p.name)] = p.default


def set_active_model(name: str, params: dict) -> None:
    """Make ``name`` with ``params`` the active model ("Use these parameters"): stores them in
    the persistent keys (aliases expanded; random_state stays the sidebar seed)."""
    spec = get_spec(name)
    full = normalize_params(spec.name, params)
    st.session_state[ALGO_KEY] = spec.name
    for p in spec.params:
        if p.ui:
            st.session_state[param_key(spec.name, p.name)] = full[p.name]


def effective_engine(sel, name: str) -> str:
    """The sidebar's engine, or surprise when the algorithm or the install lacks the fast one."""
    engine = getattr(sel, "engine", "surprise")
    if engine == "fast" and ("fast" not in get_spec(name).engines or not fast_available()):
        return "surprise"
    return engine


#: Above this many ratings a fit of the active model waits for its button (tens of seconds on
#: the full Netflix Prize); below, it runs at once (well under a second on the demo data).
AUTO_FIT_MAX = 2_000_000


@st.cache_resource(show_spinner=False)
def _fitted_store() -> dict:
    """Fitted active models shared by every session: (sample key, algorithm, parameters,
    engine) -> model. Bounded to the 8 most recent (never mutate a model taken from it)."""
    return {}


def fitted(sel, name: str, params: dict, engine: str, *, wait: bool = True):
    """``fit_full`` through the shared job queue, cached by the sample (dataset, its content
    version, users, seed), algorithm, parameters and engine. Small samples fit at once; above
    ``AUTO_FIT_MAX`` ratings the page shows a button first (``wait=False`` returns None instead
    of fitting)."""
    from ui import jobs

    full = normalize_params(name, params)
    key = (sel.key, name, tuple(sorted(full.items())), engine)
    store = _fitted_store()
    if key in store:
        return store[key]
    if not wait:
        return None
    job = st.session_state.get("fit_job")
    if job is None or getattr(job, "settings", {}).get("key") != key:
        if sel.ratings.n_ratings > AUTO_FIT_MAX and not st.session_state.get("fit_go") == key:
            st.info(f"Fitting {describe(name, params, engine)} on {sel.ratings.n_ratings:,} "
                    "ratings takes a while on this much data: it runs in the background, "
                    "with a Stop button, when you ask.")
            if st.button("Fit the model", type="primary", key="fit_start"):
                st.session_state["fit_go"] = key
                st.rerun()
            st.stop()
        jobs.start("fit_job", f"fit {name}", lambda j: fit_full(sel.ratings, name, full, engine),
                   settings={"key": key})
    with st.spinner(f"Fitting {describe(name, params, engine)} on "
                    f"{sel.ratings.n_ratings:,} ratings…"):
        job = jobs.follow("fit_job")
    st.session_state.pop("fit_job", None)
    if job is None or job.state != "done":
        if job is not None and isinstance(job.error, InputError):
            raise job.error     # bad data or a diverged fit: the page shows it (active_model)
        if job is not None:
            jobs.result_or_error(job)
        st.stop()
    while len(store) >= 8:
        store.pop(next(iter(store)))
    store[key] = job.result
    return job.result


def active_model(sel, algos=None):
    """``(algo, description)``: the active model fitted on all ratings of ``sel.ratings``.

    ``algos`` (e.g. ``("svd", "nmf")`` for pages that need factors) restricts the choice; an
    active model outside it falls back to the first allowed algorithm with a notice. The sidebar
    shows which model is active. Errors (bad parameters) show with ``st.error`` and stop the page.
    """
    allowed = list(algos or REGISTRY)
    stored = st.session_state.get(ALGO_KEY, DEFAULT_ALGO)
    if stored not in allowed:
        st.sidebar.info(f"{REGISTRY[stored].label} has no factors to explore here; "
                        f"this page uses {REGISTRY[allowed[0]].label}.")
    model_controls(sel, allowed, show_active=False)   # changeable on every page
    name = active_algo(allowed)
    params = ui_params(name, sel.seed)
    engine = effective_engine(sel, name)
    try:
        algo = fitted(sel, name, params, engine)
        text = describe(name, params, engine)
    except InputError as err:
        st.error(md(err))
        st.stop()
    st.sidebar.success(f"Active model: {text}", icon=":material/target:")
    return algo, text
