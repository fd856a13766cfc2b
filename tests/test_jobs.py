"""recsys.jobs: a bounded executor with a fair queue, progress, cancel and errors."""
import threading
import time

import pytest

from recsys.errors import InputError
from recsys.jobs import JobQueue


def blocker(gate: threading.Event):
    def fn(job, tag):
        job.report(("start", tag))
        gate.wait(10)
        return tag
    return fn


def test_bounded_and_fair_across_sessions():
    q = JobQueue(workers=2)
    gate = threading.Event()
    fn = blocker(gate)
    a1, a2, a3 = (q.submit("A", f"a{k}", fn, f"a{k}") for k in range(1, 4))
    time.sleep(0.2)
    b1 = q.submit("B", "b1", fn, "b1")
    c1 = q.submit("C", "c1", fn, "c1")
    time.sleep(0.2)
    # at most 2 run; A took both free workers while alone, but the next frees go to B, C first
    assert q.snapshot() == {"running": 2, "queued": 3, "workers": 2}
    assert [a1.state, a2.state] == ["running", "running"]
    assert [q.position(j) for j in (b1, c1, a3)] == [1, 2, 3]
    assert q.position(a1) == 0
    gate.set()
    for j in (a1, a2, a3, b1, c1):
        assert j.wait(10) and j.state == "done" and j.result == j.label
    order = [h["label"] for h in q.history]
    assert order.index("b1") < order.index("a3") and order.index("c1") < order.index("a3")


def test_progress_cancel_and_errors():
    q = JobQueue(workers=1)

    def counting(job, n):
        for k in range(n):
            if job.cancelled:
                return "partial"
            job.report(k)
            time.sleep(0.01)
        return "all"

    j = q.submit("A", "count", counting, 5)
    assert j.wait(10) and j.result == "all" and j.events == [0, 1, 2, 3, 4]
    gate = threading.Event()
    running = q.submit("A", "block", blocker(gate), "x")
    queued = q.submit("B", "never", counting, 3)
    time.sleep(0.1)
    queued.cancel()
    gate.set()
    assert queued.wait(10) and queued.state == "cancelled" and queued.events == []
    assert running.wait(10) and running.state == "done"
    slow = q.submit("A", "slow", counting, 10_000)
    time.sleep(0.05)
    slow.cancel()
    assert slow.wait(10) and slow.state == "cancelled" and slow.result == "partial"

    def bad(job):
        raise InputError("bad value", value=3)

    e = q.submit("A", "bad", bad)
    assert e.wait(10) and e.state == "failed" and isinstance(e.error, InputError)
    again = q.submit("A", "after", counting, 1)     # the worker lived on
    assert again.wait(10) and again.result == "all"


def test_workers_are_daemon_threads():
    q = JobQueue(workers=2)
    j = q.submit("A", "x", lambda job: 1)
    assert j.wait(10)
    names = [t for t in threading.enumerate() if t.name.startswith("factorlab-job-")]
    assert names and all(t.daemon for t in names)


def test_workers_run_at_a_lower_priority():
    import os

    from recsys.jobs import JOB_NICE

    q = JobQueue(workers=1)
    j = q.submit("A", "nice", lambda job: os.getpriority(os.PRIO_PROCESS,
                                                         threading.get_native_id()))
    assert j.wait(10)
    assert j.result == os.getpriority(os.PRIO_PROCESS, 0) + JOB_NICE or j.result == 19
