"""Top N: a user's best-predicted unseen movies, next to the movies they rated highest."""
import streamlit as st

from ui.sidebar import sidebar

sel = sidebar()

from ui.model import active_model, bind  # noqa: E402
from ui.pickers import user_picker  # noqa: E402
from recsys.models import factor_names  # noqa: E402

algo, desc = active_model(sel, factor_names(with_popularity=True))
scores_only = getattr(algo, "scores_not_ratings", False)

from recsys.errors import InputError  # noqa: E402
from recsys.safetext import csv_safe, md, safe_name  # noqa: E402
from recsys.recommend import default_min_ratings, mark_rated, top_n, user_top_rated  # noqa: E402

r = sel.ratings
st.title("Top N recommendations")
formula = "μ + b_u + b_i + Q p_u" if getattr(algo, "biased", True) else "Q p_u"
if scores_only:
    st.caption(f"Model: {desc}. Scores Q p_u for every movie at once and ranks them. The score "
               "is not a rating (the model learned who rated what, not the stars): it is not "
               "clipped to the rating scale and only its order matters. Ties: the order movies "
               "first appear in the data.")
else:
    st.caption(f"Model: {desc}. Scores {formula} for every movie at once, clipped to "
               f"{r.rating_scale[0]:g}–{r.rating_scale[1]:g}; ranked by the clipped estimate, "
               "ties by the unclipped score, then by the order movies first appear in the data.")


@st.cache_data(show_spinner=False, max_entries=64)
def cached_top(key: tuple, model: str, user: str, n: int, exclude: bool, min_ratings: int,
               _algo, _r):
    return top_n(_algo, _r, user, n=n, exclude_rated=exclude, min_ratings=min_ratings)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_rated(key: tuple, user: str, n: int, _r):
    return user_top_rated(_r, user, n=n)


counts = r.ratings_per_user()

c1, c2, c3 = st.columns([2, 2, 2])
with c1:
    user = user_picker(r)
with c2:
    n = st.slider("How many movies", 1, 50, **bind("top_n", 10, lo=1, hi=50))
    cap = min(int(r.ratings_per_item().max()), 500)
    min_default = min(default_min_ratings(r), cap)
    min_ratings = st.slider("Minimum ratings per movie", 0, cap,
                            **bind("top_min_ratings", min_default, lo=0, hi=cap),
                            help="Movies with fewer ratings have noisy factors: filter them out.")
with c3:
    exclude = st.checkbox("Exclude movies the user already rated",
                          **bind("top_exclude_rated", True))
st.caption(f"Default minimum: {min_default} ratings per movie, derived from this data (the "
           "largest of 20, 10, 5, 2 that keeps at least 200 movies). A movie rated once or "
           "twice keeps factors close to their random start, so its score says little; set 0 "
           "to see them all.")

try:
    recs = cached_top(sel.key, desc, user, n, exclude, min_ratings, algo, r)
    rated = cached_rated(sel.key, user, n, r)
except InputError as err:
    st.error(md(err))
    st.stop()

u_inner = r.user_inner(user)
st.markdown(f"**User {md(user)}** rated {int(counts[u_inner])} movies.")

cfg = {   # key columns first and sized, so that they show without scrolling at 1280 px
    "rank": st.column_config.NumberColumn("#", width=40),
    "title": st.column_config.TextColumn("title", width=230),
    "est": st.column_config.NumberColumn("predicted", format="%.2f", width=80,
                                         help="The estimate clipped to the rating scale, as "
                                              "predict() returns it."),
    "rated": st.column_config.NumberColumn("rated", format="%g", width=60,
                                           help="The user's own rating: already seen."),
    "year": st.column_config.NumberColumn("year", format="%d", width=55),
    "score": st.column_config.NumberColumn("unclipped", format="%.3f", width=80),
    "n_ratings": st.column_config.NumberColumn("ratings", width=65),
    "mean_rating": st.column_config.NumberColumn("mean", format="%.2f", width=60),
    "item": st.column_config.TextColumn("id", width=60),
    "rating": st.column_config.NumberColumn("their rating", format="%g", width=90),
}
ORDER = ["rank", "title", "est", "rated", "year", "score", "n_ratings", "mean_rating", "item"]
left, right = st.columns([3, 2])
with left:
    st.subheader(f"Top {len(recs)} " + ("by score" if scores_only else "predicted"))
    if recs.empty:
        st.info("No movie passes the filters.")
    else:
        if scores_only:   # est = score: one column, named for what it is
            recs = recs.drop(columns=["est"])
            cfg["score"] = st.column_config.NumberColumn("score (not a rating)", format="%.4f",
                                                         width=110)
        if not exclude:
            recs = mark_rated(recs, r, user)
            st.caption("“rated” shows the user's own rating of movies they have already seen.")
        order = [c for c in ORDER if c in recs.columns]
        if scores_only:
            order.insert(2, order.pop(order.index("score")))
        event = st.dataframe(recs, hide_index=True, column_config=cfg, column_order=order,
                             key="top_table", on_select="rerun", selection_mode="single-row")
        picked = event.selection.rows if event is not None else []
        if picked:   # a row opens its breakdown for this user
            st.session_state["explain_item"] = str(recs["item"].iat[picked[0]])
            st.session_state["explain_filter"] = "All"
            st.switch_page("pages/4_Prediction_breakdown.py")
        st.caption("Click a row to see how its prediction is made (Prediction breakdown).")
        top = r.rating_scale[1]
        n_top = 0 if scores_only else int((recs["est"] == top).sum())
        if n_top > 1:
            st.caption(f"{n_top} estimates saturate at {top:g} after clipping; the unclipped "
                       "score orders them.")
        st.download_button("Download as CSV", csv_safe(recs).to_csv(index=False).encode(),
                           file_name=f"top{n}_user_{safe_name(user)}.csv", mime="text/csv",
                           key="top_csv")
with right:
    st.subheader("Their highest-rated movies")
    st.dataframe(rated, hide_index=True, column_config=cfg, key="rated_table",
                 column_order=[c for c in ["title", "rating", "year", "n_ratings", "mean_rating",
                                           "item"] if c in rated.columns])
