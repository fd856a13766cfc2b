"""Shared test setup: run from the repo root (AppTest resolves page paths from there)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _repo_root():
    old = os.getcwd()
    os.chdir(REPO)
    yield
    os.chdir(old)


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """The demo data fetched by `make test` (skipped outside `make`, never silently in CI)."""
    path = REPO / "data" / "ml-100k"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail("data/ml-100k is missing: `make test` fetches it before the tests")
        pytest.skip("data/ml-100k not fetched (run `make data`)")
    return path


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """A fresh data folder and cache for one test (``FACTORLAB_DATA``, ``FACTORLAB_CACHE``)."""
    monkeypatch.setenv("FACTORLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture(scope="module")
def csv_spec(tmp_path_factory):
    """``csv:`` spec of a 30-user x 40-item random 1..5 file (the CLI explorer tests)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    n_users, n_items = 30, 40
    cells = np.flatnonzero(rng.random(n_users * n_items) < 0.35)
    df = pd.DataFrame({"user": cells // n_items + 100, "item": cells % n_items + 1,
                       "rating": rng.integers(1, 6, size=len(cells))})
    path = tmp_path_factory.mktemp("cli") / "ratings.csv"
    df.to_csv(path, index=False)
    return f"csv:{path}"
