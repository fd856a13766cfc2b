"""Background warm-up of a server process: what some pages need, loaded before they are opened.

Modules that only some pages import cost 0.1-0.6 s each on their first import in a process
(``python -X importtime``: plotly.express, scipy.spatial, openTSNE, numba), and the first model page
loads the fast engine's compiled kernels from numba's disk cache (0.4 s). Without this, the first
visit of each such page paid for them (the Factor map opened cold spent 0.5 s importing). One
daemon thread per process imports them a few seconds after the first page started (not during
it: imports hold the GIL), at a low CPU priority (nice 10); a second one then loads the kernels
at the normal priority (numba's worker threads inherit the nice value of the thread that starts
them). A failure here is silent: the page that needs the module reports it.
"""
from __future__ import annotations

import gc
import importlib
import os
import threading
import time

PRELOAD = ("plotly.express", "plotly.subplots", "scipy.spatial", "openTSNE", "recsys.fast",
           "recsys.embed", "recsys.recommend", "recsys.explain", "recsys.evaluate",
           "recsys.compare", "recsys.foldin")
DELAY_SECONDS = 3.0


def _imports() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)   # this thread only
    except (AttributeError, OSError):
        pass
    time.sleep(DELAY_SECONDS)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            pass


def _engine() -> None:
    """Loads the kernels at the normal priority, after the imports: numba's thread pool is
    started here, and its threads keep the nice value of the thread that starts them."""
    IMPORTS.join()
    try:
        from ui.model import warm_fast_engine_quietly

        warm_fast_engine_quietly()
    except Exception:  # noqa: BLE001
        pass
    # The server runs without Streamlit's full collection after every script run (it held the
    # GIL at 20 sessions): move what is loaded by now (modules, kernels, the data) out of the
    # collector's reach, so that its own occasional full passes scan only newer objects.
    gc.freeze()


IMPORTS = threading.Thread(target=_imports, name="factorlab-preload", daemon=True)
THREAD = threading.Thread(target=_engine, name="factorlab-preload-engine", daemon=True)
IMPORTS.start()
THREAD.start()
