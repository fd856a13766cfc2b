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
from recsys.recommend import top_n, user_top_rated  # noqa: E402

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
    n = st.slider("How many movies", 1, 50, **bind("top_n", 10))
    cap = min(int(r.ratings_per_item().max()), 500)
    min_ratings = st.slider("Minimum ratings per movie", 0, cap,
                            **bind("top_min_ratings", 0, lo=0, hi=cap),
                            help="Movies with fewer ratings have noisy factors: filter them out.")
with c3:
    exclude = st.checkbox("Exclude movies the user already rated",
                          **bind("top_exclude_rated", True))

try:
    recs = cached_top(sel.key, desc, user, n, exclude, min_ratings, algo, r)
    rated = cached_rated(sel.key, user, n, r)
except InputError as err:
    st.error(md(err))
    st.stop()

u_inner = r.user_inner(user)
st.markdown(f"**User {md(user)}** rated {int(counts[u_inner])} movies.")

cfg = {
    "rank": st.column_config.NumberColumn("#", width="small"),
    "year": st.column_config.NumberColumn("year", format="%d"),
    "est": st.column_config.NumberColumn("predicted (clipped)", format="%.3f"),
    "score": st.column_config.NumberColumn("score (unclipped)", format="%.4f"),
    "n_ratings": st.column_config.NumberColumn("ratings"),
    "mean_rating": st.column_config.NumberColumn("mean rating", format="%.2f"),
    "rating": st.column_config.NumberColumn("their rating", format="%g"),
}
left, right = st.columns([3, 2])
with left:
    st.subheader(f"Top {len(recs)} " + ("by score" if scores_only else "predicted"))
    if recs.empty:
        st.info("No movie passes the filters.")
    else:
        if scores_only:   # est = score: one column, named for what it is
            recs = recs.drop(columns=["est"])
            cfg["score"] = st.column_config.NumberColumn("score (not a rating)", format="%.4f")
        st.dataframe(recs, hide_index=True, column_config=cfg, key="top_table")
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
    st.dataframe(rated, hide_index=True, column_config=cfg, key="rated_table")
