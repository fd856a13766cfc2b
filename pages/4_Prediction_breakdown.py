"""Prediction breakdown: μ + b_u + b_i + q_iᵀp_u by hand, next to predict()."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.sidebar import sidebar

sel = sidebar()

from ui.model import active_model, bind  # noqa: E402
from ui.pickers import pick_random, user_picker  # noqa: E402

from recsys.models import factor_names  # noqa: E402

algo, desc = active_model(sel, factor_names(with_popularity=True))

from recsys.errors import InputError  # noqa: E402
from recsys.safetext import md  # noqa: E402
from recsys.explain import breakdown  # noqa: E402
from recsys.recommend import search_titles, user_top_rated  # noqa: E402

r = sel.ratings
st.title("Prediction breakdown")
st.caption(f"Model: {desc}, fitted on every rating of the sample ({r.n_ratings:,} ratings).")
if getattr(algo, "scores_not_ratings", False):
    st.info("This model learns from interactions (who rated what), not from the stars. Its "
            "output is the score q_iᵀp_u: no μ, no biases, and it is **not a rating** (not on "
            "the rating scale, never clipped). Only the order of the scores matters.")


@st.cache_data(show_spinner=False, max_entries=8)
def item_choices(key: tuple, _r) -> tuple[list, dict]:
    """Raw item ids, most-rated first, and their 'Title (year) [id]' labels."""
    df = search_titles(_r, "")
    return df["item"].tolist(), dict(zip(df["item"], df["label"]))


@st.cache_data(show_spinner=False, max_entries=64)
def rated_items(key: tuple, user: str, _r) -> list:
    try:
        return user_top_rated(_r, user, n=None)["item"].tolist()
    except InputError:      # a typed id outside the sample has rated nothing here
        return []


@st.cache_data(show_spinner=False, max_entries=256)
def cached_breakdown(key: tuple, model: str, user: str, item: str, _algo, _r) -> dict:
    return breakdown(_algo, _r, user, item)


def _outside_user(full_ids, sample_ids) -> None:
    outside = np.setdiff1d(full_ids.astype(str), sample_ids.astype(str))
    if len(outside):
        st.session_state["explain_user_any"] = str(np.random.default_rng().choice(outside))


items, labels = item_choices(sel.key, r)

left, right = st.columns(2)
with left:
    user = user_picker(r)
with right:
    which = st.radio("Movies", ["All", "Rated by this user", "Not yet rated"], horizontal=True,
                     **bind("explain_filter", "All"))
    rated = rated_items(sel.key, user, r)
    if which == "Rated by this user" and rated:
        options = rated
    elif which == "Not yet rated":
        seen = set(rated)
        options = [i for i in items if i not in seen]
    else:
        options = items
    if not options:
        st.info(f"User {md(user)} has rated every movie of the sample: pick another filter.")
        st.stop()
    st.selectbox("Movie (type to search by title or id)", options,
                 **bind("explain_item", options[0], options=options),
                 format_func=lambda i: labels.get(i, i))
    st.button("Random movie", icon=":material/casino:", on_click=pick_random,
              args=("explain_item", options), key="rand_item")
item = st.session_state["explain_item"]

with st.expander("Cold start: try ids the model has never seen"):
    st.markdown("Any id typed here replaces the pickers above, including users of the full data "
                "set that are outside the sample, or ids that exist nowhere.")
    c1, c2 = st.columns(2)
    any_user = c1.text_input("Any user id", **bind("explain_user_any", "")).strip()
    any_item = c2.text_input("Any movie id", **bind("explain_item_any", "")).strip()
    if sel.full.n_users > r.n_users:
        st.button("Pick a user outside the sample", on_click=_outside_user,
                  args=(sel.full.user_ids, r.user_ids), key="outside_user")
user = any_user or user
item = any_item or item

try:
    b = cached_breakdown(sel.key, desc, user, item, algo, r)
except InputError as err:
    st.error(md(err))
    st.stop()

title = b["title"] or "(not in the sample)"
st.subheader(f"User {md(b['user'])} × {md(title)} \\[{md(b['item'])}\\]")
if not (b["known_user"] and b["known_item"]):
    st.warning(md(b["explanation"]))

cols = st.columns(4)
cols[0].metric("μ (global mean)", f"{b['mu']:.4f}" if "mu" in b["terms"] or b["was_impossible"]
               else "—", help=None if b["biased"] else "Unbiased model: μ is only the fallback "
                                                       "for impossible predictions.")
cols[1].metric("b_u (user bias)", f"{b['bu']:+.4f}" if "bu" in b["terms"] else "—")
cols[2].metric("b_i (movie bias)", f"{b['bi']:+.4f}" if "bi" in b["terms"] else "—")
cols[3].metric("q_iᵀp_u", f"{b['dot']:+.4f}" if "dot" in b["terms"] else "—")
cols = st.columns(4)
cols[0].metric("Manual sum", f"{b['manual']:.6f}")
cols[1].metric("Clipped to the scale", "— (a score)" if b["rating_scale"] is None
               else f"{b['clipped']:.6f}")
cols[2].metric("predict().est", f"{b['predict']:.6f}")
cols[3].metric("True rating", "—" if b["true_rating"] is None else f"{b['true_rating']:g}")

table = pd.DataFrame({
    "quantity": ["μ", "b_u", "b_i", "q_iᵀp_u", "manual sum", "clipped", "predict().est",
                 "predict − clipped", "was_impossible"],
    "value": [repr(b["mu"]), repr(b["bu"]), repr(b["bi"]), repr(b["dot"]), repr(b["manual"]),
              repr(b["clipped"]), repr(b["predict"]), repr(b["difference"]),
              str(b["was_impossible"])],
})
with st.expander("Full precision"):
    st.dataframe(table, hide_index=True)
if b["known_user"] and b["known_item"]:
    st.info(b["explanation"])


def waterfall(b: dict) -> go.Figure:
    names, values, measure = [], [], []
    if b["was_impossible"]:
        names, values, measure = ["μ (default prediction)"], [b["mu"]], ["absolute"]
    else:
        first = True
        for term, label in (("mu", "μ"), ("bu", "b_u"), ("bi", "b_i"), ("dot", "q_iᵀp_u")):
            if term in b["terms"]:
                names.append(label)
                values.append(b[term])
                measure.append("absolute" if first else "relative")
                first = False
        names.append("sum")
        values.append(0.0)
        measure.append("total")
        if b["clipped"] != b["manual"]:
            names.append("clipping")
            values.append(b["clipped"] - b["manual"])
            measure.append("relative")
    names.append("predict()")
    values.append(0.0)
    measure.append("total")
    fig = go.Figure(go.Waterfall(x=names, y=values, measure=measure,
                                 text=[f"{v:+.3f}" if m == "relative" else "" for v, m in
                                       zip(values, measure)],
                                 connector={"line": {"dash": "dot"}}))
    levels = np.cumsum([v if m != "total" else 0 for v, m in zip(values, measure)])
    if b["rating_scale"] is None:      # a score (ALS, BPR, MostPopular): no scale to draw
        pad = 0.1 * max(1e-9, float(np.abs(levels).max()))
        fig.update_yaxes(range=[min(0.0, levels.min()) - pad, max(0.0, levels.max()) + pad],
                         title="score (not a rating)")
    else:
        lo = min(levels.min(), b["rating_scale"][0])
        hi = max(levels.max(), b["rating_scale"][1])
        fig.update_yaxes(range=[lo - 0.3, hi + 0.3], title="rating")
        fig.add_hline(y=b["rating_scale"][1], line_dash="dash", line_color="grey")
        fig.add_hline(y=b["rating_scale"][0], line_dash="dash", line_color="grey")
    fig.update_layout(height=360, margin=dict(t=10, b=10), showlegend=False)
    return fig


left, right = st.columns(2)
with left:
    st.markdown("**The score q_iᵀp_u and predict()**" if b["rating_scale"] is None
                else "**From μ to the prediction**")
    st.plotly_chart(waterfall(b), key="waterfall")
with right:
    st.markdown("**q_iᵀp_u factor by factor: q_if · p_uf**")
    if b["products"]:
        prods = np.asarray(b["products"])
        fig = go.Figure(go.Bar(x=np.arange(1, len(prods) + 1), y=prods,
                               marker_color=np.where(prods >= 0, "#2a9d8f", "#e76f51")))
        fig.update_layout(height=360, margin=dict(t=10, b=10), xaxis_title="factor f",
                          yaxis_title="q_if · p_uf")
        st.plotly_chart(fig, key="factors")
        top = np.argsort(-np.abs(prods))[:3] + 1
        st.caption(f"Sum of the {len(prods)} products = {prods.sum():+.6f} = q_iᵀp_u. "
                   f"Largest contributions: factors {', '.join(map(str, top))}.")
    else:
        st.caption("No factor products: the model has no factors for an unknown user or movie.")
