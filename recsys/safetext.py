"""User text is text: one place that makes titles, genres, ids and file names inert before they
reach Markdown (Streamlit), LaTeX (KaTeX in Streamlit), Plotly's HTML-like labels, or a CSV
file that a spreadsheet will open.

- ``md(text)``: for any Streamlit element that renders Markdown (``st.markdown``, ``st.caption``,
  ``st.info``/``warning``/``error``/``success``, ``st.subheader``, widget labels): every ASCII
  punctuation character is backslash-escaped (CommonMark allows this for all of them), which
  also disarms ``$…$`` (KaTeX), ``:red[…]`` (Streamlit directives), ``:emoji:`` shortcodes,
  links and raw HTML; line breaks become spaces.
- ``plotly(text)``: for Plotly titles, axis labels, hover text and annotations, which accept a
  subset of HTML (``<b>``, ``<a href>``, ``<br>``): ``&``, ``<``, ``>`` and quotes become
  entities, which Plotly shows as the characters themselves.
- ``csv_cell(value)``: a cell that a spreadsheet would run as a formula (it starts with ``=``,
  ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe, as OWASP's CSV
  injection advice says; ``csv_safe(frame)`` applies it to every text column (numbers are left
  as numbers).
"""
from __future__ import annotations

import html
import string

_MD_SPECIAL = {c: "\\" + c for c in string.punctuation}
_MD_TABLE = str.maketrans({**_MD_SPECIAL, "\n": " ", "\r": " "})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(text) -> str:
    """``text`` escaped for Streamlit Markdown (shown literally: no bold, link, math, colour)."""
    return str(text).translate(_MD_TABLE)


def plotly(text) -> str:
    """``text`` escaped for Plotly strings (shown literally: no tag, no link)."""
    return html.escape(str(text), quote=True).replace("\n", " ")


def csv_cell(value):
    """A text cell neutralised against spreadsheet formulas (non-text values unchanged)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_safe(frame):
    """A copy of ``frame`` whose text (object/string) columns pass through ``csv_cell``."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(csv_cell)
    return out


def safe_name(text, limit: int = 40) -> str:
    """``text`` reduced to letters, digits, ``-`` and ``_`` for a download's file name."""
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(text))[:limit] or "x"
