"""`python -m recsys explain | recommend | similar | map`: options, --json keys, errors."""

import pandas as pd
import pytest
from fixtures import run_json

from recsys.cli import main

MODEL = ["--factors", "6", "--epochs", "15", "--lr", "0.02"]


def run_error(capsys, argv):
    code = main(argv)
    err = [ln for ln in capsys.readouterr().err.strip().splitlines()
           if not ln.startswith("note: ")]        # loading notes may come first
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_explain_json_keys_and_identity(capsys, csv_spec):
    b = run_json(capsys, ["explain", csv_spec, "--user", "100", "--item", "3"] + MODEL)
    for key in ("mu", "bu", "bi", "dot", "manual", "clipped", "predict", "was_impossible"):
        assert key in b
    assert b["was_impossible"] is False and b["known_user"] and b["known_item"]
    assert b["manual"] == b["mu"] + b["bu"] + b["bi"] + b["dot"]
    assert b["predict"] == b["clipped"] == min(5.0, max(1.0, b["manual"]))


def test_explain_accepts_unknown_ids_as_cold_start(capsys, csv_spec):
    b = run_json(capsys, ["explain", csv_spec, "--user", "nobody", "--item", "3"] + MODEL)
    assert (b["known_user"], b["known_item"], b["was_impossible"]) == (False, True, False)
    assert b["predict"] == b["mu"] + b["bi"] and b["dot"] == 0.0
    b = run_json(capsys, ["explain", csv_spec, "--user", "nobody", "--item", "3",
                          "--no-biased"] + MODEL)
    assert b["was_impossible"] is True and b["predict"] == b["mu"]


def test_explain_text_output(capsys, csv_spec):
    assert main(["explain", csv_spec, "--user", "101", "--item", "4"] + MODEL) == 0
    out = capsys.readouterr().out
    assert "μ (global mean)" in out and "predict().est" in out and "difference" in out


def test_recommend_agrees_with_explain_to_the_last_digit(capsys, csv_spec):
    recs = run_json(capsys, ["recommend", csv_spec, "--user", "105", "-n", "4"] + MODEL)
    assert len(recs) == 4 and all(set(r) == {"item", "title", "est"} for r in recs)
    ests = [r["est"] for r in recs]
    assert ests == sorted(ests, reverse=True)
    for r in recs:
        b = run_json(capsys, ["explain", csv_spec, "--user", "105", "--item", r["item"]] + MODEL)
        assert b["predict"] == r["est"] and b["true_rating"] is None
    rated = run_json(capsys, ["recommend", csv_spec, "--user", "105", "-n", "40",
                              "--include-rated"] + MODEL)
    assert len(rated) == 40


def test_recommend_text_table(capsys, csv_spec):
    assert main(["recommend", csv_spec, "--user", "105", "-n", "3"] + MODEL) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["rank", "item", "title"] and len(lines) == 4


def test_similar_json(capsys, csv_spec):
    sims = run_json(capsys, ["similar", csv_spec, "--item", "7", "-n", "5"] + MODEL)
    assert len(sims) == 5 and all(set(s) == {"item", "title", "score", "n_ratings"}
                                  for s in sims)
    assert "7" not in {s["item"] for s in sims}
    assert all(-1.0 - 1e-12 <= s["score"] <= 1.0 + 1e-12 for s in sims)
    far = run_json(capsys, ["similar", csv_spec, "--item", "7", "-n", "5", "--metric",
                            "euclidean", "--min-ratings", "12"] + MODEL)
    assert all(s["n_ratings"] >= 12 for s in far)
    assert [s["score"] for s in far] == sorted(s["score"] for s in far)   # distances


def test_map_writes_csv(capsys, csv_spec, tmp_path):
    out = tmp_path / "map.csv"
    assert main(["map", csv_spec, "--method", "pca", "--out", str(out)] + MODEL) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["item", "title", "year", "x", "y", "n_ratings", "mean_rating",
                                "bi", "genres"]
    assert len(df) == 40 and df["n_ratings"].is_monotonic_decreasing
    assert main(["map", csv_spec, "--method", "pca", "--out", str(out), "--n-items", "10"]
                + MODEL) == 0
    assert len(pd.read_csv(out)) == 10


@pytest.mark.parametrize("argv, message", [
    (["recommend", "{spec}", "--user", "nobody"], "unknown user id"),
    (["similar", "{spec}", "--item", "999"], "unknown item id"),
    (["recommend", "{spec}", "--user", "100", "-n", "0"], "at least 1"),
    (["explain", "{spec}", "--user", "100", "--item", "3", "--algo", "baseline"],
     "item factors: --algo svd, nmf, als, bpr"),
    (["map", "{spec}", "--method", "pca", "--out", "/nonexistent/dir/map.csv"], "cannot write"),
    (["explain", "{spec}", "--user", "100", "--item", "3", "--factors", "0"], "n_factors"),
])
def test_errors_are_one_line_exit_2(capsys, csv_spec, argv, message):
    line = run_error(capsys, [a.replace("{spec}", csv_spec) for a in argv])
    assert message in line


def test_fast_engine_agrees_with_its_own_predict(capsys, csv_spec):
    pytest.importorskip("recsys.fast")
    recs = run_json(capsys, ["recommend", csv_spec, "--user", "110", "-n", "3", "--engine",
                             "fast"] + MODEL)
    b = run_json(capsys, ["explain", csv_spec, "--user", "110", "--item", recs[0]["item"],
                          "--engine", "fast"] + MODEL)
    assert b["predict"] == recs[0]["est"] and b["difference"] == 0.0
