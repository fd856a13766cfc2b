"""``python -m recsys bench``: run the benchmark sections, print one table, write a report.
``python -m recsys warm``: compile the fast kernels into numba's disk cache (set-up step)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import InputError
from ..io.paths import REPO_DIR


def register(sub) -> None:
    p = sub.add_parser("bench", help="speed and memory benchmarks, printed as a table")
    p.add_argument("--section", default="all",
                   help="comma-separated sections (parse,fast,perf,evaluate,explore,foldin,"
                        "ui,ranking,setup) or all; load (browser sessions) and ranking_synth "
                        "(24M ratings) only when named")
    p.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    p.add_argument("--out", default=str(REPO_DIR / "bench" / "results.md"),
                   help="Markdown report to write ('-' for none)")
    p.set_defaults(func=run)

    p = sub.add_parser("warm", help="compile the fast engine's kernels into numba's disk cache "
                                    "(set-up: make run / make test run it)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_warm)


def run_warm(args) -> int:
    from ..fast import warm_report

    rep = warm_report()
    if args.json:
        import json

        print(json.dumps(rep))
    else:
        print(f"fast engine ready in {rep['seconds']:.1f} s: {rep['compiled']} kernel signatures "
              f"compiled, {rep['loaded']} loaded from numba's cache ({rep['cache_dir']})")
    return 0


def run(args) -> int:
    from .. import bench

    names = bench.SECTIONS if args.section == "all" else tuple(
        s.strip() for s in args.section.split(",") if s.strip())
    unknown = [s for s in names if s not in bench.SECTIONS + bench.OPTIONAL]
    if unknown:
        raise InputError("unknown bench section; choose from "
                         f"{', '.join(bench.SECTIONS + bench.OPTIONAL)}",
                         value=",".join(unknown))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = bench.run_sections(names, quick=args.quick,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
    table = bench.format_table(rows)
    print(table)
    if args.out != "-":
        cmd = "python -m recsys bench" + ("" if args.section == "all" else
                                          f" --section {args.section}") + (
            " --quick" if args.quick else "")
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# FactorLab benchmarks\n\nCommand: `{cmd}`  \nRun: {started}  \n"
                       f"Machine: {bench.machine()}\n\n{table}\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0
