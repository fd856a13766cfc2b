"""Factor map: the movies' factor vectors q_i in 2-D (t-SNE or PCA), zoomable."""
import time

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ui.sidebar import sidebar

sel = sidebar()

from ui.model import active_model, bind  # noqa: E402

from recsys.models import factor_names  # noqa: E402

algo, desc = active_model(sel, factor_names())

from recsys.embed import item_map  # noqa: E402
from recsys.errors import InputError  # noqa: E402
from recsys.explain import model_parts  # noqa: E402
from recsys.recommend import search_titles, similar_inner  # noqa: E402

MAX_MAPPED = 3000   # t-SNE maps at most this many movies (most-rated first)

r = sel.ratings
st.title("Factor map")
st.caption(f"Model: {desc}. Each point is a movie placed by its factor vector q_i "
           f"({model_parts(algo).n_factors} numbers) squeezed into 2-D: nearby movies get "
           "similar predictions from every user. Drag to zoom, double-click to reset.")


@st.cache_data(show_spinner=False, max_entries=16)
def cached_map(key: tuple, model: str, method: str, perplexity: float, n_iter: int, seed: int,
               n_items: int, _algo, _r):
    """The map, computed once per model and settings. Progress shows only while computing
    (the status lives in an st.empty that is cleared, so a cache hit replays nothing)."""
    holder = st.empty()
    with holder.status(f"Running {method.upper()} on {n_items:,} movies…", expanded=True):
        bar = st.progress(0.0, text="starting")

        def progress(done, total):
            bar.progress(done / total, text=f"iteration {done} of {total}")

        t0 = time.perf_counter()
        df = item_map(_algo, _r, method=method, perplexity=perplexity, n_iter=n_iter,
                      seed=seed, n_items=n_items, callback=progress)
        df.attrs["seconds"] = time.perf_counter() - t0
    holder.empty()
    return df


n_all = min(r.n_items, MAX_MAPPED)
if not 2 <= st.session_state.get("map_n_draw", n_all) <= n_all:
    st.session_state["map_n_draw"] = n_all
c1, c2, c3 = st.columns(3)
with c1:
    method = st.radio("Method", ["tsne", "pca"], horizontal=True,
                      format_func={"tsne": "t-SNE", "pca": "PCA (instant)"}.get,
                      **bind("map_method", "tsne"))
    n_draw = st.slider("Movies to draw (most-rated first)", min(2, n_all), n_all,
                       **bind("map_n_draw", n_all)) if n_all > 2 else n_all
with c2:
    perplexity = st.slider("Perplexity", 5, 100, **bind("map_perplexity", 30),
                           disabled=method != "tsne")
    n_iter = st.slider("Iterations", 250, 2000, step=250, **bind("map_n_iter", 1000),
                       disabled=method != "tsne")
with c3:
    seed = st.number_input("t-SNE seed", 0, 2**31 - 1, step=1, **bind("map_seed", 0),
                           disabled=method != "tsne")
    colour = st.selectbox("Colour by", ["popularity", "mean rating", "b_i", "year", "genre"],
                          **bind("map_colour", "popularity"))

if method == "pca":
    perplexity, n_iter, seed = 30, 1000, 0       # unused: one cache entry for PCA
try:
    full = cached_map(sel.key, desc, method, float(perplexity), int(n_iter), int(seed), n_all,
                      algo, r)
except InputError as err:
    st.error(str(err))
    st.stop()
for note in full.attrs.get("notes", []):
    st.info(note)
st.caption(f"{method.upper()} of {len(full):,} movies computed in "
           f"{full.attrs.get('seconds', 0.0):.1f} s, cached for this model and these settings.")

df = full.head(int(n_draw)).copy()
c1, c2, c3 = st.columns([3, 1, 1])
with c1:
    query = st.text_input("Highlight a movie (title or id)", **bind("map_query", ""),
                          placeholder="e.g. toy story").strip()
with c2:
    n_neigh = st.slider("Neighbours", 0, 30, **bind("map_neighbours", 10))
with c3:
    n_labels = st.slider("Labels (most-rated)", 0, 50, **bind("map_labels", 10))

colour_col = {"popularity": "log10(ratings)", "mean rating": "mean_rating", "b_i": "bi",
              "year": "year", "genre": "genre"}[colour]
df["log10(ratings)"] = np.log10(df["n_ratings"].clip(lower=1))
df["year"] = df["year"].astype("float")
plot_kw = {}
if colour == "genre":
    order = df["genre"].value_counts().index.tolist()
    plot_kw = {"category_orders": {"genre": order}}
fig = px.scatter(df, x="x", y="y", color=colour_col, render_mode="webgl",
                 hover_name="title",
                 hover_data={"item": True, "year": ":.0f", "n_ratings": True,
                             "mean_rating": ":.2f", "bi": ":.3f", "genres": True, "x": False,
                             "y": False, "log10(ratings)": False},
                 color_continuous_scale="Viridis", **plot_kw)
fig.update_traces(marker=dict(size=6, opacity=0.75))

if n_labels:
    lab = df.head(int(n_labels))
    fig.add_trace(go.Scatter(x=lab["x"], y=lab["y"], mode="text", text=lab["title"],
                             textposition="top center", textfont=dict(size=10),
                             hoverinfo="skip", showlegend=False))

if query:
    hits = search_titles(r, query)
    hits = hits[hits["item"].isin(df["item"])] if not hits.empty else hits
    if hits.empty:
        st.warning(f"No drawn movie matches {query!r}.")
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
                                 text=nb["title"], name="nearest (cosine of q_i)",
                                 hovertemplate="%{text}<extra>neighbour</extra>"))
        me = pos.loc[[inner]]
        fig.add_trace(go.Scatter(x=me["x"], y=me["y"], mode="markers+text",
                                 marker=dict(size=18, symbol="star", color="red"),
                                 text=me["title"], textposition="bottom center",
                                 name=hits["label"].iat[0], hoverinfo="text"))
        st.caption(f"★ {hits['label'].iat[0]} and its {len(neigh)} nearest movies by cosine "
                   "similarity of q_i (in the full factor space, so they need not be the "
                   "closest points on the 2-D map).")

fig.update_layout(height=650, margin=dict(t=10, b=10), dragmode="zoom",
                  legend=dict(orientation="h", y=-0.05))
fig.update_xaxes(showticklabels=False, title="")
fig.update_yaxes(showticklabels=False, title="", scaleanchor="x", scaleratio=1)
st.plotly_chart(fig, key="factor_map")
