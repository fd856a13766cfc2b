"""Benchmarks: each section module has ``run(quick=False) -> list[dict]`` (table rows with keys
benchmark, size, seconds, and optionally peak_rss_mb, ratio, note). ``python -m recsys bench``
prints them as one table and writes ``bench/results.md``."""
from __future__ import annotations

import importlib
import os
import platform
import resource
import time

SECTIONS = ("parse", "fast", "perf", "evaluate", "explore", "foldin", "ui", "ranking", "setup")
#: Sections run only when named: long, loading the machine, or needing data ``all`` does not
#: make (``load``: 1-20 browser sessions; ``ranking_synth``: the 24M-rating comparison).
OPTIONAL = ("load", "ranking_synth")
COLUMNS = ("section", "benchmark", "size", "seconds", "peak_rss_mb", "ratio", "note")


def run_sections(names=SECTIONS, quick=False, progress=None) -> list[dict]:
    rows = []
    for name in names:
        if progress:
            progress(f"running bench section {name}…")
        mod = importlib.import_module(f"{__name__}.{name}")
        for row in mod.run(quick=quick):
            rows.append({"section": name, **row})
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table (readable in a terminal too)."""
    def cell(row, col):
        v = row.get(col, "")
        if v is None:
            return ""
        if col == "seconds" and isinstance(v, (int, float)):
            return f"{v:.3f}"
        if col == "peak_rss_mb" and isinstance(v, (int, float)):
            return f"{v:,.0f}"
        return str(v)

    cells = [[cell(r, c) for c in COLUMNS] for r in rows]
    widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(COLUMNS)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    out = [line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t
