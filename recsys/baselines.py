"""The reference predictors on the array path: the global mean and BaselineOnly (μ + b_u + b_i)
without Surprise's per-rating Trainset.

Every CV and grid result is shown next to these two rows (``recsys.evaluate.reference_results``).
On Surprise's Trainset they cost ~1.5 s of pure-Python work per new sample and settings (building
a Trainset per fold holds the GIL, so other sessions' page opens waited for it); here they cost
milliseconds, with Surprise's numbers:

* ``FastGlobalMean``: r̂ = μ, the training ratings' mean (``GlobalMean``).
* ``FastBaseline``: Surprise's ``BaselineOnly`` (Koren 2010, "Factor in the neighbors", section
  2.1; Surprise's ``optimize_baselines.pyx``). ALS: ``n_epochs`` rounds of
  b_i = Σ_{u∈U_i}(r_ui − μ − b_u) / (reg_i + |U_i|), then b_u = Σ_{i∈I_u}(r_ui − μ − b_i) /
  (reg_u + |I_u|), as vectorised sums (the same terms in another order: equal to Surprise's to
  ~1e-15). SGD: Surprise's loop in Surprise's rating order (user by user), as a numba kernel.
  r̂ = μ + b_u + b_i, each term only for a user / item seen in training, clipped to the scale.

Both subclass the Surprise classes (``isinstance(algo, BaselineOnly)`` still holds), fit from
arrays (``fit_arrays``, ``fit_ratings``) and predict many pairs at once (``predict_arrays``), like
the fast engine's ``FastSVD``. Shapes: ``bu`` (n_users,), ``bi`` (n_items,), float64.
"""
from __future__ import annotations

import numpy as np
from surprise import BaselineOnly

from .errors import InputError
from .models import GlobalMean


def _prepare(users, items, ratings, n_users, n_items):
    """Checked int32 ids and float64 ratings in user order (stable: Surprise's ``all_ratings``
    order when ids are numbered by first appearance), and the counts."""
    from . import fast_kernels as K
    from .fast import check_arrays

    us, its, rs, n_users, n_items, user_counts, item_counts = check_arrays(
        users, items, ratings, n_users, n_items)
    rs = rs.astype(np.float64)
    if not np.isfinite(rs).all():
        raise InputError("rating is not a finite number")
    us = np.require(us, np.int32, ["C", "W"])
    its = np.require(its, np.int32, ["C", "W"])
    if not K.is_sorted(us):
        order, _ = K.stable_order(us, n_users)
        us, its, rs = us[order], its[order], rs[order]
    return us, its, np.ascontiguousarray(rs), user_counts, item_counts


class _ArrayPath:
    """``fit_arrays`` / ``fit_ratings`` / ``predict_arrays`` shared by both reference models."""

    def fit_arrays(self, users, items, ratings, n_users=None, n_items=None, global_mean=None, *,
                   rating_scale=(1.0, 5.0), user_ids=None, item_ids=None):
        """Fit from inner-id arrays, one entry per rating (as ``FastSVD.fit_arrays``)."""
        from .fast import ArrayTrainset

        us, its, rs, uc, ic = _prepare(users, items, ratings, n_users, n_items)
        mean = float(np.mean(rs)) if global_mean is None else float(global_mean)
        self.trainset = ArrayTrainset(uc, ic, mean, tuple(rating_scale), user_ids, item_ids)
        self._user_known = uc > 0
        self._item_known = ic > 0
        self._learn(us, its, rs, mean)
        return self

    def fit_ratings(self, ratings):
        """Fit on every rating of a ``recsys.data.Ratings`` (Surprise's full-trainset model)."""
        return self.fit_arrays(ratings.users, ratings.items, ratings.ratings, ratings.n_users,
                               ratings.n_items, rating_scale=ratings.rating_scale,
                               user_ids=ratings.user_ids, item_ids=ratings.item_ids)

    def predict_arrays(self, users, items, clip=True):
        """Estimates of (inner user, inner item) pairs, as Surprise's ``predict(...).est``; an id
        < 0 (or without training ratings) is unknown and adds no bias. float64 (n,)."""
        us = np.asarray(users, dtype=np.int64)
        its = np.asarray(items, dtype=np.int64)
        est = np.full(len(us), float(self.trainset.global_mean))
        if self.bu is not None:
            ku = us >= 0
            ku[ku] = self._user_known[us[ku]]
            est[ku] += self.bu[us[ku]]
            ki = its >= 0
            ki[ki] = self._item_known[its[ki]]
            est[ki] += self.bi[its[ki]]
        if clip:
            lo, hi = self.trainset.rating_scale
            np.clip(est, lo, hi, out=est)
        return est


class FastGlobalMean(_ArrayPath, GlobalMean):
    """r̂ = μ for everyone, fitted from arrays (no per-rating objects)."""

    bu = bi = None

    def _learn(self, us, its, rs, mean):
        self.sigma = float(np.std(rs))   # NormalPredictor's attribute (unused by the estimate)


class FastBaseline(_ArrayPath, BaselineOnly):
    """Surprise's ``BaselineOnly`` fitted from arrays: ALS by vectorised sums, SGD by a numba
    kernel (``bsl_options`` as Surprise's: method, n_epochs, reg_u/reg_i or reg/learning_rate).
    Raises InputError for an unknown method."""

    def _learn(self, us, its, rs, mean):
        o = self.bsl_options
        method = o.get("method", "als")
        n_users, n_items = len(self._user_known), len(self._item_known)
        bu = np.zeros(n_users)
        bi = np.zeros(n_items)
        if method == "als":
            reg_u = float(o.get("reg_u", 15))
            reg_i = float(o.get("reg_i", 10))
            den_u = reg_u + np.bincount(us, minlength=n_users)
            den_i = reg_i + np.bincount(its, minlength=n_items)
            for _ in range(int(o.get("n_epochs", 10))):
                bi = np.bincount(its, weights=rs - mean - bu[us], minlength=n_items) / den_i
                bu = np.bincount(us, weights=rs - mean - bi[its], minlength=n_users) / den_u
        elif method == "sgd":
            from . import fast_kernels as K

            lr = float(o.get("learning_rate", 0.005))
            reg = float(o.get("reg", 0.02))
            for _ in range(int(o.get("n_epochs", 20))):
                K.baseline_sgd_epoch(us, its, rs, bu, bi, float(mean), lr, reg)
        else:
            raise InputError("baseline method must be als or sgd", value=method)
        self.bu, self.bi = bu, bi
