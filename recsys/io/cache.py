"""The one verified cache of parsed files (parquet under ``recsys.io.paths.cache_dir()``).

``cached_frame(paths, tag, parse, expect=...)`` returns ``parse()``'s DataFrame, stored once.
An entry is used only when every check passes, else it is rebuilt from the source:

1. Key (in the parquet metadata): format version, tag, and for every source file its absolute
   path, size, mtime and a *content fingerprint* (``fingerprint``: SHA-256 of the first and the
   last MiB, or of the whole file up to 2 MiB). A file replaced by another of the same size with
   its old mtime restored (``cp -p``, ``tar``, ``rsync -t``) changes the key.
2. Checksum (in the metadata): SHA-256 over every cached column (``frame_checksum``), checked
   after reading. One flipped bit in the file changes a value, fails the check, and the entry
   is rebuilt with a notice in ``frame.attrs["notices"]``.
3. Shape: the columns in ``expect`` must be there (a readable but foreign or outdated file is
   rebuilt, never blamed on the source).

Writes are atomic (a temporary file renamed over the old one). Temporaries are named with the
writer's pid; ``clean_stale_temporaries`` removes those whose writer is gone (killed mid-write)
or that are older than a day. A read-only or full cache folder costs speed, never correctness.
``DataFrame.attrs`` (JSON-serialisable, e.g. loader notices) survive the round trip.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .paths import cache_dir

#: Bump when the layout of cached frames changes: every old entry is then rebuilt.
FORMAT_VERSION = 2
#: Bytes read at each end of a source file for its fingerprint (whole file up to twice this).
FINGERPRINT_BYTES = 1 << 20
#: A temporary file older than this is removed even when its writer's pid is alive (reused).
STALE_SECONDS = 24 * 3600

_KEY = b"factorlab_key"
_ATTRS = b"factorlab_attrs"
_SUM = b"factorlab_sha256"
_TMP = re.compile(r"\.(\d+)\.[^.]+\.tmp$")


def fingerprint(path: Path) -> str:
    """SHA-256 (hex) of a file's size, first MiB and last MiB (whole file when ≤ 2 MiB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        h.update(str(size).encode())
        if size <= 2 * FINGERPRINT_BYTES:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        else:
            h.update(fh.read(FINGERPRINT_BYTES))
            fh.seek(size - FINGERPRINT_BYTES)
            h.update(fh.read(FINGERPRINT_BYTES))
    return h.hexdigest()


def sources_key(paths: list[Path]) -> list[list]:
    """[path, size, mtime_ns, fingerprint] of each file: what a cached result depends on."""
    out = []
    for p in paths:
        p = Path(p).resolve()
        st = p.stat()
        out.append([str(p), st.st_size, st.st_mtime_ns, fingerprint(p)])
    return out


def cache_key(paths: list[Path], tag: str) -> str:
    """The identity of a cache entry: version, tag, and each file's ``sources_key``."""
    return json.dumps({"version": FORMAT_VERSION, "tag": tag, "files": sources_key(paths)},
                      sort_keys=True)


def cache_path(paths: list[Path], tag: str) -> Path:
    """Where the entry for this (tag, paths) lives (independent of the files' contents)."""
    names = json.dumps([tag] + [str(Path(p).resolve()) for p in paths])
    digest = hashlib.sha256(names.encode("utf-8")).hexdigest()[:20]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)[:40] or "frame"
    return cache_dir() / f"{safe}-{digest}.parquet"


def frame_checksum(frame: pd.DataFrame) -> str:
    """SHA-256 over every column of ``frame`` (name, then values): the bytes of numeric numpy
    columns; pandas' per-row value hashes for text, nullable and other columns (the same before
    writing and after reading back, whatever string dtype pandas picks)."""
    h = hashlib.sha256()
    for col in frame.columns:
        s = frame[col]
        h.update(str(col).encode("utf-8") + b"\x00")
        if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":
            h.update(np.ascontiguousarray(s.to_numpy()).view(np.uint8))
        else:
            h.update(pd.util.hash_pandas_object(s, index=False).to_numpy().view(np.uint8))
    return h.hexdigest()


def cached_frame(paths: list[Path], tag: str, parse: Callable[[], pd.DataFrame],
                 expect: tuple[str, ...] = ()) -> pd.DataFrame:
    """``parse()``'s result, read from the verified cache when ``paths`` are unchanged.

    ``expect``: columns a good entry must have. A corrupt entry (unreadable, wrong checksum or
    shape) is rebuilt; the rebuilt frame carries a notice saying so.
    """
    key = cache_key(paths, tag)
    target = cache_path(paths, tag)
    clean_stale_temporaries(target.parent)
    hit, problem = _read(target, key, expect)
    if hit is not None:
        return hit
    frame = parse()
    _write(target, key, frame)
    if problem:   # said once, on this load (the rebuilt entry does not carry it)
        frame.attrs["notices"] = list(frame.attrs.get("notices", ())) + [
            f"the cache of parsed data ({target.name}) was {problem}; rebuilt it from the "
            "source files"]
    return frame


def _read(target: Path, key: str, expect) -> tuple[pd.DataFrame | None, str | None]:
    """(frame, None) on a verified hit; (None, None) when there is no entry for this key;
    (None, what was wrong) when the entry is corrupt."""
    if not target.is_file():
        return None, None
    try:
        meta = pq.read_schema(target).metadata or {}
    except Exception:  # noqa: BLE001  truncated or foreign file
        return None, "unreadable"
    if meta.get(_KEY) != key.encode("utf-8"):
        return None, None   # the sources changed (or an old format): an ordinary rebuild
    try:
        frame = _read_frame(target)
    except Exception:  # noqa: BLE001  a damaged page
        return None, "unreadable"
    if any(c not in frame.columns for c in expect):
        return None, "missing columns"
    if frame_checksum(frame) != meta.get(_SUM, b"").decode("ascii", "replace"):
        return None, "corrupt (its checksum did not match)"
    attrs = meta.get(_ATTRS)
    if attrs:
        try:
            frame.attrs.update(json.loads(attrs))
        except ValueError:
            return None, "corrupt (unreadable notes)"
    return frame, None


def _read_frame(target: Path) -> pd.DataFrame:
    """The parquet file as a DataFrame, converted one column at a time. Each column's row
    groups are joined into memory from the system allocator, given back to the OS when the
    column is freed, and the row groups' buffers are given back before the next column:
    Arrow's own pool keeps freed memory for reuse, ~1 GB held for nothing at 100M ratings.
    Peak: the table plus one column."""
    table = pq.read_table(target, pre_buffer=False)  # pre-buffering costs ~100 MB here
    if table.num_columns == 0 or len(set(table.column_names)) < table.num_columns:
        return table.to_pandas(split_blocks=True)
    cols = {}
    while table.num_columns:
        part = table.select([0])
        table = table.remove_column(0)
        col = part.to_pandas(split_blocks=True, self_destruct=True,
                             memory_pool=pa.system_memory_pool()).iloc[:, 0]
        del part
        pa.default_memory_pool().release_unused()
        cols[col.name] = col
    return pd.DataFrame(cols, copy=False)


def _write(target: Path, key: str, frame: pd.DataFrame) -> None:
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_KEY] = key.encode("utf-8")
        meta[_ATTRS] = json.dumps(frame.attrs).encode("utf-8")
        meta[_SUM] = frame_checksum(frame).encode("ascii")
        table = table.replace_schema_metadata(meta)
        fd, tmp = tempfile.mkstemp(prefix=f"{target.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=target.parent)
        os.close(fd)
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        tmp = None
    except OSError:
        pass   # a read-only or full cache folder costs speed, never correctness
    finally:
        if tmp is not None and os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(folder: Path) -> int:
    """Remove ``*.tmp`` files in ``folder`` left by a writer that died (its pid is gone) or
    older than ``STALE_SECONDS``; returns how many were removed."""
    removed = 0
    try:
        entries = list(Path(folder).glob("*.tmp"))
    except OSError:
        return 0
    now = time.time()
    for p in entries:
        m = _TMP.search(p.name)
        try:
            old = now - p.stat().st_mtime > STALE_SECONDS
            orphan = (not _alive(int(m.group(1)))) if m else now - p.stat().st_mtime > 60
            if old or orphan:
                p.unlink()
                removed += 1
        except OSError:
            continue
    return removed
