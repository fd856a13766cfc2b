"""Where data and caches live. ``FACTORLAB_DATA`` overrides the data folder (tests use it)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The data folder: $FACTORLAB_DATA or <repo>/data."""
    return Path(os.environ.get("FACTORLAB_DATA", REPO_DIR / "data"))


def cache_dir() -> Path:
    """Parsed-file caches (parquet): $FACTORLAB_CACHE or <data>/.cache."""
    return Path(os.environ.get("FACTORLAB_CACHE", data_dir() / ".cache"))
