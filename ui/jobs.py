"""Pages run heavy work through ``recsys.jobs.default_queue()`` and follow it here.

``start(key, label, fn, *args, settings=...)`` queues a job for this browser session and keeps it
in ``st.session_state[key]``; ``follow(key, on_event)`` draws its state while it runs (queue
position, elapsed time, a Stop button) and hands each progress payload to ``on_event`` in the
script thread (no Streamlit call ever runs in a worker thread). A widget change while a job runs
re-runs the page, which attaches to the same job again: nothing is restarted or lost. The Stop
button cancels it.
"""
from __future__ import annotations

import streamlit as st

from recsys.jobs import Job, default_queue

POLL_SECONDS = 0.2


def session_id() -> str:
    """This browser session's id (the fair queue's unit); "local" outside a server."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx is not None else "local"
    except Exception:  # noqa: BLE001
        return "local"


def start(key: str, label: str, fn, *args, settings: dict | None = None, **kwargs) -> Job:
    """Queue ``fn(job, *args, **kwargs)`` for this session (cancelling this page's previous
    job, if any, still going); ``settings`` are kept with the job so that the result can be
    marked stale when the controls change."""
    old = st.session_state.get(key)
    if isinstance(old, Job) and not old.over:
        old.cancel()
    job = default_queue().submit(session_id(), label, fn, *args, **kwargs)
    job.settings = dict(settings or {})
    job.seen = 0
    st.session_state[key] = job
    return job


def follow(key: str, on_event=None) -> Job | None:
    """Wait for the job in ``st.session_state[key]`` while showing its state; returns it once
    over (done, failed or cancelled), None when there is none. ``on_event(payload)`` is called
    for every progress payload not yet handed over, in order."""
    job = st.session_state.get(key)
    if not isinstance(job, Job):
        return None
    if st.session_state.get(f"{key}_stop"):
        job.cancel()
    queue = default_queue()
    box = st.empty()
    stop = st.empty()
    if not job.over:
        stop.button("Stop", key=f"{key}_stop", help="Stops this run; what finished so far stays.")
    shown = None
    while True:
        over = job.wait(POLL_SECONDS)
        events = job.events[job.seen:]
        job.seen += len(events)
        if on_event is not None:
            for e in events:
                on_event(e)
        if over:
            break
        pos = queue.position(job)
        if pos:
            snap = queue.snapshot()
            text = (f"⏳ Queued: {pos - 1} run(s) ahead of yours; {snap['running']} of "
                    f"{snap['workers']} workers busy with other people's runs. It starts by "
                    "itself.")
        else:
            text = f"Running… {job.run_seconds or 0.0:.0f} s"
        if text != shown:   # a message only when the text changes (20 sessions poll at once)
            (box.info if pos else box.caption)(text)
            shown = text
    box.empty()
    stop.empty()
    return job


def result_or_error(job: Job):
    """The job's result; shows its error (InputError as a message, a bug as its type) and
    returns None otherwise."""
    from recsys.errors import InputError
    from recsys.safetext import md

    if job.state == "done":
        return job.result
    if job.state == "cancelled":
        st.warning("Stopped.")
    elif isinstance(job.error, InputError):
        st.error(md(job.error))
    elif job.error is not None:
        st.error(f"This run failed ({type(job.error).__name__}); the server log has the "
                 "details.")
    return None


def changed(settings: dict, current: dict) -> list[str]:
    """Names of the settings that differ between a result's and the current controls."""
    return [k for k in current if settings.get(k) != current[k]]


def stale_note(settings: dict, current: dict, labels: dict | None = None) -> str | None:
    """"Computed for other settings: sample size 500 → 300, …" or None when they match."""
    diff = changed(settings, current)
    if not diff:
        return None
    labels = labels or {}

    def shown(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    parts = [f"{labels.get(k, k)} {shown(settings.get(k))} → {shown(current[k])}"
             if isinstance(current[k], (int, float, str)) and not isinstance(current[k], bool)
             else f"{labels.get(k, k)} changed" for k in diff]
    return "Stale: these results are for other settings (" + "; ".join(parts) + \
        "). Run again to update them."


def collect(key: str, on_event=None, clear=()):
    """``follow`` the job in ``st.session_state[key]``; once it is over, take it out of the
    session, empty the placeholders in ``clear`` and return ``(job, result)``: the result of a
    finished or a stopped run (a stopped run returns what finished), or None after an error
    (shown). ``(None, None)`` when there is no job."""
    job = follow(key, on_event)
    for slot in clear:
        slot.empty()
    if job is None:
        return None, None
    st.session_state.pop(key, None)
    if job.state in ("done", "cancelled"):
        return job, job.result
    result_or_error(job)
    return job, None
