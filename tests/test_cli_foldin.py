"""`python -m recsys foldin`: --json keys, the contribution identity, errors on one line."""

import numpy as np
import pytest
from fixtures import run_json

from recsys.cli import main

MODEL = ["--factors", "6", "--epochs", "15", "--lr", "0.02"]
RATE = "3=5,7=1,11=4,2=2"


@pytest.mark.parametrize("algo", ["svd", "nmf"])
def test_foldin_json_keys_and_contribution_identity(capsys, csv_spec, algo):
    out = run_json(capsys, ["foldin", csv_spec, "--rate", RATE, "-n", "5", "--algo", algo]
                   + MODEL)
    assert set(out) == {"bu", "pu", "top"}
    assert len(out["pu"]) == 6 and len(out["top"]) == 5
    assert all(set(t) == {"item", "title", "est"} for t in out["top"])
    assert not {"3", "7", "11", "2"} & {t["item"] for t in out["top"]}   # rated: excluded
    ests = [t["est"] for t in out["top"]]
    assert ests == sorted(ests, reverse=True)
    for t in out["top"][:2]:
        ex = run_json(capsys, ["foldin", csv_spec, "--rate", RATE, "-n", "5", "--algo", algo,
                               "--explain", t["item"]] + MODEL)
        assert set(ex) == {"bu", "pu", "top", "contributions"}
        c = ex["contributions"]
        assert set(c) == {"constant", "terms"}
        assert [(x["item"], x["rating"]) for x in c["terms"]] == [
            ("3", 5.0), ("7", 1.0), ("11", 4.0), ("2", 2.0)]
        assert all(set(x) == {"item", "rating", "term"} for x in c["terms"])
        total = c["constant"] + sum(x["term"] for x in c["terms"])
        assert min(5.0, max(1.0, total)) == pytest.approx(t["est"], abs=1e-12)


def test_constant_is_the_cold_start_prediction_of_explain(capsys, csv_spec):
    """Biased model: the constant is μ + b_i, what `explain` predicts for an unknown user."""
    out = run_json(capsys, ["foldin", csv_spec, "--rate", RATE, "-n", "3", "--explain", "5"]
                   + MODEL)
    cold = run_json(capsys, ["explain", csv_spec, "--user", "nobody", "--item", "5"] + MODEL)
    assert out["contributions"]["constant"] == cold["manual"] == cold["mu"] + cold["bi"]
    assert out["bu"] != 0.0 and np.isfinite(out["pu"]).all()


def test_foldin_text_output(capsys, csv_spec):
    assert main(["foldin", csv_spec, "--rate", RATE, "-n", "3", "--explain", "5"] + MODEL) == 0
    out = capsys.readouterr().out
    assert "folded in 4 ratings" in out and "why 5" in out and "you rated 3 5" in out
    assert "difference" in out


@pytest.mark.parametrize("rate, message", [
    ("999=3", "unknown item id"),
    ("3=6", "off the scale 1..5"),
    ("3=4,3=5", "item rated twice"),
    ("", "at least one ITEM=RATING"),
    ("3", "must look like ITEM=RATING"),
    ("3=great", "not a number"),
])
def test_bad_ratings_exit_2_with_one_line(capsys, csv_spec, rate, message):
    code = main(["foldin", csv_spec, "--rate", rate] + MODEL)
    err = [ln for ln in capsys.readouterr().err.strip().splitlines()
           if not ln.startswith("note: ")]       # loading notes may come first
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert message in err[0]


@pytest.mark.parametrize("extra, message", [
    (["--explain", "999"], "unknown item id"),
    (["--algo", "baseline"], "matrix factorisation"),
    (["-n", "0"], "at least 1"),
])
def test_other_errors_exit_2(capsys, csv_spec, extra, message):
    code = main(["foldin", csv_spec, "--rate", RATE] + extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1]
