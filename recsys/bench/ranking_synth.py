"""Optional bench section ``ranking_synth``: the model comparison on the 24M-rating synthetic
Netflix set (see ``recsys.bench.ranking``). Not part of ``all``; run it with
``python -m recsys bench --section ranking_synth``."""
from .ranking import run_synth as run  # noqa: F401
