"""FactorLab: the Streamlit entry and home page."""
from pathlib import Path

import streamlit as st


from ui.sidebar import sidebar  # noqa: E402
from recsys.safetext import md  # noqa: E402

sel = sidebar()

st.title("FactorLab")
st.markdown(
    "See and play with **matrix factorisation** recommenders on real rating data: the Netflix "
    "Prize tutorial (Surprise's SVD and NMF, cross-validation, grid search, predictions worked "
    "out by hand, top-N lists, similar movies, a map of movie factors) as a live dashboard."
)

st.subheader("What matrix factorisation learns")
st.markdown(
    "Each user *u* and each movie *i* get a short vector of *k* latent factors, "
    "$p_u$ and $q_i$, plus a bias each. A rating is predicted as the global mean plus the two "
    "biases plus how well the user's tastes match the movie's traits:"
)
st.latex(r"\hat r_{ui} \;=\; \mu \;+\; b_u \;+\; b_i \;+\; q_i^\top p_u")
st.markdown(
    "Training (SGD for SVD, multiplicative updates for NMF) adjusts $b_u, b_i, p_u, q_i$ to "
    "minimise the squared error on the known ratings plus a regularisation penalty:"
)
st.latex(r"\min \sum_{r_{ui}\in R}\left(r_{ui}-\hat r_{ui}\right)^2 + "
         r"\lambda\left(b_u^2+b_i^2+\lVert p_u\rVert^2+\lVert q_i\rVert^2\right)")

st.subheader("Where to start")
st.markdown(f"Current data: **{md(sel.label)}** — {sel.ratings.summary()}.")
PAGE_BLURBS = {
    "Data": "what the ratings look like: sparsity, long tails, histogram",
    "Cross validation": "compare algorithms fold by fold, live",
    "Grid search": "tune factors and epochs; pick the active model",
    "Prediction breakdown": "μ + b_u + b_i + qᵢᵀpᵤ by hand, next to predict()",
    "Top N": "a user's recommendations",
    "Similar movies": "nearest movies by cosine of item factors",
    "Factor map": "t-SNE / PCA map of movie factors",
    "Rate movies": "rate a few movies yourself: your recommendations, explained",
    "Compare models": "SVD vs MostPopular, ALS, BPR on honest top-N lists: best RMSE ≠ best "
                      "recommender",
}
pages_dir = Path(__file__).parent / "pages"
for page in sorted(pages_dir.glob("[0-9]*.py")):
    title = page.stem.split("_", 1)[1].replace("_", " ")
    st.page_link(f"pages/{page.name}", label=f"{title}: {PAGE_BLURBS.get(title, '')}".rstrip(": "))
st.caption("The sidebar's dataset, sample size and seed apply to every page.")
