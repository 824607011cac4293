"""HTML print views to PDF with WeasyPrint, offline.

The briefing's HTML print view and its PDF are the same document: WeasyPrint
lays the HTML out with its ``@media print`` / ``@page`` rules. Images must be
embedded as ``data:`` URIs; every other URL is refused, so making a PDF never
touches the network.
"""

from __future__ import annotations

from hotspots.errors import Unavailable


def html_to_pdf(document: str) -> bytes:
    """Render an HTML document (images as ``data:`` URIs) to PDF bytes.

    Raises
    ------
    Unavailable
        When WeasyPrint's system libraries (Pango) are missing on this machine.
    """
    try:
        import weasyprint
    except OSError as exc:  # Pango/HarfBuzz not installed
        raise Unavailable(
            "PDF output needs the Pango library (Debian: apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0); use the HTML print view instead ({exc})"
        ) from exc

    offline = weasyprint.URLFetcher(allowed_protocols={"data"})
    pdf: bytes = weasyprint.HTML(string=document, url_fetcher=offline).write_pdf()
    return pdf
