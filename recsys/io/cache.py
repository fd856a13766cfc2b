"""A parquet cache for parsed rating files.

``cached_frame(paths, tag, parse)`` returns ``parse()``'s DataFrame, stored once under
``recsys.paths.cache_dir()``. One cache file per (tag, set of absolute paths); inside it, the key
(format version, tag, and every file's absolute path, size and mtime) is kept in the parquet
metadata, so editing or touching a source file rebuilds the entry in place. Writes are atomic (a
temporary file renamed over the old one); an unreadable or corrupt cache file is ignored and
rebuilt.
``DataFrame.attrs`` (JSON-serialisable, e.g. loader notices) survive the round trip.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .paths import cache_dir

#: Bump when the layout of cached frames changes: every old entry is then rebuilt.
FORMAT_VERSION = 1

_KEY = b"factorlab_key"
_ATTRS = b"factorlab_attrs"


def cache_key(paths: list[Path], tag: str) -> str:
    """The identity of a cache entry: version, tag, and each file's absolute path, size, mtime."""
    files = []
    for p in paths:
        p = Path(p).resolve()
        st = p.stat()
        files.append([str(p), st.st_size, st.st_mtime_ns])
    return json.dumps({"version": FORMAT_VERSION, "tag": tag, "files": files}, sort_keys=True)


def cache_path(paths: list[Path], tag: str) -> Path:
    """Where the entry for this (tag, paths) lives (independent of sizes and mtimes)."""
    names = json.dumps([tag] + [str(Path(p).resolve()) for p in paths])
    digest = hashlib.sha256(names.encode("utf-8")).hexdigest()[:20]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)[:40] or "frame"
    return cache_dir() / f"{safe}-{digest}.parquet"


def cached_frame(paths: list[Path], tag: str, parse: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``parse()``'s result, read from the parquet cache when ``paths`` are unchanged."""
    key = cache_key(paths, tag)
    target = cache_path(paths, tag)
    hit = _read(target, key)
    if hit is not None:
        return hit
    frame = parse()
    _write(target, key, frame)
    return frame


def _read(target: Path, key: str) -> pd.DataFrame | None:
    if not target.is_file():
        return None
    try:
        meta = pq.read_schema(target).metadata or {}
        if meta.get(_KEY) != key.encode("utf-8"):
            return None
        table = pq.read_table(target, pre_buffer=False)  # pre-buffering costs ~100 MB here
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        attrs = meta.get(_ATTRS)
        if attrs:
            frame.attrs.update(json.loads(attrs))
        return frame
    except Exception:  # corrupt, truncated or foreign file: rebuild it
        return None


def _write(target: Path, key: str, frame: pd.DataFrame) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_KEY] = key.encode("utf-8")
        meta[_ATTRS] = json.dumps(frame.attrs).encode("utf-8")
        table = table.replace_schema_metadata(meta)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        # A read-only or full cache folder costs speed, never correctness.
        pass
