"""Plotly figures that are cheap to build on every rerun.

``make_subplots`` costs 0.1-0.2 s of Python per call (it validates a layout of axes and title
annotations): the Cross validation page drew two of them after every fold of every session, and
under 20 sessions that work held the GIL that page opens wait for (py-spy in the load bench).
``subplots`` builds each grid once per process and hands out copies (a copy keeps the grid, so
``add_trace(..., row=, col=)`` and ``update_yaxes(..., row=, col=)`` work as usual).
"""
from __future__ import annotations

import functools

import plotly.graph_objects as go


@functools.lru_cache(maxsize=64)
def _grid(rows: int, cols: int, titles: tuple, options: tuple) -> go.Figure:
    from plotly.subplots import make_subplots

    return make_subplots(rows=rows, cols=cols, subplot_titles=list(titles) or None,
                         **dict(options))


def subplots(rows: int = 1, cols: int = 1, subplot_titles=(), **options) -> go.Figure:
    """A new figure with ``make_subplots(rows, cols, subplot_titles, **options)``'s grid and
    layout (options must be hashable: numbers, strings). The same arguments give equal
    figures; the figure returned is the caller's to change."""
    base = _grid(int(rows), int(cols), tuple(subplot_titles or ()),
                 tuple(sorted(options.items())))
    return go.Figure(base)
