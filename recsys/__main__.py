"""``python -m recsys <command> DATASET [options] [--json]``."""
import sys

from .cli import main

sys.exit(main())
