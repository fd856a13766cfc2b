"""Issue 12: caches that cannot lie, text that never renders as markup, bounded and exact
messages, no traceback (each class with the right value)."""
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures import run_cli as cli, write_file as write

from recsys.errors import InputError, cap
from recsys.io import cache as cache_mod
from recsys.io.csv import load_csv
from recsys.io.datasets import dataset_version, load_dataset
from recsys.io.movielens import load_movielens
from recsys.safetext import csv_cell, csv_safe, md, plotly

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("isolated_data")


def ml100k(folder, rows=None):
    rows = rows or [(u, i, 1 + (u * 7 + i) % 5, 1000 + u * 50 + i)
                    for u in range(1, 40) for i in range(1, 30) if (u + i) % 3]
    write(folder / "u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    return folder


# ---------------------------------------------------------------------- 1. caches
def test_a_flipped_bit_is_never_served(tmp_path):
    folder = ml100k(tmp_path / "ml-100k")
    ref = load_movielens(folder)
    entry = next((tmp_path / "cache").glob("ml100k-ratings*.parquet"))
    good = entry.read_bytes()
    rng = random.Random(0)
    for trial in range(24):
        bad = bytearray(good)
        pos = rng.randrange(len(bad))
        bad[pos] ^= 1 << rng.randrange(8)
        entry.write_bytes(bytes(bad))
        r = load_movielens(folder)
        assert np.array_equal(r.ratings, ref.ratings) and np.array_equal(r.users, ref.users)
        assert np.array_equal(r.timestamps, ref.timestamps)
        assert list(r.user_ids) == list(ref.user_ids) and list(r.item_ids) == list(ref.item_ids)
        assert load_movielens(folder).notices == ref.notices    # the rebuilt entry verifies
        entry.write_bytes(good)


def test_a_changed_value_under_a_valid_key_fails_the_checksum(tmp_path):
    import pyarrow.parquet as pq

    folder = ml100k(tmp_path / "ml-100k")
    ref = load_movielens(folder)
    entry = next((tmp_path / "cache").glob("ml100k-ratings*.parquet"))
    table = pq.read_table(entry)
    meta = table.schema.metadata
    frame = table.to_pandas()
    frame.loc[0, "rating"] = frame.loc[0, "rating"] % 5 + 1          # a 1 became a 2, say
    import pyarrow as pa
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False)
                   .replace_schema_metadata(meta), entry)           # same key, old checksum
    r = load_movielens(folder)
    assert np.array_equal(r.ratings, ref.ratings)
    assert any("was corrupt (its checksum did not match); rebuilt it" in n for n in r.notices)


def test_checksum_covers_every_column():
    a = pd.DataFrame({"u": np.array([1, 2], np.int32), "s": ["x", None],
                      "y": pd.array([1, None], dtype="Int64"), "r": np.array([1., 2.], "f4")})
    base = cache_mod.frame_checksum(a)
    for col, value in (("u", 3), ("s", "z"), ("y", 5), ("r", 2.5)):
        b = a.copy()
        b.loc[1, col] = value
        assert cache_mod.frame_checksum(b) != base, col


def test_same_size_file_with_restored_mtime_is_reread(tmp_path):
    folder = ml100k(tmp_path / "ml-100k")
    f = folder / "u.data"
    before = load_movielens(folder)
    st = f.stat()
    data = f.read_bytes()
    first = data.split(b"\n", 1)[0].split(b"\t")
    first[2] = str(int(first[2]) % 5 + 1).encode()
    f.write_bytes(b"\t".join(first) + b"\n" + data.split(b"\n", 1)[1])  # same size, 1 rating
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))        # cp -p / tar / rsync -t
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    after = load_movielens(folder)
    assert (after.ratings != before.ratings).sum() == 1


def test_app_cache_key_follows_the_content(tmp_path):
    path = write(tmp_path / "data" / "r.csv", "user,item,rating\n1,a,4\n2,a,3\n")
    v1 = dataset_version(f"csv:{path}")
    assert v1 == dataset_version(f"csv:{path}")
    with open(path, "a") as fh:
        fh.write("3,b,5\n")
    assert dataset_version(f"csv:{path}") != v1
    assert load_dataset(f"csv:{path}").n_ratings == 3


def test_stale_temporaries_are_removed(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = folder / f"x.parquet.{dead.pid}.abcd1234.tmp"
    mine = folder / f"y.parquet.{os.getpid()}.abcd1234.tmp"
    old = folder / f"z.parquet.{os.getpid()}.old12345.tmp"
    for p in (orphan, mine, old):
        p.write_bytes(b"partial")
    os.utime(old, (time.time() - 2 * cache_mod.STALE_SECONDS,) * 2)
    assert cache_mod.clean_stale_temporaries(folder) == 2
    assert sorted(p.name for p in folder.iterdir()) == [mine.name]


def test_readable_but_wrong_cache_is_rebuilt_not_blamed(tmp_path):
    src = write(tmp_path / "a.txt", "x")
    good = pd.DataFrame({"user": [1], "item": [2], "rating": [3.0]})
    key = cache_mod.cache_key([src], "t")
    target = cache_mod.cache_path([src], "t")
    cache_mod._write(target, key, good.drop(columns=["rating"]))   # verified, wrong shape
    got = cache_mod.cached_frame([src], "t", lambda: good.copy(),
                                 expect=("user", "item", "rating"))
    assert list(got.columns) == ["user", "item", "rating"]
    assert "missing columns" in got.attrs["notices"][0]


# ---------------------------------------------------------------------- 2. user text is text
HOSTILE = ["**x**", "$x$", "<b>x</b>", ":red[x]", "[a](javascript:alert(1))", "_x_", "`x`",
           "# x", "![i](data:image/png;base64,AAAA)", "\\*x\\*", "line\nbreak"]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_escape_shows_the_text_itself(text):
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(md(text))
    assert "<strong>" not in html and "<em>" not in html and "<a " not in html
    assert "<img" not in html and "<code>" not in html and "<h1>" not in html
    assert "<b>" not in html                           # raw HTML stays text
    # every character of the original is on the page (line breaks as spaces)
    visible = MarkdownIt("commonmark").render(md(text))
    import html as h
    plain = h.unescape(visible.replace("<p>", "").replace("</p>", "")).strip()
    assert plain == text.replace("\n", " ")
    assert "$" not in md(text) or "\\$" in md(text)    # no KaTeX math
    assert ":red[" not in md(text)                      # no Streamlit colour directive


def test_plotly_and_csv_helpers():
    assert plotly("<b>x</b> & <a href='y'>") == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=&#x27;y&#x27;&gt;"
    assert [csv_cell(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "ok", 5)] == [
        "'=1+1", "'+1", "'-2", "'@SUM(A1)", "'\tx", "ok", 5]
    df = csv_safe(pd.DataFrame({"title": ["=HYPERLINK(\"x\")", "Heat"], "score": [-1.0, 2.0]}))
    assert df["title"].tolist() == ["'=HYPERLINK(\"x\")", "Heat"]
    assert df["score"].tolist() == [-1.0, 2.0]             # numbers stay numbers


def test_map_out_neutralises_formulas(tmp_path, capsys):
    from fixtures import make_ratings

    r = make_ratings(30, 20, 0.5)
    titles = "item,title\n" + "".join(f"m{i},{'=cmd|x' if i == 0 else f'M{i}'}\n"
                                      for i in range(20))
    path = tmp_path / "r.csv"
    r.to_frame()[["user", "item", "rating"]].to_csv(path, index=False)
    ratings = load_csv(path, "user", "item", "rating",
                       titles_path=write(tmp_path / "t.csv", titles))
    assert ratings.item_info.set_index("item").loc["m0", "title"] == "=cmd|x"
    from recsys.models import fit_full
    from recsys.embed import item_map
    df = item_map(fit_full(ratings, "svd", {"n_factors": 3}, "fast"), ratings, method="pca")
    assert (df["title"] == "=cmd|x").any()
    write(tmp_path / "data" / "x", "")
    out = tmp_path / "map.csv"
    spec = f"csv:{path}"
    # through the CLI (titles come from the CSV loader's guess: none), then the helper itself
    code, _, err = cli(["map", spec, "--method", "pca", "--out", str(out), "--factors", "3"],
                       capsys)
    assert code == 0 and not err
    safe = csv_safe(df)
    assert (safe["title"] == "'=cmd|x").any() and not safe["title"].str.startswith("=").any()


# ---------------------------------------------------------------------- 3. bounded messages
def test_a_huge_value_gives_a_short_line(tmp_path, capsys):
    f = write(tmp_path / "r.csv", "user,item,rating\n1,2,4\n1,3," + "x" * 5_000_000 + "\n")
    code, _, err = cli(["info", f"csv:{f}"], capsys)
    assert code == 2 and len(err) == 1 and len(err[0]) < 400
    assert err[0].endswith("… (5,000,002 characters))") and ", line 3: " in err[0]


@pytest.mark.parametrize("content, line, words, value", [
    ("user,item,rating\n1,2,4\n1,3,NaN\n", 3, "missing rating", "NaN"),
    ("user,item,rating\n1,2,4\n1,3,NULL\n", 3, "missing rating", "NULL"),
    ("user,item,rating\n1,2,4\n1,3,1e308\n", 3, "too large", "1e308"),
    ("user,item,rating\n1,2,4\n1,\"3,4\n2,2,3\n", 3, "quoted field is never closed",
     "1,\"3,4"),
    ("x" * 200_000, 1, "longer than 64 KiB", None),
])
def test_messages_name_file_line_and_value(tmp_path, content, line, words, value):
    f = write(tmp_path / "r.csv", content)
    with pytest.raises(InputError) as e:
        load_dataset(f"csv:{f}")
    assert e.value.file == str(f) and e.value.line == line and words in e.value.message
    if value is not None:
        assert e.value.value == value


def test_binary_without_nul_bytes_is_not_text(tmp_path):
    rng = random.Random(0)
    f = write(tmp_path / "r.csv", bytes(rng.randint(128, 255) for _ in range(5000)))
    with pytest.raises(InputError, match="not a text file"):
        load_dataset(f"csv:{f}")


def test_tab_in_ratings_dat_names_its_line(tmp_path):
    write(tmp_path / "ml-1m" / "ratings.dat", "1::1::5::9\n1::2\t::3::9\n")
    with pytest.raises(InputError) as e:
        load_movielens(tmp_path / "ml-1m")
    assert e.value.line == 2 and e.value.value == "1::2\t::3::9"


def test_cap():
    assert cap("abc") == "abc" and cap("a\nb") == "a\\nb"
    assert cap("x" * 100, 10) == "xxxxxxxxxx… (100 characters)"


# ---------------------------------------------------------------------- 4. no traceback
def test_cli_never_prints_a_traceback(tmp_path, capsys):
    csv = write(tmp_path / "r.csv", "user,item,rating\n1,a,4\n2,a,3\n2,b,5\n1,b,2\n")
    for argv, words in ((["info", f"csv:{csv}", "--seed", "-1"], "--seed must be"),
                        (["cv", f"csv:{csv}", "--threshold", "nan"], "relevance threshold"),
                        (["info", f"csv:{tmp_path}"], "is a folder")):
        code, _, err = cli(argv, capsys)
        assert code == 2 and len(err) == 1 and words in err[0], (argv, err)


def test_fifo_is_refused_not_waited_on(tmp_path, capsys):
    fifo = tmp_path / "ratings.csv"
    os.mkfifo(fifo)
    for spec in (f"csv:{fifo}", f"movielens:{fifo}", f"netflix:{fifo}"):
        code, _, err = cli(["info", spec], capsys)
        assert code == 2 and "not a regular file" in err[0], spec


def test_broken_pipe_and_empty_result(tmp_path):
    from fixtures import make_ratings

    path = tmp_path / "r.csv"
    make_ratings(30, 20, 0.5).to_frame()[["user", "item", "rating"]].to_csv(path, index=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = (f"{sys.executable} -m recsys recommend csv:{path} --user u1 -n 20 --factors 3 "
           "| head -1")
    p = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=120)
    assert p.returncode == 0 and "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "recsys", "recommend", f"csv:{path}", "--user",
                        "u1", "--min-ratings", "1000", "--factors", "3"], capture_output=True,
                       text=True, env=env, cwd=REPO, timeout=120)
    assert p.returncode == 0 and "Empty DataFrame" not in p.stdout
    assert "(no rows: no movie passes the filters)" in p.stdout


def test_full_disk_while_writing_synthetic_data_is_one_line(tmp_path, capsys, monkeypatch):
    from recsys.io import synth

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(synth, "write_netflix", full)
    code, _, err = cli(["info", "synthetic:users=50,items=20,ratings=300"], capsys)
    assert code == 2 and err[0].startswith("error: ") and "No space left on device" in err[0]
    # and the cache: a full cache folder costs speed, never correctness
    monkeypatch.setattr(cache_mod.pq, "write_table", full)
    f = write(tmp_path / "r.csv", "user,item,rating\n1,a,4\n2,a,3\n")
    assert load_dataset(f"csv:{f}").n_ratings == 2
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_server_hides_tracebacks_from_users():
    text = (REPO / ".streamlit" / "config.toml").read_text()
    assert 'showErrorDetails = "type"' in text
