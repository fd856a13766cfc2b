"""The algorithm registry: every model FactorLab can fit, with its parameters, ranges and defaults.

One ``AlgoSpec`` per algorithm (CLI name -> spec in ``REGISTRY``). Each spec lists its ``Param``s
(name, type, range, default, help), from which the UI builds its sliders and the CLI validates its
options, and a factory that builds a Surprise-compatible algorithm (``fit(trainset)``,
``predict(uid, iid)``; MF models also expose ``pu``, ``qi``, ``bu``, ``bi``).

Engines: ``"surprise"`` (the reference library) or ``"fast"`` (``recsys.fast``: FastSVD / FastNMF,
same constructor parameters, imported lazily). Algorithms other than svd and nmf ignore the engine.

Parameters are given as a dict holding only what the user chose; ``normalize_params`` validates it
and fills in defaults. An *alias* lets one name drive several parameters so the CLI and the grid can
say ``lr_all`` / ``reg_all`` for every algorithm (NMF: ``reg_all`` sets ``reg_pu`` and ``reg_qi``,
``lr_all`` sets ``lr_bu`` and ``lr_bi``; baseline: ``lr_all`` -> ``learning_rate``,
``reg_all`` -> ``reg``). A parameter given by its own name wins over an alias.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from surprise import NormalPredictor

from .errors import DivergenceError, InputError

ENGINES = ("surprise", "fast")
SEED_MAX = 2**32 - 1


@dataclass(frozen=True)
class Param:
    """One hyperparameter. ``kind``: "int", "float", "bool" or "choice".

    ``low``/``high`` bound numbers (inclusive); ``choices`` list a "choice" parameter's values;
    ``log`` hints the UI to use a log-scaled control; ``step`` is the UI's slider step.
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    step: float | None = None
    log: bool = False
    ui: bool = True   # shown in the sidebar (random_state comes from the sidebar seed instead)

    def range_text(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return " | ".join(map(str, self.choices))
        return f"{_fmt(self.low)}..{_fmt(self.high)}"

    def check(self, value, algo: str):
        """``value`` converted to this parameter's type; InputError naming it and its range."""
        where = f"{algo} parameter {self.name}"
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0",
                                                                     "yes", "no"):
                return value.strip().lower() in ("true", "1", "yes")
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            raise InputError(f"{where} must be true or false", value=value)
        if self.kind == "choice":
            v = value.strip().lower() if isinstance(value, str) else value
            if v not in self.choices:
                raise InputError(f"{where} must be one of {self.range_text()}", value=value)
            return v
        # numbers
        if isinstance(value, (bool, np.bool_)):
            raise InputError(f"{where} must be a number in {self.range_text()}", value=value)
        try:
            num = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where} must be a number in {self.range_text()}",
                             value=value) from None
        if not math.isfinite(num):
            raise InputError(f"{where} must be a number in {self.range_text()}", value=value)
        if self.kind == "int":
            if not num.is_integer():
                raise InputError(f"{where} must be a whole number in {self.range_text()}",
                                 value=value)
            num = int(num)
        if (self.low is not None and num < self.low) or (self.high is not None and num > self.high):
            raise InputError(f"{where} must be in {self.range_text()}", value=value)
        return num


@dataclass(frozen=True)
class AlgoSpec:
    """An algorithm: CLI name, label, parameters and a factory ``factory(params, engine)``."""

    name: str
    label: str
    params: tuple[Param, ...]
    factory: Callable[[dict, str], Any]
    summary: str
    is_mf: bool = False            # has pu, qi (and bu, bi when biased)
    engines: tuple[str, ...] = ("surprise",)
    aliases: dict = field(default_factory=dict)          # alias -> target parameter names
    method_defaults: dict = field(default_factory=dict)  # method value -> {param: default}
    implicit: bool = False       # learns from interactions; scores are not ratings (no RMSE)
    array_path: bool = False     # fit_arrays/predict_arrays on every engine (recsys.evaluate)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise InputError(f"unknown parameter {name!r} for {self.name}; known: "
                         f"{', '.join(self.param_names)}", value=name)

    @property
    def has_random_state(self) -> bool:
        return "random_state" in self.param_names

    @property
    def supports_curve(self) -> bool:
        """Learning curves (per-epoch RMSE) make sense for the SGD matrix factorisations."""
        return self.name in ("svd", "nmf")


# ---------------------------------------------------------------------- factories
def _surprise_or_fast(surprise_cls: str, fast_cls: str):
    def factory(params: dict, engine: str):
        if engine == "fast":
            try:
                from . import fast
            except ImportError as err:
                raise InputError("the fast engine is not available (recsys.fast does not "
                                 f"import: {err}); use --engine surprise") from None
            cls = getattr(fast, fast_cls)
        else:
            import surprise

            cls = getattr(surprise, surprise_cls)
        return cls(**params)
    return factory


def _svdpp(params: dict, engine: str):
    from surprise import SVDpp

    return SVDpp(cache_ratings=True, **params)


def _baseline(params: dict, engine: str):
    if engine == "fast":
        from .baselines import FastBaseline as BaselineOnly
    else:
        from surprise import BaselineOnly

    p = dict(params)
    method = p.pop("method")
    if method == "als":
        bsl = {"method": "als", "n_epochs": p["n_epochs"], "reg_u": p["reg_u"],
               "reg_i": p["reg_i"]}
    else:
        bsl = {"method": "sgd", "n_epochs": p["n_epochs"], "reg": p["reg"],
               "learning_rate": p["learning_rate"]}
    return BaselineOnly(bsl_options=bsl, verbose=False)


def _normal(params: dict, engine: str):
    return SeededNormalPredictor(**params)


def _knnbaseline(params: dict, engine: str):
    from surprise import KNNBaseline

    return KNNBaseline(k=params["k"], min_k=params["min_k"],
                       sim_options={"name": "pearson_baseline", "user_based": False,
                                    "shrinkage": params["shrinkage"]},
                       bsl_options={"method": "als"}, verbose=False)


class SeededNormalPredictor(NormalPredictor):
    """Surprise's NormalPredictor with its own seeded generator (Surprise's draws from numpy's
    global RNG, so two runs would differ). ``fit`` resets the generator, so the same seed and the
    same test order give the same predictions."""

    def __init__(self, random_state=0):
        NormalPredictor.__init__(self)
        self.random_state = random_state

    def fit(self, trainset):
        NormalPredictor.fit(self, trainset)
        self._rng = np.random.default_rng(self.random_state)
        return self

    def estimate(self, *_):
        return self._rng.normal(self.trainset.global_mean, self.sigma)


class GlobalMean(NormalPredictor):
    """The trivial predictor r̂_ui = μ (the training ratings' mean), for every user and item: the
    reference row every model is compared with."""

    def estimate(self, *_):
        return self.trainset.global_mean

    def score_users(self, users) -> np.ndarray:
        """The same score μ for every item (full-catalogue ranking: ties, by item id)."""
        return np.full((len(users), self.trainset.n_items), float(self.trainset.global_mean))


def _globalmean(params: dict, engine: str):
    if engine == "fast":
        from .baselines import FastGlobalMean

        return FastGlobalMean()
    return GlobalMean()


# ---------------------------------------------------------------------- parameters
def _factors(default):
    return Param("n_factors", "int", default, "Number of latent factors k (length of p_u, q_i).",
                 low=1, high=500, step=1)


def _epochs(default, help_="Passes of SGD over all training ratings."):
    return Param("n_epochs", "int", default, help_, low=1, high=500, step=1)


_SEED = Param("random_state", "int", 0, "Seed of the factor initialisation (the sidebar seed).",
              low=0, high=SEED_MAX, step=1, ui=False)
_BIASED = "Learn user/item biases b_u, b_i (r̂ = μ + b_u + b_i + q_iᵀp_u) or not (r̂ = q_iᵀp_u)."

REGISTRY: dict[str, AlgoSpec] = {}


def _register(spec: AlgoSpec) -> None:
    REGISTRY[spec.name] = spec


_register(AlgoSpec(
    "svd", "SVD (Funk, SGD)",
    (
        _factors(100), _epochs(20),
        Param("lr_all", "float", 0.005, "SGD learning rate γ for all parameters.",
              low=1e-4, high=0.5, step=0.001, log=True),
        Param("reg_all", "float", 0.02, "Regularisation λ for all parameters.",
              low=0.0, high=2.0, step=0.005),
        Param("biased", "bool", True, _BIASED),
        Param("init_std_dev", "float", 0.1, "Std-dev of the normal initialisation of p_u, q_i.",
              low=0.0, high=1.0, step=0.01),
        _SEED,
    ),
    _surprise_or_fast("SVD", "FastSVD"),
    "Matrix factorisation by SGD: r̂ = μ + b_u + b_i + q_iᵀp_u.",
    is_mf=True, engines=ENGINES,
))

_register(AlgoSpec(
    "nmf", "NMF (non-negative)",
    (
        _factors(15), _epochs(50),
        Param("reg_pu", "float", 0.06, "Regularisation of user factors p_u.",
              low=0.0, high=2.0, step=0.01),
        Param("reg_qi", "float", 0.06, "Regularisation of item factors q_i.",
              low=0.0, high=2.0, step=0.01),
        Param("biased", "bool", False, _BIASED + " Biased NMF easily overfits.", ),
        Param("reg_bu", "float", 0.02, "Regularisation of user biases (biased only).",
              low=0.0, high=2.0, step=0.01, ui=False),
        Param("reg_bi", "float", 0.02, "Regularisation of item biases (biased only).",
              low=0.0, high=2.0, step=0.01, ui=False),
        Param("lr_bu", "float", 0.005, "Learning rate of user biases (biased only).",
              low=1e-4, high=0.5, step=0.001, log=True, ui=False),
        Param("lr_bi", "float", 0.005, "Learning rate of item biases (biased only).",
              low=1e-4, high=0.5, step=0.001, log=True, ui=False),
        _SEED,
    ),
    _surprise_or_fast("NMF", "FastNMF"),
    "Non-negative factors by multiplicative updates: r̂ = q_iᵀp_u (+ μ + b_u + b_i if biased).",
    is_mf=True, engines=ENGINES,
    aliases={"reg_all": ("reg_pu", "reg_qi"), "lr_all": ("lr_bu", "lr_bi")},
))

_register(AlgoSpec(
    "svdpp", "SVD++ (implicit feedback)",
    (
        _factors(20), _epochs(20),
        Param("lr_all", "float", 0.007, "SGD learning rate for all parameters.",
              low=1e-4, high=0.5, step=0.001, log=True),
        Param("reg_all", "float", 0.02, "Regularisation for all parameters.",
              low=0.0, high=2.0, step=0.005),
        Param("init_std_dev", "float", 0.1, "Std-dev of the normal initialisation.",
              low=0.0, high=1.0, step=0.01),
        _SEED,
    ),
    _svdpp,
    "SVD plus implicit feedback: p_u + |N(u)|^-½ Σ y_j.",
    is_mf=True,
))

_register(AlgoSpec(
    "baseline", "Baseline only (μ + b_u + b_i)",
    (
        Param("method", "choice", "als", "How the biases are fitted: alternating least squares "
                                         "or SGD.", choices=("als", "sgd")),
        Param("n_epochs", "int", 10, "Iterations (Surprise's default: 10 for ALS, 20 for SGD).",
              low=1, high=500, step=1),
        Param("reg_u", "float", 15.0, "ALS: regularisation of user biases.",
              low=0.0, high=100.0, step=0.5),
        Param("reg_i", "float", 10.0, "ALS: regularisation of item biases.",
              low=0.0, high=100.0, step=0.5),
        Param("reg", "float", 0.02, "SGD: regularisation.", low=0.0, high=2.0, step=0.005),
        Param("learning_rate", "float", 0.005, "SGD: learning rate.",
              low=1e-4, high=0.5, step=0.001, log=True),
    ),
    _baseline,
    "Biases only: r̂ = μ + b_u + b_i.",
    engines=ENGINES,
    aliases={"lr_all": ("learning_rate",), "reg_all": ("reg",)},
    method_defaults={"sgd": {"n_epochs": 20}},
))

_register(AlgoSpec(
    "globalmean", "Global mean (μ)",
    (),
    _globalmean,
    "Predicts the training ratings' mean μ for everyone: the trivial reference.",
    engines=ENGINES,
))

_register(AlgoSpec(
    "normal", "Random (normal distribution)",
    (_SEED,),
    _normal,
    "Random ratings drawn from N(μ, σ²) of the training set: the floor any model must beat.",
))

_register(AlgoSpec(
    "knnbaseline", "KNN with baseline (item-based)",
    (
        Param("k", "int", 40, "Maximum number of neighbours.", low=1, high=500, step=1),
        Param("min_k", "int", 1, "Minimum number of neighbours (else the baseline alone).",
              low=1, high=100, step=1),
        Param("shrinkage", "int", 100, "Shrinkage of the pearson_baseline similarity.",
              low=0, high=1000, step=10),
    ),
    _knnbaseline,
    "Item-based k-NN on pearson_baseline similarity around μ + b_u + b_i.",
))


# ---------------------------------------------------------------------- implicit feedback
def _implicit(cls_name: str):
    def factory(params: dict, engine: str):
        from . import implicit_models

        return getattr(implicit_models, cls_name)(**params)
    return factory


_BINARIZE = Param("binarize", "choice", "all",
                  "Which ratings become interactions (1s): every rating, or only ratings ≥ "
                  "like_threshold (the others are dropped).", choices=("all", "liked"))
_LIKE = Param("like_threshold", "float", 4.0, "With binarize=liked: a rating ≥ this is an "
              "interaction.", low=-10.0, high=10.0, step=0.5)
_IMPLICIT_ALIASES = {"n_factors": ("factors",), "n_epochs": ("iterations",),
                     "reg_all": ("regularization",)}

_register(AlgoSpec(
    "mostpop", "MostPopular (baseline)",
    (_BINARIZE, _LIKE),
    _implicit("MostPopular"),
    "Everyone gets the items with the most interactions: score = popularity, not a rating.",
    implicit=True, array_path=True,
))

_register(AlgoSpec(
    "als", "ALS (implicit feedback)",
    (
        Param("factors", "int", 64, "Number of latent factors (length of p_u, q_i).",
              low=1, high=500, step=1),
        Param("regularization", "float", 0.05, "Regularisation λ of the factors.",
              low=0.0, high=10.0, step=0.01),
        Param("iterations", "int", 15, "Alternating least-squares sweeps.",
              low=1, high=200, step=1),
        Param("alpha", "float", 2.0, "Confidence α: an interaction weighs c = 1 + α, a missing "
                                     "one 1.", low=0.0, high=100.0, step=0.5),
        _BINARIZE, _LIKE, _SEED,
    ),
    _implicit("ALS"),
    "Weighted MF for implicit feedback (Hu, Koren & Volinsky 2008, library implicit): "
    "score = q_iᵀp_u, not a rating.",
    is_mf=True, implicit=True, array_path=True, aliases=_IMPLICIT_ALIASES,
))

_register(AlgoSpec(
    "bpr", "BPR (implicit feedback)",
    (
        Param("factors", "int", 32, "Number of latent factors (library implicit adds one "
                                    "item-bias column).", low=1, high=500, step=1),
        Param("learning_rate", "float", 0.005, "SGD learning rate.",
              low=1e-4, high=0.5, step=0.001, log=True),
        Param("regularization", "float", 0.01, "Regularisation λ of the factors.",
              low=0.0, high=10.0, step=0.005),
        Param("iterations", "int", 100, "Passes of SGD over the interactions.",
              low=1, high=1000, step=1),
        _BINARIZE, _LIKE, _SEED,
    ),
    _implicit("BPR"),
    "Bayesian personalised ranking (Rendle et al. 2009, library implicit): seen items above "
    "unseen ones; score = q_iᵀp_u, not a rating.",
    is_mf=True, implicit=True, array_path=True,
    aliases={**_IMPLICIT_ALIASES, "lr_all": ("learning_rate",)},
))


def implicit_names() -> tuple[str, ...]:
    """Algorithms whose scores are not ratings (no RMSE/MAE)."""
    return tuple(n for n, s in REGISTRY.items() if s.implicit)


def factor_names(with_popularity: bool = False) -> tuple[str, ...]:
    """Algorithms with item factors q_i for the explorer pages (MostPopular's single
    'popularity factor' only where ``with_popularity``: a top-N list, not a similarity)."""
    names = [n for n, s in REGISTRY.items() if s.name in ("svd", "nmf") or
             (s.implicit and s.is_mf)]
    if with_popularity:
        names.append("mostpop")
    return tuple(names)


# ---------------------------------------------------------------------- public API
def get_spec(name: str) -> AlgoSpec:
    """The spec of algorithm ``name`` (case-insensitive); InputError listing the known names."""
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise InputError(f"unknown algorithm; known: {', '.join(REGISTRY)}", value=name)
    return REGISTRY[key]


def default_params(name: str) -> dict:
    """Every parameter of ``name`` at its default (random_state 0)."""
    return {p.name: p.default for p in get_spec(name).params}


def normalize_params(name: str, params: dict | None = None) -> dict:
    """Validate ``params`` (only what the user chose, aliases allowed) and fill in defaults.

    Unknown names and values out of range raise InputError naming the parameter and its range.
    """
    spec = get_spec(name)
    given = dict(params or {})
    # aliases first, so a parameter given by its own name wins
    expanded: dict = {}
    for key in list(given):
        if key in spec.aliases and key not in spec.param_names:
            value = given.pop(key)
            for target in spec.aliases[key]:
                expanded[target] = value
    expanded.update(given)
    out = {}
    for key, value in expanded.items():
        param = spec.param(key) if key in spec.param_names else None
        if param is None:
            known = list(spec.param_names) + [a for a in spec.aliases]
            raise InputError(f"unknown parameter {key!r} for {spec.name}; known: "
                             f"{', '.join(known) or '(none)'}", value=value)
        out[key] = param.check(value, spec.name)
    method = out.get("method", next((p.default for p in spec.params if p.name == "method"), None))
    overrides = spec.method_defaults.get(method, {})
    full = {}
    for p in spec.params:
        if p.name in out:
            full[p.name] = out[p.name]
        else:
            full[p.name] = overrides.get(p.name, p.default)
    return full


def check_engine(engine: str) -> str:
    e = str(engine).strip().lower()
    if e not in ENGINES:
        raise InputError(f"unknown engine; use one of {', '.join(ENGINES)}", value=engine)
    return e


def fast_available() -> bool:
    """True when ``recsys.fast`` imports (the fast engine is installed)."""
    try:
        from . import fast  # noqa: F401
    except ImportError:
        return False
    return True


def make_algo(name: str, params: dict | None = None, engine: str = "surprise"):
    """A fresh, unfitted algorithm ``name`` with ``params`` (validated, defaults filled in)."""
    spec = get_spec(name)
    engine = check_engine(engine)
    full = normalize_params(spec.name, params)
    return spec.factory(full, engine if engine in spec.engines else "surprise")


def fit_full(ratings, name: str, params: dict | None = None, engine: str = "surprise"):
    """Fit ``name`` on every rating of ``ratings`` (the tutorial's ``build_full_trainset``).

    The trainset is ``algo.trainset``; its inner ids equal ``ratings``' inner ids. The fast
    engine fits from the ``Ratings`` arrays (``fit_ratings``: the same model, no per-rating
    Python objects, so it scales to the full Netflix Prize); other models get Surprise's Trainset.
    Raises InputError when the data does not suit the model (``check_fit_input``) and
    DivergenceError when the fitted parameters are not finite (``check_fitted``).
    """
    check_fit_input(name, ratings)
    algo = make_algo(name, params, engine)
    if hasattr(algo, "fit_ratings"):
        algo = algo.fit_ratings(ratings)
    else:
        algo.fit(ratings.to_surprise().build_full_trainset())
    check_fitted(algo, name)
    return algo


#: Learned parameter arrays checked after every fit.
FITTED_ARRAYS = ("bu", "bi", "pu", "qi", "yj")


def check_fit_input(name: str, ratings) -> None:
    """InputError when ``ratings`` cannot be fitted by ``name``: NMF needs non-negative ratings
    (as scikit-learn's ``NMF``, which refuses negative input: its factors are meant to stay
    ≥ 0, and Surprise's multiplicative updates assume r_ui ≥ 0)."""
    spec = get_spec(name)
    if spec.name == "nmf" and len(ratings.ratings) and float(np.min(ratings.ratings)) < 0:
        raise InputError("NMF needs non-negative ratings (as scikit-learn's NMF); this data has "
                         f"ratings down to {float(np.min(ratings.ratings)):g}. Use SVD, or "
                         "shift the ratings to start at 0", value=ratings.name)


def check_fitted(algo, name: str = "", *, epoch: int | None = None) -> None:
    """DivergenceError when any learned parameter (``FITTED_ARRAYS``) is NaN or infinite.

    SGD with a learning rate too large for the ratings' scale overflows (e.g. ratings 1 and
    660 with lr_all=0.005): every later prediction would be NaN or clipped garbage.
    """
    bad = total = 0
    for attr in FITTED_ARRAYS:
        arr = getattr(algo, attr, None)
        if arr is None or not hasattr(arr, "dtype"):
            continue
        arr = np.asarray(arr)
        if arr.dtype.kind not in "fc":
            continue
        total += arr.size
        bad += int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        spec = get_spec(name) if name else None
        label = spec.label if spec else type(algo).__name__
        lower = {"nmf": "lr_bu and lr_bi", "baseline": "learning_rate"}.get(
            spec.name if spec else "", "lr_all (the learning rate)")
        when = f" at epoch {epoch}" if epoch is not None else ""
        raise DivergenceError(
            f"SGD diverged{when}: {bad:,} of {total:,} learned parameters of {label} are NaN "
            f"or infinite. Lower {lower}, or rescale the ratings to a smaller range")


def describe(name: str, params: dict | None = None, engine: str = "surprise") -> str:
    """One line naming the model: ``SVD (Funk, SGD): n_factors=100, n_epochs=20, … [surprise]``.

    Shows every parameter that differs from the default plus n_factors/n_epochs when present.
    """
    spec = get_spec(name)
    full = normalize_params(spec.name, params)
    defaults = default_params(spec.name)
    shown = [k for k in full if k in ("n_factors", "n_epochs", "method", "factors", "iterations")
             or full[k] != defaults[k]]
    text = ", ".join(f"{k}={_fmt(full[k])}" for k in shown)
    eng = "implicit" if spec.implicit else (engine if engine in spec.engines else "surprise")
    return f"{spec.label}" + (f": {text}" if text else "") + f" [{eng}]"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
