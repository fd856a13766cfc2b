"""Grid search: cross-validate every combination of a few hyperparameters, live."""
from ui.sidebar import sidebar

sel = sidebar()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402
from ui.charts import subplots  # noqa: E402

from recsys.errors import InputError  # noqa: E402
from recsys.safetext import md  # noqa: E402
from recsys.evaluate import (HIGHER_IS_BETTER, grid_cells, grid_measures,  # noqa: E402
                             grid_search, grid_table, reference_results)
from recsys.ranking import measure_label  # noqa: E402
from ui import jobs  # noqa: E402
from recsys.models import REGISTRY, describe, get_spec, normalize_params  # noqa: E402
from ui.model import (bind, effective_engine, model_controls, set_active_model,  # noqa: E402
                      stored_params)

MAX_FITS = 60          # cells x folds; more would keep a shared 2-core machine busy for minutes
GRID_ALGOS = ("svd", "nmf", "svdpp", "als", "bpr")

model_controls(sel)

st.title("Grid search")
st.markdown(
    "Every combination of the values below is cross-validated on the same folds (Surprise's "
    "`GridSearchCV` with `KFold` shuffled by the sidebar seed); the heatmap fills as cells "
    "finish. The tutorial's grid is n_factors × n_epochs; learning rate and regularisation are "
    "optional extra dimensions. The other parameters keep the values of the model controls.")

c = st.columns([2, 1, 1])
algo = c[0].selectbox("Algorithm", GRID_ALGOS, format_func=lambda a: REGISTRY[a].label,
                      **bind("grid_algo", "svd"))
n_folds = c[1].slider("Folds", 2, 5, **bind("grid_folds", 3))
measures = list(grid_measures(algo, 10))
if st.session_state.get("grid_measure") not in measures:
    st.session_state["grid_measure"] = measures[0]
measure = c[2].selectbox("Measure", measures, **bind("grid_measure", measures[0]),
                         help="Ranking measures use the full-catalogue protocol (k = 10, "
                              "relevant = held-out rating ≥ 4). ALS and BPR give scores, not "
                              "ratings: no RMSE or MAE.")
higher = measure.split("@")[0] in HIGHER_IS_BETTER

spec = get_spec(algo)
g = st.columns(4)
texts = {
    "n_factors": g[0].text_input("n_factors", **bind("grid_factors", "10, 50, 100"),
                                 help="ALS, BPR: factors."),
    "n_epochs": g[1].text_input("n_epochs", **bind("grid_epochs", "20, 50"),
                                help="ALS, BPR: iterations."),
    "lr_all": g[2].text_input("lr_all (optional)", **bind("grid_lr", ""),
                             help="NMF: sets lr_bu and lr_bi (biased NMF only). BPR: "
                                  "learning_rate. ALS has none."),
    "reg_all": g[3].text_input("reg_all (optional)", **bind("grid_reg", ""),
                               help="NMF: sets reg_pu and reg_qi. ALS, BPR: regularization."),
}


def parse(text: str, name: str) -> list:
    vals = [v.strip() for v in text.replace(";", ",").split(",") if v.strip()]
    out = []
    for v in vals:
        try:
            num = float(v)
        except ValueError:
            raise InputError(f"{name}: not a number", value=v) from None
        out.append(int(num) if name in ("n_factors", "n_epochs") and num.is_integer() else num)
    return out


base = stored_params(algo)
if spec.has_random_state:
    base["random_state"] = sel.seed
try:
    grid = {name: parse(text, name) for name, text in texts.items() if text.strip()}
    for name in grid:
        base.pop(name, None)
        for target in spec.aliases.get(name, ()):   # a stored value would win over the alias
            base.pop(target, None)
    cells = grid_cells(algo, grid, base)
except InputError as err:
    st.error(md(err))
    cells, grid = [], {}

engine = effective_engine(sel, algo)
n_fits = len(cells) * n_folds
too_big = n_fits > MAX_FITS
if cells:
    msg = (f"{len(cells)} cells × {n_folds} folds = **{n_fits} fits** on "
           f"{sel.ratings.n_ratings:,} ratings ({engine} engine).")
    if too_big:
        st.warning(msg + f" That is over the cap of {MAX_FITS} fits: shorten the lists or use "
                         "fewer folds (the CLI `python -m recsys grid` has no cap).")
    else:
        st.caption(msg)

settings = {"data": sel.key, "algorithm": algo, "grid": str(grid), "base": str(base),
            "engine": engine, "folds": n_folds, "measure": measure}
SETTING_LABELS = {"data": "sample", "algorithm": "algorithm", "grid": "grid values",
                  "base": "other parameters", "engine": "engine", "folds": "folds",
                  "measure": "measure"}
run = st.button("Run grid search", type="primary", disabled=not cells or too_big, key="grid_run")

AXES = ("n_factors", "n_epochs")


def _label(measure: str) -> str:
    """RMSE, MAE, precision@10, NDCG@10 (the field's spelling)."""
    if measure in ("rmse", "mae"):
        return measure.upper()
    return measure.replace("ndcg", "NDCG").replace("map@", "MAP@")


def heatmaps(cells: list, done: dict, measure: str, best: int | None):
    """One heatmap (y = n_factors, x = n_epochs) per combination of the other grid values."""
    keys = list(cells[0]) if cells else []
    y_key = "n_factors" if "n_factors" in keys else keys[0]
    x_key = next((k for k in keys if k != y_key and k == "n_epochs"),
                 next((k for k in keys if k != y_key), None))
    extra = [k for k in keys if k not in (y_key, x_key)]
    groups = list(dict.fromkeys(tuple(c[k] for k in extra) for c in cells)) or [()]
    n_cols = min(len(groups), 3)          # at most 3 panels a row: titles never overlap
    n_rows = -(-len(groups) // n_cols)
    short = {"lr_all": "lr", "reg_all": "reg", "n_factors": "k", "n_epochs": "epochs"}
    fig = subplots(rows=n_rows, cols=n_cols, horizontal_spacing=0.08,
                   vertical_spacing=0.18 if n_rows > 1 else 0.1,
                   subplot_titles=[", ".join(f"{short.get(k, k)}={v:g}"
                                             for k, v in zip(extra, grp))
                                   for grp in groups] if extra else None)
    ys = sorted({c[y_key] for c in cells})
    xs = sorted({c[x_key] for c in cells}) if x_key else [""]
    values = [done[i]["mean"][measure] for i in done if not done[i].get("diverged")]
    lo, hi = (min(values), max(values)) if values else (0, 1)
    for gi, grp in enumerate(groups):
        z = np.full((len(ys), len(xs)), np.nan)
        text = [["…" for _ in xs] for _ in ys]
        for i, c in enumerate(cells):
            if tuple(c[k] for k in extra) != grp:
                continue
            r_, c_ = ys.index(c[y_key]), (xs.index(c[x_key]) if x_key else 0)
            if i in done and done[i].get("diverged"):
                text[r_][c_] = "diverged"
            elif i in done:
                v = done[i]["mean"][measure]
                z[r_, c_] = v
                text[r_][c_] = f"{v:.4f}" + (" ★" if i == best else "")
        fig.add_trace(go.Heatmap(z=z, x=[str(x) for x in xs], y=[str(y) for y in ys],
                                 text=text, texttemplate="%{text}", zmin=lo, zmax=hi,
                                 colorscale="Viridis" if measure.split("@")[0] in
                                 HIGHER_IS_BETTER else "Viridis_r", showscale=gi == 0,
                                 colorbar=dict(title=_label(measure)),
                                 hovertemplate=f"{y_key}=%{{y}}<br>{x_key}=%{{x}}<br>"
                                               f"{measure}=%{{z:.4f}}<extra></extra>"),
                      row=gi // n_cols + 1, col=gi % n_cols + 1)
    fig.update_xaxes(title_text=x_key or "", type="category")
    fig.update_yaxes(title_text=y_key, type="category")
    fig.update_layout(height=330 * n_rows + 30, margin=dict(t=40, b=10))
    return fig


def _grid_job(job, ratings, algo_, grid_, engine_, n_folds_, seed, measure_, base_):
    """The grid, then the reference rows (a worker thread: progress through job.report)."""
    res = grid_search(ratings, algo_, grid_, engine_, n_folds=n_folds_, seed=seed,
                      measure=measure_, callback=job.report, base_params=base_,
                      should_stop=lambda: job.cancelled)
    refs = [] if job.cancelled else reference_results(ratings, n_folds=n_folds_, seed=seed)
    return {"result": res, "references": refs}


if run:
    jobs.start("grid_job", "grid search", _grid_job, sel.ratings, algo, grid, engine, n_folds,
               sel.seed, measure, base, settings={**settings, "cells": cells})
progress = st.empty()
slot = st.empty()
done: dict = {}
best_so_far = [None]
live_cells = (st.session_state.get("grid_job").settings.get("cells", cells)
              if st.session_state.get("grid_job") is not None else cells)


def on_cell(cell):
    done[cell["index"]] = cell
    v = cell["mean"][measure]
    best_v = None if best_so_far[0] is None else done[best_so_far[0]]["mean"][measure]
    better = not cell.get("diverged") and (
        best_v is None or (v > best_v if higher else v < best_v))
    if better:
        best_so_far[0] = cell["index"]
    progress.progress(len(done) / max(len(live_cells), 1),
                      text=f"{len(done)}/{len(live_cells)} cells; last {md(cell['params'])}: "
                      + ("diverged" if cell.get("diverged")
                         else f"{_label(measure)} {v:.4f}"))
    slot.plotly_chart(heatmaps(live_cells, done, measure, best_so_far[0]),
                      key=f"grid_live_{len(done)}")


job, out = jobs.collect("grid_job", on_cell, clear=(progress, slot))
if out is not None:
    js = dict(job.settings)
    st.session_state["grid_last"] = {"result": out["result"], "cells": js.pop("cells"),
                                     "engine": js.get("engine", engine),
                                     "dataset": sel.label, "users": sel.sample_users,
                                     "references": out["references"], "settings": js,
                                     "seconds": job.run_seconds}

last = st.session_state.get("grid_last")
if last:
    res = last["result"]
    note = jobs.stale_note(last.get("settings", {}), settings, SETTING_LABELS)
    if note:
        st.warning(md(note))
    if res["stopped"]:
        st.warning(f"The last search was stopped: {len(res['cells'])} of {len(last['cells'])} "
                   "cells finished; the best is among those.")
    cells_done = {c["index"]: c for c in res["cells"]}
    st.subheader(f"{REGISTRY[res['algo']].label}: {_label(res['measure'])} by cell")
    st.plotly_chart(heatmaps(last["cells"], cells_done, res["measure"], res["best_index"]),
                    key="grid_final")
    if res["best_params"] is not None:
        st.success(f"Best {_label(res['measure'])} {res['best_score']:.4f} with "
                   + ", ".join(f"{k}={v}" for k, v in res["best_params"].items()
                               if k in res["grid"]) + " (★)")
        if st.button("Use these parameters", key="grid_use",
                     help="Make the best setting the active model of the explorer pages."):
            set_active_model(res["algo"], res["best_params"])
            st.rerun()
        best_full = normalize_params(res["algo"], res["best_params"])
        if st.session_state.get("model_algo") == res["algo"] and all(
                st.session_state.get(f"model_{res['algo']}_{p.name}") == best_full[p.name]
                for p in get_spec(res["algo"]).params if p.ui):
            st.caption("These parameters are the active model (see the sidebar): "
                       + describe(res["algo"], res["best_params"], last["engine"]))
    diverged = [c for c in res["cells"] if c.get("diverged")]
    if diverged:
        st.error(f"{len(diverged)} cell(s) diverged (SGD overflowed; they have no score and no "
                 "rank): " + md("; ".join(str(c["params"]) for c in diverged))
                 + ". Lower lr_all, or rescale the ratings.")
    m_ = res["measure"]
    refs = [r for r in (last.get("references") or []) if m_ in r["mean"]]
    if refs:
        up = m_.split("@")[0] in HIGHER_IS_BETTER
        best_ref = (max if up else min)(r["mean"][m_] for r in refs)
        beats = res["best_score"] is not None and (
            res["best_score"] > best_ref if up else res["best_score"] < best_ref)
        st.info("Reference rows on the same folds: "
                + "; ".join(f"{r['label']} {_label(m_)} {r['mean'][m_]:.4f}"
                            for r in refs)
                + (f". The best cell ({res['best_score']:.4f}) beats both." if beats
                   else ". No cell beats the best reference: this model learns nothing here "
                        "that a bias model does not."))
    table = grid_table(res)
    table["diverged"] = ["diverged" if c.get("diverged") else "" for c in res["cells"]]
    if not table["diverged"].any():
        table = table.drop(columns=["diverged"])

    def _col_label(c_: str) -> str:   # mean_fit_time -> "fit time (s), mean"
        stat, _, m_ = c_.partition("_")
        return f"{measure_label(m_)}, {stat}"

    st.dataframe(table, hide_index=True,
                 column_config={c_: st.column_config.NumberColumn(_col_label(c_), format="%.4f")
                                for c_ in table.columns if c_.startswith(("mean_", "std_"))})
    cvr = pd.DataFrame(res["cv_results"])
    cvr["params"] = cvr["params"].map(str)
    st.download_button("Download cv_results (CSV)", cvr.to_csv(index=False).encode(),
                       file_name="factorlab_grid_cv_results.csv", mime="text/csv")
    st.caption(f"{md(last['dataset'])}, {last['users']} users, seed {res['seed']}, "
               f"{res['n_folds']} folds, {last['engine']} engine. Same numbers as "
               f"`python -m recsys grid` with the same options.")
