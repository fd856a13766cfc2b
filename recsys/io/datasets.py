"""Dataset specs: one string names any data the app and the CLI can load.

=========================================  ================================================
spec                                       loads
=========================================  ================================================
``ml-100k``                                ``<data>/ml-100k`` (fetched and verified if missing)
``netflix:PATH``                           ``recsys.io.netflix.load_netflix(PATH)``
``movielens:PATH``                         ``recsys.io.movielens.load_movielens(PATH)``
``csv:PATH``                               ``recsys.io.csv.load_csv`` with columns guessed by name
``synthetic[:users=N,items=M,...]``        ``recsys.io.synth.load_synthetic(params)``
=========================================  ================================================
"""
from __future__ import annotations

from pathlib import Path

from . import paths
from ..data import Ratings
from ..errors import InputError, cap

FORMS = ("ml-100k", "netflix:PATH", "movielens:PATH", "csv:PATH",
         "synthetic[:users=N,items=M,ratings=R,seed=S]")
DEMO = ("MovieLens 100K (demo)", "ml-100k")
SYNTHETIC_DEMO = ("Synthetic (demo)", "synthetic")


def _unknown(spec: str) -> InputError:
    hint = ""
    if spec and Path(spec).expanduser().exists():
        hint = "; for a path, prefix it with netflix:, movielens: or csv:"
    return InputError(f"unknown dataset; use one of: {' | '.join(FORMS)}{hint}", value=spec)


def parse_spec(spec: str) -> tuple[str, str]:
    """(kind, argument) of a dataset spec; InputError listing the forms when unknown."""
    spec = (spec or "").strip()
    if spec == "ml-100k":
        return "ml-100k", ""
    if spec == "synthetic":
        return "synthetic", ""
    kind, sep, arg = spec.partition(":")
    if sep and kind in ("netflix", "movielens", "csv", "synthetic"):
        if kind != "synthetic" and not arg.strip():
            raise InputError(f"{kind}: needs a path, e.g. {kind}:data/...", value=spec)
        return kind, arg.strip()
    raise _unknown(spec)


def parse_params(text: str) -> dict:
    """``users=500,items=200,seed=1`` -> {"users": 500, "items": 200, "seed": 1}."""
    params: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise InputError("synthetic parameters are key=value pairs separated by commas",
                             value=part)
        for cast in (int, float):
            try:
                params[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            params[key] = value
    return params


def load_dataset(spec: str, rating_scale: tuple[float, float] | None = None) -> Ratings:
    """The full ``Ratings`` a spec names (sampling is the caller's job).

    ``rating_scale`` (lowest, highest) overrides the scale of ``csv:``, ``movielens:`` and
    ``netflix:`` data (``--rating-scale LOW,HIGH`` in the CLI); InputError for other specs.
    """
    kind, arg = parse_spec(spec)
    if rating_scale is not None and kind not in ("csv", "movielens", "netflix"):
        raise InputError("a rating scale can be given for csv:, movielens: and netflix: data "
                         "only", value=spec)
    if kind == "ml-100k":
        from .fetch import fetch_ml100k
        from .movielens import load_movielens

        r = load_movielens(fetch_ml100k())
        return r if r.name == "MovieLens 100K" else _renamed(r, "MovieLens 100K")
    if kind == "netflix":
        from .netflix import load_netflix

        return load_netflix(Path(arg).expanduser(), rating_scale=rating_scale)
    if kind == "movielens":
        from .movielens import load_movielens

        return load_movielens(Path(arg).expanduser(), rating_scale=rating_scale)
    if kind == "csv":
        return load_csv_guessing(Path(arg).expanduser(), rating_scale=rating_scale)
    from .synth import load_synthetic

    return load_synthetic(parse_params(arg))


def source_files(spec: str) -> list[Path]:
    """The files that the data of ``spec`` is read from (what its content depends on); empty
    when they do not exist yet (a demo not fetched, a synthetic set not generated)."""
    kind, arg = parse_spec(spec)
    try:
        if kind == "ml-100k":
            folder = paths.data_dir() / "ml-100k"
            return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        if kind == "netflix":
            from .netflix import find_netflix_files

            files, titles = find_netflix_files(Path(arg).expanduser())
            return files + ([titles] if titles else [])
        if kind == "movielens":
            from .movielens import detect_layout

            _, rating_file = detect_layout(Path(arg).expanduser())
            siblings = [p for p in rating_file.parent.iterdir() if p.is_file()]
            return sorted(siblings) if len(siblings) <= 50 else [rating_file]
        if kind == "csv":
            p = Path(arg).expanduser()
            return [p] if p.is_file() else []
        from .synth import synthetic_folder

        folder = synthetic_folder(parse_params(arg))
        return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    except (InputError, OSError):
        return []


def dataset_version(spec: str) -> str:
    """A short content hash of ``spec``'s source files (size, mtime and ``fingerprint`` of
    each, as the parquet cache keys them): the app keys its in-memory cache on it, so a file
    changed on disk is read again."""
    import hashlib
    import json

    from .cache import sources_key

    try:
        key = sources_key(source_files(spec))
    except OSError:
        key = []
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def _renamed(r: Ratings, name: str) -> Ratings:
    from dataclasses import replace

    return replace(r, name=name)


def load_csv_guessing(path, rating_scale=None) -> Ratings:
    """``csv:PATH``: a delimited file whose columns are recognised by name
    (userId/user_id/user, movieId/item_id/item, rating/score/stars, timestamp/time/date)."""
    from .csv import guess_columns, load_csv, sniff_columns

    columns = sniff_columns(path)
    g = guess_columns(columns)
    missing = [role for role in ("user", "item", "rating") if g[role] is None]
    if missing:
        raise InputError(f"cannot tell which column holds the {' and '.join(missing)}; columns "
                         f"found: {cap(', '.join(columns))} (name them e.g. userId, movieId, rating)",
                         file=str(path))
    return load_csv(path, g["user"], g["item"], g["rating"], g["timestamp"],
                    rating_scale=rating_scale)


# ---------------------------------------------------------------------- discovery
def _is_netflix_folder(folder: Path) -> bool:
    return (any(folder.glob("combined_data_*.txt")) or any(folder.glob("mv_*.txt"))
            or any((folder / "training_set").glob("mv_*.txt")))


def list_datasets(root=None) -> list[tuple[str, str]]:
    """(label, spec) of the demo sets plus every Netflix and MovieLens folder under the data dir.

    Netflix: ``<data>/netflix`` itself and its sub-folders holding ``combined_data_*.txt``,
    ``training_set/mv_*.txt`` or ``mv_*.txt``. MovieLens: folders (one or two levels under
    ``<data>``) that ``recsys.io.movielens.detect_layout`` recognises, except the demo's ``ml-100k``.
    """
    from .movielens import dataset_label, is_movielens_folder

    root = Path(root) if root is not None else paths.data_dir()
    out = [DEMO, SYNTHETIC_DEMO]
    nf = root / "netflix"
    if nf.is_dir():
        for folder in [nf] + _subdirs(nf):
            if _is_netflix_folder(folder):
                where = "data/netflix" if folder == nf else f"data/netflix/{folder.name}"
                out.append((f"Netflix Prize ({where})", f"netflix:{folder}"))
    for folder in _subdirs(root):
        if folder.name == "netflix":
            continue
        for cand in [folder] + _subdirs(folder):
            if cand == root / "ml-100k":
                continue
            if is_movielens_folder(cand):
                out.append((f"{dataset_label(cand)} ({cand.relative_to(root)})",
                            f"movielens:{cand}"))
    return out


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
