"""Small fixture builders shared by several test modules (import: `from fixtures import ...`)."""
import numpy as np
import pandas as pd

from recsys.data import Ratings


def make_ratings(n_users=30, n_items=40, density=0.35, seed=1) -> Ratings:
    """A small random 1..5 rating set with titles, years and genres."""
    rng = np.random.default_rng(seed)
    cells = np.flatnonzero(rng.random(n_users * n_items) < density)
    users, items = cells // n_items, cells % n_items
    values = rng.integers(1, 6, size=len(cells))
    table = pd.DataFrame({"item": [f"m{i}" for i in range(n_items)],
                          "title": [f"Movie {i}" for i in range(n_items)],
                          "year": [1990 + i % 10 for i in range(n_items)],
                          "genres": ["Drama|Comedy" if i % 2 else "Action" for i in
                                     range(n_items)]})
    return Ratings.from_arrays([f"u{u}" for u in users], [f"m{i}" for i in items], values,
                               item_table=table, rating_scale=(1, 5), name="tiny")


def shown(text) -> str:
    """What a person reads from Markdown source made with ``recsys.safetext.md``: the
    backslash escapes removed."""
    import re

    return re.sub(r"\\(.)", r"\1", str(text))


def write_file(path, data):
    """Write ``data`` (str as UTF-8, or bytes) to ``path``, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def run_cli(argv, capsys):
    """``(exit code, stdout, error lines)`` of ``python -m recsys ARGV``; the error line, when
    there is one, is the last line of stderr (progress and notes come before it)."""
    from recsys.cli import main

    code = main(argv)
    cap = capsys.readouterr()
    lines = cap.err.splitlines()
    errors = [ln for ln in lines if ln.startswith("error")]
    assert not errors or lines[-1] == errors[-1]
    return code, cap.out, errors


def run_json(capsys, argv):
    """The parsed ``--json`` output of ``python -m recsys ARGV`` (exit 0 asserted)."""
    import json

    from recsys.cli import main

    code = main(argv + ["--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)
