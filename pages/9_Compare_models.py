"""Compare models: rating predictors next to implicit-feedback models, judged at top-N over the
whole catalogue ("the best RMSE is not the best recommender")."""
from ui.sidebar import sidebar

sel = sidebar()

import time  # noqa: E402

import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from plotly.subplots import make_subplots  # noqa: E402

from recsys.compare import (COMPARE_ALGOS, compare_models, comparison_table,  # noqa: E402
                            lessons)
from recsys.errors import InputError  # noqa: E402
from recsys.evaluate import summarize  # noqa: E402
from recsys.models import REGISTRY, describe  # noqa: E402
from recsys.ranking import RELEVANT, TEST_ITEMS_CAVEAT, measure_label  # noqa: E402
from ui.model import bind, effective_engine, model_controls, ui_params  # noqa: E402
from ui.pickers import threshold_slider  # noqa: E402

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
settings = {"data": sel.key, "algos": list(algos), "params": params, "engine": engine,
            "n_folds": n_folds, "k": k, "relevant": relevant,
            "threshold": None if relevant == "all" else threshold, "seed": sel.seed}
st.caption(f"{len(algos)} models × {n_folds} folds = {len(algos) * n_folds} fits on "
           f"{sel.ratings.n_ratings:,} ratings. Parameters: the model controls in the sidebar "
           "and on the Cross-validation page (defaults unless changed).")
b = st.columns([2, 5])
run = b[0].button("Run the comparison", type="primary", disabled=not algos, key="cmp_run")


def _partial(live) -> list[dict]:
    out = []
    for a, folds in live["folds"].items():
        if not folds:
            continue
        folds = sorted(folds, key=lambda f: f["fold"])
        mean, std = summarize(folds, live["settings"]["k"])
        out.append({"algo": a, "k": live["settings"]["k"], "folds": folds, "mean": mean,
                    "std": std, "n_folds": live["settings"]["n_folds"], "stopped": True})
    return out


live = st.session_state.get("cmp_live")
if live and live["status"] == "running" and not run:
    live["status"] = "stopped"      # interrupted (Stop or another widget): keep what finished
    st.session_state["cmp_last"] = {"results": _partial(live), "settings": live["settings"],
                                    "stopped": True}

if run:
    live = {"status": "running", "folds": {a: [] for a in algos}, "settings": settings}
    st.session_state["cmp_live"] = live
    stop_slot = st.empty()
    stop_slot.button("Stop", key="cmp_stop", help="Stops after the fold that is running; the "
                                                  "folds done so far are kept.")
    progress = st.progress(0.0, text="Starting…")
    total = len(algos) * n_folds
    t0 = time.perf_counter()
    last_tick = [0.0]
    with st.status("Comparing models…", expanded=False) as status:
        tick = st.empty()

        def on_fold(algo, res):
            live["folds"][algo].append(res)
            done = sum(len(v) for v in live["folds"].values())
            progress.progress(done / total,
                              text=f"{REGISTRY[algo].label}: fold {res['fold'] + 1} of "
                                   f"{n_folds} ({done}/{total})")
            status.write(f"{REGISTRY[algo].label}, fold {res['fold'] + 1}: "
                         f"{measure_label(f'precision@{k}')} {res[f'precision@{k}']:.3f}, fit "
                         f"{res['fit_time']:.2f} s")

        def should_stop() -> bool:
            now = time.perf_counter()
            if now - last_tick[0] > 0.5:    # touching the page lets Stop interrupt at once
                last_tick[0] = now
                tick.caption(f"{now - t0:.1f} s elapsed")
            return False

        try:
            results = compare_models(sel.ratings, algos, params, engine, n_folds=n_folds,
                                     seed=sel.seed, k=k, threshold=threshold,
                                     relevant=relevant, callback=on_fold,
                                     should_stop=should_stop)
        except InputError as err:
            live["status"] = "error"
            status.update(label="Failed", state="error")
            st.error(str(err))
            st.stop()
        status.update(label=f"Done in {time.perf_counter() - t0:.1f} s", state="complete")
    live["status"] = "done"
    stop_slot.empty()
    progress.empty()
    st.session_state["cmp_last"] = {"results": results, "settings": settings, "stopped": False}


def lesson_figure(table, k: int) -> go.Figure:
    p = f"precision@{k}"
    names = [m.split(" (")[0] for m in table["model"]]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
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
    if last["settings"] != settings:
        st.warning("Stale: these results were computed for other settings (data, models, "
                   "parameters, folds, k or relevance). Press *Run the comparison* to update.")
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
    cmd = (f"python -m recsys cv {s['data'][0]} --sample-users {s['data'][1]} --seed "
           f"{s['seed']} --folds {s['n_folds']} --k {kk} --protocol full --relevant "
           f"{s['relevant']}" + (f" --threshold {s['threshold']:g}" if s["threshold"] else "")
           + (" --engine surprise" if s["engine"] == "surprise" else "") + " --algo NAME")
    st.caption(f"{sel.label}, {sel.ratings.n_ratings:,} ratings, seed {s['seed']}, "
               f"{s['n_folds']} folds, k = {kk}, {rel}. Models: "
               + "; ".join(describe(a, s["params"][a], s["engine"]) for a in s["algos"])
               + ". Each row is reproduced by:")
    st.code(cmd, language="bash", wrap_lines=True)
