"""``python -m recsys fetch ml-100k``: the MovieLens 100K demo data, verified by content.

Two sources, tried in order:

1. GroupLens: ``ml-100k.zip`` (the ``ml-100k/`` folder: ``u.data``, ``u.item``, ...), accepted when
   the canonical hash of its rating table equals ``ML100K_CANONICAL``.
2. PyPI: the ``recbole==1.2.1`` wheel (``pip download --no-deps``) ships the same ratings as
   RecBole atomic files; ``ml-100k.inter`` and ``ml-100k.item`` are extracted and accepted when
   their SHA-256 equal ``RECBOLE_FILES``.

Canonical hash: the (user, item, rating, timestamp) rows as little-endian int64, sorted by user,
then item, rating, timestamp, hashed with SHA-256; both copies give ``ML100K_CANONICAL``
(computed from the RecBole copy). Files are written to a staging folder beside the target and
renamed into place, so a failed or concurrent fetch never leaves a half-written ``ml-100k``.
A ``SOURCE`` file records where the copy came from.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import paths
from ..errors import InputError

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_MEMBER_DIR = "recbole/dataset_example/ml-100k/"
#: SHA-256 of the files inside the recbole 1.2.1 wheel.
RECBOLE_FILES = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
#: Canonical hash of the 100,000 ratings (see the module docstring).
ML100K_CANONICAL = "ec862504a8c24b195f5194e51fb18bb2d59428d00d96d6d1c63433a3bd5f2f47"
SOURCE_FILE = "SOURCE"


# ---------------------------------------------------------------------- hashing and checks
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical_hash(users, items, ratings, timestamps) -> str:
    """SHA-256 of the rating table as sorted little-endian int64 rows (order-independent)."""
    cols = [np.asarray(c) for c in (users, items, ratings, timestamps)]
    for c in cols:
        if c.dtype.kind == "f" and not np.all(np.mod(c, 1) == 0):
            bad = c[np.mod(c, 1) != 0][0]
            raise InputError("canonical hash needs whole numbers", value=str(bad))
    table = np.column_stack([c.astype(np.int64) for c in cols])
    order = np.lexsort(table.T[::-1])
    return hashlib.sha256(np.ascontiguousarray(table[order]).astype("<i8").tobytes()).hexdigest()


def canonical_hash_of_file(path: Path, *, header: bool) -> str:
    """Canonical hash of a tab-separated user, item, rating, timestamp file (u.data or .inter)."""
    try:
        df = pd.read_csv(path, sep="\t", header=0 if header else None, usecols=[0, 1, 2, 3])
        return canonical_hash(*(df.iloc[:, k].to_numpy() for k in range(4)))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read ratings to verify them ({err})", file=str(path)) from None


def verify_ml100k(folder) -> str:
    """"grouplens" or "recbole" when ``folder`` holds a verified MovieLens 100K copy;
    InputError saying what is wrong otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("MovieLens 100K not found", file=str(folder))
    if (folder / "u.data").is_file():
        if not (folder / "u.item").is_file():
            raise InputError("u.item is missing", file=str(folder))
        got = canonical_hash_of_file(folder / "u.data", header=False)
        if got != ML100K_CANONICAL:
            raise InputError("ratings do not match MovieLens 100K (canonical hash mismatch)",
                             file=str(folder / "u.data"), value=got[:16])
        return "grouplens"
    if (folder / "ml-100k.inter").is_file():
        for name, want in RECBOLE_FILES.items():
            p = folder / name
            if not p.is_file():
                raise InputError(f"{name} is missing", file=str(folder))
            got = sha256_file(p)
            if got != want:
                raise InputError("SHA-256 mismatch: the file is corrupt or not the expected copy",
                                 file=str(p), value=got[:16])
        return "recbole"
    raise InputError("no MovieLens 100K files here (u.data or ml-100k.inter)", file=str(folder))


def read_source(folder) -> str:
    """The one-line provenance written by ``fetch_ml100k`` (or "unknown")."""
    p = Path(folder) / SOURCE_FILE
    return p.read_text(encoding="utf-8").splitlines()[0] if p.is_file() else "unknown"


# ---------------------------------------------------------------------- the two sources
def _from_grouplens(staging: Path, url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https URL)
        blob = resp.read()
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        members = [m for m in zf.namelist()
                   if m.startswith("ml-100k/") and "/" not in m[len("ml-100k/"):]
                   and not m.endswith("/")]
        if "ml-100k/u.data" not in members:
            raise InputError("the GroupLens zip has no ml-100k/u.data", file=url)
        for m in members:
            (staging / m[len("ml-100k/"):]).write_bytes(zf.read(m))
    kind = verify_ml100k(staging)
    return f"GroupLens {url} (canonical hash {ML100K_CANONICAL[:16]}..., {kind})"


def _download_wheel(tmp: Path, timeout: float) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "--timeout", str(int(timeout)),
           RECBOLE_REQUIREMENT, "-d", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InputError(f"pip download {RECBOLE_REQUIREMENT} failed: {err}") from None
    wheels = sorted(tmp.glob("recbole-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines()
                or ["no wheel downloaded"])[-1]
        raise InputError(f"pip download {RECBOLE_REQUIREMENT} failed: {last.strip()}")
    return wheels[0]


def extract_from_wheel(wheel: Path, staging: Path) -> str:
    """Copy ml-100k.inter/.item out of a recbole wheel into ``staging`` and verify them."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name in RECBOLE_FILES:
                try:
                    data = zf.read(RECBOLE_MEMBER_DIR + name)
                except KeyError:
                    raise InputError(f"{RECBOLE_MEMBER_DIR}{name} is not in the wheel",
                                     file=str(wheel)) from None
                (staging / name).write_bytes(data)
    except zipfile.BadZipFile:
        raise InputError("not a wheel (bad zip file)", file=str(wheel)) from None
    verify_ml100k(staging)
    return (f"PyPI {RECBOLE_REQUIREMENT} wheel ({wheel.name}), {RECBOLE_MEMBER_DIR}, "
            "SHA-256 verified")


def _from_pypi(staging: Path, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="factorlab-pip-") as tmp:
        wheel = _download_wheel(Path(tmp), timeout)
        return extract_from_wheel(wheel, staging)


# ---------------------------------------------------------------------- entry point
def fetch_ml100k(data_dir=None, *, force: bool = False, url: str | None = None,
                 timeout: float = 10.0, log: Callable[[str], None] | None = None) -> Path:
    """``<data>/ml-100k``, fetched and verified if it is not there yet.

    An existing folder is returned when it verifies. One that does not is replaced when it has
    our ``SOURCE`` file (a damaged earlier fetch) or ``force`` is set; otherwise InputError (it
    may be the user's own files). Network failures on GroupLens fall through to PyPI; when both
    fail the InputError names both reasons.
    """
    log = log or (lambda msg: None)
    url = url or ML100K_URL
    root = Path(data_dir) if data_dir is not None else paths.data_dir()
    target = root / "ml-100k"
    if target.exists():
        try:
            verify_ml100k(target)
            return target
        except InputError as err:
            if not (force or (target / SOURCE_FILE).is_file()):
                raise InputError(f"{target} exists but is not a verified MovieLens 100K copy "
                                 f"({err}); move it away or fetch with --force") from None
            log(f"replacing unverified copy: {err}")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ml-100k-", dir=root))
    try:
        reasons = []
        source = None
        try:
            log(f"trying GroupLens: {url}")
            source = _from_grouplens(staging, url, timeout)
        except (OSError, zipfile.BadZipFile, InputError, ValueError) as err:
            reasons.append(f"GroupLens: {_short(err)}")
            for p in staging.iterdir():
                p.unlink()
            log(f"GroupLens unreachable ({_short(err)}); trying PyPI {RECBOLE_REQUIREMENT}")
            try:
                source = _from_pypi(staging, timeout)
            except InputError as err2:
                reasons.append(f"PyPI: {err2}")
        if source is None:
            raise InputError("could not fetch MovieLens 100K: " + "; ".join(reasons))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        (staging / SOURCE_FILE).write_text(f"{source}\nfetched {stamp}\n", encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp made it private
        _install(staging, target)
        verify_ml100k(target)
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _install(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, moving an old (unverified) copy out of the way first."""
    if target.exists():
        try:
            verify_ml100k(target)
            return  # another process installed a good copy meanwhile
        except InputError:
            pass
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        # Another process installed a copy meanwhile: keep it when it verifies.
        verify_ml100k(target)


def _short(err: BaseException) -> str:
    text = str(getattr(err, "reason", None) or err)
    return text.splitlines()[0][:200] if text else type(err).__name__
