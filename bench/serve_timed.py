"""``python bench/serve_timed.py run app.py [streamlit options]``: `streamlit run` that
also logs every script run, per session, as JSON lines to ``$FACTORLAB_TIMING_LOG`` (for the
load bench: the server's part of each page load), two ways:

- ``RUN``: the run's own duration, timed on the script thread around
  ``ScriptRunner._run_script`` (start to end of the page's code and its messages);
- ``SCRIPT_STARTED`` / ``SCRIPT_STOPPED*``: when the server's event loop handled those events
  (``AppSession._handle_scriptrunner_event_on_event_loop``), which adds the loop's own delays
  (it also serves every browser's static files).

The app itself is unchanged.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time


def _install(path: str) -> None:
    from streamlit.runtime.app_session import AppSession

    lock = threading.Lock()
    fh = open(path, "a", buffering=1)
    original = AppSession._handle_scriptrunner_event_on_event_loop

    def logged(self, sender, event, *args, **kwargs):
        name = getattr(event, "name", str(event))
        if name.startswith("SCRIPT_"):
            with lock:
                fh.write(json.dumps({"t": time.perf_counter(), "session": self.id,
                                     "event": name}) + "\n")
        return original(self, sender, event, *args, **kwargs)

    AppSession._handle_scriptrunner_event_on_event_loop = logged

    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    run_script = ScriptRunner._run_script

    def waited() -> float:
        """Seconds this thread has spent runnable but not running (Linux schedstat)."""
        try:
            tid = threading.get_native_id()
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                return int(f.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return float("nan")

    def timed_run(self, *args, **kwargs):
        t0, c0, w0 = time.perf_counter(), time.thread_time(), waited()
        try:
            return run_script(self, *args, **kwargs)
        finally:
            t1, c1, w1 = time.perf_counter(), time.thread_time(), waited()
            with lock:   # wall = CPU + waiting for a core + blocked (the GIL, locks, sleeps)
                fh.write(json.dumps({"t": t0, "seconds": t1 - t0, "cpu": c1 - c0,
                                     "runqueue": w1 - w0,
                                     "session": getattr(self, "_session_id", "?"),
                                     "event": "RUN"}) + "\n")

    ScriptRunner._run_script = timed_run


def main() -> None:
    path = os.environ.get("FACTORLAB_TIMING_LOG")
    if path:
        _install(path)
    from streamlit.web import cli

    sys.argv = ["streamlit"] + sys.argv[1:]
    cli.main()


if __name__ == "__main__":
    main()
