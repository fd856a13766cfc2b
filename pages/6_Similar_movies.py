"""Similar movies: nearest neighbours of a movie in the space of item factors q_i."""
import plotly.express as px
import streamlit as st

from ui.sidebar import sidebar

sel = sidebar()

from ui.model import active_model, bind  # noqa: E402
from ui.pickers import pick_random  # noqa: E402

from recsys.models import factor_names  # noqa: E402

algo, desc = active_model(sel, factor_names())

from recsys.errors import InputError  # noqa: E402
from recsys.safetext import md, plotly  # noqa: E402
from recsys.recommend import default_min_ratings, search_titles, similar_items  # noqa: E402

r = sel.ratings
st.title("Similar movies")
st.caption(f"Model: {desc}. Two movies are similar when their factor vectors q_i point the same "
           "way (cosine), overlap strongly (dot product) or lie close (Euclidean distance).")

METRICS = {"cosine": "cosine similarity", "dot": "dot product q_iᵀq_j",
           "euclidean": "Euclidean distance |q_i − q_j|"}


@st.cache_data(show_spinner=False, max_entries=32)
def cached_search(key: tuple, query: str, _r):
    return search_titles(_r, query, limit=500)


@st.cache_data(show_spinner=False, max_entries=128)
def cached_similar(key: tuple, model: str, item: str, n: int, metric: str, min_ratings: int,
                   _algo, _r):
    return similar_items(_algo, _r, item, n=n, metric=metric, min_ratings=min_ratings)


c1, c2 = st.columns([3, 2])
with c1:
    query = st.text_input("Search titles (partial, case-insensitive; or a movie id)",
                          **bind("similar_query", ""), placeholder="e.g. star wars").strip()
    found = cached_search(sel.key, query, r)
    if found.empty:
        st.warning(f"No title contains “{md(query)}”.")
        st.stop()
    options = found["item"].tolist()
    labels = dict(zip(found["item"], found["label"]))
    st.selectbox(f"Movie ({len(options)} match{'es' if len(options) != 1 else ''}, most-rated "
                 "first)", options, **bind("similar_item", options[0], options=options),
                 format_func=lambda i: labels.get(i, i))
    st.button("Random movie", icon=":material/casino:", on_click=pick_random,
              args=("similar_item", options),
              key="rand_movie")
with c2:
    metric = st.radio("Similarity", list(METRICS), format_func=METRICS.get,
                      **bind("similar_metric", "cosine", options=list(METRICS)))
    n = st.slider("How many", 1, 50, **bind("similar_n", 10, lo=1, hi=50))
    cap = min(int(r.ratings_per_item().max()), 500)
    min_default = min(default_min_ratings(r), cap)
    min_ratings = st.slider("Minimum ratings per movie", 0, cap,
                            **bind("similar_min_ratings", min_default, lo=0, hi=cap),
                            help="Rarely rated movies have factors close to their random start.")
item = st.session_state["similar_item"]

try:
    sims = cached_similar(sel.key, desc, item, n, metric, min_ratings, algo, r)
except InputError as err:
    st.error(md(err))
    st.stop()

q = r.item_inner(item)
st.subheader(f"Nearest to {md(labels.get(item, item))}")
st.caption(f"{int(r.ratings_per_item()[q])} ratings in the sample. "
           + ("Smaller distance = more similar." if metric == "euclidean" else
              "Larger = more similar.")
           + f" Only movies with at least {min_ratings} ratings are listed (default "
             f"{min_default}, derived from this data).")
if metric == "euclidean":
    st.caption("Why Euclidean favours rarely rated movies: regularisation keeps the q_i of a "
               "movie with few ratings short, close to the origin, so short vectors end up near "
               "each other whatever their direction. Cosine compares directions only.")
if sims.empty:
    st.info("No other movie passes the filters.")
    st.stop()

left, right = st.columns([3, 2])
with left:
    chart = sims.assign(label=(sims["title"] + " [" + sims["item"].astype(str) + "]").map(plotly),
                        title=sims["title"].map(plotly))
    fig = px.bar(chart.iloc[::-1], x="score", y="label", orientation="h",
                 hover_data=["n_ratings", "year", "mean_rating"],
                 labels={"score": METRICS[metric], "label": ""})
    fig.update_layout(height=max(300, 26 * len(sims) + 80), margin=dict(t=10, b=10))
    st.plotly_chart(fig, key="similar_chart")
with right:
    event = st.dataframe(
        sims, hide_index=True, key="similar_table", on_select="rerun",
        selection_mode="single-row",
        column_order=[c for c in ["title", "score", "n_ratings", "year", "mean_rating", "item"]
                      if c in sims.columns],
        column_config={
            "title": st.column_config.TextColumn("title", width=200),
            "score": st.column_config.NumberColumn(metric, format="%.3f", width=80),
            "n_ratings": st.column_config.NumberColumn("ratings", width=65),
            "year": st.column_config.NumberColumn("year", format="%d", width=55),
            "mean_rating": st.column_config.NumberColumn("mean", format="%.2f", width=60),
            "item": st.column_config.TextColumn("id", width=60),
        })
    picked = event.selection.rows if event is not None else []
    if picked:   # a row: that movie highlighted on the factor map, with its neighbours
        st.session_state["map_query"] = str(sims["item"].iat[picked[0]])
        st.switch_page("pages/7_Factor_map.py")
    st.caption("Click a row to find that movie on the Factor map.")
