"""Implicit-feedback models: MostPopular, and ALS and BPR from the ``implicit`` library.

They learn from *interactions*, not rating values: every rating becomes a 1 (``binarize="all"``),
or only ratings ≥ ``like_threshold`` do (``binarize="liked"``; the others are dropped, as if never
seen). Their output is a **score** for ranking, not a rating: there is no μ, no bias, no clipping
to the rating scale, and RMSE/MAE do not apply (``scores_not_ratings = True``).

- ``MostPopular``: score(u, i) = number of interactions of item i in the training data, the same
  for every user. Stored as one factor (p_u = 1, q_i = popularity), so the explorer pages read it
  like any factor model.
- ``ALS``: ``implicit.cpu.als.AlternatingLeastSquares`` - Hu, Koren & Volinsky (2008),
  "Collaborative Filtering for Implicit Feedback Datasets": minimise
  Σ_{u,i} c_ui (p_ui − x_uᵀy_i)² + λ(Σ|x_u|² + Σ|y_i|²), p_ui = 1 if u interacted with i else 0,
  confidence c_ui = 1 + α·r_ui (r_ui = 1 here), by alternating least squares (conjugate gradient).
- ``BPR``: ``implicit.cpu.bpr.BayesianPersonalizedRanking`` - Rendle et al. (2009), "BPR: Bayesian
  Personalized Ranking from Implicit Feedback": SGD on ln σ(x̂_ui − x̂_uj) − λ|Θ|² over sampled
  (user, seen item i, unseen item j) triples. ``implicit`` appends an item-bias column to the
  factors (q_i has factors + 1 entries, the matching entry of p_u is 1).

Scores: q_iᵀp_u with the library's factors (``pu`` = user factors, ``qi`` = item factors, as
float64). Both fits run on one thread (``num_threads=1`` and one BLAS thread via threadpoolctl):
the machine has 2 shared cores, and BPR's Hogwild SGD is reproducible only on one thread.

Contract: Surprise's (``fit(trainset)``, ``predict(uid, iid)`` with ``est`` = the unclipped
score, ``pu``, ``qi``, ``bu``/``bi`` = zeros, ``biased = False``) plus the fast engine's array
path (``fit_arrays``, ``fit_ratings``, ``predict_arrays``) and ``score_users`` for
``recsys.ranking``.
"""
from __future__ import annotations

import numpy as np
from surprise import AlgoBase, PredictionImpossible

from .errors import InputError

BINARIZE = ("all", "liked")
#: threads given to ``implicit`` (and to BLAS during its fits)
IMPLICIT_THREADS = 1


class _ScoreModel(AlgoBase):
    """Shared machinery: binarisation, the two fit paths, scores and the Surprise contract."""

    scores_not_ratings = True
    biased = False

    def __init__(self, binarize="all", like_threshold=4.0, random_state=0):
        AlgoBase.__init__(self)
        self.binarize = binarize
        self.like_threshold = like_threshold
        self.random_state = random_state

    # -------------------------------------------------------------- fitting
    def fit(self, trainset):
        """Fit on a Surprise ``Trainset`` (inner ids = the trainset's)."""
        from .fast import trainset_arrays

        AlgoBase.fit(self, trainset)
        us, its, rs = trainset_arrays(trainset)
        self._fit_interactions(us, its, rs, trainset.n_users, trainset.n_items)
        return self

    def fit_arrays(self, users, items, ratings, n_users=None, n_items=None, global_mean=None, *,
                   rating_scale=(1.0, 5.0), user_ids=None, item_ids=None):
        """Fit from inner-id arrays (as ``FastSVD.fit_arrays``; ``global_mean`` is kept only for
        the trainset's summary)."""
        from .fast import ArrayTrainset

        us = np.asarray(users)
        its = np.asarray(items)
        rs = np.asarray(ratings, dtype=np.float64)
        if us.ndim != 1 or its.shape != us.shape or rs.shape != us.shape:
            raise InputError("users, items and ratings must be 1-D arrays of equal length",
                             value=f"{us.shape}, {its.shape}, {rs.shape}")
        if len(us) == 0:
            raise InputError("no ratings to fit")
        n_users = int(us.max()) + 1 if n_users is None else int(n_users)
        n_items = int(its.max()) + 1 if n_items is None else int(n_items)
        user_counts = np.bincount(us, minlength=n_users)
        item_counts = np.bincount(its, minlength=n_items)
        mean = float(np.mean(rs)) if global_mean is None else float(global_mean)
        self.trainset = ArrayTrainset(user_counts, item_counts, mean, tuple(rating_scale),
                                      user_ids, item_ids)
        self._fit_interactions(us, its, rs, n_users, n_items)
        return self

    def fit_ratings(self, ratings):
        """Fit on every rating of a ``recsys.data.Ratings`` (inner ids = the Ratings')."""
        return self.fit_arrays(ratings.users, ratings.items, ratings.ratings, ratings.n_users,
                               ratings.n_items, rating_scale=ratings.rating_scale,
                               user_ids=ratings.user_ids, item_ids=ratings.item_ids)

    def interactions(self, users, items, ratings, n_users: int, n_items: int):
        """The binarised user × item matrix (scipy CSR, float32 ones) the model learns from."""
        from scipy.sparse import csr_matrix

        if self.binarize not in BINARIZE:
            raise InputError(f"binarize must be one of {', '.join(BINARIZE)}",
                             value=self.binarize)
        keep = (np.ones(len(ratings), dtype=bool) if self.binarize == "all"
                else np.asarray(ratings) >= float(self.like_threshold))
        m = csr_matrix((np.ones(int(keep.sum()), dtype=np.float32),
                        (np.asarray(users)[keep], np.asarray(items)[keep])),
                       shape=(n_users, n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def _fit_interactions(self, us, its, rs, n_users, n_items):
        x = self.interactions(us, its, rs, n_users, n_items)
        self.n_interactions = int(x.nnz)
        pu, qi = self._learn(x)
        self.pu = np.ascontiguousarray(pu, dtype=np.float64)
        self.qi = np.ascontiguousarray(qi, dtype=np.float64)
        self.bu = np.zeros(n_users)
        self.bi = np.zeros(n_items)
        self._user_known = np.bincount(us, minlength=n_users) > 0
        self._item_known = np.bincount(its, minlength=n_items) > 0

    def _learn(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------- scores
    def score_users(self, users) -> np.ndarray:
        """(len(users), n_items) float64 scores q_iᵀp_u of model inner users."""
        return self.pu[np.asarray(users)] @ self.qi.T

    def predict_arrays(self, users, items, clip=False):
        """Scores of (inner user, inner item) pairs; 0.0 where either is unknown (id < 0).
        ``clip`` is accepted for the fast engine's signature and ignored (scores are not
        ratings)."""
        us = np.asarray(users, dtype=np.int64)
        its = np.asarray(items, dtype=np.int64)
        ok = (us >= 0) & (its >= 0)
        ok[ok] = self._user_known[us[ok]] & self._item_known[its[ok]]
        out = np.zeros(len(us))
        out[ok] = np.einsum("ij,ij->i", self.pu[us[ok]], self.qi[its[ok]])
        return out

    def estimate(self, u, i):
        if not (self.trainset.knows_user(u) and self.trainset.knows_item(i)):
            raise PredictionImpossible("User and/or item is unknown.")
        return np.dot(self.qi[i], self.pu[u])

    def default_prediction(self):
        """Score of an unknown user or item: 0 (no interaction evidence)."""
        return 0.0

    def predict(self, uid, iid, r_ui=None, clip=False, verbose=False):
        """Surprise's ``predict``, but ``est`` is the unclipped score (not a rating)."""
        return AlgoBase.predict(self, uid, iid, r_ui=r_ui, clip=clip, verbose=verbose)


class MostPopular(_ScoreModel):
    """Recommend the items with the most (binarised) interactions; one list for everyone."""

    def _learn(self, x):
        pop = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
        return np.ones((x.shape[0], 1)), pop[:, None]

    def score_users(self, users) -> np.ndarray:
        return np.broadcast_to(self.qi[:, 0], (len(users), self.qi.shape[0])).copy()


def _fit_limited(make, x):
    """``make()`` builds the ``implicit`` model (its constructor checks the BLAS threads), then it
    is fitted on ``x``, both under one BLAS thread. Returns (user factors, item factors)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=IMPLICIT_THREADS, user_api="blas"):
        model = make()
        model.fit(x, show_progress=False)
    return model.user_factors, model.item_factors


class ALS(_ScoreModel):
    """Weighted matrix factorisation for implicit feedback (Hu, Koren & Volinsky 2008), by
    ``implicit``'s AlternatingLeastSquares."""

    def __init__(self, factors=64, regularization=0.05, iterations=15, alpha=2.0,
                 binarize="all", like_threshold=4.0, random_state=0):
        _ScoreModel.__init__(self, binarize, like_threshold, random_state)
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha

    def _learn(self, x):
        from implicit.cpu.als import AlternatingLeastSquares

        return _fit_limited(lambda: AlternatingLeastSquares(
            factors=int(self.factors), regularization=float(self.regularization),
            alpha=float(self.alpha), iterations=int(self.iterations),
            random_state=int(self.random_state), num_threads=IMPLICIT_THREADS), x)


class BPR(_ScoreModel):
    """Bayesian personalised ranking (Rendle et al. 2009), by ``implicit``'s
    BayesianPersonalizedRanking."""

    def __init__(self, factors=32, learning_rate=0.005, regularization=0.01, iterations=100,
                 binarize="all", like_threshold=4.0, random_state=0):
        _ScoreModel.__init__(self, binarize, like_threshold, random_state)
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations

    def _learn(self, x):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return _fit_limited(lambda: BayesianPersonalizedRanking(
            factors=int(self.factors), learning_rate=float(self.learning_rate),
            regularization=float(self.regularization), iterations=int(self.iterations),
            random_state=int(self.random_state), num_threads=IMPLICIT_THREADS), x)
