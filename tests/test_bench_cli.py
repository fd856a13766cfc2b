"""The bench command's table and its error path (the benchmarks themselves are not unit tests)."""
from recsys import bench
from recsys.cli import main


def test_format_table_aligns_and_formats():
    rows = [{"section": "x", "benchmark": "fit", "size": "100k", "seconds": 1.23456,
             "peak_rss_mb": 1234.4, "ratio": "12.0x"},
            {"section": "x", "benchmark": "reload", "size": "24M", "seconds": 0.5}]
    lines = bench.format_table(rows).splitlines()
    assert lines[0].startswith("| section | benchmark | size")
    assert "| 1.235 " in lines[2] and "| 1,234 " in lines[2] and "12.0x" in lines[2]
    assert "| 0.500 " in lines[3]
    assert len({len(l) for l in lines}) == 1  # every line the same width


def test_unknown_section_is_one_line_exit_2(capsys):
    assert main(["bench", "--section", "nope", "--out", "-"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown bench section" in err[0] and "nope" in err[0]


def test_every_section_module_has_run():
    import importlib

    for name in bench.SECTIONS + bench.OPTIONAL:
        assert callable(importlib.import_module(f"recsys.bench.{name}").run)
    assert "ranking_synth" not in bench.SECTIONS     # 24M ratings: only when named


def test_warm_command_fills_the_kernel_cache(capsys):
    """``python -m recsys warm`` (run by make run / make test): after it, nothing compiles."""
    import json

    assert main(["warm", "--json"]) == 0
    assert main(["warm", "--json"]) == 0
    first, second = (json.loads(l) for l in capsys.readouterr().out.strip().splitlines())
    assert first["seconds"] > 0 and first["cache_dir"]
    assert second["compiled"] == 0  # everything is in memory (or on disk) by now


def test_goal5_probe_does_the_kernels_vector_work_without_changing_rows():
    """The floor probe of ``bench --section perf``: with c = 1 and lr = 0 it leaves the rows as
    they were (so 2M updates of one row pair cannot overflow or go subnormal), and it returns the
    sum of the dot products _sgd_rows computed: q_next.p_u + q_next.q_i per rating."""
    import numpy as np

    from recsys.bench.perf import _probes
    from recsys.fast import _line_rows

    rng = np.random.default_rng(0)
    pu = _line_rows(rng.normal(0, .1, (4, 10)), np.float64)
    qi = _line_rows(rng.normal(0, .1, (5, 10)), np.float64)
    us = np.array([0, 0, 1, 3], np.int32)
    its = np.array([2, 4, 4, 0], np.int32)
    rs = np.array([4.0, 3.0, 5.0, 1.0])
    before = pu.copy(), qi.copy()
    got = _probes()(us, its, rs, pu, qi, 3.5, 1.0, 1.0, 0.0)
    np.testing.assert_array_equal(pu, before[0])
    np.testing.assert_array_equal(qi, before[1])
    nxt = list(its[1:]) + [its[-1]]
    want = sum(qi[i2] @ pu[u] + qi[i2] @ qi[i] for u, i, i2 in zip(us, its, nxt))
    assert abs(got - want) < 1e-12
