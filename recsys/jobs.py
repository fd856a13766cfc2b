"""One bounded executor for heavy work (fits, cross-validation, grid search, learning curves,
maps), shared by every session of the app, with a visible queue position and a fair order.

Why: Streamlit runs every session's script in one server process. If each page ran its own
heavy work, 20 sessions would start 20 fits on 2 cores and every page load would wait behind
them. Here at most ``workers`` jobs run at once (threads: the numba kernels, BLAS and t-SNE
release the GIL, so a running job leaves the interpreter free to serve page loads); the rest
wait in a queue.

Fair order: a free worker takes the queued job of the session that has the fewest jobs running,
then the one submitted first. One session that queues many jobs cannot starve the others, and a
session never holds every worker while another session waits.

A job is ``fn(job, *args, **kwargs)``: it calls ``job.report(payload)`` to publish progress
(kept in ``job.events``, read by the page that polls it) and checks ``job.cancelled`` (pass
``should_stop=lambda: job.cancelled`` to the ``recsys.evaluate`` functions). ``Job.cancel()``
asks it to stop; a job still queued is dropped at once.

Workers are daemon threads of the server process: they end with it (no orphan processes), and
nothing here imports streamlit. On Linux each worker thread lowers its own scheduling priority
(nice ``JOB_NICE``, 5): when the cores are busy, the threads that serve page loads run first and
the heavy work takes the rest; alone on the machine a job runs at full speed.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

STATES = ("queued", "running", "done", "failed", "cancelled")
#: Nice value of the worker threads (0 keeps the server's priority).
JOB_NICE = int(os.environ.get("FACTORLAB_JOB_NICE", "5"))


@dataclass(eq=False)
class Job:
    """One unit of heavy work and what the page needs to show about it."""

    id: int
    session: str
    label: str
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    state: str = "queued"
    result: Any = None
    error: BaseException | None = None
    events: list = field(default_factory=list)
    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None
    finished: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    # -- for the job itself
    def report(self, payload) -> None:
        """Publish a progress payload (any object); the page reads ``events``."""
        self.events.append(payload)   # list.append is atomic under the GIL

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- for the page
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def finished_ok(self) -> bool:
        return self.state == "done"

    @property
    def over(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def run_seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.perf_counter()) - self.started

    @property
    def wait_seconds(self) -> float:
        return (self.started or time.perf_counter()) - self.submitted


class JobQueue:
    """A bounded pool of worker threads with a fair queue (see the module docstring)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self._lock = threading.Condition()
        self._queued: list[Job] = []
        self._running: list[Job] = []
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self.history: list[dict] = []      # finished jobs: label, session, wait and run time

    # ------------------------------------------------------------------ submit and inspect
    def submit(self, session: str, label: str, fn: Callable, *args, **kwargs) -> Job:
        job = Job(next(self._ids), str(session), label, fn, args, kwargs)
        with self._lock:
            self._queued.append(job)
            self._start_workers()
            self._lock.notify()
        return job

    def position(self, job: Job) -> int:
        """0 when running or over; else 1 + the number of jobs that will start before it."""
        with self._lock:
            if job not in self._queued:
                return 0
            order = self._fair_order()
            return order.index(job) + 1

    def snapshot(self) -> dict:
        """{"running": n, "queued": n, "workers": n} for a status line."""
        with self._lock:
            return {"running": len(self._running), "queued": len(self._queued),
                    "workers": self.workers}

    def cancel_session(self, session: str) -> int:
        """Cancel every job of ``session`` (a closed browser tab); returns how many."""
        with self._lock:
            jobs = [j for j in self._queued + self._running if j.session == session]
        for j in jobs:
            j.cancel()
        return len(jobs)

    # ------------------------------------------------------------------ workers
    def _start_workers(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            t = threading.Thread(target=self._work, name=f"factorlab-job-{len(self._threads)}",
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _fair_order(self) -> list[Job]:
        """Queued jobs in the order workers will take them (call with the lock held)."""
        running = {}
        for j in self._running:
            running[j.session] = running.get(j.session, 0) + 1
        order, pending = [], list(self._queued)
        while pending:
            nxt = min(pending, key=lambda j: (running.get(j.session, 0), j.submitted, j.id))
            order.append(nxt)
            pending.remove(nxt)
            running[nxt.session] = running.get(nxt.session, 0) + 1
        return order

    def _next(self) -> Job:
        with self._lock:
            while True:
                for j in [j for j in self._queued if j.cancelled]:  # dropped while queued
                    self._queued.remove(j)
                    self._finish(j, "cancelled")
                if self._queued:
                    job = self._fair_order()[0]
                    self._queued.remove(job)
                    self._running.append(job)
                    job.state, job.started = "running", time.perf_counter()
                    return job
                self._lock.wait(timeout=1.0)

    def _work(self) -> None:
        if JOB_NICE and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
            try:   # Linux: nice is per thread; threads this one starts inherit it
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICE)
            except OSError:
                pass
        while True:
            job = self._next()
            state = "done"
            try:
                job.result = job.fn(job, *job.args, **job.kwargs)
                if job.cancelled:
                    state = "cancelled"
            except BaseException as err:  # noqa: BLE001  the page shows it; the worker lives on
                job.error = err
                state = "failed"
            with self._lock:
                if job in self._running:
                    self._running.remove(job)
                self._finish(job, state)
                self._lock.notify_all()

    def _finish(self, job: Job, state: str) -> None:
        job.state, job.finished = state, time.perf_counter()
        self.history.append({"id": job.id, "session": job.session, "label": job.label,
                             "state": state, "wait": job.wait_seconds,
                             "run": job.run_seconds or 0.0})
        del self.history[:-1000]
        job._done.set()


_QUEUE: JobQueue | None = None
_QUEUE_LOCK = threading.Lock()


def default_queue() -> JobQueue:
    """The process-wide queue (``FACTORLAB_JOB_WORKERS`` workers, default: the core count)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = JobQueue(int(os.environ.get("FACTORLAB_JOB_WORKERS", "0") or 0) or None)
        return _QUEUE
