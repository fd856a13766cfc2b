"""Issue 13 ("twice as close to the hardware"): the fast engine against itself and its past.

Rows (``python -m recsys bench --section perf [--quick]``), each a ratio measured side by side in
one run, best of N with the spread of the N runs:

* ml-100k, SVD k=100, 20 epochs, every rating: Surprise, exact float64, exact float32, parallel
  float64 and float32 (goal 5: exact >= 15x Surprise; goal 1: float32), interleaved rounds.
* held-out RMSE (80/20) of float32 against float64 exact (goal 1: within 0.002).
* goal 5's budget: the exact fit's set-up and epochs per rating-epoch, the time per rating-epoch
  that 15x Surprise leaves, and probes doing the exact kernel's vector work per rating without
  the dependency from one rating to the next (a floor for this update).
* the same fits while a busy-loop process holds one core (goal 4: parallel never slower than
  exact), with the epochs split between 2 threads and 1, and with every epoch forced onto all
  cores (the behaviour before: every stage waits for both threads).
* a fresh process's first model page and first fit, with the kernels warmed during set-up
  (``python -m recsys warm``) and with an empty numba cache (goal 7).
* unless quick: 4M and 19.2M training ratings (80% of the 5M and 24,053,764-rating synthetic
  Netflix sets), parallel mode: today's code (``BASELINE_REV``, extracted with ``git archive``)
  against float64 and float32 now, with the fit split into prepare / init / layout / epochs
  (goal 3: set-up under 10%) and the held-out RMSE (goals 1 and 2). Each size runs in fresh
  processes, alternating baseline and current code, so peak RSS is per process.
* with ``FACTORLAB_BENCH_NETFLIX_FULL=1``: the whole Netflix Prize shape (100,480,507 ratings):
  generate, parse, reload, fit, each with its peak RSS (goal 6).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from .fast import REPO, FULL, _ml100k, cold_first_fit

#: main when issue 13 started: "today's parallel mode" of the goals
BASELINE_REV = "fb6fa6e"


def _spread(xs) -> str:
    if len(xs) < 2:
        return "1 run"
    return f"best of {len(xs)}, spread {min(xs):.3f}-{max(xs):.3f} s"


def _rounds(fns: dict, reps: int) -> dict:
    """Run every function once per round, rounds interleaved; name -> list of seconds."""
    out = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t)
    return out


def _split(n, seed=1):
    return np.random.default_rng(seed).random(n) < 0.2


def _rmse(algo, users, items, truth):
    est = algo.predict_arrays(users, items)
    return float(np.sqrt(np.mean((truth.astype(np.float64) - est) ** 2)))


# ------------------------------------------------------------------------------ ml-100k
def ml100k_rows(reps: int) -> list[dict]:
    from surprise import SVD

    from ..fast import FastSVD, warm_up

    warm_up()
    ratings, label = _ml100k()
    size = f"{label}, {ratings.n_ratings:,} ratings"
    trainset = ratings.to_surprise().build_full_trainset()
    variants = {
        "exact float64": dict(mode="exact"),
        "exact float32": dict(mode="exact", dtype="float32"),
        "parallel float64": dict(mode="parallel"),
        "parallel float32": dict(mode="parallel", dtype="float32"),
    }
    fns = {"surprise": lambda: SVD(random_state=0).fit(trainset)}
    fns.update({k: (lambda p=p: FastSVD(random_state=0, **p).fit_ratings(ratings))
                for k, p in variants.items()})
    times = _rounds(fns, reps)
    ref = min(times["surprise"])
    rows = [{"benchmark": "surprise: SVD fit k=100, 20 epochs", "size": size, "seconds": ref,
             "note": _spread(times["surprise"])}]
    for name in variants:
        best = min(times[name])
        rows.append({"benchmark": f"fast: SVD fit k=100, 20 epochs, {name}", "size": size,
                     "seconds": best, "ratio": f"{ref / best:.1f}x",
                     "note": _spread(times[name]) + ("; target >= 15x (goal 5)"
                                                     if name == "exact float64" else "")})
    # held-out RMSE, float32 against float64 exact (goal 1)
    test = _split(ratings.n_ratings)
    from ..fast import surprise_numbering

    tr_u, tr_i, back_u, back_i = surprise_numbering(ratings.users[~test], ratings.items[~test])
    umap = np.full(ratings.n_users, -1)
    umap[back_u] = np.arange(len(back_u))
    imap = np.full(ratings.n_items, -1)
    imap[back_i] = np.arange(len(back_i))
    te = (umap[ratings.users[test]], imap[ratings.items[test]], ratings.ratings[test])
    rmse = {name: _rmse(FastSVD(random_state=0, **p).fit_arrays(tr_u, tr_i,
                                                               ratings.ratings[~test]), *te)
            for name, p in variants.items()}
    for name in ("exact float32", "parallel float64", "parallel float32"):
        rows.append({"benchmark": f"fast: held-out RMSE, {name} vs exact float64",
                     "size": f"{label} 80/20 split ({int((~test).sum()):,} train)",
                     "seconds": None,
                     "ratio": f"{rmse[name] - rmse['exact float64']:+.5f}",
                     "note": f"RMSE {rmse[name]:.5f} vs {rmse['exact float64']:.5f}; "
                             f"target |diff| < 0.002 (goal 1)"})
    return rows


# ------------------------------------------------------------------------------ goal 5's floor
def _probes():
    """Two kernels doing exactly the exact kernel's vector work per rating (``_sgd_rows``: the
    same loads, stores and FMAs, the same prefetch), without its dependency from one rating's
    update to the next rating's error: ``no chain`` takes each error from its own rating alone;
    ``one row pair`` also points every rating at the same (user, item) rows, all in L1, so only
    the arithmetic and the stores remain. Bench-only (compiled here, not cached)."""
    from numba import njit

    from .. import fast_kernels as K

    @njit(nogil=True, fastmath=K._FM)
    def no_chain(us, its, rs, pu, qi, mu, c_p, c_q, lr):
        n = rs.shape[0]
        q_flat = qi.reshape(-1)
        k = qi.shape[1]
        acc = 0.0
        for j in range(n):
            u = us[j]
            i = its[j]
            if j + 2 < n:
                nxt = np.int64(its[j + 2]) * k
                for off in range(0, k, 8):
                    K._prefetch(q_flat, nxt + off)
            i2 = its[j + 1] if j + 1 < n else i
            g = lr * (rs[j] - mu)
            a, b = K._sgd_rows(pu, u, qi, i, i2, c_p, g, c_q, g)
            acc += a + b
        return acc

    return no_chain


def exact_floor_rows(reps: int, surprise_seconds: float) -> list[dict]:
    """Goal 5 (exact float64 >= 15x Surprise on ml-100k): the exact fit's set-up and epochs, the
    time per rating-epoch the target leaves, and what the same vector work costs without the
    dependency between ratings (a floor for any kernel doing Surprise's update this way)."""
    from ..fast import FastSVD, _line_rows, warm_up

    warm_up()
    ratings, label = _ml100k()
    n = ratings.n_ratings
    epochs = 20
    fits = []
    for _ in range(reps):
        algo = FastSVD(random_state=0, mode="exact")
        t = time.perf_counter()
        algo.fit_ratings(ratings)
        fits.append((time.perf_counter() - t, dict(algo.fit_seconds_)))
    total, secs = min(fits, key=lambda f: f[0])
    setup = total - secs["epochs"]
    kernel_ns = secs["epochs"] / (epochs * n) * 1e9
    budget = surprise_seconds / 15
    need_ns = (budget - setup) / (epochs * n) * 1e9

    no_chain = _probes()
    order = np.argsort(ratings.users, kind="stable")
    us = np.ascontiguousarray(ratings.users[order], dtype=np.int32)
    its = np.ascontiguousarray(ratings.items[order], dtype=np.int32)
    rs = np.ascontiguousarray(ratings.ratings[order], dtype=np.float64)
    rng = np.random.default_rng(0)
    pu = _line_rows(rng.normal(0, .1, (ratings.n_users, 100)), np.float64)
    qi = _line_rows(rng.normal(0, .1, (ratings.n_items, 100)), np.float64)
    mu = float(rs.mean())
    # c = 1 and lr = 0: the same instructions, but the rows never change (no overflow and no
    # subnormals from 2M updates of one row pair, which slowed runs 100-fold)
    c, lr = 1.0, 0.0
    same_u = np.zeros_like(us)
    same_i = np.zeros_like(its)
    cases = {"no chain": (us, its), "no chain, one row pair (all in L1)": (same_u, same_i)}
    probe_ns = {}
    for name, (a, b) in cases.items():
        no_chain(a, b, rs, pu, qi, mu, c, c, lr)  # compile
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(epochs):
                no_chain(a, b, rs, pu, qi, mu, c, c, lr)
            ts.append(time.perf_counter() - t)
        probe_ns[name] = (min(ts) / (epochs * n) * 1e9, ts)
    size = f"{label}, {n:,} ratings x {epochs} epochs"
    rows = [{"benchmark": "fast: exact float64 fit, per rating-epoch (goal 5's budget)",
             "size": size, "seconds": total,
             "note": f"best of {reps}: set-up {setup * 1e3:.1f} ms + epochs "
                     f"{secs['epochs'] * 1e3:.1f} ms = {kernel_ns:.1f} ns a rating-epoch; "
                     f"15x Surprise ({surprise_seconds:.3f} s) leaves {budget * 1e3:.1f} ms: "
                     f"{need_ns:.1f} ns a rating-epoch with this set-up, "
                     f"{budget / (epochs * n) * 1e9:.1f} ns with none"}]
    for name, (ns, ts) in probe_ns.items():
        best_ratio = surprise_seconds / (setup + ns * epochs * n * 1e-9)
        rows.append({"benchmark": f"probe: the exact kernel's vector work, {name}",
                     "size": size, "seconds": min(ts),
                     "ratio": f"{best_ratio:.1f}x",
                     "note": f"{_spread(ts)}; {ns:.1f} ns a rating-epoch (the kernel: "
                             f"{kernel_ns:.1f}); ratio = Surprise / (this set-up + these "
                             f"epochs): the most such a kernel could reach"})
    return rows


# ------------------------------------------------------------------------------ busy core
def busy_core_rows(reps: int) -> list[dict]:
    """The ml-100k fits while one core runs a busy loop (another process)."""
    from ..fast import FastSVD, warm_up

    warm_up()
    ratings, label = _ml100k()
    size = f"{label}, {ratings.n_ratings:,} ratings; other core busy"

    def forced(**p):
        algo = FastSVD(random_state=0, mode="parallel", **p)
        algo.block_plan_ = ["parallel"] * algo.n_epochs * 64  # every stage (B <= 64)
        return algo.fit_ratings(ratings)

    split = {}

    def adaptive(**p):
        algo = FastSVD(random_state=0, mode="parallel", **p).fit_ratings(ratings)
        split.setdefault(p.get("dtype", "float64"), []).append(algo.epoch_threads_)
        return algo

    fns = {"exact float64": lambda: FastSVD(random_state=0, mode="exact").fit_ratings(ratings),
           "parallel float64, every epoch on all cores (before)": forced,
           "parallel float64 (adaptive)": adaptive,
           "parallel float32 (adaptive)": lambda: adaptive(dtype="float32")}
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        times = _rounds(fns, reps)
    finally:
        burner.kill()
        burner.wait()
    ref = min(times["exact float64"])
    rows = []
    for name, ts in times.items():
        note = _spread(ts)
        if "adaptive" in name:
            runs = split["float32" if "float32" in name else "float64"]
            note += ("; stages on 2 threads / 1 thread per run: "
                     + ", ".join(f"{r['parallel']}/{r['serial']}" for r in runs))
        if name != "exact float64":
            note += "; target: not slower than exact (goal 4)"
        rows.append({"benchmark": f"fast: SVD fit k=100, 20 epochs, {name}", "size": size,
                     "seconds": min(ts), "ratio": f"{ref / min(ts):.2f}x vs exact",
                     "note": note})
    return rows


# ------------------------------------------------------------------------------ cold start
def cold_rows(reps: int, reps_nocache: int) -> list[dict]:
    """A fresh process's first model page (the app's warm-up box, then the first fit) and its
    first bare fit, with the kernels warmed in set-up (as after make run / make test) and without
    (an empty numba cache: a fresh clone that skipped the warm step); interleaved."""
    runs = {}
    for k in range(max(reps, reps_nocache)):
        for page in (True, False):
            if k < reps:
                runs.setdefault(("warmed in set-up", page), []).append(cold_first_fit(None, page))
            if k < reps_nocache:
                with tempfile.TemporaryDirectory(prefix="numba-empty-") as d:
                    runs.setdefault(("not warmed (empty numba cache)", page), []).append(
                        cold_first_fit(d, page))
    rows = []
    for (name, page), rs in runs.items():
        total = [r["warm_up"] + r["first"] for r in rs]
        best = rs[total.index(min(total))]
        what = ("first model page (warm-up box + first SVD fit)" if page
                else "first SVD fit (no warm-up call)")
        rows.append({"benchmark": f"fast: fresh process, {what}, kernels {name}",
                     "size": f"{best['label']}, {best['n_ratings']:,} ratings",
                     "seconds": min(total),
                     "note": f"{_spread(total)}; warm-up {best['warm_up']:.2f} s + fit "
                             f"{best['first']:.2f} s (then {best['second']:.3f} s); "
                             f"{best['compiled']} compiled, {best['loaded']} loaded from cache; "
                             f"goal 7"})
    return rows


# ------------------------------------------------------------------------------ large data
_BIG = r"""
import json, resource, sys, time
import numpy as np
n_total, reps, variants = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
from recsys.bench.fast import child_data
from recsys.fast import FastSVD, warm_up
warm_up()
t = time.perf_counter()
ratings, source = child_data(n_total)
load = time.perf_counter() - t
test = np.random.default_rng(1).random(ratings.n_ratings) < 0.2
tr = (ratings.users[~test], ratings.items[~test], ratings.ratings[~test])
te = (ratings.users[test], ratings.items[test], ratings.ratings[test].astype(np.float64))
del ratings
out = {"load": load, "source": source, "n_train": int(len(tr[0])), "runs": {}}
for _ in range(reps):
    for name, params in variants.items():
        t = time.perf_counter()
        algo = FastSVD(random_state=0, mode="parallel", **params).fit_arrays(*tr)
        sec = time.perf_counter() - t
        est = algo.predict_arrays(te[0], te[1])
        out["runs"].setdefault(name, []).append({
            "seconds": sec, "rmse": float(np.sqrt(np.mean((te[2] - est) ** 2))),
            "stages": getattr(algo, "fit_seconds_", None),
            "threads": getattr(algo, "epoch_threads_", None)})
        del algo, est
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _baseline_tree() -> str | None:
    """BASELINE_REV's recsys/ extracted into a temporary folder (None without git or the rev)."""
    d = tempfile.mkdtemp(prefix="factorlab-baseline-")
    try:
        arch = subprocess.run(["git", "-C", REPO, "archive", BASELINE_REV, "recsys"],
                              capture_output=True, check=True, timeout=60).stdout
        subprocess.run(["tar", "-x", "-C", d], input=arch, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return d


def _big_child(code_dir: str, n_total: int, reps: int, variants: dict) -> dict:
    # one data folder for both trees (the baseline's would be next to its temporary copy)
    env = dict(os.environ, PYTHONPATH=code_dir,
               FACTORLAB_DATA=os.environ.get("FACTORLAB_DATA", os.path.join(REPO, "data")))
    # cwd = the code's tree: ``python -c`` puts the working folder first on sys.path, before
    # PYTHONPATH (with cwd=REPO the "before" child imported today's recsys)
    out = subprocess.run([sys.executable, "-c", _BIG, str(n_total), str(reps),
                          json.dumps(variants)], env=env, cwd=code_dir, check=True,
                         capture_output=True, text=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def big_rows(n_total: int, reps: int) -> list[dict]:
    base_dir = _baseline_tree()
    now = {"float64": {}, "float32": {"dtype": "float32"}}
    runs, base_runs, peak, base_peak, info = {}, [], 0.0, 0.0, {}
    # alternate processes: baseline, then current code; each fits every variant twice (this VM
    # charges ~3 ms per MB the first time a process touches memory the VM never used: 0.97 s for
    # a fresh 320 MB factor matrix, 0.05 s the second time, so a fresh process's first fit is
    # mostly a measure of the host)
    for _ in range(reps):
        if base_dir:
            b = _big_child(base_dir, n_total, 2, {"float64": {}})
            base_runs += b["runs"]["float64"]
            base_peak = max(base_peak, b["peak_rss_mb"])
        c = _big_child(REPO, n_total, 2, now)
        for k, v in c["runs"].items():
            runs.setdefault(k, []).extend(v)
        peak = max(peak, c["peak_rss_mb"])
        info = c
    if base_dir:
        shutil.rmtree(base_dir, ignore_errors=True)
    size = f"{info['n_train']:,} train ratings (80% of {n_total:,})"
    rows = []
    ref = min(r["seconds"] for r in base_runs) if base_runs else None
    if base_runs:
        rows.append({"benchmark": f"fast: SVD k=100, 20 epochs, parallel, before "
                                  f"({BASELINE_REV})", "size": size, "seconds": ref,
                     "peak_rss_mb": base_peak,
                     "note": f"{_spread([r['seconds'] for r in base_runs])}; held-out RMSE "
                             f"{base_runs[0]['rmse']:.5f}"})
    for name, rs in runs.items():
        ts = [r["seconds"] for r in rs]
        best = rs[ts.index(min(ts))]
        st = best["stages"]
        setup = st["prepare"] + st["init"] + st["layout"]
        rows.append({"benchmark": f"fast: SVD k=100, 20 epochs, parallel {name}", "size": size,
                     "seconds": min(ts), "peak_rss_mb": peak,
                     "ratio": f"{ref / min(ts):.2f}x vs before" if ref else "",
                     "note": f"{_spread(ts)}; set-up {setup:.2f} s = {100 * setup / min(ts):.1f}% "
                             f"(prepare {st['prepare']:.2f}, init {st['init']:.2f}, layout "
                             f"{st['layout']:.2f}), epochs {st['epochs']:.2f} s "
                             f"(stages on 2 threads / 1: {best['threads']['parallel']}/"
                             f"{best['threads']['serial']}); held-out RMSE "
                             f"{best['rmse']:.5f}; targets 1.5x (goal 2), set-up < 10% (goal 3)"})
    if not base_runs:
        rows.append({"benchmark": "fast: parallel before", "size": size, "seconds": None,
                     "note": f"baseline {BASELINE_REV} not available (git archive failed)"})
    return rows


# ------------------------------------------------------------------------------ whole Netflix
NETFLIX_FULL = {"users": 480189, "items": 17770, "ratings": 100_480_507, "seed": 0}

_NETFLIX = r"""
import json, resource, sys, time
from pathlib import Path
step = sys.argv[1]
params = json.loads(sys.argv[2])
from recsys.io.paths import cache_dir
from recsys.io.synth import ensure_synthetic, load_synthetic
out = {}
t = time.perf_counter()
if step == "generate":
    ensure_synthetic(params)
    out["seconds"] = time.perf_counter() - t
else:
    before = set(Path(cache_dir()).glob("*")) if Path(cache_dir()).is_dir() else set()
    ratings = load_synthetic(params)
    out["seconds"] = time.perf_counter() - t
    out["parsed"] = bool(set(Path(cache_dir()).glob("*")) - before)
    out["n_ratings"] = ratings.n_ratings
    out["n_users"] = ratings.n_users
    if step == "fit":
        from recsys.fast import FastSVD, warm_up
        warm_up()
        t = time.perf_counter()
        algo = FastSVD(random_state=0, mode="parallel", dtype=sys.argv[3]).fit_ratings(ratings)
        out["fit_seconds"] = time.perf_counter() - t
        out["stages"] = algo.fit_seconds_
        out["threads"] = algo.epoch_threads_
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _netflix_child(*args) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _NETFLIX, *args], env=env, cwd=REPO,
                         check=True, capture_output=True, text=True, timeout=7200)
    return json.loads(out.stdout.strip().splitlines()[-1])


def netflix_full_rows() -> list[dict]:
    """The whole Netflix Prize shape (480,189 users, 17,770 movies, 100,480,507 ratings, as
    ``python -m recsys synth --users 480189 --items 17770 --ratings 100480507`` makes it):
    generate (once), first load (parse, unless cached by an earlier run), reload from the cache,
    and a k=100, 20-epoch parallel float32 fit of every rating; each step in its own process, so
    its peak RSS is its own (goal 6: peak RSS < 6 GB)."""
    p = json.dumps(NETFLIX_FULL)
    size = "100,480,507 ratings, 480,189 users x 17,770 movies"
    gen = _netflix_child("generate", p)
    first = _netflix_child("load", p)
    again = _netflix_child("load", p)
    fit = _netflix_child("fit", p, "float32")
    st = fit["stages"]
    return [
        {"benchmark": "netflix full: generate the text files (synthetic)", "size": size,
         "seconds": gen["seconds"], "peak_rss_mb": gen["peak_rss_mb"],
         "note": "0 s when an earlier run made them"},
        {"benchmark": "netflix full: first load " + ("(parse)" if first["parsed"] else
                                                     "(cache from an earlier run)"),
         "size": size, "seconds": first["seconds"], "peak_rss_mb": first["peak_rss_mb"]},
        {"benchmark": "netflix full: reload from the parquet cache", "size": size,
         "seconds": again["seconds"], "peak_rss_mb": again["peak_rss_mb"]},
        {"benchmark": "netflix full: SVD k=100, 20 epochs, parallel float32, every rating",
         "size": size, "seconds": fit["fit_seconds"], "peak_rss_mb": fit["peak_rss_mb"],
         "note": f"RSS includes the loaded data (reload {fit['seconds']:.1f} s); set-up "
                 f"{st['prepare'] + st['init'] + st['layout']:.1f} s, epochs {st['epochs']:.1f} s "
                 f"(stages on 2 threads / 1: {fit['threads']['parallel']}/"
                 f"{fit['threads']['serial']}); target peak RSS < 6 GB (goal 6)"},
    ]


def run(quick: bool = False) -> list[dict]:
    reps = 1 if quick else 5
    rows = ml100k_rows(reps)
    rows += exact_floor_rows(reps, rows[0]["seconds"])
    rows += busy_core_rows(1 if quick else 3)
    rows += cold_rows(1 if quick else 3, 1)
    if not quick:
        rows += big_rows(5_000_000, 2)
        rows += big_rows(FULL["ratings"], 2)
    if os.environ.get("FACTORLAB_BENCH_NETFLIX_FULL") == "1":  # ~10 min, ~4 GB of files
        rows += netflix_full_rows()
    return rows


if __name__ == "__main__":  # python -m recsys.bench.perf [--quick]
    from . import format_table

    print(format_table(run(quick="--quick" in sys.argv)))
