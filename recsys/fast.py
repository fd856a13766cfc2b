"""The fast engine: Surprise's SVD and NMF, compiled with numba, plus an array path for big data.

``FastSVD`` and ``FastNMF`` subclass ``surprise.AlgoBase`` with Surprise 1.1.5's parameters, defaults,
attributes (``pu``, ``qi``, ``bu``, ``bi``: float64 arrays unless ``dtype="float32"``) and ``estimate`` semantics, so Surprise's
``cross_validate``, ``GridSearchCV``, ``predict`` and ``test`` take them unchanged.

Modes (``mode=``):

* ``"bitwise"``: Surprise's loop statement for statement; ``pu``, ``qi``, ``bu``, ``bi`` are
  bit-for-bit Surprise's for the same seed (3-4x Surprise's speed for SVD at k=100: Surprise's dot
  product is a chain of k dependent additions, which alone costs more than a tenth of its time).
* ``"exact"``: same initialisation (``get_rng(random_state)``; pu then qi from ``rng.normal`` /
  ``rng.uniform``), same rating order (``trainset.all_ratings()``: user by user in inner-id order,
  each user's ratings in order of appearance), same update formulas; the SVD step runs in
  explicit vectors with its dot products re-associated and the factor update FMA-contracted, so
  each step differs from Surprise's by roundings and the fitted model by ~1e-14 (tests assert
  1e-9); ~8x Surprise at k=100 on ml-100k. SVD trains on copies of ``pu``/``qi`` whose rows are
  padded with zeros to whole vectors, copied back after the last epoch (and before each epoch
  callback). NMF's exact mode is bitwise (its dot products do not form a chain, so
  Surprise's order is cheap).
* ``"parallel"``: ratings split into B x B blocks (users and items each cut into B groups of about
  equal rating counts, B = max(2, numba threads)); each epoch runs B stages, stage s updating blocks
  (b, (b+s) mod B) on all cores at once (they share no user or item: no races, and the result does
  not depend on thread timing; it does depend on B). Same formulas, another rating order (and for
  SVD another initial draw, below): held-out RMSE stays within 0.002 of the exact mode (tested),
  factors differ.
* ``"auto"`` (default): exact below ``PARALLEL_THRESHOLD`` training ratings, parallel above.

SVD in parallel mode draws the initial factors by inverse transform from numpy's ``Generator``
uniforms (PCG64 streams spawned from ``random_state``, a fixed ``INIT_CHUNKS`` row chunks filled
by 2 threads; several times faster than Surprise's ``RandomState.normal`` at Netflix scale, and
the same numbers whatever the threads): only the exact and bitwise modes promise Surprise's numbers (float32
exact mode starts from Surprise's draw rounded to float32, so it differs from float64 exact mode
by precision alone). NMF always initialises as Surprise does (its
held-out RMSE moves by more than 0.002 with the initial draw).

Precision (``FastSVD(dtype=...)``): ``"float64"`` (default) or ``"float32"`` for large data:
factors, biases, ratings and every update in float32 (``pu``, ``qi``, ``bu``, ``bi`` are float32
arrays: half the memory; twice the numbers per vector instruction). Deterministic like the float64
modes, with held-out RMSE within 0.002 of float64 exact mode (tested); never Surprise-equal, so
``mode="bitwise"`` rejects it. Predictions are computed in float64 from the float32 parameters.

Per-epoch callback: ``fit(trainset, epoch_callback=cb)`` / ``fit_arrays(..., epoch_callback=cb)``
calls ``cb(epoch, algo)`` after each epoch (epoch = 1..n_epochs) with ``algo.pu/qi/bu/bi`` holding the
model after that epoch (live arrays: copy them to keep them). The model after epoch e equals a refit
with ``n_epochs=e``, so a learning curve costs one fit.

Array path (no Surprise Trainset, no per-rating Python objects): ``fit_arrays``, ``fit_ratings``,
``predict_arrays`` and ``surprise_numbering`` (a fold's ids renumbered as Surprise's Trainset
would); ``recsys.evaluate.cross_validate(..., engine="fast")`` runs k-fold CV on them with
Surprise's ``KFold`` splits.
"""
from __future__ import annotations

import numbers
import os
import threading
import time
from itertools import chain

import numba
import numpy as np
import pandas as pd
from surprise import AlgoBase, PredictionImpossible
from surprise.utils import get_rng

from . import fast_kernels as K
from .errors import InputError

#: training-set size above which ``mode="auto"`` switches from exact to parallel
PARALLEL_THRESHOLD = 1_000_000
#: parallel mode lays out fewer ratings than this on the calling thread (1.3 ms for ml-100k)
SERIAL_LAYOUT_BELOW = 1_000_000
#: parallel mode's rating sum (check and global mean) is added in this many chunks, whatever the
#: threads: the mean, and so the model, does not depend on the machine or its load
SUM_CHUNKS = 8
MODES = ("auto", "exact", "bitwise", "parallel")

# numba's default (workqueue) threading layer aborts the process when two threads launch parallel
# kernels at once (Streamlit serves sessions from threads): parallel kernels run under this lock.
_PARALLEL_LOCK = threading.Lock()


#: guards the layouts kept on trainsets (``_FastMF._blocks``)
_LAYOUTS_LOCK = threading.Lock()


def _locked(kernel, *args):
    with _PARALLEL_LOCK:
        return kernel(*args)


def _other_cores_busy() -> bool:
    """True when Linux's count of runnable tasks (``/proc/loadavg``'s 4th field, this thread
    included) reaches the cores this process may use: a parallel stage would then wait for a
    descheduled thread (4-5 ms for a 1 ms stage of ml-100k, measured). False where unknown."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
        cores = len(os.sched_getaffinity(0))
    except (OSError, ValueError, IndexError, AttributeError):
        return False
    return running >= cores


class _BlockEpochs:
    """Runs parallel mode's epochs, unit by unit (SVD: one stage of B blocks; NMF: one epoch), on
    all cores (the prange block kernel) or on the calling thread (SVD: ``svd_epoch_exact`` on
    the stages' slice of the layout; the same blocks in the same stages, so the same bits),
    whichever is faster now. Each stage of the
    parallel kernel waits for every thread, so when another process holds a core, 2 threads can be
    several times slower than 1 (0.96 s against 0.20 s for exact mode on ml-100k with a busy-loop
    on the other core); this keeps parallel mode near one thread's speed then, and the model never
    depends on the choice (tested).

    Choice: the first unit on all cores, the second on one; then the faster in seconds per rating
    (last measurement of each way), for the rest of the epoch in one kernel call (a call per stage
    cost ~60 us of dispatch each, 6% of an ml-100k fit). The other way is re-measured, on one unit
    at the start of an epoch, once the time spent on the faster one since the last probe reaches
    ``PROBE_BUDGET`` (20) times what a probe is expected to cost (the difference of the two rates
    times a unit's ratings), and at least ``MIN_GAP`` units later: probes cost at most
    ~1/PROBE_BUDGET of the fit, a close call is re-checked often, and a way several times slower (a
    busy core) is hardly ever re-tried. When another fit holds the parallel kernels (one at a time:
    numba's workqueue layer), or when a measurement of the parallel way is due while every other
    core is running something else (``other_cores_busy``: 16 us), the rest of the epoch runs on
    the calling thread instead of waiting; after a check that found them busy, the next one
    waits for ``CHECK_GAP`` seconds of serial work. ``counts`` says how many units ran each way.

    ``run(way, lo, hi)`` runs units ``lo..hi-1`` of an epoch (of ``len(sizes)``) with ``way``
    "parallel" or "serial"; ``sizes[unit]`` is a unit's number of ratings.
    """

    PROBE_BUDGET = 20.0
    MIN_GAP = 4
    #: seconds of work on the calling thread, after a check found the other cores busy, before
    #: the next check: under load a read of /proc/loadavg took ~40 us, 0.8 ms of an ml-100k fit
    #: when made every epoch; this bounds the checks to ~0.2% of the time, and the speed lost
    #: when the cores free up to one such gap
    CHECK_GAP = 0.02

    def __init__(self, run, sizes, plan=None, clock=time.perf_counter,
                 other_cores_busy=_other_cores_busy):
        self.run = run
        self.other_cores_busy = other_cores_busy
        self.sizes = [max(int(n), 1) for n in sizes]
        self.mean_size = sum(self.sizes) / len(self.sizes)
        self.rate = {"parallel": None, "serial": None}  # seconds per rating, last measured
        self.counts = {"parallel": 0, "serial": 0}
        self.threads = int(numba.get_num_threads())
        self.spent, self.since = 0.0, 0  # on the best way since the last probe
        self.plan = None if plan is None else list(plan)  # forced ways per unit (tests, warm-up)
        self.clock = clock
        self.serial_since_busy = float("inf")  # seconds on one thread since cores were busy

    def _cores_busy(self) -> bool:
        """``other_cores_busy()``, or True without a read within ``CHECK_GAP`` seconds of
        serial work after a read that said busy."""
        if self.serial_since_busy < self.CHECK_GAP:
            return True
        busy = self.other_cores_busy()
        self.serial_since_busy = 0.0 if busy else float("inf")
        return busy

    def _best(self):
        known = {w: r for w, r in self.rate.items() if r is not None}
        return min(known, key=known.get) if known else "parallel"

    def _choose(self) -> tuple[str, bool]:
        """(way, probe): probe = one unit only (a forced plan's, or a measurement)."""
        if self.plan:
            return self.plan.pop(0), True
        if self.threads < 2:
            return "serial", False
        for way in ("parallel", "serial"):
            if self.rate[way] is None:
                return way, True
        best = self._best()
        other = "serial" if best == "parallel" else "parallel"
        cost = (self.rate[other] - self.rate[best]) * self.mean_size
        if self.since >= self.MIN_GAP and self.spent >= self.PROBE_BUDGET * cost:
            self.spent, self.since = 0.0, 0
            return other, True
        return best, False

    def __call__(self):
        """One epoch."""
        n = len(self.sizes)
        lo = 0
        while lo < n:
            forced = bool(self.plan)
            way, one = self._choose()
            hi = lo + 1 if one else n
            locked = False
            if way == "parallel":
                # forced: as planned; else not behind another fit holding the cores' kernel, nor
                # a measurement on cores that other work holds (checked only before measuring:
                # just after a parallel call numba's own workers can still count as runnable)
                locked = forced or not (one and self._cores_busy())
                locked = locked and _PARALLEL_LOCK.acquire(blocking=forced)
                if not locked:
                    way, hi = "serial", n  # the rest of the epoch
            try:
                t = self.clock()
                self.run(way, lo, hi)
                seconds = self.clock() - t
            finally:
                if locked:
                    _PARALLEL_LOCK.release()
            if way == "serial":
                self.serial_since_busy += seconds
            if way == self._best():
                self.spent += seconds
                self.since += hi - lo
            self.rate[way] = seconds / sum(self.sizes[lo:hi])
            self.counts[way] += hi - lo
            lo = hi


__all__ = ["FastSVD", "FastNMF", "ArrayTrainset", "warm_up", "warm_report", "kernels",
           "surprise_numbering", "trainset_arrays", "MODES",
           "PARALLEL_THRESHOLD"]


# ---------------------------------------------------------------------------------- validation
def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _is_real(x) -> bool:
    return (isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))
            and np.isfinite(float(x)))


def _check_int(name, value, low):
    if not _is_int(value) or value < low:
        raise InputError(f"{name} must be an integer >= {low}", value=value)


def _check_real(name, value, nonneg=False):
    if not _is_real(value):
        raise InputError(f"{name} must be a finite number", value=value)
    if nonneg and value < 0:
        raise InputError(f"{name} must be >= 0", value=value)


def _check_mode(mode):
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}", value=mode)


# ---------------------------------------------------------------------------------- trainset views
class ArrayTrainset:
    """What a fitted model needs from a trainset, built from arrays (no per-rating objects).

    Offers Surprise Trainset's ``n_users``, ``n_items``, ``n_ratings``, ``rating_scale``,
    ``global_mean``, ``knows_user``, ``knows_item``, ``all_users``, ``all_items`` and, when raw ids
    are given, ``to_inner_uid``/``to_inner_iid``/``to_raw_uid``/``to_raw_iid``; so AlgoBase's
    ``predict(uid, iid)`` works on a model fitted with ``fit_arrays``/``fit_ratings``.
    """

    def __init__(self, user_counts, item_counts, global_mean, rating_scale, user_ids=None,
                 item_ids=None):
        self.user_counts = user_counts
        self.item_counts = item_counts
        self.n_users = int(len(user_counts))
        self.n_items = int(len(item_counts))
        self.n_ratings = int(user_counts.sum())
        self.global_mean = global_mean
        self.rating_scale = rating_scale
        self._user_ids = None if user_ids is None else np.asarray(user_ids, dtype=object)
        self._item_ids = None if item_ids is None else np.asarray(item_ids, dtype=object)
        self._u_index = self._i_index = None

    def knows_user(self, uid) -> bool:
        return _is_int(uid) and 0 <= uid < self.n_users and self.user_counts[uid] > 0

    def knows_item(self, iid) -> bool:
        return _is_int(iid) and 0 <= iid < self.n_items and self.item_counts[iid] > 0

    def all_users(self):
        return range(self.n_users)

    def all_items(self):
        return range(self.n_items)

    def to_inner_uid(self, ruid):
        if self._u_index is None:
            self._u_index = _index(self._user_ids)
        try:
            return self._u_index[ruid]
        except KeyError:
            raise ValueError("User " + str(ruid) + " is not part of the trainset.")

    def to_inner_iid(self, riid):
        if self._i_index is None:
            self._i_index = _index(self._item_ids)
        try:
            return self._i_index[riid]
        except KeyError:
            raise ValueError("Item " + str(riid) + " is not part of the trainset.")

    def to_raw_uid(self, iuid):
        return (iuid if self._user_ids is None else self._user_ids[iuid])

    def to_raw_iid(self, iiid):
        return (iiid if self._item_ids is None else self._item_ids[iiid])


def _parallel_or_serial(parallel, serial, par_args, ser_args):
    """``parallel(*par_args)`` on all cores, or ``serial(*ser_args)`` on the calling thread when
    another fit holds the parallel kernels (one at a time: numba's workqueue layer)."""
    if _PARALLEL_LOCK.acquire(blocking=False):
        try:
            return parallel(*par_args)
        finally:
            _PARALLEL_LOCK.release()
    return serial(*ser_args)


def _id_counts(ids, n, what):
    """How often each id in [0, n) occurs (int64, length n), after checking that every id lies
    there (InputError naming the first offending extreme). int32 ids: one pass, parallel above
    1M ids; other integer types or layouts: numpy's min and max first (before any narrowing)."""
    if ids.dtype != np.int32 or not (ids.flags.c_contiguous and ids.flags.writeable):
        lo, hi = int(ids.min()), int(ids.max())  # (not the one signature warm_up compiles)
        counts = None
    elif len(ids) >= 1_000_000:
        counts, lo, hi = _parallel_or_serial(
            K.id_counts_checked, K.id_counts_checked_serial,
            (ids, n, max(int(numba.get_num_threads()), 1 + len(ids) // 2**31)), (ids, n))
    else:
        counts, lo, hi = K.id_counts_checked_serial(ids, n)
    lo, hi = int(lo), int(hi)
    if lo < 0 or hi >= n:
        raise InputError(f"{what} id out of range 0..{n - 1}", value=lo if lo < 0 else hi)
    if counts is None:  # ids checked: numpy's count, without narrowing them first
        counts = np.bincount(ids.astype(np.intp, copy=False), minlength=n)
    return counts


def check_arrays(users, items, ratings, n_users=None, n_items=None):
    """``(users, items, ratings, n_users, n_items, user_counts, item_counts)``, after the checks
    every ``fit_arrays`` makes: 1-D and of equal length, not empty, integer ids within
    ``[0, n_users)`` / ``[0, n_items)`` (by default: the largest id + 1), numeric ratings.
    The counts (int64, lengths n_users / n_items) say how many ratings each id has.
    Raises InputError naming what is wrong."""
    us = np.asarray(users)
    its = np.asarray(items)
    rs = np.asarray(ratings)
    if us.ndim != 1 or its.shape != us.shape or rs.shape != us.shape:
        raise InputError("users, items and ratings must be 1-D arrays of equal length",
                         value=f"{us.shape}, {its.shape}, {rs.shape}")
    if len(us) == 0:
        raise InputError("no ratings to fit")
    if us.dtype.kind not in "iu" or its.dtype.kind not in "iu":
        raise InputError("users and items must be integer ids", value=f"{us.dtype}, {its.dtype}")
    if rs.dtype.kind not in "fiu":
        raise InputError("ratings must be numbers", value=str(rs.dtype))
    n_users = int(us.max()) + 1 if n_users is None else int(n_users)
    n_items = int(its.max()) + 1 if n_items is None else int(n_items)
    user_counts = _id_counts(us, n_users, "user")
    item_counts = _id_counts(its, n_items, "item")
    return us, its, rs, n_users, n_items, user_counts, item_counts


def _index(ids):
    if ids is None:
        return {}
    return {raw: k for k, raw in enumerate(ids.tolist())}


def trainset_arrays(trainset):
    """(users int32, items int32, ratings float64) in ``trainset.all_ratings()`` order.

    Cached on the trainset (GridSearchCV fits many models on one trainset)."""
    cached = getattr(trainset, "_recsys_fast_arrays", None)
    if cached is not None:
        return cached
    ur = trainset.ur
    n = sum(len(v) for v in ur.values())
    counts = np.fromiter((len(v) for v in ur.values()), dtype=np.int64, count=len(ur))
    us = np.repeat(np.fromiter(ur.keys(), dtype=np.int32, count=len(ur)), counts)
    pairs = np.fromiter(chain.from_iterable(chain.from_iterable(ur.values())),
                        dtype=np.float64, count=2 * n).reshape(n, 2)
    its = pairs[:, 0].astype(np.int32)
    rs = np.ascontiguousarray(pairs[:, 1])
    out = (us, its, rs)
    try:
        trainset._recsys_fast_arrays = out
    except AttributeError:  # pragma: no cover - slots
        pass
    return out


# ---------------------------------------------------------------------------------- base class
class _FastMF(AlgoBase):
    """Shared fit/predict machinery of FastSVD and FastNMF."""

    #: parallel mode's B (blocks per side); None = max(2, numba threads): one block per thread and
    #: stage (B = 4 on 2 threads was 3-7% slower at 19.2M: twice the stages, each waiting for both
    #: threads, and each user's ratings cut into twice the runs)
    n_blocks_ = None
    #: parallel mode: a forced sequence of "parallel"/"serial" units (SVD: stages, NMF: epochs;
    #: warm-up, tests); None = adaptive
    block_plan_ = None

    # -------------------------------------------------------------- Surprise path
    def fit(self, trainset, epoch_callback=None):
        """Fit on a Surprise ``Trainset`` (same numbers as Surprise's class; see module doc)."""
        self._t_fit = time.perf_counter()
        self._check_params()
        AlgoBase.fit(self, trainset)
        us, its, rs = trainset_arrays(trainset)
        self.layout_reused_ = None
        user_counts = np.bincount(us, minlength=trainset.n_users)
        item_counts = np.bincount(its, minlength=trainset.n_items)
        self._user_known = user_counts > 0
        self._item_known = item_counts > 0
        self._train(us, its, rs, user_counts, item_counts, float(trainset.global_mean),
                    epoch_callback)
        return self

    # -------------------------------------------------------------- array path
    def fit_arrays(self, users, items, ratings, n_users=None, n_items=None, global_mean=None, *,
                   rating_scale=(1.0, 5.0), user_ids=None, item_ids=None, epoch_callback=None):
        """Fit from arrays: inner ids (ints in [0, n_users) / [0, n_items)) and rating values
        (float32 or float64), one entry each per rating.

        Ratings are visited user by user (stable sort on ``users``), each user's in the given
        order (parallel mode: likewise inside each block). With ids numbered by first appearance
        (``surprise_numbering``, or a ``Ratings``) that is the ``all_ratings()`` order of the
        Trainset Surprise builds from the same list, so the result equals Surprise's.
        ``global_mean`` defaults to the mean of the ratings in that order, computed as Surprise
        does (parallel mode from ``SERIAL_LAYOUT_BELOW`` ratings: one chunked float64 sum,
        ``K.ratings_sum``, equal to it within rounding). ``user_ids``/``item_ids`` (raw ids by inner id) enable ``predict(raw_uid, raw_iid)``.
        """
        self._t_fit = time.perf_counter()
        self._check_params()
        us, its, rs, n_users, n_items, user_counts, item_counts = check_arrays(
            users, items, ratings, n_users, n_items)
        # C-contiguous, writeable int32/float64: the types warm_up compiles (a read-only or strided
        # array would be another numba signature, compiled at first use); copies only when needed
        us = np.require(us, np.int32, ["C", "W"])
        its = np.require(its, np.int32, ["C", "W"])
        parallel = self.resolved_mode(len(us)) == "parallel"
        if not parallel and not K.is_sorted(us):
            order, _ = K.stable_order(us, n_users)  # parallel mode sorts by block and user
            us, its, rs = us[order], its[order], rs[order]
            del order
        if self._float_type() is np.float32:
            rs = np.require(rs, np.float32, ["C", "W"])
        else:
            rs = np.require(rs, np.float64, ["C", "W"])
        total = None
        if parallel and len(rs) >= SERIAL_LAYOUT_BELOW:
            # one parallel pass for the check and the mean (parallel mode's mean need not be
            # numpy's pairwise sum: no equality with Surprise is promised there)
            total = float(_parallel_or_serial(K.ratings_sum, K.ratings_sum_serial,
                                              (rs, SUM_CHUNKS), (rs, SUM_CHUNKS)))
        if total is None or not np.isfinite(total):  # a NaN or inf (or an overflowing sum)
            if not np.isfinite(rs).all():
                raise InputError("rating is not a finite number")
            total = None
        if global_mean is None:
            global_mean = (total / len(rs) if total is not None
                           else float(np.mean(rs, dtype=np.float64)))
        self.trainset = ArrayTrainset(user_counts, item_counts, float(global_mean),
                                      tuple(rating_scale), user_ids, item_ids)
        self.bu = self.bi = None
        self.layout_reused_ = None
        self._user_known = user_counts > 0
        self._item_known = item_counts > 0
        self._train(us, its, rs, user_counts, item_counts, float(global_mean), epoch_callback)
        return self

    def fit_ratings(self, ratings, epoch_callback=None):
        """Fit on a ``recsys.data.Ratings`` (= Surprise's ``build_full_trainset()`` model)."""
        return self.fit_arrays(ratings.users, ratings.items, ratings.ratings, ratings.n_users,
                               ratings.n_items, rating_scale=ratings.rating_scale,
                               user_ids=ratings.user_ids, item_ids=ratings.item_ids,
                               epoch_callback=epoch_callback)

    def predict_arrays(self, users, items, clip=True):
        """Estimates for many (inner user, inner item) pairs, as Surprise's ``predict(...).est``.

        Ids < 0 (or without training ratings) are unknown: biased models drop the unknown terms,
        unbiased ones return the global mean (Surprise's default prediction). float64 array.
        """
        us = np.require(users, np.int64, ["C", "W"])  # the signature warm_up compiled
        its = np.require(items, np.int64, ["C", "W"])
        lo, hi = self.trainset.rating_scale
        return _locked(K.predict, us, its, self.pu, self.qi, self.bu, self.bi,
                       float(self.trainset.global_mean), self._user_known, self._item_known,
                       bool(self.biased), float(lo), float(hi), bool(clip))

    # -------------------------------------------------------------- Surprise contract
    def estimate(self, u, i):
        known_user = self.trainset.knows_user(u)
        known_item = self.trainset.knows_item(i)
        f64 = self.pu.dtype == np.float64
        # float32 parameters: summed in float64 (a Python float + np.float32 would stay float32)
        dot = (lambda: np.dot(self.qi[i], self.pu[u])) if f64 else (
            lambda: np.dot(self.qi[i].astype(np.float64), self.pu[u].astype(np.float64)))
        if self.biased:
            est = self.trainset.global_mean
            if known_user:
                est += self.bu[u] if f64 else float(self.bu[u])
            if known_item:
                est += self.bi[i] if f64 else float(self.bi[i])
            if known_user and known_item:
                est += dot()
        else:
            if known_user and known_item:
                est = dot()
            else:
                raise PredictionImpossible("User and item are unknown.")
        return est

    # -------------------------------------------------------------- internals
    def _float_type(self):
        """np.float64, or np.float32 for ``FastSVD(dtype="float32")``."""
        return _float_type(getattr(self, "dtype", "float64"))

    def resolved_mode(self, n_ratings: int) -> str:
        """The mode a fit on ``n_ratings`` ratings uses ("auto" resolved)."""
        if self.mode == "auto":
            return "parallel" if n_ratings > PARALLEL_THRESHOLD else "exact"
        return self.mode

    #: parallel-mode layouts kept on one Surprise trainset (B and rating type differ)
    KEPT_LAYOUTS = 2

    def _blocks(self, us, its, rs, user_counts, item_counts):
        """Reorder ratings by block (user group, item group), user-sorted inside each block.

        Fits on one Surprise ``Trainset`` (``fit``: GridSearchCV's cells on one fold, repeated
        fits in the app) reuse the layout: it depends only on the ratings, B and the rating type,
        and a trainset's ratings never change, so it is kept on the trainset object (up to
        ``KEPT_LAYOUTS``, the most recent; 12-16 bytes a rating each). ``fit_arrays`` has no such
        object (an array's address is no key to its content), so it lays out every fit. Folds
        are different trainsets: nothing is shared between them."""
        nb = self.n_blocks_ or max(2, int(numba.get_num_threads()))
        # the Surprise trainset being fitted; an ArrayTrainset is made afresh by every fit_arrays
        home = None if isinstance(self.trainset, ArrayTrainset) else self.trainset
        key = (nb, rs.dtype.str, len(rs))
        with _LAYOUTS_LOCK:  # sessions may fit on one cached trainset at once
            kept = getattr(home, "_recsys_fast_layouts", None) if home is not None else None
            out = None if kept is None else kept.get(key)
        if out is not None:  # read-only for the kernels: safe to share between fits
            self.layout_reused_ = True
            return (*out, nb)
        self.layout_reused_ = False
        out = self._lay_out(us, its, rs, user_counts, item_counts, nb)
        if home is not None:
            with _LAYOUTS_LOCK:
                kept = getattr(home, "_recsys_fast_layouts", None) or {}
                kept[key] = out
                while len(kept) > self.KEPT_LAYOUTS:  # the oldest first
                    kept.pop(next(iter(kept)))
                try:
                    home._recsys_fast_layouts = kept
                except AttributeError:  # pragma: no cover - slots
                    pass
        return (*out, nb)

    def _lay_out(self, us, its, rs, user_counts, item_counts, nb):
        m = _fine_groups(len(us), nb)
        uf = _groups(user_counts, nb * m)  # block user group: uf // m
        ig = _groups(item_counts, nb)
        # both cores, unless the ratings are few (a parallel region costs a wake-up of the other
        # core: 27 ms against 1.3 ms for ml-100k's layout on one core when another process holds
        # it) or another fit has them; the layout is the same either way
        args = (us, its, rs, uf, ig, nb, m)
        if len(us) >= SERIAL_LAYOUT_BELOW:
            return _parallel_or_serial(K.block_layout, K.block_layout_serial, args, args)
        return K.block_layout_serial(*args)

    #: parallel mode: whether the last fit reused a layout kept on its trainset; None otherwise
    layout_reused_ = None
    #: FastSVD: seconds of the last fit by stage: prepare (checks, sort, counts), init (initial
    #: factors), layout (parallel mode's blocks), epochs (with the callbacks)
    fit_seconds_ = None
    #: parallel mode: units (SVD: stages, B per epoch; NMF: epochs) run on all cores / on the
    #: calling thread (``{"parallel": n, "serial": m}``, see ``_BlockEpochs``); None otherwise
    epoch_threads_ = None

    def _epochs(self, epoch_callback, step):
        for epoch in range(self.n_epochs):
            if self.verbose:
                print("Processing epoch {}".format(epoch))
            step()
            if epoch_callback is not None:
                epoch_callback(epoch + 1, self)


def _float_type(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise InputError("dtype must be float64 or float32", value=dtype)
    return np.float32 if name == "float32" else np.float64


def _seed_sequence(random_state) -> np.random.SeedSequence:
    """A SeedSequence from a Surprise-style ``random_state`` (None, int or RandomState): an int
    seeds it directly; otherwise one draw from ``get_rng(random_state)`` does."""
    if _is_int(random_state):
        return np.random.SeedSequence(int(random_state))
    return np.random.SeedSequence(int(get_rng(random_state).randint(0, 2**31 - 1)))


#: rows of an initial factor matrix are drawn in this many chunks, each from its own PCG64 stream
#: (spawned from the seed): a fixed number, so the draw does not depend on the threads used
INIT_CHUNKS = 8
#: uniforms drawn (and turned into normals) at a time, per chunk: 512 KB of float64, in cache
_INIT_BATCH = 65_536


def _normal(seq, mean, std, shape, ft, out=None):
    """Normal(mean, std) factors of ``shape`` in type ``ft``: row chunk k from ``seq.spawn``'s
    k-th PCG64 stream, filled in place by up to 2 threads.

    Each normal is Φ⁻¹ of one uniform from numpy's ``Generator.random`` (inverse transform
    sampling, ``fast_kernels.normals_from_uniforms``, vectorised): a 385,000 x 100 matrix takes
    0.12 s on 2 threads, against 0.24-0.27 s with numpy's own ``standard_normal`` (a scalar
    ziggurat, 10-12 ns a draw on this project's machine). Both numpy and the numba kernel
    release the GIL, so two threads fill two chunks.

    ``out``: a 2-D array of ``shape[0]`` rows and at least ``shape[1]`` columns (padded rows for
    the SGD kernels) whose first ``shape[1]`` columns get the same numbers and the others zeros;
    returned."""
    from concurrent.futures import ThreadPoolExecutor

    n, k = shape
    if out is None:
        out = np.empty(shape, dtype=ft)
    bounds = np.linspace(0, n, INIT_CHUNKS + 1).astype(np.int64)
    streams = seq.spawn(INIT_CHUNKS)
    # whole rows a batch; small matrices: buffers no larger than a chunk
    rows = max(1, min(_INIT_BATCH // max(k, 1), int(np.diff(bounds).max())))

    def fill(c):
        gen = np.random.Generator(np.random.PCG64(streams[c]))
        buf = np.empty(rows * k)
        normals = np.empty(rows * k, dtype=ft)
        for lo in range(int(bounds[c]), int(bounds[c + 1]), rows):
            hi = min(lo + rows, int(bounds[c + 1]))
            u = buf[:(hi - lo) * k]
            gen.random(out=u)  # the chunk's stream in row-major order, whatever the batches
            K.normals_from_uniforms(u, normals[:len(u)], float(mean), float(std))
            out[lo:hi, :k] = normals[:len(u)].reshape(hi - lo, k)
            if out.shape[1] > k:
                out[lo:hi, k:] = 0  # padding, while the rows are in cache

    if n * k < 1_000_000:
        for c in range(INIT_CHUNKS):
            fill(c)
    else:
        with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as ex:
            list(ex.map(fill, range(INIT_CHUNKS)))
    return out


#: ratings a bucket of the block layout aims at (12-16 bytes each: ~400 KB, in a core's L2)
BUCKET_RATINGS = 32_768


def _fine_groups(n_ratings, nb):
    """Fine user groups a block's user group is cut into for the layout's user sort (1..256)."""
    return int(min(256, max(1, n_ratings // (nb * nb * BUCKET_RATINGS))))


def _line_rows(a, ft):
    """A copy of the 2-D array ``a`` in type ``ft`` whose rows start on ``K.VECTOR_BYTES``
    boundaries and are whole vectors (zero columns appended: k=100 float64 -> 104 with AVX-512),
    for the exact SGD kernel: its vector loads and stores then never straddle two cache lines (a
    straddling one costs about twice as much; numpy aligns arrays to 16 bytes). ``[:, :k]`` is
    the model."""
    out = _line_rows_empty(a.shape[0], a.shape[1], ft)
    out[:, :a.shape[1]] = a
    return out


def _line_rows_empty(n, k, ft, zero=True):
    """``_line_rows``' array for n rows of k values: the first k columns not set, the padding
    columns zero (``zero=False``: not set either; the caller writes them)."""
    size = np.dtype(ft).itemsize
    line = K.VECTOR_BYTES // size
    width = -(-k // line) * line
    buf = np.empty(n * width + line, dtype=ft)
    start = (-buf.ctypes.data % K.VECTOR_BYTES) // size
    out = buf[start:start + n * width].reshape(n, width)
    if zero:
        out[:, k:] = 0
    return out


def _groups(counts, nb):
    """Cut ids 0..n-1 into ``nb`` contiguous groups of about equal rating counts."""
    total = max(int(counts.sum()), 1)
    before = np.cumsum(counts) - counts
    return np.minimum(before * nb // total, nb - 1).astype(np.int32)


# ---------------------------------------------------------------------------------- SVD
class FastSVD(_FastMF):
    """Surprise's SVD (Funk SVD / biased MF by SGD) compiled with numba.

    r̂_ui = mu + b_u + b_i + q_iᵀp_u (biased) or q_iᵀp_u (``biased=False``); SGD over the ratings:
    b_u += lr_bu (e_ui - reg_bu b_u), b_i += lr_bi (e_ui - reg_bi b_i),
    p_u += lr_pu (e_ui q_i - reg_pu p_u), q_i += lr_qi (e_ui p_u - reg_qi q_i), n_epochs times.
    Parameters, defaults and attributes are Surprise 1.1.5's ``SVD`` (``lr_all``/``reg_all`` fill the
    per-parameter values left as None), plus ``mode`` and ``dtype`` (see the module docstring).
    Parameters are validated in ``fit`` (ValueError/InputError naming the parameter).
    """

    def __init__(self, n_factors=100, n_epochs=20, biased=True, init_mean=0, init_std_dev=.1,
                 lr_all=.005, reg_all=.02, lr_bu=None, lr_bi=None, lr_pu=None, lr_qi=None,
                 reg_bu=None, reg_bi=None, reg_pu=None, reg_qi=None, random_state=None,
                 verbose=False, mode="auto", dtype="float64"):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.biased = biased
        self.init_mean = init_mean
        self.init_std_dev = init_std_dev
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.lr_bu = lr_bu if lr_bu is not None else lr_all
        self.lr_bi = lr_bi if lr_bi is not None else lr_all
        self.lr_pu = lr_pu if lr_pu is not None else lr_all
        self.lr_qi = lr_qi if lr_qi is not None else lr_all
        self.reg_bu = reg_bu if reg_bu is not None else reg_all
        self.reg_bi = reg_bi if reg_bi is not None else reg_all
        self.reg_pu = reg_pu if reg_pu is not None else reg_all
        self.reg_qi = reg_qi if reg_qi is not None else reg_all
        self.random_state = random_state
        self.verbose = verbose
        self.mode = mode
        self.dtype = dtype
        AlgoBase.__init__(self)

    def _check_params(self):
        _check_int("n_factors", self.n_factors, 1)
        _check_int("n_epochs", self.n_epochs, 0)
        if self._float_type() is np.float32 and self.mode == "bitwise":
            raise InputError("dtype float32 cannot be bitwise Surprise; use float64",
                             value=self.dtype)
        _check_real("init_mean", self.init_mean)
        _check_real("init_std_dev", self.init_std_dev, nonneg=True)
        for name in ("lr_all", "reg_all"):
            if getattr(self, name, None) is not None:
                _check_real(name, getattr(self, name), nonneg=True)
        for name in ("lr_bu", "lr_bi", "lr_pu", "lr_qi", "reg_bu", "reg_bi", "reg_pu", "reg_qi"):
            _check_real(name, getattr(self, name), nonneg=True)
        _check_mode(self.mode)

    def _train(self, us, its, rs, user_counts, item_counts, global_mean, epoch_callback):
        t = time.perf_counter()
        times = self.fit_seconds_ = {"prepare": t - getattr(self, "_t_fit", t)}
        n_users, n_items = len(user_counts), len(item_counts)
        ft = self._float_type()
        mode = self.resolved_mode(len(rs))
        self.fitted_mode_ = mode
        bu = np.zeros(n_users, dtype=ft)
        bi = np.zeros(n_items, dtype=ft)
        k = self.n_factors
        if mode == "parallel":  # drawn into the kernels' padded rows; pu, qi filled by sync
            seq_pu, seq_qi = _seed_sequence(self.random_state).spawn(2)
            work_pu = _normal(seq_pu, self.init_mean, self.init_std_dev, (n_users, k), ft,
                              out=_line_rows_empty(n_users, k, ft, zero=False))
            work_qi = _normal(seq_qi, self.init_mean, self.init_std_dev, (n_items, k), ft,
                              out=_line_rows_empty(n_items, k, ft, zero=False))
            pu = np.empty((n_users, k), dtype=ft)
            qi = np.empty((n_items, k), dtype=ft)
        else:  # Surprise's initialisation, for Surprise's numbers (float32: rounded to float32)
            rng = get_rng(self.random_state)
            pu = rng.normal(self.init_mean, self.init_std_dev, size=(n_users, self.n_factors))
            qi = rng.normal(self.init_mean, self.init_std_dev, size=(n_items, self.n_factors))
            if ft is np.float32:
                pu, qi = pu.astype(np.float32), qi.astype(np.float32)
        self.bu, self.bi, self.pu, self.qi = bu, bi, pu, qi
        if mode == "bitwise":  # the arrays the epochs update
            work_pu, work_qi = pu, qi
        elif mode == "exact":  # rows of whole vectors; copied back to pu, qi (see sync)
            work_pu, work_qi = _line_rows(pu, ft), _line_rows(qi, ft)
        if ft is np.float32 and rs.dtype != np.float32:  # fit(trainset) gives float64 ratings
            rs = rs.astype(np.float32)
        times["init"] = time.perf_counter() - t
        t = time.perf_counter()
        gm = global_mean if self.biased else 0.0
        hyper = (gm, bool(self.biased), float(self.lr_bu), float(self.lr_bi), float(self.lr_pu),
                 float(self.lr_qi), float(self.reg_bu), float(self.reg_bi), float(self.reg_pu),
                 float(self.reg_qi))
        if mode == "parallel":
            bus, bits, brs, starts, nb = self._blocks(us, its, rs, user_counts, item_counts)
            # one unit = one stage: blocks (b, (b + s) mod B), contiguous in the layout
            sizes = [int(starts[(st + 1) * nb] - starts[st * nb]) for st in range(nb)]

            def run(way, lo, hi):
                if way == "parallel":
                    K.svd_epoch_blocks(bus, bits, brs, starts, nb, lo, hi, work_pu, work_qi,
                                       bu, bi, *hyper)
                else:
                    a, b = starts[lo * nb], starts[hi * nb]
                    K.svd_epoch_exact(bus[a:b], bits[a:b], brs[a:b], work_pu, work_qi, bu, bi,
                                      *hyper)

            step = _BlockEpochs(run, sizes, plan=self.block_plan_)
        else:
            kernel = K.svd_epoch_bitwise if mode == "bitwise" else K.svd_epoch_exact
            step = lambda: kernel(us, its, rs, work_pu, work_qi, bu, bi, *hyper)

        def sync():  # the model into pu, qi (exact and parallel modes train on padded rows)
            if work_pu is not pu:
                np.copyto(pu, work_pu[:, :k])
                np.copyto(qi, work_qi[:, :k])

        times["layout"] = time.perf_counter() - t
        t = time.perf_counter()
        if epoch_callback is None:
            self._epochs(None, step)
        else:
            self._epochs(epoch_callback, lambda: (step(), sync()))
        sync()
        times["epochs"] = time.perf_counter() - t
        self.epoch_threads_ = dict(step.counts) if mode == "parallel" else None


# ---------------------------------------------------------------------------------- NMF
class FastNMF(_FastMF):
    """Surprise's NMF (multiplicative updates, Luo et al. 2014) compiled with numba.

    r̂_ui = q_iᵀp_u (+ mu + b_u + b_i when ``biased``); per epoch, for every user/item factor:
    p_uf *= Σ_i q_if r_ui / (Σ_i q_if r̂_ui + reg_pu |I_u| p_uf), likewise q_if; biases by SGD.
    Parameters, defaults and attributes are Surprise 1.1.5's ``NMF`` plus ``mode``. The exact mode
    is bit-for-bit Surprise's; parallel mode runs the rating pass in conflict-free blocks.
    """

    def __init__(self, n_factors=15, n_epochs=50, biased=False, reg_pu=.06, reg_qi=.06,
                 reg_bu=.02, reg_bi=.02, lr_bu=.005, lr_bi=.005, init_low=0, init_high=1,
                 random_state=None, verbose=False, mode="auto"):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.biased = biased
        self.reg_pu = reg_pu
        self.reg_qi = reg_qi
        self.lr_bu = lr_bu
        self.lr_bi = lr_bi
        self.reg_bu = reg_bu
        self.reg_bi = reg_bi
        self.init_low = init_low
        self.init_high = init_high
        self.random_state = random_state
        self.verbose = verbose
        self.mode = mode
        if _is_real(init_low) and init_low < 0:  # as Surprise's NMF.__init__
            raise ValueError("init_low should be greater than zero")
        AlgoBase.__init__(self)

    def _check_params(self):
        _check_int("n_factors", self.n_factors, 1)
        _check_int("n_epochs", self.n_epochs, 0)
        for name in ("reg_pu", "reg_qi", "reg_bu", "reg_bi", "lr_bu", "lr_bi", "init_low",
                     "init_high"):
            _check_real(name, getattr(self, name), nonneg=True)
        if self.init_high < self.init_low:
            raise InputError("init_high must be >= init_low", value=self.init_high)
        _check_mode(self.mode)

    def _train(self, us, its, rs, user_counts, item_counts, global_mean, epoch_callback):
        n_users, n_items, k = len(user_counts), len(item_counts), self.n_factors
        mode = self.resolved_mode(len(rs))
        rng = get_rng(self.random_state)
        pu = rng.uniform(self.init_low, self.init_high, size=(n_users, k))
        qi = rng.uniform(self.init_low, self.init_high, size=(n_items, k))
        bu = np.zeros(n_users, dtype=np.double)
        bi = np.zeros(n_items, dtype=np.double)
        self.bu, self.bi, self.pu, self.qi = bu, bi, pu, qi
        aux = (np.zeros((n_users, k)), np.zeros((n_users, k)), np.zeros((n_items, k)),
               np.zeros((n_items, k)))
        gm = global_mean if self.biased else 0.0
        hyper = (user_counts, item_counts, gm, bool(self.biased), float(self.reg_pu),
                 float(self.reg_qi), float(self.reg_bu), float(self.reg_bi), float(self.lr_bu),
                 float(self.lr_bi))
        self.fitted_mode_ = mode
        if mode == "parallel":
            bus, bits, brs, starts, nb = self._blocks(us, its, rs, user_counts, item_counts)
            kern = {"parallel": K.nmf_epoch_blocks, "serial": K.nmf_epoch_blocks_serial}
            step = _BlockEpochs(  # one unit = one epoch
                lambda way, lo, hi: kern[way](bus, bits, brs, starts, nb, pu, qi, bu, bi, *aux,
                                              *hyper), [len(brs)], plan=self.block_plan_)
        else:
            step = lambda: K.nmf_epoch(us, its, rs, pu, qi, bu, bi, *aux, *hyper)
        self._epochs(epoch_callback, step)
        self.epoch_threads_ = dict(step.counts) if mode == "parallel" else None


# ---------------------------------------------------------------------------------- CV on arrays
def surprise_numbering(users, items):
    """Renumber a training list's ids by first appearance, as Surprise's Trainset does.

    Returns ``(inner_users int32, inner_items int32, user_of_inner, item_of_inner)`` where
    ``user_of_inner[k]`` is the original id of inner user k. With these, ``fit_arrays`` visits the
    ratings in Surprise's ``all_ratings()`` order.
    """
    ui, u_back = pd.factorize(np.asarray(users), sort=False)
    ii, i_back = pd.factorize(np.asarray(items), sort=False)
    return ui.astype(np.int32), ii.astype(np.int32), np.asarray(u_back), np.asarray(i_back)


# ---------------------------------------------------------------------------------- warm-up
def warm_up() -> float:
    """Compile (or load from the disk cache) every kernel on a tiny problem; returns seconds.

    Covers every signature the engine uses (fits in all modes through ``fit_arrays``, whose
    conversions give ``fit(trainset)`` the same types, and ``predict_arrays``): after it, no fit
    compiles anything (tested). ``python -m recsys warm`` runs it during set-up (``make run`` /
    ``make test``), so the compiled code is on disk before the app's first model page."""
    t0 = time.perf_counter()
    rng = np.random.RandomState(0)
    us = rng.randint(0, 7, 60).astype(np.int32)
    its = rng.randint(0, 5, 60).astype(np.int32)
    rs = rng.randint(1, 6, 60).astype(np.float32)
    for cls, mode, dtype in ((FastSVD, "bitwise", "float64"), (FastSVD, "exact", "float64"),
                             (FastSVD, "parallel", "float64"), (FastSVD, "exact", "float32"),
                             (FastSVD, "parallel", "float32"), (FastNMF, "bitwise", None),
                             (FastNMF, "exact", None), (FastNMF, "parallel", None)):
        algo = cls(n_factors=3, n_epochs=2, random_state=0, mode=mode)
        algo.block_plan_ = ["parallel", "serial"] * 8  # compile both ways of running the blocks
        if dtype:
            algo.dtype = dtype
        algo.fit_arrays(us, its, rs)
        algo.predict_arrays(us, its)
    K.stable_order(us, 7)
    K.id_counts_checked(us, 7, 2)  # the checks' parallel count (fits of 1M ratings or more)
    for r in (rs.astype(np.float64), rs):  # parallel mode's rating sum (1M ratings or more)
        K.ratings_sum(r, SUM_CHUNKS)
        K.ratings_sum_serial(r, SUM_CHUNKS)
    ug = np.zeros(7, dtype=np.int32)
    ig = np.zeros(5, dtype=np.int32)
    for r in (rs.astype(np.float64), rs):  # the layouts of fits above and below 1M ratings
        K.block_layout(us, its, r, ug, ig, 4, 1)
        K.block_layout_serial(us, its, r, ug, ig, 4, 1)
    K.baseline_sgd_epoch(us, its, rs.astype(np.float64), np.zeros(7), np.zeros(5), 3.0, 0.005,
                         0.02)   # recsys.baselines.FastBaseline, method "sgd"
    return time.perf_counter() - t0


def kernels() -> dict:
    """name -> numba dispatcher, for every kernel of ``recsys.fast_kernels``."""
    from numba.core.dispatcher import Dispatcher

    return {n: v for n, v in vars(K).items() if isinstance(v, Dispatcher)}


def warm_report() -> dict:
    """``warm_up()`` with what it did: ``seconds``, ``compiled`` (kernel signatures compiled now),
    ``loaded`` (signatures loaded from numba's disk cache) and ``cache_dir`` (where numba keeps them:
    ``recsys/__pycache__`` next to the kernels' source unless ``NUMBA_CACHE_DIR`` says otherwise).
    Counts are for this process (a second call reports no new work)."""
    def counts():
        ks = kernels().values()
        return (sum(sum(k.stats.cache_misses.values()) for k in ks),
                sum(sum(k.stats.cache_hits.values()) for k in ks))

    miss0, hit0 = counts()
    seconds = warm_up()
    miss1, hit1 = counts()
    cache_dir = getattr(getattr(K.svd_epoch_exact, "_cache", None), "_cache_path", None)
    return {"seconds": seconds, "compiled": miss1 - miss0, "loaded": hit1 - hit0,
            "cache_dir": cache_dir}
