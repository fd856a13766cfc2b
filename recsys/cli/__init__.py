"""Command-line interface: the scriptable face of every page.

Each command module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its
sub-commands with ``set_defaults(func=...)``; ``func(args)`` returns the exit code. Bad input raises
``InputError``: ``main`` prints it on one line (``error: ...``) and returns 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import InputError, cap

#: Modules under recsys.cli that register sub-commands (order = order in --help).
COMMAND_MODULES = ("data", "synth", "bench", "evaluate", "explore", "foldin")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m recsys",
                     description="FactorLab: matrix-factorisation recommenders, scriptable.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `recommend ... | head`: the reader has gone; stop quietly, as Unix tools do
        _silence_stdout()
        return 0
    except OSError as err:   # a full disk, a permission, a vanished file: one line, no traceback
        where = f"{cap(err.filename, 160)}: " if getattr(err, "filename", None) else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001  a bug: one line unless FACTORLAB_DEBUG asks for more
        if os.environ.get("FACTORLAB_DEBUG"):
            raise
        print(f"error: internal error ({type(err).__name__}: {cap(err, 200)}); run again with "
              "FACTORLAB_DEBUG=1 for the traceback", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's exit flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
