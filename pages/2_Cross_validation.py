"""Cross-validation: k-fold RMSE/MAE and top-N quality per fold, live, and a learning curve."""
from ui.sidebar import sidebar

sel = sidebar()

import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from plotly.subplots import make_subplots  # noqa: E402

from recsys.errors import InputError  # noqa: E402
from recsys.evaluate import (auto_jobs, warm_workers, cross_validate, learning_curve,  # noqa: E402
                             summarize, summary_table)
from recsys.models import REGISTRY, describe, get_spec  # noqa: E402
from recsys.ranking import (PROTOCOLS, RELEVANT, TEST_ITEMS_CAVEAT,  # noqa: E402
                            measure_label)
from ui.model import (bind, effective_engine, model_controls, param_controls,  # noqa: E402
                      param_key, ui_params)

model_controls(sel)

st.title("Cross-validation")
st.markdown(
    "Each algorithm is trained on k − 1 folds of the sample's ratings and tested on the last, "
    "k times (Surprise's `KFold`, shuffled with the sidebar seed, so the same seed gives the "
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

c = st.columns(3)
n_folds = c[0].slider("Folds", 2, 10, **bind("cv_folds", 5))
k = c[1].slider("k (top-k for precision/recall/NDCG)", 1, 50, **bind("cv_k", 10))
lo_r, hi_r = (float(v) for v in sel.ratings.rating_scale)
if "cv_threshold" in st.session_state:  # another dataset may have another scale
    st.session_state["cv_threshold"] = min(max(st.session_state["cv_threshold"], lo_r), hi_r)
threshold = c[2].slider("Relevant if true rating ≥", lo_r, hi_r, step=0.5,
                        **bind("cv_threshold", min(4.0, hi_r)))

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
        "NMF keeps p_u and q_i **non-negative**, so q_iᵀp_u ≥ 0 can only *add* to "
        "μ + b_u + b_i — yet about half of the residuals around that baseline are negative. "
        "Surprise's multiplicative updates are derived for the unbiased model (r̂ = q_iᵀp_u); "
        "with biases the factors start at U(0, 1), so with 30 factors q_iᵀp_u ≈ 30 × ¼ ≈ 7.5 on "
        "top of μ ≈ 3.6 and every estimate starts far above the scale, while the biases move "
        "only by small SGD steps (lr 0.005). With 100 epochs on a 500-user sample (few ratings "
        "per user, weak default regularisation 0.06) the factors then overfit the training "
        "ratings. Unbiased NMF (Surprise's default) or SVD, whose factors may be negative, do "
        "not have this problem. Measured on 500 users of MovieLens 100K (seed 0, 5 folds, "
        "`python -m recsys cv ml-100k --sample-users 500 --algo nmf --factors 30 --epochs 100 "
        "--biased`): SVD 1.05, biased NMF 1.25 (folds from 1.11 to 1.56: unstable), unbiased "
        "NMF 0.99. Run the tutorial preset, then untick *biased* for NMF to see it.")

engine_of = {a: effective_engine(sel, a) for a in algos}
jobs_of = {a: auto_jobs(sel.ratings.n_ratings, n_folds, engine=engine_of[a]) for a in algos}
parallel = [a for a in algos if jobs_of[a] > 1]
warm_workers(max(jobs_of.values(), default=1))
st.caption(f"{sel.ratings.n_ratings:,} ratings × {n_folds} folds × {len(algos)} algorithm(s); "
           + (f"folds of {', '.join(parallel)} run on 2 worker processes (faster at this size"
              "; the others run in this process)." if parallel else
              "folds run one after another in this process (starting worker processes would "
              "cost more than it saves at this size)."))
if sel.engine == "fast" and any(e == "surprise" for e in engine_of.values()):
    st.caption("Only SVD and NMF have a fast engine; the others run on Surprise.")

b = st.columns([2, 1.3, 3])
run = b[0].button("Run cross-validation", type="primary", disabled=not algos, key="cv_run")
b[1].button("Clear history", on_click=_clear_history, key="cv_clear")


# ---------------------------------------------------------------------- charts
def fold_figure(folds_by_algo: dict, names: tuple, titles: tuple, rows: int, cols: int,
                legend: bool = True):
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08,
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
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[measure_label(n)
                                                                 for n in names])
    for n, res in enumerate(results):
        for m, measure in enumerate(names):
            if measure not in res["mean"]:      # no RMSE/MAE for ALS, BPR, MostPopular
                continue
            fig.add_trace(go.Bar(x=[REGISTRY[res["algo"]].label.split(" (")[0]],
                                 y=[res["mean"][measure]],
                                 error_y=dict(type="data", array=[res["std"][measure]]),
                                 marker_color=PALETTE[n % len(PALETTE)], showlegend=False),
                          row=1, col=m + 1)
    fig.update_layout(height=320, margin=dict(t=40, b=10))
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
            "MAE": res["mean"].get("mae"), f"precision@{kk}": res["mean"][f"precision@{kk}"],
            f"recall@{kk}": res["mean"][f"recall@{kk}"],
            f"NDCG@{kk}": res["mean"][f"ndcg@{kk}"],
            "coverage": res["mean"].get("coverage"), "novelty": res["mean"].get("novelty"),
            "fit time (s)": res["mean"]["fit_time"], "stopped": stopped})
    return rows


def partial_result(algo: str, folds: list[dict], settings: dict) -> dict:
    """A result dict from the folds that finished (for a run the user stopped)."""
    folds = sorted(folds, key=lambda f: f["fold"])
    mean, std = summarize(folds, settings["k"])
    return {"algo": algo, "label": REGISTRY[algo].label, "params": settings["params"][algo],
            "engine": settings["engines"][algo], "n_folds": settings["n_folds"],
            "seed": settings["seed"], "k": settings["k"], "threshold": settings["threshold"],
            "protocol": settings["protocol"], "relevant": settings["relevant"],
            "folds": folds, "mean": mean, "std": std, "stopped": True}


# ---------------------------------------------------------------------- a stopped run
live = st.session_state.get("cv_live")
if live and live["status"] == "running" and not run:
    # the previous script run was interrupted (Stop, or another widget): keep what finished
    live["status"] = "stopped"
    partial = [partial_result(a, f, live["settings"]) for a, f in live["folds"].items() if f]
    st.session_state["cv_last"] = {"results": partial, "stopped": True, "k": live["settings"]["k"]}
    if partial:
        st.session_state["cv_history"] += history_rows(partial, live["run_no"], True)

# ---------------------------------------------------------------------- the run
if run:
    params = {a: ui_params(a, sel.seed) for a in algos}
    settings = {"params": params, "engines": engine_of, "n_folds": n_folds, "seed": sel.seed,
                "k": k, "threshold": threshold, "protocol": protocol, "relevant": relevant}
    run_no = 1 + max([r["run"] for r in st.session_state["cv_history"]], default=0)
    live = {"status": "running", "folds": {a: [] for a in algos}, "settings": settings,
            "run_no": run_no}
    st.session_state["cv_live"] = live
    stop_slot = st.empty()
    stop_slot.button("Stop", key="cv_stop", help="Stops after the fold that is running (at "
                                                 "once with worker processes); the folds done "
                                                 "so far stay in the tables below.")
    progress = st.progress(0.0, text="Starting…")
    slot_err, slot_rank = st.empty(), st.empty()
    total = n_folds * len(algos)
    done = [0]
    results = []
    t_start = time.perf_counter()
    last_tick = [0.0]
    with st.status("Cross-validating…", expanded=False) as status:
        tick = st.empty()

        def should_stop() -> bool:
            # touching the page lets Streamlit interrupt this run at once when Stop is clicked
            now = time.perf_counter()
            if now - last_tick[0] > 0.5:
                last_tick[0] = now
                tick.caption(f"{now - t_start:.1f} s elapsed")
            return False

        try:
            for a in algos:
                def on_fold(res, a=a):
                    live["folds"][a].append(res)
                    done[0] += 1
                    progress.progress(done[0] / total,
                                      text=f"{REGISTRY[a].label}: fold {res['fold'] + 1} done "
                                           f"({done[0]}/{total})")
                    err = (f"RMSE {res['rmse']:.4f}, MAE {res['mae']:.4f}, " if "rmse" in res
                           else "")
                    status.write(f"{REGISTRY[a].label}, fold {res['fold'] + 1}: {err}"
                                 f"precision@{k} {res[f'precision@{k}']:.4f}, fit "
                                 f"{res['fit_time']:.2f} s")
                    draw_folds(live["folds"], k, slot_err, slot_rank, f"{a}_{done[0]}")

                results.append(cross_validate(
                    sel.ratings, a, params[a], engine_of[a], n_folds=n_folds, seed=sel.seed,
                    k=k, threshold=threshold, callback=on_fold, n_jobs=jobs_of[a],
                    should_stop=should_stop, protocol=protocol, relevant=relevant))
        except InputError as err:
            live["status"] = "error"
            status.update(label="Failed", state="error")
            st.error(str(err))
            st.stop()
        status.update(label=f"Done in {time.perf_counter() - t_start:.1f} s", state="complete")
    live["status"] = "done"
    stop_slot.empty()
    slot_err.empty()
    slot_rank.empty()
    st.session_state["cv_last"] = {"results": results, "stopped": False, "k": k}
    st.session_state["cv_history"] += history_rows(results, run_no, False)

# ---------------------------------------------------------------------- results
last = st.session_state.get("cv_last")
if last and last["results"]:
    if last["stopped"]:
        st.warning("The last run was stopped: only the folds that finished are shown.")
    st.subheader("Per fold")
    kk = last["k"]
    draw_folds({r["algo"]: r["folds"] for r in last["results"]}, kk, st.container(),
               st.container(), "final")
    st.subheader("Results")
    for res in last["results"]:
        st.markdown(f"**{describe(res['algo'], res['params'], res['engine'])}** — "
                    f"{len(res['folds'])} of {res['n_folds']} folds")
        table = summary_table(res)
        st.dataframe(table, column_config={c_: st.column_config.NumberColumn(format="%.4f")
                                           for c_ in table.columns})
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
    st.download_button("Download as CSV", df.to_csv(index=False).encode(),
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


if draw_curve:
    engine = effective_engine(sel, curve_algo)
    acc = {"epochs": [], "train_rmse": [], "test_rmse": []}
    bar = st.progress(0.0, text="Fitting…")
    n_ep = int(curve_params.get("n_epochs", 20))

    def on_point(pt):
        for key_, v in (("epochs", pt["epoch"]), ("train_rmse", pt["train_rmse"]),
                        ("test_rmse", pt["test_rmse"])):
            acc[key_].append(v)
        order = np.argsort(acc["epochs"])
        shown = {k_: [acc[k_][i] for i in order] for k_ in acc}
        bar.progress(min(1.0, max(acc["epochs"]) / n_ep), text=f"epoch {pt['epoch']} done")
        curve_slot.plotly_chart(curve_figure(shown), key=f"curve_live_{len(acc['epochs'])}")

    try:
        res = learning_curve(sel.ratings, curve_algo, curve_params, engine, seed=sel.seed,
                             callback=on_point,
                             n_jobs=1 if engine == "fast" else auto_jobs(
                                 sel.ratings.n_ratings, 8))
        st.session_state["cv_curve"] = res
    except InputError as err:
        st.error(str(err))
    bar.empty()
    curve_slot.empty()

curve = st.session_state.get("cv_curve")
if curve:
    st.plotly_chart(curve_figure(curve), key="curve_final")
    st.caption(f"{describe(curve['algo'], curve['params'], curve['engine'])}; "
               f"{'one fit with a per-epoch callback' if curve['method'] == 'callback' else 'refitted at each epoch shown'}.")
