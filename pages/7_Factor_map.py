"""Factor map: the movies' factor vectors q_i in 2-D (PCA at once, t-SNE on request)."""
import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ui.sidebar import sidebar

sel = sidebar()

from ui.model import active_model, bind  # noqa: E402

from recsys.models import factor_names  # noqa: E402

algo, desc = active_model(sel, factor_names())

from recsys.embed import (MapStopped, default_min_ratings, genre_agreement,  # noqa: E402
                          item_map, place_labels)
from recsys.errors import InputError  # noqa: E402
from recsys.explain import model_parts  # noqa: E402
from recsys.recommend import search_titles, similar_inner  # noqa: E402
from recsys.safetext import md, plotly  # noqa: E402
from ui import jobs  # noqa: E402

MAX_MAPPED = 3000   # t-SNE maps at most this many movies (most-rated first)
#: Qualitative palette with no repeated colour for up to 26 genres (Plotly's "Alphabet").
GENRE_COLOURS = px.colors.qualitative.Alphabet
COLOURS = {"popularity": "popularity: log10 of the number of ratings",
           "mean rating": "mean rating",
           "b_i": "b_i: the movie's bias (rated above or below what μ and the users predict)",
           "year": "year", "genre": "genre (the first one listed)"}

r = sel.ratings
st.title("Factor map")
st.caption(f"Model: {desc} (set it in the sidebar or on the Grid search page). Each point is a "
           f"movie placed by its factor vector q_i ({model_parts(algo).n_factors} numbers) "
           "squeezed into 2-D: nearby movies get similar predictions from every user. Drag to "
           "zoom, double-click to reset.")

min_default = default_min_ratings(r)
cap = int(min(r.ratings_per_item().max(), 500))
c1, c2, c3 = st.columns(3)
with c1:
    method = st.radio("Method", ["pca", "tsne"], horizontal=True,
                      format_func={"tsne": "t-SNE (on request)", "pca": "PCA (instant)"}.get,
                      **bind("map_method", "pca", options=["pca", "tsne"]))
    min_ratings = st.slider("Minimum ratings per movie", 1, max(cap, 2),
                            **bind("map_min_ratings", min_default, lo=1, hi=max(cap, 2)),
                            help="Movies rated fewer times keep factors close to their random "
                                 "start: they only add noise to the map.")
with c2:
    perplexity = st.slider("Perplexity", 5, 100, **bind("map_perplexity", 30, lo=5, hi=100),
                           disabled=method != "tsne",
                           help="About how many neighbours each movie keeps close on the map.")
    n_iter = st.slider("Iterations", 250, 2000, step=250,
                       **bind("map_n_iter", 750, lo=250, hi=2000), disabled=method != "tsne")
with c3:
    seed = st.number_input("t-SNE seed", 0, 2**31 - 1, step=1, **bind("map_seed", 0),
                           disabled=method != "tsne")
    colour = st.selectbox("Colour by", list(COLOURS), format_func=COLOURS.get,
                          **bind("map_colour", "popularity", options=list(COLOURS)))
st.caption(f"Mapped: the movies with at least {min_ratings} ratings (default {min_default} for "
           "this data), each q_i scaled to length 1, so that closeness on the map follows the "
           "cosine similarity of q_i, as on the Similar movies page.")

settings = {"data": sel.key, "model": desc, "min ratings": int(min_ratings),
            "perplexity": int(perplexity), "iterations": int(n_iter), "seed": int(seed)}
LABELS = {"data": "sample", "model": "model"}


@st.cache_resource(show_spinner=False, max_entries=32)
def _map_store() -> dict:
    """Finished t-SNE maps of every session, by settings (so a reload shows them at once)."""
    return {}


def _tsne_job(job, algo_, r_, s):
    return item_map(algo_, r_, method="tsne", perplexity=s["perplexity"],
                    n_iter=s["iterations"], seed=s["seed"], n_items=MAX_MAPPED,
                    min_ratings=s["min ratings"], normalise=True,
                    callback=lambda d, t: job.report((d, t)), should_stop=lambda: job.cancelled)


@st.cache_data(show_spinner=False, max_entries=16)
def _pca_map(key: tuple, model: str, min_r: int, _algo, _r):
    return item_map(_algo, _r, method="pca", n_items=MAX_MAPPED, min_ratings=min_r,
                    normalise=True)


store = _map_store()
skey = tuple(sorted((k, str(v)) for k, v in settings.items()))
full, note = None, None
try:
    if method == "pca":
        full = _pca_map(sel.key, desc, int(min_ratings), algo, r)
    else:
        if st.button("Compute the t-SNE map", type="primary", key="map_run",
                     disabled=skey in store):
            jobs.start("map_job", "t-SNE map", _tsne_job, algo, r, dict(settings),
                       settings=settings)
        bar = st.empty()

        def progress(ev):
            done, total = ev
            bar.progress(done / max(total, 1), text=f"t-SNE iteration {done} of {total}")

        job = jobs.follow("map_job", progress)
        bar.empty()
        if job is not None:
            st.session_state.pop("map_job", None)
            if job.state == "done":
                job.result.attrs["seconds"] = job.run_seconds
                if len(store) >= 32:
                    store.pop(next(iter(store)))
                store[tuple(sorted((k, str(v)) for k, v in job.settings.items()))] = job.result
                st.session_state["map_last"] = {"df": job.result, "settings": job.settings}
            elif not isinstance(job.error, MapStopped):
                jobs.result_or_error(job)
            else:
                st.warning("t-SNE stopped; the last finished map stays below.")
        if skey in store:
            full = store[skey]
        elif st.session_state.get("map_last"):
            last = st.session_state["map_last"]
            full = last["df"]
            note = jobs.stale_note(last["settings"], settings, LABELS)
        else:
            st.info("t-SNE takes a few seconds on this data: press **Compute the t-SNE map**. "
                    "It runs in the background with a progress bar and a Stop button; PCA is "
                    "shown at once.")
            st.stop()
except InputError as err:
    st.error(md(err))
    st.stop()

if note:
    st.warning(md(note))
for n_ in full.attrs.get("notes", []):
    st.info(n_)
seconds = full.attrs.get("seconds")


@st.cache_data(show_spinner=False, max_entries=32)
def _agreement(xy: np.ndarray, genres: tuple):   # keyed on the map itself (a stale one too)
    return genre_agreement(xy, genres, k=10)


agree = _agreement(full[["x", "y"]].to_numpy(), tuple(full["genres"].astype(str)))
line = f"{'t-SNE' if method == 'tsne' else 'PCA'} of {len(full):,} movies"
if seconds:
    line += f", computed in {seconds:.1f} s"
if agree:
    line += (f". Map neighbours share a genre {100 * agree['share']:.0f}% of the time (chance "
             f"{100 * agree['chance']:.0f}%): each movie's 10 nearest points on the map, "
             "against two movies drawn at random")
st.caption(line + ".")

df = full.copy()
c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
with c1:
    query = st.text_input("Highlight a movie (title or id)", **bind("map_query", ""),
                          placeholder="e.g. toy story").strip()
with c2:
    all_genres = sorted({g for s in df["genres"] for g in str(s).split("|") if g})
    focus = st.selectbox("Highlight a genre", ["(none)"] + all_genres,
                         **bind("map_genre", "(none)", options=["(none)"] + all_genres),
                         help="Every movie listed in this genre, whichever genre comes "
                              "first in its list.")
with c3:
    n_neigh = st.slider("Neighbours", 0, 30, **bind("map_neighbours", 10, lo=0, hi=30))
with c4:
    n_labels = st.slider("Labels", 0, 40, **bind("map_labels", 12, lo=0, hi=40),
                         help="Titles of the most-rated movies, skipping any that would "
                              "overlap another label.")

df["popularity"] = np.log10(df["n_ratings"].clip(lower=1))
df["year"] = df["year"].astype("float")
df["title_shown"] = df["title"].map(plotly)
df["genres_shown"] = df["genres"].map(plotly)
df["genre_shown"] = df["genre"].map(plotly)
colour_col = {"popularity": "popularity", "mean rating": "mean_rating", "b_i": "bi",
              "year": "year", "genre": "genre_shown"}[colour]
plot_kw = {}
if colour == "genre":
    order = df["genre_shown"].value_counts().index.tolist()
    plot_kw = {"category_orders": {"genre_shown": order},
               "color_discrete_sequence": GENRE_COLOURS}
fig = px.scatter(df, x="x", y="y", color=colour_col, render_mode="svg",   # no WebGL needed
                 hover_name="title_shown",
                 hover_data={"item": True, "year": ":.0f", "n_ratings": True,
                             "mean_rating": ":.2f", "bi": ":.3f", "genres_shown": True,
                             "x": False, "y": False, "popularity": False,
                             "genre_shown": False},
                 labels={"genres_shown": "genres", "title_shown": "title", "genre_shown": "genre",
                         "n_ratings": "ratings", "mean_rating": "mean rating",
                         "bi": "bias b_i", "popularity": "log10(ratings)"},
                 color_continuous_scale="Viridis", **plot_kw)
fig.update_traces(marker=dict(size=6, opacity=0.75))
if focus != "(none)":
    inside = df["genres"].str.split("|").map(lambda gs: focus in gs)
    fig.update_traces(marker=dict(opacity=0.12))
    sub = df[inside.to_numpy()]
    fig.add_trace(go.Scatter(x=sub["x"], y=sub["y"], mode="markers",
                             marker=dict(size=8, color="black", line=dict(color="white",
                                                                          width=1)),
                             text=sub["title_shown"], name=plotly(f"{focus} ({len(sub)})"),
                             hovertemplate="%{text}<extra></extra>"))

if n_labels:
    idx = place_labels(df[["x", "y"]].to_numpy(), int(n_labels))
    lab = df.iloc[idx]
    fig.add_trace(go.Scatter(x=lab["x"], y=lab["y"], mode="text",
                             text=[t if len(t) <= 28 else t[:27] + "…" for t in lab["title_shown"]],
                             textposition="top center", textfont=dict(size=12, color="#222"),
                             hoverinfo="skip", showlegend=False))

if query:
    hits = search_titles(r, query)
    hits = hits[hits["item"].isin(df["item"])] if not hits.empty else hits
    if hits.empty:
        st.warning(f"No mapped movie matches “{md(query)}”.")
    else:
        raw = hits["item"].iat[0]
        inner = r.item_inner(raw)
        drawn = np.zeros(r.n_items, dtype=bool)
        drawn[df["inner"].to_numpy()] = True
        neigh, sims = similar_inner(model_parts(algo).qi, inner, int(n_neigh), "cosine", drawn)
        pos = df.set_index("inner")
        nb = pos.loc[neigh]
        fig.add_trace(go.Scatter(x=nb["x"], y=nb["y"], mode="markers",
                                 marker=dict(size=12, color="rgba(0,0,0,0)",
                                             line=dict(color="orange", width=2)),
                                 text=nb["title_shown"], name="nearest (cosine of q_i)",
                                 hovertemplate="%{text}<extra>neighbour</extra>"))
        me = pos.loc[[inner]]
        fig.add_trace(go.Scatter(x=me["x"], y=me["y"], mode="markers+text",
                                 marker=dict(size=18, symbol="star", color="red"),
                                 text=me["title_shown"], textposition="bottom center",
                                 name=plotly(hits["label"].iat[0]), hoverinfo="text"))
        st.caption(f"★ {md(hits['label'].iat[0])} and its {len(neigh)} nearest movies by cosine "
                   "similarity of q_i (in the full factor space, so they need not be the "
                   "closest points on the 2-D map).")

fig.update_layout(height=620, margin=dict(t=10, b=10), dragmode="zoom",
                  legend=dict(orientation="h", y=-0.05, title_text=""))
fig.update_xaxes(showticklabels=False, title="")
fig.update_yaxes(showticklabels=False, title="", scaleanchor="x", scaleratio=1)
st.plotly_chart(fig, key="factor_map")
st.caption("Colour scales: popularity is log10 of the number of ratings (1 = 10 ratings, "
           "2 = 100); b_i is the movie's learned bias, how far its ratings sit above or below "
           "what μ + b_u predicts; hover a point for its ratings, mean rating and genres.")
