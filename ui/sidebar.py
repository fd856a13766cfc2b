"""The shared sidebar: dataset picker, upload, user sample and seed, engine.

Every page calls ``sidebar()`` first. Widget values live in persistent ``st.session_state`` keys
(the widget key is ``_<name>``, mirrored into ``<name>`` by ``on_change``), so they survive page
switches, deep links and AppTest runs (see DESIGN.md).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from recsys.data import Ratings, parse_scale
from recsys.errors import InputError
from recsys.safetext import md
from recsys.io.paths import data_dir
from ui.state import bind, ensure, keep, url_read, url_write
import ui.preload  # noqa: F401  (starts the background warm-up once per process)

UPLOAD = "upload"
DEFAULT_SAMPLE = 500            # the tutorial's 500 users
SURPRISE_MAX_USERS = 20_000     # Surprise's Trainset gets slow beyond this; the fast engine has no cap
ENGINES = {"fast": "Fast (numba, Surprise-exact)", "surprise": "Surprise"}
#: Streamlit's classic navigation names the entry page after its file ("app"); the label a
#: class reads is "Home". st.navigation could rename it but breaks deep links and AppTest in
#: this layout (DESIGN.md), so the shown label is swapped in CSS; the link and URL stay.
NAV_STYLE = """<style>
[data-testid="stSidebarNavLink"] span[label="app"] p {font-size: 0;}
[data-testid="stSidebarNavLink"] span[label="app"] p::after {content: "Home"; font-size: 14px;}
</style>"""




@dataclass(frozen=True)
class Selection:
    """What the sidebar selected. ``ratings`` is the sample every page works on."""

    ratings: Ratings
    full: Ratings
    dataset: str          # dataset spec (or "upload:<name>:<digest>")
    label: str
    seed: int
    engine: str
    version: str = ""     # content version of the source files (``data_version``)

    @property
    def sample_users(self) -> int:
        """Users in the sample (== full.n_users when every user is kept)."""
        return self.ratings.n_users

    @property
    def key(self) -> tuple:
        """Hashable identity of the sample, for cache keys."""
        return (self.dataset, self.version, self.sample_users, self.seed)


# ---------------------------------------------------------------------- cached loaders
@st.cache_resource(show_spinner="Loading ratings…", max_entries=8)
def load_cached(spec: str, data_dir: str, version: str) -> Ratings:
    """``data_dir`` is part of the key (specs like ``ml-100k`` resolve under it), and so is
    ``version``, the content fingerprint of the source files (``dataset_version``): a file
    changed on disk is read again by every new session, as the CLI does."""
    from recsys.io.datasets import load_dataset

    return load_dataset(spec)


@st.cache_resource(show_spinner="Sampling users…", max_entries=32)
def sample_cached(spec: str, n: int, seed: int, data_dir: str, version: str) -> Ratings:
    return _get_full(spec).sample_users(n, seed=seed)


@st.cache_data(show_spinner=False, ttl=2)
def _version(spec: str, data_dir: str) -> str:
    from recsys.io.datasets import dataset_version

    return dataset_version(spec)


def data_version(spec: str) -> str:
    """The content version of a dataset spec (uploads: their digest, part of the spec)."""
    if spec.startswith(UPLOAD + ":"):
        return spec
    return _version(spec, str(data_dir()))


def _get_full(spec: str) -> Ratings:
    if spec.startswith(UPLOAD + ":"):
        return st.session_state["uploads"][spec]
    return load_cached(spec, str(data_dir()), data_version(spec))


@st.cache_data(show_spinner=False, ttl=60)
def dataset_choices(data_dir: str) -> list[tuple[str, str]]:
    """(label, spec) of every dataset found under ``data_dir`` (re-scanned every minute)."""
    from recsys.io.datasets import list_datasets

    return list(list_datasets())


# ---------------------------------------------------------------------- the sidebar
def sidebar() -> Selection:
    """Draw the dataset/sample controls and return the current selection (stops the page if
    nothing can be loaded at all)."""
    st.set_page_config(page_title="FactorLab", page_icon="🎬", layout="wide")
    st.html(NAV_STYLE)
    url_read()
    st.session_state.setdefault("uploads", {})
    choices = dataset_choices(str(data_dir()))
    options = [spec for _, spec in choices] + list(st.session_state["uploads"]) + [UPLOAD]
    labels = {spec: label for label, spec in choices}
    labels.update({k: f"Uploaded: {k.split(':', 2)[1]}" for k in st.session_state["uploads"]})
    labels[UPLOAD] = "Upload a file…"

    have_demo = (data_dir() / "ml-100k").is_dir()
    default = "ml-100k" if have_demo or "ml-100k" not in options else "synthetic"
    ensure("dataset", default)
    if st.session_state["dataset"] not in options:
        st.session_state["dataset"] = default

    with st.sidebar:
        st.header("Data")
        st.selectbox("Dataset", options, **bind("dataset", default),
                     format_func=lambda s: labels.get(s, s))
        if not have_demo and st.session_state["dataset"] == "synthetic":
            st.warning("MovieLens 100K is not downloaded (offline?): showing synthetic data. "
                       "Run `python -m recsys fetch ml-100k` to get it.")
        if st.session_state["dataset"] == UPLOAD:
            _upload_form()

        full, spec = _load_with_fallback(st.session_state["dataset"], labels)

        st.radio("Engine", list(ENGINES), **bind("engine", "fast", options=list(ENGINES)),
                 format_func=ENGINES.get, horizontal=True,
                 help="Fast: FactorLab's numba engine, equal to Surprise to 1e-9, 10x+ faster. "
                      "Surprise: the reference library.")
        engine = st.session_state["engine"]

        cap = full.n_users if engine == "fast" else min(full.n_users, SURPRISE_MAX_USERS)
        n = _sample_controls(cap, full.n_users)
        st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1,
                        **bind("seed", 0, lo=0, hi=2**31 - 1),
                        help="The same seed gives the same sample, folds and models.")
        seed = int(st.session_state["seed"])
        try:
            sample = sample_cached(spec, n, seed, str(data_dir()), data_version(spec))
        except InputError as err:
            st.error(f"Sampling failed: {md(err)}")
            st.stop()
        st.caption(sample.summary())
        thin = sample.thin_warning()
        if thin:
            st.warning(thin)
        for note in dict.fromkeys(full.notices + sample.notices):   # once each, in order
            if note.startswith("text encoding:"):                  # routine: small print
                st.caption(md(note))
            else:
                st.info(md(note))
    url_write()
    return Selection(ratings=sample, full=full, dataset=spec, label=labels.get(spec, spec),
                     seed=seed, engine=engine, version=data_version(spec))


def _sample_controls(cap: int, n_users: int) -> int:
    """"All users", or a slider with a number box beside it (both edit ``sample_users``,
    clamped to 1..cap); returns the number of users to sample."""
    all_label = f"All {cap:,} users" + ("" if cap == n_users else " (the Surprise cap)")
    every = st.checkbox(all_label, **bind("all_users", False),
                        help="Keep every user: the whole dataset (the fast engine reaches "
                             "every user; Surprise is capped at "
                             f"{SURPRISE_MAX_USERS:,}).")
    if every or cap <= 1:
        return cap
    kw = bind("sample_users", DEFAULT_SAMPLE, lo=1, hi=cap)
    st.session_state["_sample_users_box"] = st.session_state["sample_users"]
    c1, c2 = st.columns([3, 2])
    c1.slider("Users in the sample", min_value=1, max_value=cap, **kw,
              help="Pick this many users at random and keep all their ratings "
                   "(the tutorial uses 500)."
                   + ("" if cap == n_users else
                      f" Capped at {cap:,} with the Surprise engine; the fast engine "
                      "reaches every user."))
    c2.number_input("Users", min_value=1, max_value=cap, step=1, key="_sample_users_box",
                    on_change=keep, args=("sample_users", "_sample_users_box"),
                    help="Type an exact number of users.")
    return int(st.session_state["sample_users"])


def _load_with_fallback(spec: str, labels: dict) -> tuple[Ratings, str]:
    """Load ``spec``; on bad input show the error and keep the last dataset that loaded."""
    if spec != UPLOAD:
        try:
            full = _get_full(spec)
            st.session_state["last_good_dataset"] = spec
            return full, spec
        except InputError as err:
            st.error(f"Could not load this dataset: {md(err)}")
        except KeyError:
            st.error("That upload is no longer in this session; pick another dataset.")
    last = st.session_state.get("last_good_dataset")
    if last and last != spec:
        st.info(f"Still showing the previous dataset: {md(labels.get(last, last))}")
        return _get_full(last), last
    if spec == UPLOAD:
        st.info("Upload a ratings file to continue.")
    st.stop()


def _upload_form() -> None:
    """Generic CSV/TSV upload with user-mapped columns. Parsed as text; never unpickled."""
    from recsys.io.csv import guess_columns, load_csv, sniff_columns

    up = st.file_uploader("Ratings file (CSV, TSV, u.data, …: any delimited text)",
                          key="upload_file",
                          help="Any extension: the content decides. Never unpickled.")
    titles_up = st.file_uploader("Titles file (optional): movie id, title, and optionally year "
                                 "and genres", key="upload_titles",
                                 help="Makes the uploaded movies searchable by title.")
    if up is None:
        return
    data = up.getvalue()
    try:
        cols = sniff_columns(data, name=up.name)
    except InputError as err:
        st.error(md(err))
        return
    guess = guess_columns(cols)
    with st.form("upload_columns"):
        pick = lambda role, k: cols.index(guess[role]) if guess[role] else min(k, len(cols) - 1)
        user_col = st.selectbox("User column", cols, index=pick("user", 0))
        item_col = st.selectbox("Item column", cols, index=pick("item", 1))
        rating_col = st.selectbox("Rating column", cols, index=pick("rating", 2))
        ts_col = st.selectbox("Timestamp column (optional)", ["(none)"] + cols,
                              index=cols.index(guess["timestamp"]) + 1 if guess["timestamp"] else 0)
        scale = st.text_input("Rating scale LOW,HIGH (blank = infer), e.g. 1,5", "")
        ok = st.form_submit_button("Load this file")
    if not ok:
        return
    try:
        rating_scale = parse_scale(scale)
        titles = titles_up.getvalue() if titles_up is not None else None
        ratings = load_csv(data, user_col, item_col, rating_col,
                           timestamp_col=None if ts_col == "(none)" else ts_col,
                           rating_scale=rating_scale, name=up.name, titles_path=titles,
                           titles_name=titles_up.name if titles_up is not None else None)
    except InputError as err:
        st.error(md(err))
        return
    # the key covers the bytes and every choice of the form: re-mapping the same file is new data
    digest = hashlib.sha256(data + (titles or b"") + repr((
        user_col, item_col, rating_col, ts_col, rating_scale)).encode()).hexdigest()[:12]
    spec = f"{UPLOAD}:{up.name}:{digest}"
    st.session_state["uploads"][spec] = ratings
    st.session_state["dataset"] = spec
    st.rerun()
