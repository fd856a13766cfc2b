"""``python -m recsys cv`` / ``grid``: --json shapes, same numbers as the core, one-line errors."""
import json

import numpy as np
import pytest

from recsys import cli
from recsys.io.datasets import load_dataset
from recsys.evaluate import cross_validate, grid_search


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    """A 50-user CSV (planted rank-2 structure), loaded through the csv: dataset spec."""
    rng = np.random.default_rng(3)
    cells = rng.choice(50 * 30, size=700, replace=False)
    u, i = cells // 30, cells % 30
    pu, qi = rng.normal(size=(50, 2)), rng.normal(size=(30, 2))
    r = np.clip(np.round(3.5 + (pu[u] * qi[i]).sum(1) + rng.normal(0, 0.5, 700)), 1, 5)
    path = tmp_path_factory.mktemp("cli") / "ratings.csv"
    lines = ["user,item,rating"] + [f"{a},{b},{int(c)}" for a, b, c in zip(u, i, r)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def _only_this_module(monkeypatch):
    # independent of the other command modules (the lead wires them all together)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("evaluate",))


def run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cv_json_shape_and_numbers(csv_path, capsys):
    spec = f"csv:{csv_path}"
    code, out, _ = run(["cv", spec, "--algo", "svd", "--factors", "4", "--epochs", "5",
                        "--lr", "0.01", "--no-biased", "--folds", "3", "--seed", "2", "--json"],
                       capsys)
    assert code == 0
    doc = json.loads(out)
    fold_keys = {"rmse", "mae", "fit_time", "test_time", "precision@10", "recall@10", "ndcg@10",
                 "map@10", "hit@10", "coverage", "novelty", "mean_popularity"}
    assert {"algo", "params", "folds", "mean", "std"} <= set(doc)
    assert doc["algo"] == "svd" and len(doc["folds"]) == 3
    assert all(set(f) == fold_keys for f in doc["folds"])
    assert set(doc["mean"]) == set(doc["std"]) == fold_keys
    assert doc["params"]["n_factors"] == 4 and doc["params"]["biased"] is False
    assert doc["params"]["lr_all"] == 0.01 and doc["params"]["random_state"] == 2
    direct = cross_validate(load_dataset(spec), "svd", {"n_factors": 4, "n_epochs": 5,
                                                        "lr_all": 0.01, "biased": False,
                                                        "random_state": 2}, n_folds=3, seed=2)
    assert [f["rmse"] for f in doc["folds"]] == [f["rmse"] for f in direct["folds"]]
    assert doc["mean"]["ndcg@10"] == direct["mean"]["ndcg@10"]
    # second run: identical numbers
    _, out2, _ = run(["cv", spec, "--factors", "4", "--epochs", "5", "--lr", "0.01",
                      "--no-biased", "--folds", "3", "--seed", "2", "--json"], capsys)
    assert [f["mae"] for f in json.loads(out2)["folds"]] == [f["mae"] for f in doc["folds"]]


def test_cv_text_table_and_other_algorithms(csv_path, capsys):
    code, out, err = run(["cv", f"csv:{csv_path}", "--algo", "baseline", "--baseline-method",
                          "sgd", "--folds", "2"], capsys)
    assert code == 0
    assert "RMSE (testset)" in out and "Fold 2" in out and "Mean" in out
    assert "fold 2/2" in err
    code, out, _ = run(["cv", f"csv:{csv_path}", "--algo", "nmf", "--reg", "0.1", "--epochs",
                        "3", "--folds", "2", "--json", "--sample-users", "30"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["params"]["reg_pu"] == doc["params"]["reg_qi"] == 0.1


def test_grid_json_shape_and_best(csv_path, capsys):
    spec = f"csv:{csv_path}"
    code, out, _ = run(["grid", spec, "--algo", "svd", "--factors", "2,6", "--epochs", "2,8",
                        "--folds", "2", "--seed", "1", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert len(doc["cells"]) == 4
    for c in doc["cells"]:
        assert set(c["params"]) == {"n_factors", "n_epochs"}
        assert {"rmse", "mae"} <= set(c["mean"]) and {"rmse", "mae"} <= set(c["std"])
    means = [c["mean"]["rmse"] for c in doc["cells"]]
    best = doc["cells"][int(np.argmin(means))]["params"]
    assert doc["best_params"]["n_factors"] == best["n_factors"]
    assert doc["best_params"]["n_epochs"] == best["n_epochs"]
    assert doc["best_params"]["random_state"] == 1
    direct = grid_search(load_dataset(spec), "svd", {"n_factors": [2, 6], "n_epochs": [2, 8]},
                         n_folds=2, seed=1, base_params={"random_state": 1})
    assert means == [c["mean"]["rmse"] for c in direct["cells"]]
    code, out, _ = run(["grid", spec, "--factors", "2,6", "--folds", "2", "--measure", "mae"],
                       capsys)
    assert code == 0 and "best mae" in out and "n_factors" in out


@pytest.mark.parametrize("argv,words", [
    (["cv", "{spec}", "--algo", "baseline", "--factors", "3"], "--factors does not apply"),
    (["cv", "{spec}", "--factors", "0"], "n_factors must be in 1..500"),
    (["cv", "{spec}", "--folds", "1"], "folds"),
    (["cv", "{spec}", "--param", "init_std_dev"], "NAME=VALUE"),
    (["cv", "{spec}", "--param", "gamma=1"], "unknown parameter 'gamma'"),
    (["grid", "{spec}", "--folds", "2"], "give the grid"),
    (["grid", "{spec}", "--factors", "2,x"], "n_factors"),
    (["grid", "{spec}", "--factors", "2", "--measure", "auc"], "measure"),
])
def test_bad_input_is_one_line_and_exit_2(csv_path, capsys, argv, words):
    argv = [a.replace("{spec}", f"csv:{csv_path}") for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()    # loading notes ("note: ...") may come first
    assert lines[-1].startswith("error: ") and words in lines[-1]
    assert [ln for ln in lines if not ln.startswith("note: ")] == [lines[-1]]


def test_model_from_args_gives_only_what_the_user_set():
    from recsys.cli.common import model_from_args

    parser = cli._Parser(prog="t")
    sub = parser.add_subparsers()
    from recsys.cli.evaluate import register

    register(sub)
    args = parser.parse_args(["cv", "x", "--factors", "7", "--seed", "4"])
    assert model_from_args(args) == ("svd", {"n_factors": 7, "random_state": 4}, "fast")
    args = parser.parse_args(["cv", "x", "--algo", "knnbaseline", "--param", "k=12"])
    assert model_from_args(args) == ("knnbaseline", {"k": 12}, "fast")
