"""Small text formatters shared by the map layers: numbers, shares, p-values, escaped data.

Every function returns HTML-safe text for the map layers' HTML (legends, popups): data
strings are escaped with :func:`html.escape`, and the few entities used (``&lt;``) are
already encoded. Text for a Jinja template, which escapes what it is given, comes from the
``*_text`` variants (:func:`pct_text`), which return plain text.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

import numpy as np
import pandas as pd


def num(value: Any) -> float | None:
    """A finite float, or ``None`` for missing, non-numeric, boolean or infinite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def fmt_number(value: float | None, decimals: int) -> str:
    """``1,234.5`` style, or ``n/a``."""
    return "n/a" if value is None else f"{value:,.{decimals}f}"


def pct(share: Any) -> str:
    """:func:`pct_text` as HTML (``&lt;0.01%``)."""
    return html.escape(pct_text(share), quote=False)


def pct_text(share: Any) -> str:
    """A share (0..1) as a percentage with sensible precision (plain text, ``<0.01%``), or ``n/a``."""
    value = num(share)
    if value is None:
        return "n/a"
    p = value * 100
    if p == 0 or p >= 10:
        return f"{p:.0f}%"
    if p >= 1:
        return f"{p:.1f}%"
    if p >= 0.01:
        return f"{p:.2f}%"
    return "<0.01%"


def count_text(value: Any, k: int | None = None) -> str:
    """A count as ``1,234``; a missing one as ``fewer than k`` where disclosure control withheld it.

    ``k`` is the disclosure threshold of a suppressed result (``meta["disclosure"]["k"]``,
    see :mod:`hotspots.geo.disclosure`); ``None`` when nothing was suppressed (then ``n/a``).
    """
    v = num(value)
    if v is None:
        return f"fewer than {k}" if k else "n/a"
    return f"{int(round(v)):,}"


def disclosure_k(meta: Any) -> int | None:
    """The threshold ``k`` of a result whose small counts were suppressed, else ``None``."""
    info = meta.get("disclosure") if isinstance(meta, dict) else None
    if isinstance(info, dict) and info.get("suppressed"):
        k = num(info.get("k"))
        return int(k) if k is not None and k > 1 else None
    return None


def fmt_p(value: Any) -> str:
    """A p-value with two significant figures (``0.011``, ``0.3``), ``&lt; 0.001`` or ``n/a``."""
    p = num(value)
    if p is None:
        return "n/a"
    if p < 0.001:
        return "&lt; 0.001"
    return f"{p:.2g}" if p < 1 else "1"


def escaped(values: pd.Series | list[Any]) -> list[str]:
    """Each value as escaped text; missing values as empty strings."""
    return [html.escape(str(v)) if v is not None and not _missing(v) else "" for v in values]


def seq(value: Any) -> list[Any]:
    """A list from a list, tuple or array; anything else gives an empty list."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return []


def distinct_names(value: Any) -> list[str]:
    """The names in a list (see :func:`seq`), each once, in their first order and spelling: a period
    that spans a ward boundary change lists two wards of one name (old and new codes, sometimes
    spelt apart: "St. Andrew's" and "St Andrew's", "Rainham & Wennington" and "Rainham and
    Wennington"); a reader sees one."""
    names: dict[str, str] = {}
    for v in seq(value):
        names.setdefault(name_key(str(v)), str(v))
    return list(names.values())


def name_key(name: str) -> str:
    """A place name as compared: case, full stops, commas, apostrophes, "&" for "and" and spacing
    ignored."""
    text = name.casefold().replace("&", " and ")
    text = re.sub(r"[.,'’]", "", text)
    return " ".join(text.split())


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays
        return False


def area_text(m2: float | None) -> str:
    """An area for people: hectares from 1 ha (2 decimals), square metres below; "n/a" if unknown."""
    if m2 is None:
        return "n/a"
    if m2 >= 10_000:
        return f"{m2 / 10_000:,.2f} ha"
    return f"{m2:,.0f} m\u00b2"


def district_words(meta: Any) -> tuple[str, str]:
    """The area's own word for its districts, singular and plural, from an analysis's ``meta``
    (``meta["district_word"]``, see :func:`hotspots.boundaries.area.district_word`): e.g.
    ``("borough", "boroughs")`` for London, ``("district", "districts")`` for Essex."""
    word = meta.get("district_word") if isinstance(meta, dict) else None
    word = str(word) if word else "district"
    return word, word + "s"
