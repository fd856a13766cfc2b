"""Cross-validation: k-fold RMSE/MAE and top-N quality per fold, live, and a learning curve."""
from ui.sidebar import sidebar

sel = sidebar()

import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from ui.charts import subplots  # noqa: E402

from recsys.safetext import csv_safe, md  # noqa: E402
from recsys.evaluate import (cross_validate, learning_curve,  # noqa: E402
                             summary_table, reference_results, comparison_table,
                             indistinct_measures, undefined_text, display_value)
from recsys.models import REGISTRY, describe, get_spec  # noqa: E402
from ui import jobs  # noqa: E402
from ui.pickers import threshold_slider  # noqa: E402
from recsys.ranking import (PROTOCOLS, RELEVANT, TEST_ITEMS_CAVEAT,  # noqa: E402
                            measure_label)
from ui.model import (bind, effective_engine, model_controls, param_controls,  # noqa: E402
                      param_key, ui_params)

model_controls(sel)

st.title("Cross-validation")
st.markdown(
    "Each algorithm is trained on all folds of the sample's ratings but one and tested on that "
    "one, once per fold (Surprise's `KFold`, shuffled with the sidebar seed, so the same seed "
    "gives the "
    "same folds and the same numbers as `python -m recsys cv`). Rating error (RMSE, MAE) sits "
    "next to ranking quality (precision, recall, NDCG, MAP and hit rate of each user's top-k), "
    "because users meet a recommender through its top-N. ALS, BPR and MostPopular give scores, "
    "not ratings: they have no RMSE.")

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
TUTORIAL = {"sample_users": 500, "cv_algos": ["svd", "nmf"], "cv_folds": 5}
TUTORIAL_PARAMS = {"n_factors": 30, "n_epochs": 100, "biased": True}


def _tutorial_preset():
    for key, value in TUTORIAL.items():
        st.session_state[key] = value
    st.session_state["cv_tutorial_applied"] = True
    for algo in ("svd", "nmf"):
        for p, v in TUTORIAL_PARAMS.items():
            st.session_state[param_key(algo, p)] = v


def _clear_history():
    st.session_state["cv_history"] = []


st.session_state.setdefault("cv_history", [])

# ---------------------------------------------------------------------- settings
top = st.columns([3, 1])
with top[0]:
    algos = st.multiselect("Algorithms to compare", list(REGISTRY),
                           format_func=lambda a: REGISTRY[a].label, **bind("cv_algos", ["svd"]))
with top[1]:
    st.write("")
    st.button("Tutorial settings", on_click=_tutorial_preset, key="cv_tutorial",
              help="The notebook's run: 500 sampled users, SVD and NMF with n_factors=30, "
                   "n_epochs=100, biased=True, 5 folds.")

if st.session_state.pop("cv_tutorial_applied", False):
    st.info("Tutorial settings applied: 500 users, SVD and NMF with n_factors=30, n_epochs=100, "
            "biased, 5 folds. These are also the model parameters of the explorer pages "
            "(breakdown, Top N, similar movies, map, rate movies): change them in the sidebar's "
            "Model box.")
c = st.columns(3)
n_folds = c[0].slider("Folds", 2, 10, **bind("cv_folds", 5, lo=2, hi=10),
                      help="How many parts the ratings are split into; each part is the test "
                           "set once.")
k = c[1].slider("Top-k cut-off", 1, 50, **bind("cv_k", 10, lo=1, hi=50),
                help="Precision@k, recall@k, NDCG@k: the first k movies of each user's list.")
threshold = threshold_slider(c[2], sel.ratings, "cv_threshold")

PROTOCOL_TEXT = {"full": "Full catalogue: rank every movie the user has not rated in training",
                 "test-items": "Test items only: rank the user's own held-out movies"}
RELEVANT_TEXT = {"threshold": "held-out rating ≥ threshold (explicit view)",
                 "all": "every held-out movie (implicit view)"}
pc = st.columns([3, 2])
protocol = pc[0].radio("Ranking protocol", PROTOCOLS, format_func=PROTOCOL_TEXT.get,
                       **bind("cv_protocol", "full"),
                       help="The full catalogue is what a user meets: the top-k comes from every "
                            "movie they have not rated in the training folds.")
relevant = pc[1].radio("Relevant movies", RELEVANT, format_func=RELEVANT_TEXT.get,
                       **bind("cv_relevant", "threshold"))
if protocol == "test-items":
    st.info("**Test items only.** " + TEST_ITEMS_CAVEAT)
else:
    st.caption("Full catalogue: a hit is a recommended movie that the user rated in the held-out "
               "fold; relevant = " + RELEVANT_TEXT[relevant] + ". Coverage = share of the "
               "catalogue in "
               "anyone's top-k; novelty = mean −log2(share of users who rated the movie); "
               "mean popularity = mean number of training ratings of the recommended movies.")

if algos:
    tabs = st.tabs([REGISTRY[a].label for a in algos])
    for tab, a in zip(tabs, algos):
        with tab:
            if any(p.ui for p in get_spec(a).params):
                param_controls(a, "cv")
            else:
                st.caption("No parameters (its random draws use the sidebar seed).")

with st.expander("Why does biased NMF do so badly in the tutorial?"):
    st.markdown(
        "The notebook got RMSE 1.05 for SVD but 1.69 for NMF with `biased=True` on Netflix. "
        "NMF is meant to keep p_u and q_i non-negative, so that q_iᵀp_u ≥ 0 could only *add* to "
        "μ + b_u + b_i — yet about half of the residuals around that baseline are negative. "
        "Surprise's multiplicative updates are derived for the unbiased model (r̂ = q_iᵀp_u), "
        "where they do keep every factor ≥ 0; with biases they no longer do (the Prediction "
        "breakdown page counts the negative factors of the model you fit). "
        "The factors start at U(0, 1), so with 30 factors q_iᵀp_u ≈ 30 × ¼ ≈ 7.5 on "
        "top of μ ≈ 3.6 and every estimate starts far above the scale, while the biases move "
        "only by small SGD steps (lr 0.005). With 100 epochs on a 500-user sample (few ratings "
        "per user, weak default regularisation 0.06) the factors then overfit the training "
        "ratings. Unbiased NMF (Surprise's default) or SVD, whose factors may be negative, do "
        "not have this problem. Measured on 500 users of MovieLens 100K (seed 0, 5 folds, "
        "`python -m recsys cv ml-100k --sample-users 500 --algo nmf --factors 30 --epochs 100 "
        "--biased`): SVD 1.05, biased NMF 1.25 (folds from 1.11 to 1.56: unstable), unbiased "
        "NMF 0.99. Run the tutorial preset, then untick *biased* for NMF to see it.")

engine_of = {a: effective_engine(sel, a) for a in algos}
settings = {"data": sel.key, "algorithms": tuple(algos),
            "params": {a: ui_params(a, sel.seed) for a in algos}, "engines": engine_of,
            "folds": n_folds, "k": k, "threshold": threshold, "protocol": protocol,
            "relevant": relevant}
SETTING_LABELS = {"data": "sample", "algorithms": "algorithms", "params": "model parameters",
                  "engines": "engine", "folds": "folds", "k": "k (top-k)",
                  "threshold": "threshold", "protocol": "protocol", "relevant": "relevant movies"}
st.caption(f"{sel.ratings.n_ratings:,} ratings × {n_folds} folds × {len(algos)} algorithm(s). "
           "Runs go through the server's shared queue (at most one run per core at a time, "
           "whoever asks): yours shows its place while it waits, and a Stop button while it "
           "runs. Nothing runs until you press the button.")
if sel.engine == "fast" and any(e == "surprise" for e in engine_of.values()):
    st.caption("Only SVD and NMF have a fast engine; the others run on Surprise.")

b = st.columns([2, 1.3, 3])
run = b[0].button("Run cross-validation", type="primary", disabled=not algos, key="cv_run")
b[1].button("Clear history", on_click=_clear_history, key="cv_clear")


# ---------------------------------------------------------------------- charts
def fold_figure(folds_by_algo: dict, names: tuple, titles: tuple, rows: int, cols: int,
                legend: bool = True):
    fig = subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08,
                   vertical_spacing=0.22)
    for n, (algo, folds) in enumerate(folds_by_algo.items()):
        folds = sorted(folds, key=lambda f: f["fold"])
        x = [f["fold"] + 1 for f in folds]
        for m, measure in enumerate(names):
            fig.add_trace(go.Scatter(
                x=x, y=[f.get(measure) for f in folds], mode="lines+markers",
                name=REGISTRY[algo].label, legendgroup=algo, showlegend=legend and m == 0,
                marker=dict(color=PALETTE[n % len(PALETTE)], size=9)),
                row=m // cols + 1, col=m % cols + 1)
    fig.update_xaxes(title_text="fold", dtick=1)
    fig.update_layout(height=270 * rows, margin=dict(t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.08))
    return fig


def draw_folds(folds_by_algo: dict, k: int, slot_err, slot_rank, tag: str):
    err = ("rmse", "mae", "fit_time", "test_time")
    slot_err.plotly_chart(fold_figure(folds_by_algo, err, ("RMSE", "MAE", "fit time (s)",
                                                           "test time (s)"), 2, 2),
                          key=f"cv_err_{tag}")
    rank = (f"precision@{k}", f"recall@{k}", f"ndcg@{k}")
    slot_rank.plotly_chart(fold_figure(folds_by_algo, rank, [measure_label(m) for m in rank], 1,
                                       3, legend=False),
                           key=f"cv_rank_{tag}")


def means_figure(results: list[dict], k: int):
    names = ("rmse", "mae", f"precision@{k}", f"recall@{k}", f"ndcg@{k}")
    fig = subplots(rows=1, cols=len(names), subplot_titles=[measure_label(n) for n in names])
    for m, measure in enumerate(names):
        lows, highs = [], []
        for n, res in enumerate(results):
            if measure not in res["mean"] or res["mean"][measure] != res["mean"][measure]:
                continue                        # no RMSE/MAE for ALS, BPR, MostPopular
            mean, std = res["mean"][measure], res["std"][measure]
            lows.append(mean - std)
            highs.append(mean + std)
            fig.add_trace(go.Bar(x=[REGISTRY[res["algo"]].label.split(" (")[0]], y=[mean],
                                 error_y=dict(type="data", array=[std]),
                                 text=[f"{mean:.4f}"], textposition="inside",
                                 marker_color=PALETTE[n % len(PALETTE)], showlegend=False),
                          row=1, col=m + 1)
        if lows:   # the axis spans the values, not 0..max: 0.9675 and 1.0083 must look apart
            pad = max(0.15 * (max(highs) - min(lows)), 0.002)
            fig.update_yaxes(range=[min(lows) - pad, max(highs) + pad], row=1, col=m + 1)
    fig.update_layout(height=330, margin=dict(t=40, b=10))
    return fig


def history_rows(results: list[dict], run_no: int, stopped: bool) -> list[dict]:
    rows = []
    for res in results:
        kk = res["k"]
        rows.append({
            "run": run_no, "dataset": sel.label, "users": sel.sample_users,
            "ratings": sel.ratings.n_ratings, "seed": sel.seed,
            "algorithm": res["label"], "parameters": describe(res["algo"], res["params"],
                                                              res["engine"]),
            "folds": f"{len(res['folds'])}/{res['n_folds']}",
            "protocol": res.get("protocol", "full"), "relevant": res.get("relevant", "threshold"),
            "RMSE": res["mean"].get("rmse"), "RMSE std": res["std"].get("rmse"),
            "MAE": res["mean"].get("mae"),
            **{measure_label(m): display_value(res["mean"][m], m, res["threshold"])
               for m in (f"precision@{kk}", f"recall@{kk}", f"ndcg@{kk}")},
            "coverage": res["mean"].get("coverage"), "novelty": res["mean"].get("novelty"),
            "fit time (s)": res["mean"]["fit_time"], "stopped": stopped})
    return rows


# ---------------------------------------------------------------------- the run (a queued job)
def _cv_job(job, ratings, s, seed):
    """Every algorithm's CV, then the reference rows, on the same folds (a worker thread:
    progress goes through job.report, never to Streamlit)."""
    results = []
    for a in s["algorithms"]:
        results.append(cross_validate(
            ratings, a, s["params"][a], s["engines"][a], n_folds=s["folds"], seed=seed,
            k=s["k"], threshold=s["threshold"], protocol=s["protocol"],
            relevant=s["relevant"], callback=lambda f, a=a: job.report((a, f)),
            should_stop=lambda: job.cancelled))
        if job.cancelled:
            return {"results": results, "references": []}
    job.report(("references", None))
    refs = reference_results(ratings, n_folds=s["folds"], seed=seed, k=s["k"],
                             threshold=s["threshold"], protocol=s["protocol"],
                             relevant=s["relevant"])
    return {"results": results, "references": refs}


if run:
    jobs.start("cv_job", "cross-validation", _cv_job, sel.ratings, settings, sel.seed,
               settings=settings)
live: dict = {}
drawn = {"at": -1e9}
LIVE_DRAW_SECONDS = 1.0   # live fold charts at most once a second (each costs ~20 ms of GIL)
progress_slot, slot_err, slot_rank = st.empty(), st.empty(), st.empty()


def on_event(event):
    a, f = event
    total = len(settings["algorithms"]) * n_folds
    if a == "references":
        progress_slot.progress(1.0, text="Reference rows: global mean and BaselineOnly on the "
                                         "same folds…")
        return
    live.setdefault(a, []).append(f)
    n = sum(len(v) for v in live.values())
    progress_slot.progress(min(1.0, n / max(total, 1)),
                           text=f"{REGISTRY[a].label}: fold {f['fold'] + 1} done ({n}/{total})")
    now = time.monotonic()
    if n < total and now - drawn["at"] >= LIVE_DRAW_SECONDS:   # the last fold: results below
        draw_folds(live, k, slot_err, slot_rank, f"{a}_{n}")
        drawn["at"] = now


job, out = jobs.collect("cv_job", on_event,
                        clear=(progress_slot, slot_err, slot_rank))
if out is not None and out["results"]:
    stopped = job.state == "cancelled" or any(r["stopped"] for r in out["results"])
    run_no = 1 + max([r["run"] for r in st.session_state["cv_history"]], default=0)
    st.session_state["cv_last"] = {"results": out["results"], "stopped": stopped,
                                   "k": out["results"][0]["k"], "settings": job.settings,
                                   "references": out["references"],
                                   "seconds": job.run_seconds}
    st.session_state["cv_history"] += history_rows(out["results"], run_no, stopped)

# ---------------------------------------------------------------------- results
last = st.session_state.get("cv_last")
if last and last["results"]:
    note = jobs.stale_note(last.get("settings", {}), settings, SETTING_LABELS)
    if note:
        st.warning(md(note))
    if last["stopped"]:
        st.warning("The last run was stopped: only the folds that finished are shown.")
    st.subheader("Per fold")
    kk = last["k"]
    draw_folds({r["algo"]: r["folds"] for r in last["results"]}, kk, st.container(),
               st.container(), "final")
    st.subheader("Results")
    if last.get("seconds"):
        st.caption(f"Computed in {last['seconds']:.1f} s.")
    for res in last["results"]:
        headline = (f"mean RMSE {res['mean']['rmse']:.4f}" if "rmse" in res["mean"] else
                    f"mean {measure_label(f'precision@{kk}')} "
                    f"{display_value(res['mean'][f'precision@{kk}'], f'precision@{kk}', res['threshold'])}")
        if isinstance(headline, str) and "nan" in headline:
            headline = headline.replace("nan", undefined_text(res["threshold"]))
        st.markdown(f"**{describe(res['algo'], res['params'], res['engine'])}** — "
                    f"{len(res['folds'])} of {res['n_folds']} folds; {headline}")
        table = summary_table(res)
        if res.get("undefined"):   # words in the cells: show every number as text too
            st.dataframe(table.map(lambda v: f"{v:.4f}" if isinstance(v, float) else v))
        else:
            st.dataframe(table, column_config={
                c_: st.column_config.NumberColumn(format="%.4f") for c_ in table.columns})
        if res.get("undefined"):
            st.info(f"Ranking metrics are {undefined_text(res['threshold'])} in fold(s) "
                    + ", ".join(str(f + 1) for f in sorted({f for v in res["undefined"].values()
                                                            for f in v}))
                    + ": no test rating there reaches the threshold, so no top-k list can be "
                      "judged. Lower the threshold to score them.")
    refs = last.get("references") or []
    if refs:
        st.subheader("Compared with trivial predictors")
        cmp = comparison_table(last["results"], refs)
        st.dataframe(cmp.map(lambda v: f"{v:.4f}" if isinstance(v, float) else v),
                     hide_index=True)
        rating_models = [r for r in last["results"] if "rmse" in r["mean"]]
        said = ("Reference rows, on the same folds: the global mean (r̂ = μ) and Surprise's "
                "BaselineOnly (r̂ = μ + b_u + b_i). ")
        if rating_models:
            best_ref = min(r["mean"]["rmse"] for r in refs)
            beaten = [r["label"] for r in rating_models if r["mean"]["rmse"] < best_ref]
            said += (f"Lower RMSE than both: {', '.join(beaten)}." if beaten else
                     "No model beats the best reference on RMSE here: on this sample matrix "
                     "factorisation learns nothing a bias model does not.")
        st.caption(said)
    same = indistinct_measures(last["results"])
    if same:
        st.info(f"{', '.join(measure_label(m) for m in same)} cannot tell these algorithms "
                "apart: the means differ by less than their spread over folds."
                + (" This protocol ranks only each user's own test items, a short list in "
                   "which most items are relevant, so every model scores about the same."
                   if last["results"][0].get("protocol") == "test-items" else ""))
    st.plotly_chart(means_figure(last["results"], kk), key="cv_means")
    st.caption("Bars: mean over folds; whiskers: standard deviation over folds (np.std, as "
               "Surprise prints it).")

hist = st.session_state["cv_history"]
if hist:
    st.subheader("Runs in this session")
    df = pd.DataFrame(hist)
    num_cols = [c_ for c_ in df.columns if df[c_].dtype.kind == "f"]
    st.dataframe(df, hide_index=True,
                 column_config={c_: st.column_config.NumberColumn(format="%.4f")
                                for c_ in num_cols})
    st.download_button("Download as CSV", csv_safe(df).to_csv(index=False).encode(),
                       file_name="factorlab_cv_runs.csv", mime="text/csv")

# ---------------------------------------------------------------------- learning curve
st.header("Learning curve")
st.markdown(
    "Train and test RMSE after each epoch on one split (Surprise's `train_test_split`, 20 % test, "
    "sidebar seed). Train error keeps falling; when test error turns up, more epochs overfit. "
    "Each point equals a fresh fit with `n_epochs` = that epoch: the fast engine gets every "
    "epoch from one fit (per-epoch callback), Surprise refits at a few epochs.")
curve_algos = [a for a in REGISTRY if get_spec(a).supports_curve]
lc = st.columns([2, 2, 1.6])
curve_algo = lc[0].selectbox("Algorithm", curve_algos, format_func=lambda a: REGISTRY[a].label,
                             **bind("curve_algo", "svd"))
curve_params = ui_params(curve_algo, sel.seed)
lc[1].caption(describe(curve_algo, curve_params, effective_engine(sel, curve_algo))
              + " — change it in the tabs above or in the sidebar.")
draw_curve = lc[2].button("Draw learning curve", key="curve_run")
curve_slot = st.empty()


def curve_figure(points: dict):
    fig = go.Figure()
    fig.add_scatter(x=points["epochs"], y=points["train_rmse"], mode="lines+markers",
                    name="train RMSE")
    fig.add_scatter(x=points["epochs"], y=points["test_rmse"], mode="lines+markers",
                    name="test RMSE")
    if points["test_rmse"]:
        best = int(np.argmin(points["test_rmse"]))
        fig.add_annotation(x=points["epochs"][best], y=points["test_rmse"][best],
                           text=f"lowest test RMSE {points['test_rmse'][best]:.4f}",
                           showarrow=True, arrowhead=2)
    fig.update_layout(height=360, xaxis_title="epoch", yaxis_title="RMSE",
                      margin=dict(t=20, b=10))
    return fig


def _curve_job(job, ratings, name, params, engine, seed):
    return learning_curve(ratings, name, params, engine, seed=seed,
                          callback=lambda p: job.report(p), should_stop=lambda: job.cancelled)


curve_settings = {"data": sel.key, "algorithm": curve_algo, "params": curve_params,
                  "engine": effective_engine(sel, curve_algo)}
if draw_curve:
    jobs.start("curve_job", "learning curve", _curve_job, sel.ratings, curve_algo, curve_params,
               curve_settings["engine"], sel.seed, settings=curve_settings)
acc = {"epochs": [], "train_rmse": [], "test_rmse": []}
bar = st.empty()
n_ep = int(curve_params.get("n_epochs", 20))


def on_point(pt):
    for key_, v in (("epochs", pt["epoch"]), ("train_rmse", pt["train_rmse"]),
                    ("test_rmse", pt["test_rmse"])):
        acc[key_].append(v)
    order = np.argsort(acc["epochs"])
    shown = {k_: [acc[k_][i] for i in order] for k_ in acc}
    bar.progress(min(1.0, max(acc["epochs"]) / n_ep), text=f"epoch {pt['epoch']} done")
    curve_slot.plotly_chart(curve_figure(shown), key=f"curve_live_{len(acc['epochs'])}")


cjob = jobs.follow("curve_job", on_point)
bar.empty()
curve_slot.empty()
if cjob is not None:
    st.session_state.pop("curve_job", None)
    got = jobs.result_or_error(cjob)
    if got is not None:
        got["settings"] = cjob.settings
        st.session_state["cv_curve"] = got

curve = st.session_state.get("cv_curve")
if curve:
    note = jobs.stale_note(curve.get("settings", {}), curve_settings,
                           {"data": "sample", "algorithm": "algorithm",
                            "params": "model parameters", "engine": "engine"})
    if note:
        st.warning(md(note))
    st.plotly_chart(curve_figure(curve), key="curve_final")
    st.caption(f"{describe(curve['algo'], curve['params'], curve['engine'])}; "
               f"{'one fit with a per-epoch callback' if curve['method'] == 'callback' else 'refitted at each epoch shown'}.")
