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
