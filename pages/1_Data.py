"""Data: what the ratings look like before any model sees them."""
import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ui.sidebar import sidebar
from recsys.safetext import md, plotly

sel = sidebar()
r = sel.ratings

st.title("Data")
st.markdown(f"**{md(sel.label)}** — {r.summary()}.")

stats = r.stats()
c = st.columns(4)
c[0].metric("Ratings", f"{stats['n_ratings']:,}")
c[1].metric("Users", f"{stats['n_users']:,}")
c[2].metric("Movies", f"{stats['n_items']:,}")
c[3].metric("Density", f"{100 * stats['density']:.2f}%")
st.caption(f"Rating scale {r.rating_scale[0]:g}–{r.rating_scale[1]:g}; "
           f"global mean μ = {r.global_mean:.3f}.")

st.info(
    "What MF will learn from this: almost every cell of the user × movie matrix is empty, so the "
    "model explains the few known ratings by a bias per user and per movie plus a handful of "
    "latent factors each, and fills the empty cells with μ + b_u + b_i + qᵢᵀpᵤ. The long tails "
    "below matter: a movie or a user with few ratings gets factors that are mostly "
    "regularisation, so its predictions lean on the biases."
)


@st.cache_data(show_spinner=False, max_entries=16)
def page_data(key: tuple, _r):
    items = _r.item_stats().sort_values("n_ratings", ascending=False, kind="stable")
    return _r.long_tails(), items


tails, items = page_data(sel.key, r)
per_user, per_item = tails["per_user"], tails["per_item"]

left, right = st.columns(2)
with left:
    st.subheader("Rating histogram")
    hist = stats["rating_counts"]
    total = sum(hist.values())
    fig = px.bar(x=list(hist), y=list(hist.values()),
                 labels={"x": "rating", "y": "ratings"},
                 text=[f"{100 * v / total:.1f}%" for v in hist.values()])
    fig.update_layout(height=320, margin=dict(t=10, b=10))
    fig.update_xaxes(type="category")
    st.plotly_chart(fig, key="hist")
with right:
    st.subheader("Long tails")
    tail = go.Figure()
    tail.add_scatter(x=np.arange(1, len(per_user) + 1), y=per_user, name="ratings per user")
    tail.add_scatter(x=np.arange(1, len(per_item) + 1), y=per_item, name="ratings per movie")
    tail.update_xaxes(type="log", title="rank (most active first)")
    tail.update_yaxes(type="log", title="ratings")
    tail.update_layout(height=320, margin=dict(t=10, b=10), legend=dict(x=0.55, y=0.98))
    st.plotly_chart(tail, key="tails")
    st.caption(f"Median ratings per user: {tails['median_per_user']:g}; per movie: "
               f"{tails['median_per_item']:g}. The top 10% of movies hold "
               f"{100 * tails['top10pct_item_share']:.0f}% of all ratings.")

st.subheader("A slice of the user × movie matrix")
n_slice = st.slider("Users and movies in the slice", 10, 200, 60, step=10, key="slice_size",
                    help="The most active users against the most rated movies; blank = unrated.")


@st.cache_data(show_spinner=False, max_entries=16)
def matrix_slice(key: tuple, n: int, _r):
    return _r.matrix_slice(n)


m, ulabels, ilabels = matrix_slice(sel.key, n_slice, r)
filled = np.isfinite(m).mean() if m.size else 0.0
heat = go.Figure(go.Heatmap(z=m, x=[plotly(str(t)[:30]) for t in ilabels],
                            y=[plotly(f"user {u}") for u in ulabels],
                            colorscale="Viridis", hoverongaps=False,
                            colorbar=dict(title="rating")))
heat.update_layout(height=520, margin=dict(t=10, b=10), xaxis=dict(showticklabels=False),
                   yaxis=dict(showticklabels=False))
st.plotly_chart(heat, key="heat")
st.caption(f"Even among the {len(ulabels)} most active users and {len(ilabels)} most rated "
           f"movies, {100 * filled:.0f}% of cells are filled; over the whole sample it is "
           f"{100 * r.density:.2f}%.")

st.subheader("Movies")
st.dataframe(items.head(1000), hide_index=True, key="movies",
             column_config={"item": "id", "n_ratings": st.column_config.NumberColumn("ratings"),
                            "mean_rating": st.column_config.NumberColumn("mean", format="%.2f"),
                            "year": st.column_config.NumberColumn("year", format="%d")})
st.caption("The 1,000 most-rated movies of the sample.")
