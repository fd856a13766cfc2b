"""Netflix parse speed: first parse (cold cache) and reload from the parquet cache.

Targets (issue 2): a 24,053,764-rating combined_data file (the tutorial's size, made by the
generator and kept under data_dir()/synthetic) parses in < 60 s and reloads in < 5 s, with a peak
RSS < 2 GB. Seconds time the ``load_netflix`` call (imports excluded). Each measurement runs in
a fresh subprocess (so peak RSS is the load's own), with FACTORLAB_CACHE pointing at a temporary
folder: empty for the cold run, filled for the reload. Quick mode uses a 1M-rating set.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

FULL = {"users": 470758, "items": 4499, "ratings": 24_053_764, "seed": 0}
QUICK = {"users": 20000, "items": 4499, "ratings": 1_000_000, "seed": 0}

# Peak RSS is VmHWM: ru_maxrss survives fork+exec, so it would report the parent's peak.
_CHILD = """
import json, sys, time
from recsys.io.netflix import load_netflix
t = time.perf_counter()
r = load_netflix(sys.argv[1])
secs = time.perf_counter() - t
with open("/proc/self/status") as f:
    hwm = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:"))
print(json.dumps({"seconds": secs, "peak_rss_mb": hwm / 1024, "n_ratings": r.n_ratings}))
"""


def _measure(folder, cache) -> dict:
    env = dict(os.environ, FACTORLAB_CACHE=str(cache))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], env=env, check=True,
                         capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict]:
    from ..io.synth import ensure_synthetic, synthetic_ready

    params = QUICK if quick else FULL
    rows = []
    size = f"{params['ratings']:,} ratings"
    made = not synthetic_ready(params)
    t = time.perf_counter()
    folder = ensure_synthetic(params)
    if made:
        rows.append({"benchmark": "synth: generate + write Netflix format", "size": size,
                     "seconds": time.perf_counter() - t, "note": "once; kept under data/synthetic"})
    mb = (folder / "combined_data_1.txt").stat().st_size / 2**20
    with tempfile.TemporaryDirectory(prefix="factorlab-bench-cache-") as cache:
        cold = _measure(folder, cache)
        warm = _measure(folder, cache)
    rows.append({"benchmark": "netflix: first parse (cold cache)", "size": size,
                 "seconds": cold["seconds"], "peak_rss_mb": cold["peak_rss_mb"],
                 "note": f"{mb:.0f} MB text; target < 60 s, < 2 GB"})
    rows.append({"benchmark": "netflix: reload from parquet cache", "size": size,
                 "seconds": warm["seconds"], "peak_rss_mb": warm["peak_rss_mb"],
                 "ratio": f"{cold['seconds'] / max(warm['seconds'], 1e-9):.0f}x faster",
                 "note": "target < 5 s, < 2 GB"})
    return rows
