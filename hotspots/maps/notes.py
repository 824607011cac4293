"""Short sentences about an analysis for pages and briefings: missing months, concentration, stability.

Templates call :func:`analysis_notes` (registered as a Jinja global in
:mod:`hotspots.api.templating`) with an analysis's ``meta``, or include
``_analysis_notes.html`` where ``meta`` is in the context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotspots.geo.stats.concentration import concentration_sentence
from hotspots.geo.stats.coverage import coverage_note, no_data_note
from hotspots.geo.stats.stability import stability_note


def analysis_notes(meta: Mapping[str, Any] | None) -> dict[str, str | None]:
    """``coverage`` (which months are missing where), ``concentration`` (the "power few"
    sentence), ``stability`` (persistence of the previous period's hotspots) and ``no_data``
    (districts no analysed source covers, shown as no data, not 0), each ``None``
    when there is nothing to say."""
    m = meta if isinstance(meta, Mapping) else {}
    return {
        "coverage": coverage_note(m),
        "concentration": concentration_sentence(m.get("concentration")),
        "stability": stability_note(m),
        "no_data": no_data_note(m),
    }
