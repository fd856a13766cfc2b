"""``python bench/serve_timed.py run app.py [streamlit options]``: `streamlit run` that
also logs every script run's start and stop, per session, as JSON lines to
``$FACTORLAB_TIMING_LOG`` (for the load bench: the server's part of each page load).

It wraps ``AppSession._handle_scriptrunner_event_on_event_loop``; the app itself is unchanged.
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


def main() -> None:
    path = os.environ.get("FACTORLAB_TIMING_LOG")
    if path:
        _install(path)
    from streamlit.web import cli

    sys.argv = ["streamlit"] + sys.argv[1:]
    cli.main()


if __name__ == "__main__":
    main()
