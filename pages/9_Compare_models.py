"""Compare models: rating predictors next to implicit-feedback models, judged at top-N over the
whole catalogue ("the best RMSE is not the best recommender")."""
from ui.sidebar import sidebar

sel = sidebar()

import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from ui.charts import subplots  # noqa: E402

from recsys.compare import (COMPARE_ALGOS, compare_models, comparison_table,  # noqa: E402
                            lessons)
from recsys.models import REGISTRY, describe  # noqa: E402
from recsys.ranking import RELEVANT, TEST_ITEMS_CAVEAT, measure_label  # noqa: E402
from ui.model import bind, effective_engine, model_controls, ui_params  # noqa: E402
from ui import jobs  # noqa: E402
from ui.pickers import threshold_slider  # noqa: E402
from recsys.safetext import md  # noqa: E402

model_controls(sel)

st.title("Compare models")
st.subheader("The best RMSE is not the best recommender")
st.markdown(
    "SVD, NMF and the baseline learn to **predict ratings**; MostPopular, ALS and BPR only learn "
    "**who watched what** and produce a ranking score. Here all of them are judged the way a "
    "user meets them: each user's top-k is picked from **every movie the user has not rated in "
    "the training folds**, and a hit is a movie the user rated in the held-out fold. RMSE is "
    "shown where a model predicts ratings.")

RELEVANT_TEXT = {"threshold": "rating ≥ threshold (explicit)",
                 "all": "every held-out movie (implicit)"}

algos = st.multiselect("Models", list(COMPARE_ALGOS),
                       format_func=lambda a: REGISTRY[a].label.split(" (")[0],
                       **bind("cmp_algos", list(COMPARE_ALGOS)))
c = st.columns([1.3, 1, 1, 1.3])
n_folds = c[1].slider("Folds", 2, 10, **bind("cmp_folds", 5))
k = c[2].slider("k (top-k)", 1, 50, **bind("cmp_k", 10))
relevant = c[0].radio("Relevant movies", RELEVANT, format_func=RELEVANT_TEXT.get,
                      **bind("cmp_relevant", "threshold"))
threshold = threshold_slider(c[3], sel.ratings, "cmp_threshold",
                             label="Relevant if held-out rating ≥", disabled=relevant == "all")
with st.expander("Why not rank only each user's test movies, as before?"):
    st.markdown(TEST_ITEMS_CAVEAT + " Choose *Test items only* on the Cross-validation page "
                "to see it.")

engine = effective_engine(sel, "svd")
params = {a: ui_params(a, sel.seed) for a in algos}
settings = {"data": sel.key, "dataset": sel.dataset, "users": sel.sample_users,
            "algos": list(algos), "params": params, "engine": engine,
            "n_folds": n_folds, "k": k, "relevant": relevant,
            "threshold": None if relevant == "all" else threshold, "seed": sel.seed}
SETTING_LABELS = {"data": "sample", "dataset": "dataset", "users": "users",
                  "algos": "models", "params": "model parameters", "engine": "engine",
                  "n_folds": "folds", "k": "k", "relevant": "relevant movies",
                  "threshold": "threshold", "seed": "seed"}
st.caption(f"{len(algos)} models × {n_folds} folds = {len(algos) * n_folds} fits on "
           f"{sel.ratings.n_ratings:,} ratings. Parameters: the model controls in the sidebar "
           "and on the Cross-validation page (defaults unless changed).")
b = st.columns([2, 5])
run = b[0].button("Run the comparison", type="primary", disabled=not algos, key="cmp_run")


def _compare_job(job, ratings, s):
    return compare_models(ratings, s["algos"], s["params"], s["engine"], n_folds=s["n_folds"],
                          seed=s["seed"], k=s["k"], threshold=s["threshold"] or 4.0,
                          relevant=s["relevant"], callback=lambda a, f: job.report((a, f)),
                          should_stop=lambda: job.cancelled)


if run:
    jobs.start("cmp_job", "model comparison", _compare_job, sel.ratings, settings,
               settings=settings)
progress = st.empty()
counts: dict = {}


def on_fold(event):
    algo, res = event
    counts[algo] = counts.get(algo, 0) + 1
    total = len(settings["algos"]) * n_folds
    n = sum(counts.values())
    progress.progress(min(1.0, n / max(total, 1)),
                      text=f"{REGISTRY[algo].label}: fold {res['fold'] + 1} of {n_folds}; "
                           f"{measure_label(f'precision@{k}')} {res[f'precision@{k}']:.3f} "
                           f"({n}/{total})")


job, out = jobs.collect("cmp_job", on_fold, clear=(progress,))
if out:
    st.session_state["cmp_last"] = {
        "results": out, "settings": job.settings,
        "stopped": job.state == "cancelled" or any(r["stopped"] for r in out)}


def lesson_figure(table, k: int) -> go.Figure:
    p = f"precision@{k}"
    names = [m.split(" (")[0] for m in table["model"]]
    fig = subplots(rows=1, cols=2, horizontal_spacing=0.12,
                   subplot_titles=("RMSE (lower is better; rating models only)",
                                   f"{measure_label(p)} (higher is better; all models)"))
    rated = table["rmse"].notna()
    fig.add_bar(x=[n for n, r in zip(names, rated) if r], y=table.loc[rated, "rmse"],
                marker_color="#1f77b4", text=[f"{v:.3f}" for v in table.loc[rated, "rmse"]],
                textposition="outside", showlegend=False, row=1, col=1)
    fig.add_bar(x=names, y=table[p], marker_color=["#1f77b4" if r else "#d62728" for r in rated],
                text=[f"{v:.3f}" for v in table[p]], textposition="outside", showlegend=False,
                row=1, col=2)
    lo = float(table.loc[rated, "rmse"].min()) if rated.any() else 0.0
    fig.update_yaxes(range=[max(0.0, lo - 0.1), float(table["rmse"].max()) + 0.05]
                     if rated.any() else None, row=1, col=1)
    fig.update_yaxes(range=[0, float(table[p].max()) * 1.2], row=1, col=2)
    fig.update_layout(height=340, margin=dict(t=40, b=10, l=10, r=10), font=dict(size=14))
    return fig


def coverage_figure(table) -> go.Figure:
    names = [m.split(" (")[0] for m in table["model"]]
    fig = go.Figure(go.Scatter(
        x=table["coverage"] * 100, y=table["novelty"], mode="markers+text", text=names,
        textposition="top center", textfont=dict(size=14),
        marker=dict(size=16, color=["#1f77b4" if r else "#d62728"
                                    for r in table["rmse"].notna()]),
        customdata=table["mean_popularity"],
        hovertemplate="%{text}<br>coverage %{x:.1f}%<br>novelty %{y:.2f} bits<br>"
                      "mean popularity %{customdata:.0f} ratings<extra></extra>"))
    fig.update_xaxes(title_text="coverage: % of the catalogue in anyone's top-k",
                     rangemode="tozero")
    fig.update_yaxes(title_text="novelty (bits; higher = less known)", rangemode="tozero")
    fig.add_annotation(x=0, y=0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                       text="bottom left: the same few blockbusters for everyone",
                       showarrow=False, font=dict(size=13, color="grey"))
    fig.update_layout(height=380, margin=dict(t=30, b=10, l=10, r=10), font=dict(size=14))
    return fig


last = st.session_state.get("cmp_last")
if last and last["results"]:
    if last["stopped"]:
        st.warning("The last comparison was stopped: only the folds that finished are shown.")
    note = jobs.stale_note(last["settings"], settings, SETTING_LABELS)
    if note:
        st.warning(md(note))
    kk = last["settings"]["k"]
    table = comparison_table(last["results"])
    st.subheader("What to notice")
    st.markdown("\n".join(f"- {s}" for s in lessons(table, kk)))
    st.caption("These sentences are generated from the measured numbers below.")
    st.plotly_chart(lesson_figure(table, kk), key="cmp_lesson")
    st.caption("Blue: models that predict ratings; red: implicit-feedback models (a ranking "
               "score, so no RMSE).")
    st.subheader("All measures (mean over folds)")
    shown = table.drop(columns=["algo", "folds", "fit_time"])
    shown["model"] = shown["model"].map(lambda m: m.split(" (")[0])
    shown["rmse"] = [f"{v:.3f}" if v == v and v is not None else "— (score)"
                     for v in shown["rmse"]]
    shown["coverage"] = shown["coverage"] * 100
    cfg = {"model": st.column_config.TextColumn("model"),
           "rmse": st.column_config.TextColumn("RMSE"),
           "coverage": st.column_config.NumberColumn("coverage %", format="%.1f"),
           "novelty": st.column_config.NumberColumn("novelty", format="%.2f",
                                                    help="Mean −log2(share of training users "
                                                         "who rated the movie), in bits."),
           "mean_popularity": st.column_config.NumberColumn("popularity", format="%.0f",
                                                            help="Mean number of training "
                                                                 "ratings of the recommended "
                                                                 "movies."),
           }
    for m in ("precision", "recall", "ndcg", "map", "hit"):
        cfg[f"{m}@{kk}"] = st.column_config.NumberColumn(measure_label(f"{m}@{kk}"),
                                                         format="%.3f")
    st.dataframe(shown, hide_index=True, column_config=cfg, key="cmp_table")
    st.caption("Coverage: share of the catalogue in anyone's top-k. Novelty: higher = less "
               "known movies. Popularity: mean number of training ratings of the recommended "
               "movies. Mean fit time per fold: "
               + ", ".join(f"{m.split(' (')[0]} {t:.2f} s" for m, t in
                           zip(table["model"], table["fit_time"])) + ".")
    st.subheader("Coverage and novelty")
    st.plotly_chart(coverage_figure(table), key="cmp_coverage")
    s = last["settings"]
    rel = ("every held-out movie is relevant" if s["relevant"] == "all"
           else f"relevant = held-out rating ≥ {s['threshold']:g}")
    cmd = (f"python -m recsys cv {s['dataset']} --sample-users {s['users']} --seed "
           f"{s['seed']} --folds {s['n_folds']} --k {kk} --protocol full --relevant "
           f"{s['relevant']}" + (f" --threshold {s['threshold']:g}" if s["threshold"] else "")
           + (" --engine surprise" if s["engine"] == "surprise" else "") + " --algo NAME")
    st.caption(f"{sel.label}, {sel.ratings.n_ratings:,} ratings, seed {s['seed']}, "
               f"{s['n_folds']} folds, k = {kk}, {rel}. Models: "
               + "; ".join(describe(a, s["params"][a], s["engine"]) for a in s["algos"])
               + ". Each row is reproduced by:")
    st.code(cmd, language="bash", wrap_lines=True)
