"""Set-up from a fresh clone, the first impression (issue 13, goals 7 and 9).

Rows (``python -m recsys bench --section setup``; needs git, network to PyPI, and a free port):

* installing requirements.txt into a fresh venv with uv and with pip, caches off (``UV_NO_CACHE``,
  ``PIP_NO_CACHE_DIR``), side by side: what ``make``'s venv step costs with each installer;
* a fresh clone of this repository's HEAD (``git clone``), then ``make run``: seconds until the
  server is healthy and the first page is served (HTTP 200 for ``/``), with the venv, the demo
  data and the kernel warm-up included. Skipped under ``--quick``.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from .fast import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _venv_install(installer: str, workdir: str) -> float:
    """Seconds to create a venv and install requirements.txt with ``installer`` (uv or pip)."""
    venv = os.path.join(workdir, f"venv-{installer}")
    py = os.path.join(venv, "bin", "python")
    env = dict(os.environ, UV_NO_CACHE="1", PIP_NO_CACHE_DIR="1")
    req = os.path.join(REPO, "requirements.txt")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, env=env)
    if installer == "uv":
        uv = shutil.which("uv")
        if uv is None:
            subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            f"uv=={_uv_version()}"], check=True, env=env)
            uv = os.path.join(venv, "bin", "uv")
        subprocess.run([uv, "pip", "install", "-q", "--python", py, "-r", req], check=True,
                       env=env)
    else:
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                        req], check=True, env=env)
    return time.perf_counter() - t


def _uv_version() -> str:
    with open(os.path.join(REPO, "Makefile")) as f:
        for line in f:
            if line.startswith("UV_VERSION"):
                return line.split("=", 1)[1].strip()
    return "0.13.8"


def _fresh_clone_first_page(workdir: str, timeout: float = 900) -> dict:
    clone = os.path.join(workdir, "clone")
    t0 = time.perf_counter()
    subprocess.run(["git", "clone", "-q", REPO, clone], check=True)
    port = _free_port()
    log = open(os.path.join(workdir, "make-run.log"), "w")
    proc = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=clone, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={k: v for k, v in os.environ.items()
                                 if k not in ("VIRTUAL_ENV", "PYTHONPATH", "FACTORLAB_DATA")})
    healthy = page = None
    try:
        while time.perf_counter() - t0 < timeout and proc.poll() is None:
            try:
                if healthy is None:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                                timeout=2) as r:
                        if r.status == 200:
                            healthy = time.perf_counter() - t0
                if healthy is not None:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                        if r.status == 200:
                            page = time.perf_counter() - t0
                            break
            except OSError:
                pass
            time.sleep(0.25)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # make and the server it started, by group id
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    with open(os.path.join(workdir, "make-run.log")) as f:
        text = f.read()
    installer = "uv" if "with uv" in text else ("pip" if "with pip" in text else "?")
    return {"healthy": healthy, "page": page, "installer": installer}


def run(quick: bool = False) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="factorlab-setup-") as d:
        times = {"uv": _venv_install("uv", d), "pip": _venv_install("pip", d)}
        for name, sec in times.items():
            rows.append({"benchmark": f"setup: fresh venv + requirements.txt with {name}, "
                                      "no cache", "size": "requirements.txt", "seconds": sec,
                         "ratio": f"{times['pip'] / sec:.1f}x vs pip" if name == "uv" else "",
                         "note": "1 run each, one after the other (network-bound; goal 9)"})
        if not quick:
            r = _fresh_clone_first_page(d)
            rows.append({"benchmark": "setup: git clone, then make run: server healthy",
                         "size": "fresh clone", "seconds": r["healthy"],
                         "note": f"venv by {r['installer']} (the user's package caches as they "
                                 "are), demo data fetched, kernels compiled by python -m recsys "
                                 "warm; 1 run; goal 9"})
            rows.append({"benchmark": "setup: git clone, then make run: first page served",
                         "size": "fresh clone", "seconds": r["page"],
                         "note": "HTTP 200 for /; the page then draws in the browser (ui "
                                 "section)"})
    return rows


if __name__ == "__main__":  # python -m recsys.bench.setup [--quick]
    from . import format_table

    print(format_table(run(quick="--quick" in sys.argv)))
