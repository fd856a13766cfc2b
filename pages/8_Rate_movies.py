"""Rate movies: you, folded into the trained model, with your recommendations explained."""
import hashlib
import html
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.sidebar import sidebar

sel = sidebar()

from ui.model import (active_algo, active_model, bind, effective_engine,  # noqa: E402
                      ui_params)

algo, desc = active_model(sel, ("svd", "nmf"))

from recsys import foldin as F  # noqa: E402
from recsys.embed import default_min_ratings, item_map  # noqa: E402
from recsys.errors import InputError  # noqa: E402
from recsys.safetext import md  # noqa: E402
from ui import jobs  # noqa: E402
from recsys.explain import model_parts  # noqa: E402
from recsys.recommend import search_titles  # noqa: E402

r = sel.ratings
parts = model_parts(algo)
VALUES = F.rating_values(sel.full)
LO, HI = r.rating_scale

st.title("Rate movies yourself")
st.caption(f"Model: {desc}. Rate a few movies and the model finds your taste vector at once "
           "(fold-in: the movies' vectors stay as trained, only yours is solved for), then "
           "recommends and explains.")


# ---------------------------------------------------------------------------- your ratings
def store() -> dict:
    """Your ratings for the current dataset: {raw item id: rating}, in the order given."""
    return st.session_state.setdefault("rate_ratings", {}).setdefault(sel.dataset, {})


def set_rating(item: str, value: float) -> None:
    store()[str(item)] = float(value)


def remove_rating(item: str) -> None:
    store().pop(str(item), None)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_search(key: tuple, query: str, _r):
    return search_titles(_r, query, limit=300)


@st.cache_data(show_spinner=False, max_entries=8)
def labels_of(key: tuple, _r) -> dict:
    df = search_titles(_r, "")
    return dict(zip(df["item"], df["label"]))


@st.cache_data(show_spinner=False, max_entries=8)
def pca_map(key: tuple, model: str, _algo, _r):
    """The Factor map's PCA view: movies with the data's minimum of ratings, cosine."""
    return item_map(_algo, _r, method="pca", min_ratings=default_min_ratings(_r),
                    normalise=True)


def reset_slider(key: str, item: str, current) -> None:
    """Put a rating slider on the movie's current rating (or the data's average) when
    the movie it rates changes; otherwise keep what the person set."""
    if st.session_state.get(key + "_for") != item or key not in st.session_state:
        typical = min(VALUES, key=lambda v: abs(v - r.global_mean))   # the average rating
        st.session_state[key] = current if current in VALUES else typical
        st.session_state[key + "_for"] = item


labels = labels_of(sel.key, r)
label = lambda i: labels.get(i, f"[{i}]")
fmt = lambda v: f"{v:g} ★"

mine = store()
left, right = st.columns([3, 2])
with left:
    st.subheader("Rate a movie")
    query = st.text_input("Search titles (empty: most-rated first)", **bind("rate_query", ""),
                          placeholder="e.g. star wars").strip()
    found = cached_search(sel.key, query, r)
    if found.empty:
        st.warning("No title in the sample contains that text.")
    else:
        options = found["item"].tolist()
        if st.session_state.get("rate_item") not in options:
            st.session_state["rate_item"] = options[0]
        st.selectbox(f"Movie ({len(options)} shown)", options, **bind("rate_item", options[0]),
                     format_func=label)
        item = st.session_state["rate_item"]
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        reset_slider("_rate_value", item, mine.get(item))
        value = c1.select_slider(f"Your rating ({LO:g} to {HI:g})", VALUES, key="_rate_value",
                                 format_func=fmt)
        c2.button("Update" if item in mine else "Save", key="rate_save", type="primary",
                  on_click=set_rating, args=(item, value), width="stretch")
with right:
    st.subheader(f"Your ratings ({len(mine)})")
    if mine:
        table = pd.DataFrame({"movie": [label(i) for i in mine],
                              "rating": list(mine.values())})
        st.dataframe(table, hide_index=True, height=min(36 + 35 * len(mine), 212),
                     column_config={"movie": st.column_config.TextColumn(width="large"),
                                    "rating": st.column_config.NumberColumn(format="%g ★",
                                                                            width="small")},
                     key="rate_list")
        rated_ids = list(mine)
        if st.session_state.get("rate_edit") not in rated_ids:
            st.session_state["rate_edit"] = rated_ids[-1]
        st.selectbox("Edit or remove", rated_ids, **bind("rate_edit", rated_ids[-1]),
                     format_func=label)
        edit = st.session_state["rate_edit"]
        reset_slider("_rate_edit_value", edit, mine[edit])
        new_value = st.select_slider("New rating", VALUES, key="_rate_edit_value",
                                     format_func=fmt)
        c1, c2 = st.columns(2)
        c1.button("Update rating", key="rate_update", on_click=set_rating,
                  args=(edit, new_value), width="stretch")
        c2.button("Remove", key="rate_remove", on_click=remove_rating, args=(edit,),
                  width="stretch")
    else:
        st.info("No ratings yet: you are a cold-start user, and the model can only recommend "
                "what everyone likes (μ + b_i). Rate a few movies, or use the quick start.")

with st.expander("Quick start, and your ratings as a file", expanded=not mine):
    c1, c2 = st.columns(2)
    with c1:
        if st.button("Rate 10 popular movies", key="rate_quick"):
            st.session_state["rate_quick_open"] = True
        csv = F.ratings_to_csv(sel.full, mine)
        st.download_button("Download your ratings (CSV)", csv, file_name="my_ratings.csv",
                           mime="text/csv", key="rate_download", disabled=not mine)
    with c2:
        up = st.file_uploader("Upload ratings (CSV with columns item, rating; replaces "
                              "your list)", type=["csv"],
                              key="rate_upload")
        if up is not None:
            data = up.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            if st.session_state.get("rate_upload_done") != digest:
                try:
                    pairs = F.ratings_from_csv(data, up.name)
                    F.check_against_data(sel.full, pairs)
                except InputError as err:
                    st.error(md(err))
                else:
                    mine.clear()
                    mine.update({i: v for i, v in pairs})
                    st.session_state["rate_upload_done"] = digest
                    st.rerun()
            else:
                st.caption(f"Loaded {len(mine)} ratings from the file.")

if st.session_state.get("rate_quick_open"):
    counts = r.ratings_per_item()
    order = np.lexsort((np.arange(len(counts)), -counts))
    popular = [str(r.item_ids[i]) for i in order if str(r.item_ids[i]) not in mine][:10]
    with st.form("rate_quick_form"):
        st.markdown("**Rate the 10 most-rated movies you have not rated yet** (leave "
                    "*skip* for those you have not seen)")
        picks = {}
        for k, it in enumerate(popular):
            c1, c2 = st.columns([3, 2], vertical_alignment="center")
            c1.text(label(it))
            picks[it] = c2.select_slider(f"rating {k + 1}", ["skip"] + VALUES, value="skip",
                                         key=f"rate_quick_{k}", label_visibility="collapsed",
                                         format_func=lambda v: v if v == "skip" else fmt(v))
        if st.form_submit_button("Save these ratings", type="primary"):
            for it, v in picks.items():
                if v != "skip":
                    set_rating(it, v)
            st.session_state["rate_quick_open"] = False
            st.rerun()

# ---------------------------------------------------------------------------- fold-in
in_sample = {i: v for i, v in mine.items() if i in labels}
if len(in_sample) < len(mine):
    st.info(f"{len(mine) - len(in_sample)} of your ratings are for movies outside the current "
            "sample (sidebar): the model has no vector for them, so they are not used.")
t0 = time.perf_counter()
try:
    fold = F.solve_fold_in(algo, in_sample)
except InputError as err:
    st.error(md(err))
    st.stop()

st.divider()
name = active_algo(("svd", "nmf"))
c1, c2, c3, c4 = st.columns(4)
c1.metric("Ratings used", fold.n_ratings)
c2.metric("b_u (your bias)", f"{fold.bu:+.3f}" if fold.biased else "—",
          help="How much higher or lower than average you rate, in stars.")
c3.metric("|p_u| (taste strength)", f"{float(np.linalg.norm(fold.pu)):.3f}",
          help=f"Length of your {len(fold.pu)}-number taste vector p_u.")
c4.metric("Fold-in time", f"{1000 * fold.seconds:.1f} ms",
          help="Solving for your vector: " + ("one regularised least-squares solve of size "
                                              f"{len(fold.pu) + 1}." if fold.method == "ridge"
                                              else "non-negative least squares (NMF)."))

with st.expander(f"Your taste vector p_u ({len(fold.pu)} numbers)"):
    bar = go.Figure(go.Bar(x=np.arange(1, len(fold.pu) + 1), y=fold.pu,
                           marker_color=np.where(fold.pu >= 0, "#2a9d8f", "#e76f51")))
    bar.update_layout(height=220, margin=dict(t=10, b=10), xaxis_title="factor f",
                      yaxis_title="p_uf")
    st.plotly_chart(bar, key="rate_vector")
    st.caption("Found by fold-in: " + (
        "the regularised least-squares fit of your ratings, with every movie's q_i and b_i "
        "kept as trained." if fold.method == "ridge" else
        "non-negative least squares (NMF keeps every factor ≥ 0), movies kept as trained."))

tabs = st.tabs(["Your top N", "Why this movie?", "Breakdown", "On the factor map",
                "Compare with a refit"])

# ---------------------------------------------------------------------------- top N
with tabs[0]:
    c1, c2 = st.columns(2)
    n = c1.slider("How many movies", 1, 50, **bind("top_n", 10))
    max_count = int(r.ratings_per_item().max())
    if st.session_state.get("top_min_ratings", 0) > min(max_count, 500):
        st.session_state["top_min_ratings"] = 0
    min_ratings = c2.slider("Minimum ratings per movie", 0, min(max_count, 500),
                            **bind("top_min_ratings", 0),
                            help="Movies with few ratings have noisy factors: filter them out.")
    top = F.top_n(algo, r, fold, n=n, min_ratings=min_ratings)
    if fold.cold_start:
        st.caption("Cold start: with no ratings every person gets this same list.")
    cfg = {
        "rank": st.column_config.NumberColumn("#", width="small"),
        "item": st.column_config.TextColumn("id", width="small"),
        "title": st.column_config.TextColumn("title", width="medium"),
        "year": st.column_config.NumberColumn("year", format="%d", width="small"),
        "est": st.column_config.NumberColumn("predicted", format="%.3f", width="small",
                                             help="Clipped to the rating scale."),
        "score": st.column_config.NumberColumn("unclipped", format="%.3f", width="small"),
        "n_ratings": st.column_config.NumberColumn("ratings", width="small"),
        "mean_rating": st.column_config.NumberColumn("mean", format="%.2f", width="small"),
    }
    if top.empty:
        st.info("No movie passes the filters.")
    else:
        st.dataframe(top, hide_index=True, column_config=cfg, key="rate_top")
    st.caption("Ranked by the predicted rating, ties by the unclipped score (as on the Top N "
               "page); movies you rated are left out.")
    elapsed = 1000 * (time.perf_counter() - t0)

# the movie explained in the next two tabs: a recommendation, or any movie
top_ids = top["item"].tolist()
others = [i for i in labels if i not in set(top_ids)]
choices = top_ids + others
# follows your #1 until you pick another movie yourself
if not st.session_state.get("rate_why_pinned") or st.session_state.get("rate_why") not in choices:
    st.session_state["rate_why"] = choices[0]


def _pin_why() -> None:
    st.session_state["rate_why"] = st.session_state["_rate_why"]
    st.session_state["rate_why_pinned"] = True


def why_picker() -> str:
    st.session_state["_rate_why"] = st.session_state["rate_why"]
    return st.selectbox("Movie (your top N first, then every other movie)", choices,
                        key="_rate_why", on_change=_pin_why, format_func=label)


# ---------------------------------------------------------------------------- why this movie
with tabs[1]:
    why = why_picker()
    inner = r.item_inner(why)
    c = F.contributions(algo, fold, inner)
    if fold.cold_start:
        st.info("No ratings yet, so nothing of yours pushes this prediction: it is the "
                "cold-start value " + (f"μ + b_i = {c['score']:.3f}." if fold.biased else
                                       f"μ = {c['score']:.3f} (unbiased model)."))
    else:
        terms = pd.DataFrame(c["terms"])
        terms["movie"] = [label(str(r.item_ids[j])) for j in terms["inner"]]
        terms = terms.iloc[np.argsort(-np.abs(terms["term"].to_numpy()), kind="stable")]
        shown = terms.head(12)
        rest = float(terms["term"].iloc[12:].sum())
        names = ["start: μ + b_i" if fold.biased else "start: 0"]
        names += [html.escape(m if len(m) <= 38 else m[:37] + "…") + f" ({v:g}★)"
                  for m, v in zip(shown["movie"], shown["rating"])]
        values = [c["constant"]] + shown["term"].tolist()
        measure = ["absolute"] + ["relative"] * len(shown)
        if len(terms) > 12:
            names.append(f"{len(terms) - 12} other ratings")
            values.append(rest)
            measure.append("relative")
        names.append("prediction")
        values.append(0.0)
        measure.append("total")
        fig = go.Figure(go.Waterfall(
            y=names, x=values, measure=measure, orientation="h",
            text=[f"{v:+.3f}" if m == "relative" else f"{c['score'] if m == 'total' else v:.3f}"
                  for v, m in zip(values, measure)], textposition="outside",
            increasing={"marker": {"color": "#2a9d8f"}},
            decreasing={"marker": {"color": "#e76f51"}},
            totals={"marker": {"color": "#264653"}}, connector={"visible": False}))
        levels = c["constant"] + np.cumsum([0.0] + values[1:-1])
        lo, hi = float(levels.min()) - 0.4, float(levels.max()) + 0.4
        fig.update_layout(height=90 + 26 * len(names), margin=dict(t=10, b=10, l=10, r=10),
                          xaxis=dict(range=[lo, hi], title="predicted rating"),
                          yaxis=dict(autorange="reversed"), showlegend=False)
        st.plotly_chart(fig, key="rate_why_chart")
        ok = abs(c["gap"]) < 1e-9
        (st.success if ok else st.error)(
            f"Check: start {c['constant']:.4f} + the {len(terms)} terms = {c['total']:.6f}; "
            f"the model's unclipped prediction for you is {c['score']:.6f} (difference "
            f"{c['gap']:.1e}: rounding), clipped to {c['est']:.3f}. "
            + ("The terms add up to the prediction exactly." if ok else
               "The terms do NOT add up: please report this."))
        st.caption("Each term = weight × (your rating − what the model expected from anyone, "
                   "μ + b_j): liking a movie more than expected pushes up movies with similar "
                   "factors and pushes down opposite ones. "
                   + ("NMF: exact for the factors the non-negativity left free; other ratings "
                      "may free others." if fold.method == "nnls" else
                      "Exact because fold-in is a linear (ridge) regression on your ratings."))
        cols = {"movie": st.column_config.TextColumn(width="large"),
                "rating": st.column_config.NumberColumn("you", format="%g ★", width="small"),
                "offset": st.column_config.NumberColumn("expected", format="%.2f",
                                                        width="small"),
                "weight": st.column_config.NumberColumn(format="%+.3f", width="small"),
                "term": st.column_config.NumberColumn("push", format="%+.4f", width="small")}
        with st.expander("Every term"):
            st.dataframe(terms[["movie", "rating", "offset", "weight", "term"]],
                         hide_index=True, column_config=cols, key="rate_terms")

# ---------------------------------------------------------------------------- breakdown
with tabs[2]:
    why = st.session_state["rate_why"]
    inner = r.item_inner(why)
    st.text(label(why))
    c = F.contributions(algo, fold, inner)
    dot = float(np.dot(parts.qi[inner], fold.pu))
    cols = st.columns(6)
    cols[0].metric("μ", f"{parts.mu:.3f}" if parts.biased else "—")
    cols[1].metric("b_u (you)", f"{fold.bu:+.3f}" if parts.biased else "—")
    cols[2].metric("b_i (movie)", f"{parts.bi[inner]:+.3f}" if parts.biased else "—")
    cols[3].metric("q_iᵀp_u", f"{dot:+.3f}")
    cols[4].metric("Sum", f"{c['score']:.3f}")
    cols[5].metric("Clipped", f"{c['est']:.3f}")
    st.caption("As on the Prediction breakdown page: r̂ = μ + b_u + b_i + q_iᵀp_u"
               + ("" if parts.biased else " (unbiased model: q_iᵀp_u only)")
               + f", clipped to {LO:g}–{HI:g}; here p_u and b_u are your folded-in values. "
               "Pick the movie on the “Why this movie?” tab.")

# ---------------------------------------------------------------------------- factor map
with tabs[3]:
    m = pca_map(sel.key, desc, algo, r)
    fig = go.Figure(go.Scatter(x=m["x"], y=m["y"], mode="markers", name="all movies",
                                 marker=dict(size=5, color="#c8c8c8"),
                                 text=[html.escape(t) for t in m["title"]],
                                 hovertemplate="%{text}<extra></extra>"))
    pos = m.set_index("item")
    rated_here = [i for i in in_sample if i in pos.index]
    if rated_here:
        p = pos.loc[rated_here]
        fig.add_trace(go.Scatter(
            x=p["x"], y=p["y"], mode="markers", name="you rated",
            marker=dict(size=10, color=[in_sample[i] for i in rated_here], cmin=LO, cmax=HI,
                        colorscale="RdYlGn", line=dict(color="black", width=1),
                        colorbar=dict(title=dict(text="your rating", side="right"),
                                      thickness=12)),
            text=[html.escape(t) for t in p["title"]],
            hovertemplate="%{text}: %{marker.color:g}★<extra>you rated</extra>"))
    top_ids = [i for i in top_ids if i in pos.index]   # the map holds the well-rated movies
    if top_ids:
        p = pos.loc[top_ids]
        fig.add_trace(go.Scatter(
            x=p["x"], y=p["y"], mode="markers", name=f"your top {len(top_ids)}",
            marker=dict(size=15, symbol="star", color="#f4a261",
                        line=dict(color="black", width=1)),
            text=[html.escape(t) for t in p["title"]],
            hovertemplate="%{text}<extra>recommended</extra>"))
    fig.update_layout(height=460, margin=dict(t=10, b=10), legend=dict(orientation="h", y=-0.02))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, scaleanchor="x", scaleratio=1)
    st.plotly_chart(fig, key="rate_map")
    st.caption(f"PCA of the factor vectors q_i of the {len(m):,} movies with at least "
               f"{default_min_ratings(r)} ratings, as on the Factor map page (which also offers "
               "t-SNE). Stars: your recommendations; circles: movies you rated, coloured by "
               "your rating. Hover for titles; drag to zoom.")

# ---------------------------------------------------------------------------- refit
with tabs[4]:
    st.markdown("Fold-in keeps every movie's vector fixed and solves only for yours. A **refit** "
                "adds your ratings to the data and trains the whole model again with the same "
                "settings.")
    params = ui_params(name, sel.seed)
    engine = effective_engine(sel, name)
    settings = (sel.key, desc, tuple(in_sample.items()), int(n), int(min_ratings))
    if st.button("Compare with a refit", key="rate_refit", disabled=fold.cold_start,
                 help="Rate at least one movie first." if fold.cold_start else None):
        jobs.start("rate_refit_job", "refit with your ratings",
                   lambda job: F.refit_compare(algo, r, fold, name, params, engine, n=n,
                                               min_ratings=min_ratings),
                   settings={"key": settings})
    rjob = jobs.follow("rate_refit_job")
    if rjob is not None:
        st.session_state.pop("rate_refit_job", None)
        got = jobs.result_or_error(rjob)
        if got is not None:
            st.session_state["rate_refit_result"] = (rjob.settings["key"], got)
    saved = st.session_state.get("rate_refit_result")
    if saved is not None:
        done_for, cmp = saved
        if done_for != settings:
            st.warning("Stale: your ratings, the model or the filters changed since this "
                       "comparison. Press the button again to update it.")
        c1, c2, c3, c4 = st.columns(4)
        c1.metric(f"Overlap@{cmp['n']}", f"{cmp['overlap']:.0%}",
                  help="Share of the fold-in's top N that the refit also recommends.")
        c2.metric("Rank correlation", f"{cmp['spearman']:.3f}",
                  help=f"Spearman over every movie you did not rate (Kendall's τ: "
                       f"{cmp['kendall']:.3f}).")
        c3.metric("Fold-in time", f"{1000 * cmp['foldin_seconds']:.1f} ms")
        c4.metric("Refit time", f"{cmp['refit_seconds']:.2f} s")
        st.caption("They differ because the refit also moves the movies' vectors (your "
                   "ratings nudge them, and training starts again from random numbers); "
                   "fold-in moves only yours.")
        a, b = st.columns(2)
        small = {"rank": cfg["rank"], "title": cfg["title"], "est": cfg["est"]}
        a.markdown("**Fold-in**")
        a.dataframe(cmp["foldin_top"][["rank", "title", "est"]], hide_index=True,
                    column_config=small, key="rate_cmp_fold")
        b.markdown("**Refit**")
        b.dataframe(cmp["refit_top"][["rank", "title", "est"]], hide_index=True,
                    column_config=small, key="rate_cmp_refit")

st.caption(f"Fold-in, top N and scoring took {elapsed:.0f} ms on the server for this page run.")
