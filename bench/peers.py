"""FactorLab's fast engine against LIBMF (AVX build), Cornac and Surprise, side by side.

    python bench/peers.py [--sizes 100k,5M] [--reps 3] [--env data/peers-venv]
    python bench/peers.py --sizes 100k,5M,24M          # + the tutorial's scale (minutes)

Run it with the project's Python (``.venv/bin/python``). The peers live in their own environment
(``--env``, default ``data/peers-venv``, git-ignored), made on first use: numpy and pandas as
pinned in requirements.txt, ``cornac==3.0.1``, ``scikit-surprise==1.1.5`` (uv when it is on PATH,
else pip) and LIBMF's Python bindings built from the ``libmf==0.9.2`` sdist with
``-O3 -DUSEAVX -march=native`` (the plain wheel is ~3x slower). Nothing goes into requirements.txt.

Sizes: ``100k`` = MovieLens 100K (``python -m recsys fetch ml-100k``), ``5M`` / ``24M`` = the
synthetic Netflix-format set of 5,000,000 / 24,053,764 ratings (``recsys.bench.fast.child_data``).
Each is split 80/20 (seed 1); every tool fits the 80% with k=100, 20 epochs, learning rate 0.005,
regularisation 0.02 on 2 threads where it can, in a fresh process, rounds interleaved; the table
gives the best of N with the spread, and each tool's held-out RMSE. FactorLab's ratio column is
against each peer's best in the same run. LIBMF fits plain MF (no biases) with its own adaptive
step; Cornac's MF and Surprise's SVD fit the biased model, as FactorLab does.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBMF_FLAGS = "-O3 -DUSEAVX -march=native"
K, EPOCHS, LR, REG = 100, 20, 0.005, 0.02

RUNNER = r"""
import json, sys, time
import numpy as np
tool, path = sys.argv[1], sys.argv[2]
K, EPOCHS, LR, REG = 100, 20, 0.005, 0.02
d = np.load(path)
tr_u, tr_i, tr_r, te_u, te_i, te_r = (d[k] for k in ("tr_u", "tr_i", "tr_r", "te_u", "te_i",
                                                      "te_r"))
n_users, n_items = int(d["n_users"]), int(d["n_items"])
if tool.startswith("factorlab"):
    from recsys.fast import FastSVD, warm_up
    warm_up()
    mode, dtype = tool.split(":")[1:]
    t = time.perf_counter()
    algo = FastSVD(n_factors=K, n_epochs=EPOCHS, lr_all=LR, reg_all=REG, random_state=0,
                   mode=mode, dtype=dtype).fit_arrays(tr_u, tr_i, tr_r, n_users, n_items)
    sec = time.perf_counter() - t
    known = np.bincount(tr_u, minlength=n_users)[te_u] > 0
    iknown = np.bincount(tr_i, minlength=n_items)[te_i] > 0
    est = algo.predict_arrays(np.where(known, te_u, -1), np.where(iknown, te_i, -1))
elif tool == "libmf":
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()):
        from libmf import mf
    X = np.column_stack([tr_u, tr_i, tr_r]).astype(np.float32)  # row-major (u, i, r)
    model = mf.MF(k=K, nr_iters=EPOCHS, eta=LR, lambda_p2=REG, lambda_q2=REG, lambda_p1=0.0,
                  lambda_q1=0.0, nr_threads=2, quiet=True)
    t = time.perf_counter()
    model.fit(X)
    sec = time.perf_counter() - t
    est = model.predict(np.asfortranarray(np.column_stack([te_u, te_i]).astype(np.float32)))
    est = np.clip(est.astype(np.float64), 1, 5)
elif tool == "cornac":
    from cornac.data import Dataset
    from cornac.models import MF
    train = Dataset.from_uir(list(zip(tr_u.tolist(), tr_i.tolist(), tr_r.tolist())), seed=0)
    model = MF(k=K, max_iter=EPOCHS, learning_rate=LR, lambda_reg=REG, use_bias=True,
               early_stop=False, seed=0, verbose=False)
    t = time.perf_counter()
    model.fit(train)
    sec = time.perf_counter() - t
    um = np.array([train.uid_map.get(u, -1) for u in te_u.tolist()])
    im = np.array([train.iid_map.get(i, -1) for i in te_i.tolist()])
    ku, ki = um >= 0, im >= 0
    est = np.full(len(te_r), float(model.global_mean))
    est[ku] += model.u_biases[um[ku]]
    est[ki] += model.i_biases[im[ki]]
    both = ku & ki
    est[both] += (model.u_factors[um[both]] * model.i_factors[im[both]]).sum(1)
    est = np.clip(est, 1, 5)
elif tool == "surprise":
    import pandas as pd
    from surprise import SVD, Dataset, Reader
    df = pd.DataFrame({"u": tr_u, "i": tr_i, "r": tr_r})
    trainset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = SVD(n_factors=K, n_epochs=EPOCHS, lr_all=LR, reg_all=REG, random_state=0)
    t = time.perf_counter()
    algo.fit(trainset)
    sec = time.perf_counter() - t
    est = np.array([algo.predict(u, i).est for u, i in zip(te_u.tolist(), te_i.tolist())])
rmse = float(np.sqrt(np.mean((te_r.astype(np.float64) - est) ** 2)))
print(json.dumps({"seconds": sec, "rmse": rmse}))
"""

TOOLS = {  # tool -> largest training set it runs at (Surprise and exact mode are slow beyond)
    "factorlab:exact:float64": 1_000_000,
    "factorlab:parallel:float64": None,
    "factorlab:parallel:float32": None,
    "libmf": None,
    "cornac": 5_000_000,
    "surprise": 1_000_000,
}


def _pins() -> dict:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, ver = line.split("==", 1)
            pins[name.strip().lower()] = ver.strip()
    return pins


def make_env(env: Path) -> Path:
    """The peers' venv (created once): its python."""
    py = env / "bin" / "python"
    stamp = env / ".peers-installed"
    if stamp.exists():
        return py
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    pins = _pins()
    pkgs = [f"numpy=={pins['numpy']}", f"pandas=={pins['pandas']}", "cornac==3.0.1",
            "scikit-surprise==1.1.5", "setuptools", "wheel"]
    uv = shutil.which("uv") or (str(REPO / ".venv" / "bin" / "uv")
                                if (REPO / ".venv" / "bin" / "uv").exists() else None)
    if uv:
        subprocess.run([uv, "pip", "install", "-q", "--python", str(py), *pkgs], check=True)
    else:
        subprocess.run([str(py), "-m", "pip", "install", "-q", *pkgs], check=True)
    with tempfile.TemporaryDirectory() as d:  # LIBMF from its sdist, with AVX
        subprocess.run([str(py), "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                        ":all:", "libmf==0.9.2", "-d", d], check=True)
        sdist = next(Path(d).glob("libmf-*.tar.gz"))
        subprocess.run(["tar", "xzf", str(sdist), "-C", d], check=True)
        src = next(p for p in Path(d).iterdir() if p.is_dir())
        env_vars = dict(os.environ, CFLAGS=LIBMF_FLAGS, CXXFLAGS=LIBMF_FLAGS)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-build-isolation",
                        "--no-deps", "--no-cache-dir", str(src)], check=True, env=env_vars)
    stamp.touch()
    return py


def prepare(size: str, folder: Path) -> tuple[Path, int]:
    """The 80/20 split of ``size`` as an .npz; (path, number of training ratings)."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from recsys.bench.fast import _ml100k, child_data

    if size == "100k":
        ratings, _ = _ml100k()
    else:
        n = {"5M": 5_000_000, "24M": 24_053_764}[size]
        ratings, _ = child_data(n)
    test = np.random.default_rng(1).random(ratings.n_ratings) < 0.2
    path = folder / f"{size}.npz"
    np.savez(path, tr_u=ratings.users[~test], tr_i=ratings.items[~test],
             tr_r=ratings.ratings[~test], te_u=ratings.users[test], te_i=ratings.items[test],
             te_r=ratings.ratings[test], n_users=ratings.n_users, n_items=ratings.n_items)
    return path, int((~test).sum())


def run_tool(tool: str, data: Path, peer_py: Path) -> dict:
    py = sys.executable if tool.startswith("factorlab") else str(peer_py)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([py, "-c", RUNNER, tool, str(data)], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100k,5M")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--env", default=str(REPO / "data" / "peers-venv"))
    args = ap.parse_args(argv)
    peer_py = make_env(Path(args.env))
    sys.path.insert(0, str(REPO))
    from recsys.bench import format_table

    rows = []
    with tempfile.TemporaryDirectory(prefix="factorlab-peers-") as d:
        for size in args.sizes.split(","):
            data, n_train = prepare(size, Path(d))
            tools = [t for t, cap in TOOLS.items() if cap is None or n_train <= cap]
            res = {t: [] for t in tools}
            for _ in range(args.reps):
                for t in tools:
                    res[t].append(run_tool(t, data, peer_py))
            best = {t: min(r["seconds"] for r in rs) for t, rs in res.items()}
            peers = {t: s for t, s in best.items() if not t.startswith("factorlab")}
            for t, rs in res.items():
                secs = [r["seconds"] for r in rs]
                ratio = ""
                if t.startswith("factorlab"):
                    ratio = ", ".join(f"{peers[p] / best[t]:.2f}x {p}" for p in peers)
                rows.append({"section": "peers", "benchmark": t,
                             "size": f"{size}: {n_train:,} train",
                             "seconds": best[t], "ratio": ratio,
                             "note": f"best of {len(secs)}, spread {min(secs):.3f}-"
                                     f"{max(secs):.3f} s; held-out RMSE {rs[0]['rmse']:.4f}"})
            print(format_table(rows[-len(tools):]), flush=True)
    print()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
