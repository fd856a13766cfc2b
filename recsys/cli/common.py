"""Options shared by several commands: the dataset, the user sample, the model."""
from __future__ import annotations

import json
import sys

DEFAULT_SAMPLE_USERS = None  # all users unless --sample-users is given


def add_dataset(p) -> None:
    p.add_argument("dataset", help="ml-100k | netflix:PATH | movielens:PATH | csv:PATH | "
                                   "synthetic[:key=value,...]")
    p.add_argument("--sample-users", type=int, default=DEFAULT_SAMPLE_USERS, metavar="N",
                   help="pick N users at random and keep all their ratings")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for sampling, folds and models (0 .. 4294967295)")
    p.add_argument("--rating-scale", metavar="LOW,HIGH", default=None,
                   help="the rating scale of csv:, movielens: and netflix: data, e.g. 0,1 or "
                        "1,10 (default: the format's own, or inferred from the values)")


def add_json(p) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def load_sample(args):
    """The Ratings selected by the dataset options (sampled when asked); notices to stderr."""
    from ..data import parse_scale
    from ..errors import InputError
    from ..io.datasets import load_dataset
    from ..models import SEED_MAX

    if not 0 <= args.seed <= SEED_MAX:
        raise InputError(f"--seed must be a whole number from 0 to {SEED_MAX}", value=args.seed)
    scale = parse_scale(args.rating_scale or "", what="--rating-scale")
    ratings = load_dataset(args.dataset, rating_scale=scale)
    sample = ratings.sample_users(args.sample_users, seed=args.seed)
    for note in sample.notices + ((sample.thin_warning(),) if sample.thin_warning() else ()):
        print(f"note: {note}", file=sys.stderr)
    return sample


def text_table(df, columns=None, floats=None, index: bool = False,
               empty: str = "(no rows)") -> str:
    """A table as aligned text: ``floats`` columns (default: every float column) to 4
    decimals, words as they are; ``empty`` for no rows, never pandas' bare "Empty DataFrame"."""
    if columns is not None:
        df = df[list(columns)]
    if df.empty:
        return empty
    df = df.copy()
    for c in (floats if floats is not None else
              [c for c in df.columns if df[c].dtype.kind == "f"]):
        df[c] = df[c].map(lambda v: f"{v:.4f}" if isinstance(v, float) else v)
    return df.to_string(index=index)


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=_jsonable)
    sys.stdout.write("\n")


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------------- model options
#: --option -> registry parameter name (aliases such as lr_all/reg_all map per algorithm).
MODEL_OPTIONS = {"factors": "n_factors", "epochs": "n_epochs", "lr": "lr_all",
                 "reg": "reg_all", "biased": "biased", "baseline_method": "method",
                 "binarize": "binarize"}
# The fast engine equals Surprise to 1e-9 (tests/test_fast.py) and is 10x+ faster.
DEFAULT_ENGINE = "fast"


def add_model_options(p, lists: bool = False) -> None:
    """--algo, --factors, --epochs, --lr, --reg, --biased/--no-biased, --baseline-method,
    --binarize, --param, --engine. ``lists=True`` (grid search) makes the numeric options
    comma-separated lists."""
    import argparse

    from ..models import ENGINES, REGISTRY

    num = str if lists else None
    many = " (comma-separated list)" if lists else ""
    p.add_argument("--algo", default="svd", type=str.lower, choices=list(REGISTRY),
                   help="algorithm (default: svd)")
    p.add_argument("--factors", type=num or int, metavar="K", help="n_factors" + many)
    p.add_argument("--epochs", type=num or int, metavar="E", help="n_epochs" + many)
    p.add_argument("--lr", type=num or float, metavar="X",
                   help="learning rate lr_all (NMF: lr_bu, lr_bi; baseline: learning_rate)" + many)
    p.add_argument("--reg", type=num or float, metavar="X",
                   help="regularisation reg_all (NMF: reg_pu, reg_qi; baseline sgd: reg)" + many)
    p.add_argument("--biased", action=argparse.BooleanOptionalAction, default=None,
                   help="learn user/item biases (svd, nmf)")
    p.add_argument("--baseline-method", choices=["als", "sgd"],
                   help="baseline: how the biases are fitted (default als)")
    p.add_argument("--binarize", choices=["all", "liked"],
                   help="mostpop, als, bpr: interactions = every rating (all, default) or only "
                        "ratings >= like_threshold (liked; --param like_threshold=4)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other registry parameter, e.g. init_std_dev=0.05 (repeatable)")
    p.add_argument("--engine", choices=list(ENGINES), default=DEFAULT_ENGINE,
                   help=f"fast (numba) or surprise (default: {DEFAULT_ENGINE})")


def model_from_args(args) -> tuple[str, dict, str]:
    """``(name, params, engine)`` from the model options: params hold only what the user gave,
    plus the seed as random_state for seeded algorithms. Validated (InputError when an option
    does not apply to the algorithm or is out of range)."""
    from ..errors import InputError
    from ..models import get_spec, normalize_params

    spec = get_spec(args.algo)
    params: dict = {}
    for opt, pname in MODEL_OPTIONS.items():
        value = getattr(args, opt, None)
        if value is not None:
            if pname not in spec.param_names and pname not in spec.aliases:
                raise InputError(f"--{opt.replace('_', '-')} does not apply to {spec.name}",
                                 value=value)
            params[pname] = value
    for item in getattr(args, "param", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError("--param must look like NAME=VALUE", value=item)
        params[key.strip()] = value.strip()
    if spec.has_random_state and "random_state" not in params:
        params["random_state"] = int(getattr(args, "seed", 0) or 0)
    full = normalize_params(spec.name, params)
    typed = {}
    for key in params:   # typed values of what was given (an alias takes its first target's)
        typed[key] = full[key] if key in full else full[spec.aliases[key][0]]
    return spec.name, typed, args.engine
