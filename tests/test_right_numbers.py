"""Issue 8, one regression test per class of fault: each asserts the right value.

1 divergence, 2 the rating scale, 3 ids are strings, 4 one text decoder, 5 stated properties
are checked, 6 the newest duplicate wins, 7 thin data and reference rows.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest
from fixtures import run_cli as cli, write_file as write

from recsys.data import Ratings, default_threshold, infer_rating_scale, parse_scale
from recsys.errors import DivergenceError, InputError
from recsys.evaluate import (comparison_table, cross_validate, grid_search,
                             indistinct_measures, learning_curve, reference_results,
                             summary_table, undefined_text)
from recsys.io.csv import load_csv
from recsys.io.datasets import load_dataset
from recsys.io.movielens import load_movielens
from recsys.io.netflix import load_netflix
from recsys.models import fit_full

ENGINES = ("fast", "surprise")


pytestmark = pytest.mark.usefixtures("isolated_data")


# ---------------------------------------------------------------------- 1. divergence
def diverging() -> Ratings:
    """Ratings 1 and 660 with the default lr_all=0.005: SGD overflows to NaN."""
    return Ratings.from_arrays(["1", "1", "2", "2", "3"], ["1", "2", "1", "3", "2"],
                               [1, 660, 1, 2, 660], rating_scale=(1, 660))


@pytest.mark.parametrize("engine", ENGINES)
def test_divergence_is_an_error_on_every_fit(engine):
    r = diverging()
    with pytest.raises(DivergenceError, match=r"SGD diverged: 606 of 606 learned parameters"):
        fit_full(r, "svd", {}, engine)
    with pytest.raises(DivergenceError, match=r"^fold \d: SGD diverged"):
        cross_validate(r, "svd", {}, engine, n_folds=2)
    with pytest.raises(DivergenceError, match=r"SGD diverged at epoch \d+"):
        learning_curve(r, "svd", {}, engine)
    # a grid goes on: the diverged cell is marked, unranked; the other wins
    g = grid_search(r, "svd", {"lr_all": [0.005, 0.0001]}, engine, n_folds=2)
    assert [c["diverged"] is not None for c in g["cells"]] == [True, False]
    assert [c["rank"] for c in g["cells"]] == [None, 1]
    assert g["best_params"] == {"lr_all": 0.0001}
    assert all(math.isnan(v) for v in g["cells"][0]["mean"].values())


def test_divergence_cli_exit_2_one_line(tmp_path, capsys):
    spec = "csv:" + str(write(tmp_path / "d.csv", "user,item,rating\n1,1,1\n1,2,660\n"
                                                  "2,1,1\n2,3,2\n3,2,660\n"))
    for argv in (["explain", spec, "--user", "1", "--item", "2"],
                 ["recommend", spec, "--user", "1"], ["cv", spec, "--folds", "2"],
                 ["map", spec, "--method", "pca", "--out", str(tmp_path / "m.csv")],
                 ["similar", spec, "--item", "1"]):
        code, out, err = cli(argv, capsys)
        assert code == 2 and out == ""
        assert len(err) == 1 and err[0].startswith("error: ") and "SGD diverged" in err[0]
        assert "lower lr_all" in err[0].lower()


# ---------------------------------------------------------------------- 2. the scale
@pytest.mark.parametrize("values, scale", [
    ([0, 1, 1, 0], (0.0, 1.0)),                     # like/dislike
    ([1, 3, 5], (1.0, 5.0)),
    ([0.5, 3.5, 5], (0.5, 5.0)),                    # half stars
    ([1, 7, 10], (1.0, 10.0)),
    ([0, 55, 100], (0.0, 100.0)),
    ([-9.95, 0.3, 9.9], (-10.0, 10.0)),             # Jester
    ([150, 175, 200], (150.0, 200.0)),              # no common scale: min..max
    ([0.3, 0.7], (0.0, 1.0)),                       # continuous scores in 0..1
])
def test_scale_inference(values, scale):
    assert infer_rating_scale(np.array(values, dtype=np.float32)) == scale


@pytest.mark.parametrize("scale, step, t", [((1, 5), 1, 4.0), ((0.5, 5), 0.5, 4.0),
                                            ((0, 1), 1, 1.0), ((1, 10), 1, 8.0),
                                            ((0, 100), 1, 75.0), ((150, 200), 1, 188.0),
                                            ((-10, 10), 0, 5.0)])
def test_default_threshold_follows_the_scale(scale, step, t):
    assert default_threshold(scale, step) == t


def test_scale_text_parsing():
    assert parse_scale("0,1") == (0.0, 1.0) and parse_scale("-10 - 10") == (-10.0, 10.0)
    assert parse_scale("") is None
    with pytest.raises(InputError, match="lowest rating comes first"):
        parse_scale("5-1")


def test_binary_data_stays_binary(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["user,item,rating"] + [f"{u},{i},{int(rng.integers(0, 2))}"
                                    for u in range(30) for i in rng.choice(20, 8, False)]
    r = load_csv(write(tmp_path / "b.csv", "\n".join(lines)), "user", "item", "rating")
    assert r.rating_scale == (0.0, 1.0)
    assert r.notices[0].startswith("rating scale 0..1 (binary like/dislike) inferred")
    algo = fit_full(r, "svd", {"n_factors": 4}, "fast")
    est = [algo.predict(u, i).est for u in r.user_ids[:5] for i in r.item_ids[:5]]
    assert 0.0 <= min(est) and max(est) <= 1.0            # not 1.06 on a 0..5 scale
    res = cross_validate(r, "svd", {"n_factors": 4}, "fast", n_folds=3)
    assert res["threshold"] == 1.0 and not res["undefined"]
    assert not any(math.isnan(res["mean"][m]) for m in ("precision@10", "ndcg@10"))


def test_rating_scale_option_for_csv_movielens_netflix(tmp_path, capsys):
    csv = write(tmp_path / "r.csv", "user,item,rating\n1,a,7\n2,a,3\n2,b,9\n")
    ml = write(tmp_path / "ml" / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,7,5\n"
                                                 "2,1,3,6\n")
    nf = write(tmp_path / "nf" / "combined_data_1.txt", "1:\n10,3,2005-01-01\n11,4,2005-01-02\n")
    assert load_dataset(f"csv:{csv}", rating_scale=(0, 10)).rating_scale == (0.0, 10.0)
    assert load_dataset(f"movielens:{ml.parent}", rating_scale=(1, 10)).rating_scale == (1, 10)
    assert load_dataset(f"netflix:{nf.parent}", rating_scale=(0, 5)).rating_scale == (0, 5)
    code, out, _ = cli(["info", f"csv:{csv}", "--rating-scale", "0,10", "--json"], capsys)
    assert code == 0 and json.loads(out)["rating_scale"] == [0.0, 10.0]
    code, out, err = cli(["info", f"csv:{csv}", "--rating-scale", "1,5"], capsys)
    assert code == 2 and err == [f"error: {csv}, line 2: rating off the scale 1..5 (value: '7')"]
    code, out, err = cli(["info", f"netflix:{nf.parent}", "--rating-scale", "1,3"], capsys)
    assert code == 2 and err == [f"error: {nf}, line 3: rating off the scale 1..3 (value: '4')"]
    code, out, err = cli(["info", f"csv:{csv}", "--rating-scale", "5-1"], capsys)
    assert code == 2 and "lowest rating comes first" in err[0]


def test_undefined_ranking_metrics_are_said_not_nan(capsys, tmp_path):
    # every rating is 1 or 2 on 1..5: no test rating reaches the default threshold 4
    rng = np.random.default_rng(2)
    r = Ratings.from_arrays([f"u{u}" for u in range(30) for _ in range(6)],
                            [f"i{i}" for _ in range(30) for i in range(6)],
                            rng.integers(1, 3, 180), rating_scale=(1, 5))
    res = cross_validate(r, "svd", {"n_factors": 2}, "fast", n_folds=3)
    assert res["undefined"] == {m: [0, 1, 2] for m in ("precision@10", "recall@10",
                                                       "ndcg@10", "map@10", "hit@10")}
    table = summary_table(res)
    assert table.loc["precision@10", "Mean"] == "undefined (no test rating ≥ 4)"
    assert table.loc["NDCG@10", "Fold 2"] == undefined_text(4.0)
    path = tmp_path / "low.csv"
    pd.DataFrame(r.to_frame()[["user", "item", "rating"]]).to_csv(path, index=False)
    code, out, err = cli(["grid", f"csv:{path}", "--rating-scale", "1,5", "--factors", "2,3",
                          "--measure", "precision@10", "--folds", "2"], capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: precision@10 is undefined (no test rating ≥ 4) in every")
    code, out, err = cli(["cv", f"csv:{path}", "--rating-scale", "1,5", "--folds", "2",
                          "--json", "--no-reference"], capsys)
    doc = json.loads(out)
    assert doc["mean"]["precision@10"] is None
    assert doc["undefined"]["precision@10"] == "undefined (no test rating ≥ 4) in fold(s) 1, 2"
    code, out, err = cli(["grid", f"csv:{path}", "--rating-scale", "1,5", "--factors", "2,3",
                          "--folds", "2", "--measure", "mae", "--no-reference"], capsys)
    assert code == 0 and "mean_mae" in out.splitlines()[0]


def test_threshold_must_be_on_the_scale(tmp_path, capsys):
    csv = write(tmp_path / "r.csv", "user,item,rating\n1,a,4\n2,a,3\n2,b,5\n1,b,2\n")
    for bad in ("nan", "9", "-1"):
        code, _, err = cli(["cv", f"csv:{csv}", "--folds", "2", "--threshold", bad], capsys)
        assert code == 2 and "relevance threshold must be a number on the rating scale 1..5" \
            in err[0]


# ---------------------------------------------------------------------- 3. ids are strings
def test_ids_are_exact_strings_in_every_loader(tmp_path):
    rows = [("NA", "007", 4, 1), ("None", "7", 3, 2), ("null", "0155061224", 5, 3),
            ("nan", "007", 2, 4)]
    folder = tmp_path / "ml-100k"
    write(folder / "u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    write(tmp_path / "ml-1m" / "ratings.dat",
          "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows))
    write(tmp_path / "ml-csv" / "ratings.csv", "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r},{t}\n" for u, i, r, t in rows))
    write(tmp_path / "ml-csv" / "movies.csv", "movieId,title,genres\n0155061224,Isbn Book "
                                              "(1999),Drama\n007,Bond (1962),Action\n")
    write(tmp_path / "rb" / "rb.inter", "user_id:token\titem_id:token\trating:float\t"
                                        "timestamp:float\n" + "".join(
        f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    for path in (folder, tmp_path / "ml-1m", tmp_path / "ml-csv", tmp_path / "rb"):
        r = load_movielens(path)
        assert list(r.user_ids) == ["NA", "None", "null", "nan"], path
        assert list(r.item_ids) == ["007", "7", "0155061224"], path
        assert r.n_ratings == 4, path              # "007" and "7" are two items: nothing dropped
    info = load_movielens(tmp_path / "ml-csv").item_info.set_index("item")
    assert info.loc["0155061224", "title"] == "Isbn Book" and info.loc["007", "title"] == "Bond"
    r = load_csv(write(tmp_path / "c.csv", "user,item,rating\nNA,007,4\nnull,7,3\n"),
                 "user", "item", "rating")
    assert list(r.user_ids) == ["NA", "null"] and list(r.item_ids) == ["007", "7"]


def test_netflix_refuses_a_leading_zero_rather_than_merging(tmp_path):
    f = write(tmp_path / "nf" / "combined_data_1.txt", "1:\n10,3,2005-01-01\n010,4,2005-01-02\n")
    with pytest.raises(InputError) as e:
        load_netflix(f.parent)
    assert (e.value.line, e.value.value) == (3, "010,4,2005-01-02")
    assert "leading zero" in e.value.message


# ---------------------------------------------------------------------- 4. one decoder
NF_RATINGS = "1:\n10,3,2005-01-01\n2:\n11,4,2005-01-02\n"


@pytest.mark.parametrize("raw, titles, encoding", [
    ("1,2003,Café\n2,NULL,Amélie\n".encode("utf-8"), ["Café", "Amélie"], "UTF-8"),
    (b"\xef\xbb\xbf1,2003,Caf\xc3\xa9\n2,2004,B\n", ["Café", "B"], "UTF-8 (with BOM)"),
    (b"1,2003,Wait\x85\n2,2004,Don\x92t\n", ["Wait…", "Don’t"], "cp1252 (not valid UTF-8)"),
    ("1,2003,Café\n2,2004,Ünter\n".encode("utf-16"), ["Café", "Ünter"], "UTF-16"),
])
def test_netflix_titles_any_encoding(tmp_path, raw, titles, encoding):
    write(tmp_path / "nf" / "combined_data_1.txt", NF_RATINGS)
    write(tmp_path / "nf" / "movie_titles.csv", raw)
    r = load_netflix(tmp_path / "nf")
    assert r.item_info.set_index("item").loc[["1", "2"], "title"].tolist() == titles
    assert r.notices[-1] == ("text encoding: combined_data_1.txt: UTF-8; movie_titles.csv: "
                             + encoding)


def test_utf16_netflix_rating_file_is_read(tmp_path):
    write(tmp_path / "nf" / "combined_data_1.txt", NF_RATINGS.encode("utf-16"))
    r = load_netflix(tmp_path / "nf")
    assert r.to_frame()[["user", "item", "rating"]].values.tolist() == [["10", "1", 3.0],
                                                                        ["11", "2", 4.0]]
    assert r.notices[-1] == "text encoding: combined_data_1.txt: UTF-16"


def test_movielens_titles_use_the_same_decoder(tmp_path):
    folder = tmp_path / "ml-100k"
    write(folder / "u.data", "1\t1\t4\t5\n")
    flags = "|".join(["0"] * 19)
    write(folder / "u.item", f"1|Café (1995)|01-Jan-1995||x|{flags}\n".encode("utf-8"))
    r = load_movielens(folder)
    assert r.title(0) == "Café" and r.notices[-1].endswith("u.item: UTF-8")
    write(folder / "u.item", f"1|Don\x92t (1995)|01-Jan-1995||x|{flags}\n".encode("latin-1"))
    assert load_movielens(folder).title(0) == "Don’t"


def test_movies_dat_title_with_double_colon_is_kept(tmp_path):
    write(tmp_path / "ml-1m" / "ratings.dat", "1::1::5::9\n1::2::3::9\n")
    write(tmp_path / "ml-1m" / "movies.dat",
          "1::Star Wars: Episode IV::A New Hope (1977)::Sci-Fi\n2::Tab\there (1990)::Drama\n")
    info = load_movielens(tmp_path / "ml-1m").item_info
    assert info["title"].tolist() == ["Star Wars: Episode IV::A New Hope", "Tab\there"]
    assert info["genres"].tolist() == ["Sci-Fi", "Drama"]


# ---------------------------------------------------------------------- 5. stated properties
@pytest.mark.parametrize("engine", ENGINES)
def test_nmf_refuses_negative_ratings(engine):
    r = Ratings.from_arrays(["a", "a", "b"], ["x", "y", "x"], [-4, 3, 1], rating_scale=(-5, 5))
    with pytest.raises(InputError, match="NMF needs non-negative ratings .* down to -4"):
        fit_full(r, "nmf", {}, engine)
    with pytest.raises(InputError, match="NMF needs non-negative ratings"):
        cross_validate(r, "nmf", {}, engine, n_folds=2)


def test_breakdown_counts_negative_nmf_factors():
    from fixtures import make_ratings

    from recsys.explain import breakdown

    r = make_ratings(30, 40, 0.4, seed=4)
    for biased in (True, False):
        algo = fit_full(r, "nmf", {"biased": biased, "n_factors": 6, "n_epochs": 40}, "fast")
        b = breakdown(algo, r, r.user_ids[0], r.item_ids[1])
        neg = int((algo.pu < 0).sum() + (algo.qi < 0).sum())
        assert b["n_negative"] == neg and b["n_factor_values"] == algo.pu.size + algo.qi.size
        if neg:
            assert f"{neg:,} of {b['n_factor_values']:,} factors are negative" in b["explanation"]
            assert "≥ 0 (checked)" not in b["explanation"]
        else:
            assert "factors of this NMF model are ≥ 0 (checked)" in b["explanation"]
    assert not biased and neg == 0       # unbiased NMF keeps every factor >= 0


# ---------------------------------------------------------------------- 6. newest wins
def test_newest_duplicate_wins_in_every_loader(tmp_path):
    # (u1, i1) rated 5 at t=30 (newest), then 2 at t=10 later in the file; tie at t=50 -> last
    rows = [("u1", "i1", 5, 30), ("u2", "i1", 4, 50), ("u1", "i1", 2, 10), ("u2", "i1", 1, 50)]
    folder = tmp_path / "ml-100k"
    write(folder / "u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    r = load_movielens(folder)
    assert r.to_frame()[["user", "item", "rating"]].values.tolist() == [["u1", "i1", 5.0],
                                                                        ["u2", "i1", 1.0]]
    assert "2 (user, item) pair(s) rated more than once" in r.notices[0]
    assert "kept the newest rating of each pair (by timestamp; file order breaks ties); " \
           "dropped 2 older rating(s)" in r.notices[0]
    c = load_csv(write(tmp_path / "c.csv", "u,i,r,t\n" + "".join(
        f"{u},{i},{r_},{t}\n" for u, i, r_, t in rows)), "u", "i", "r", "t")
    assert c.ratings.tolist() == [5.0, 1.0] and c.timestamps.tolist() == [30, 50]
    nf = write(tmp_path / "nf" / "combined_data_1.txt",
               "1:\n10,5,2005-01-03\n11,4,2005-01-05\n10,2,2005-01-01\n11,1,2005-01-05\n")
    n = load_netflix(nf.parent)
    assert n.to_frame()[["user", "rating"]].values.tolist() == [["10", 5.0], ["11", 1.0]]
    nocl = load_csv(write(tmp_path / "d.csv", "u,i,r\na,x,5\na,x,2\n"), "u", "i", "r")
    assert nocl.ratings.tolist() == [2.0] and "file order (no timestamps)" in nocl.notices[1]


# ---------------------------------------------------------------------- 7. thin data
def test_thin_sample_is_flagged_with_figures():
    r = Ratings.from_arrays([f"u{k}" for k in range(20)] + ["u0"],
                            [f"i{k % 7}" for k in range(20)] + ["i1"], [3] * 20 + [4],
                            rating_scale=(1, 5))
    t = r.thinness(100)
    assert t == {"median_per_user": 1.0, "median_per_item": 3.0, "n_params": 27 * 101,
                 "n_factors": 100, "ratings_per_param": 21 / (27 * 101)}
    w = r.thin_warning()
    assert w.startswith("Thin data: the median user has 1 rating(s) and the median movie 3; "
                        "21 ratings for 2,727 parameters of MF at k=100 (0.0077 per parameter)")
    from fixtures import make_ratings
    assert make_ratings(60, 40, 0.5).thin_warning() is None


def test_reference_rows_and_indistinct_measures():
    from fixtures import make_ratings

    r = make_ratings(40, 30, 0.4, seed=2)
    refs = reference_results(r, n_folds=3, seed=0)
    assert [x["algo"] for x in refs] == ["globalmean", "baseline"]
    gm = refs[0]
    mu_rmse = []
    from recsys.evaluate import fold_indices
    for f in range(3):
        tr, te = fold_indices(r.n_ratings, 3, 0, f)
        mu = r.ratings[tr].astype(np.float64).mean()
        mu_rmse.append(np.sqrt(np.mean((r.ratings[te] - mu) ** 2)))
    assert gm["mean"]["rmse"] == pytest.approx(np.mean(mu_rmse), abs=1e-12)
    svd = cross_validate(r, "svd", {"n_factors": 4}, "fast", n_folds=3, seed=0)
    table = comparison_table([svd], refs)
    assert table["kind"].tolist() == ["model", "reference", "reference"]
    assert table.loc[1, "RMSE"] == gm["mean"]["rmse"]
    same = dict(svd, mean=dict(svd["mean"]), std=dict(svd["std"]))
    assert indistinct_measures([svd, same]) == ["precision@10", "recall@10", "ndcg@10",
                                                 "map@10", "hit@10"]
    apart = dict(svd, mean={**svd["mean"], "ndcg@10": svd["mean"]["ndcg@10"] + 1},
                 std={**svd["std"], "precision@10": 0.0, "recall@10": 0.0, "ndcg@10": 0.0})
    assert "ndcg@10" not in indistinct_measures([svd, apart])


def test_cli_cv_prints_reference_rows(tmp_path, capsys):
    from fixtures import make_ratings

    path = tmp_path / "r.csv"
    make_ratings(40, 30, 0.4, seed=2).to_frame()[["user", "item", "rating"]].to_csv(
        path, index=False)
    code, out, _ = cli(["cv", f"csv:{path}", "--folds", "3", "--factors", "4", "--json"],
                       capsys)
    doc = json.loads(out)
    assert [x["algo"] for x in doc["references"]] == ["globalmean", "baseline"]
    code, out, _ = cli(["cv", f"csv:{path}", "--folds", "3", "--factors", "4"], capsys)
    assert "Global mean (μ) reference" in out and "Baseline only" in out
