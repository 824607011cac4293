"""The compare-periods map: ward change on a diverging palette, hotspots by status.

Wards of period B's boundary set are shaded by the change in their count
against what B would hold at A's monthly rate (``change`` of
:func:`hotspots.geo.stats.trend.ward_change`), in ColorBrewer RdBu reversed (red:
more than expected, blue: fewer), with classes symmetric about zero so that
white always means "no change". Wards whose change is significant (after
false discovery rate control) get a heavy outline. Hotspots of B are drawn
as new or persistent; hotspots of A with no overlap in B as gone.
"""

from __future__ import annotations

import html
import math

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Figure, MacroElement
from folium.template import Template

from hotspots.crs import BNG
from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import feature_collection
from hotspots.maps.assets import LEAFLET_CSS, LEAFLET_JS, asset_url
from hotspots.maps.fmt import count_text, disclosure_k, district_words
from hotspots.maps.layers import latest_wards, latlon_bounds, simplify_coverage
from hotspots.maps.render import MapParts, split_map
from hotspots.maps.style import (
    BOROUGH_STROKE,
    DATA_ATTRIBUTION_HTML,
    NO_TILES_BACKGROUND,
    MapOptions,
    tile_source,
)

# ColorBrewer RdBu (7 classes), reversed so that red is "more incidents".
RDBU_REVERSED = ["#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"]
STATUS_STYLE: dict[str, dict[str, str | None]] = {
    "new": {"color": "#b2182b", "fillColor": "#ef8a62", "dashArray": None, "label": "new in period B"},
    "persistent": {"color": "#542788", "fillColor": "#998ec3", "dashArray": None, "label": "in both periods"},
    "vanished": {
        "color": "#4d4d4d",
        "fillColor": "#bababa",
        "dashArray": "5 4",
        "label": "gone (period A only)",
    },
}
COMPARE_WARD_CLASS = "hs-change"
NO_DATA = "no data"
NO_DATA_CLASS = "hs-nodata"
NO_DATA_FILL = "#cccccc"
HATCH_PATTERN = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>'
    '<pattern id="hs-cmp-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{NO_DATA_FILL}"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#8c8c8c" stroke-width="2"/></pattern></defs></svg>'
    "<style>.leaflet-container path.hs-nodata { fill: url(#hs-cmp-hatch); }</style>"
)
"""Hatching for wards with no data (an SVG pattern the ward paths fill with)."""


def change_breaks(change: np.ndarray) -> list[float]:
    """Six symmetric bounds around zero for seven classes of the change rounded to whole incidents.

    With ``s`` a third of the largest absolute change (at least 1), the bounds are
    ±0.5, ±(s + 0.5) and ±(2s + 0.5): no whole number sits on a bound, so the classes'
    labels ("+1 to +30", "+31 to +60", ...) never share a limit.
    """
    finite = np.abs(change[np.isfinite(change)])
    top = float(finite.max()) if finite.size else 1.0
    step = max(1.0, float(round(top / 3)))
    return [-2 * step - 0.5, -step - 0.5, -0.5, 0.5, step + 0.5, 2 * step + 0.5]


def change_colour(value: float, bounds: list[float]) -> str:
    """RdBu colour of a change value (rounded to whole incidents, as it is shown) for
    :func:`change_breaks` bounds (grey when unknown)."""
    if not math.isfinite(value):
        return "#cccccc"
    return RDBU_REVERSED[int(np.searchsorted(np.asarray(bounds), round(value), side="right"))]


def ward_change_parts(
    result_b: AnalysisResult,
    change: pd.DataFrame,
    matches: gpd.GeoDataFrame,
    *,
    tiles: str = "openstreetmap",
    tiles_attribution: str | None = None,
    static_prefix: str = "/static",
) -> tuple[MapParts, str]:
    """The compare map as embeddable parts, and its legend as HTML.

    Parameters
    ----------
    result_b:
        The analysis of period B (its wards and boroughs, EPSG:27700).
    change:
        :func:`hotspots.geo.stats.trend.ward_change` rows with ``ward_code``.
    matches:
        Hotspot shapes with ``period``, ``hotspot_id`` and ``status`` (EPSG:27700).
    """
    options = MapOptions(tiles=tiles, tiles_attribution=tiles_attribution, static_prefix=static_prefix)
    options.validate()
    tile_url, tile_attr = tile_source(options)
    fmap = folium.Map(location=[51.55, 0.15], zoom_start=12, tiles=None, control_scale=True)
    fmap.default_js = [("leaflet", asset_url(static_prefix, LEAFLET_JS))]
    fmap.default_css = [("leaflet_css", asset_url(static_prefix, LEAFLET_CSS))]
    if tile_url is not None:
        folium.TileLayer(tiles=tile_url, attr=tile_attr, name="Base map", max_zoom=19, control=False).add_to(
            fmap
        )
    k = disclosure_k(result_b.meta)
    wards = latest_wards(result_b)
    merged = wards[["ward_code", "ward_name", "borough_name", "geometry"]].merge(
        change.drop(columns=["ward_name", "borough_name"], errors="ignore"),
        on="ward_code",
        how="left",
        indicator=True,
    )
    # a ward with no row was not compared: no selected source covers its district (no data, not 0)
    nodata = (merged["_merge"] == "left_only").to_numpy()
    values = pd.to_numeric(merged["change"], errors="coerce").to_numpy(dtype=float)
    bounds = change_breaks(values)
    significant = (
        merged["significant"].fillna(False).astype(bool).to_numpy()
        if "significant" in merged
        else np.zeros(len(merged), dtype=bool)
    )

    def counts(column: str) -> list[str]:
        values = merged[column] if column in merged else pd.Series([None] * len(merged))
        return [NO_DATA if nd else count_text(v, k) for v, nd in zip(values, nodata, strict=True)]

    frame = gpd.GeoDataFrame(
        {
            "fid": np.arange(len(merged)),
            "ward": [html.escape(str(v)) for v in merged["ward_name"]],
            "borough": [html.escape(str(v)) for v in merged["borough_name"]],
            "a": counts("count_a"),
            "b": counts("count_b"),
            "change": [NO_DATA if nd else _signed(v) for v, nd in zip(values, nodata, strict=True)],
            "sig": [
                "not tested" if nd else "yes" if s else "no"
                for s, nd in zip(significant, nodata, strict=True)
            ],
            "fill": [
                NO_DATA_FILL if nd else change_colour(v, bounds) for v, nd in zip(values, nodata, strict=True)
            ],
            "strong": [bool(s) for s in significant],
            "nodata": nodata.tolist(),
        },
        geometry=simplify_coverage(gpd.GeoSeries(merged.geometry.values, crs=BNG), 5.0),
        crs=BNG,
    )
    data = feature_collection(frame, [c for c in frame.columns if c != "geometry"], id_column="fid")
    folium.GeoJson(
        data,
        name="Wards: change in incidents",
        style_function=lambda f: {
            "className": f"{COMPARE_WARD_CLASS} {NO_DATA_CLASS}"
            if f["properties"]["nodata"]
            else COMPARE_WARD_CLASS,
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.7,
            "color": "#111111" if f["properties"]["strong"] else "#7a7a7a",
            "weight": 2.5 if f["properties"]["strong"] else 0.7,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["ward", "borough", "a", "b", "change", "sig"],
            aliases=[
                "Ward",
                district_words(result_b.meta)[0].capitalize(),
                "Period A",
                "Period B",
                "Change vs expected",
                "Significant",
            ],
            localize=False,
            sticky=True,
        ),
    ).add_to(fmap)
    boroughs = result_b.boroughs
    if len(boroughs):
        outline = gpd.GeoDataFrame(
            {
                "fid": np.arange(len(boroughs)),
                "borough": [html.escape(str(v)) for v in boroughs["borough_name"]],
            },
            geometry=simplify_coverage(boroughs.geometry, 5.0),
            crs=BNG,
        )
        folium.GeoJson(
            feature_collection(outline, ["fid", "borough"], id_column="fid"),
            name=f"{district_words(result_b.meta)[0].capitalize()} boundaries",
            style_function=lambda f: {"color": BOROUGH_STROKE, "weight": 4, "fill": False},
        ).add_to(fmap)
    for status, style in STATUS_STYLE.items():
        part = matches[matches["status"] == status] if len(matches) else matches
        if not len(part):
            continue
        shapes = gpd.GeoDataFrame(
            {
                "fid": np.arange(len(part)),
                "label": [f"#{int(i)} ({style['label']})" for i in part["hotspot_id"]],
            },
            geometry=part.geometry.values,
            crs=matches.crs or BNG,
        )
        folium.GeoJson(
            feature_collection(shapes, ["fid", "label"], id_column="fid"),
            name=f"Hotspots: {style['label']} ({len(part)})",
            style_function=lambda f, s=style: {
                "color": s["color"],
                "fillColor": s["fillColor"],
                "fillOpacity": 0.5,
                "weight": 2,
                "dashArray": s["dashArray"],
            },
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False, localize=False),
        ).add_to(fmap)
    folium.LayerControl(position="topright", collapsed=False).add_to(fmap)
    _FoldLayersWhenNarrow().add_to(fmap)
    root = fmap.get_root()
    if tile_url is None and isinstance(root, Figure):
        background = f"<style>.leaflet-container {{ background: {NO_TILES_BACKGROUND}; }}</style>"
        root.header.add_child(folium.Element(background))
    box = latlon_bounds(boroughs) if len(boroughs) else None
    if box is not None:
        fmap.fit_bounds(box)
    _Attribution(DATA_ATTRIBUTION_HTML).add_to(fmap)
    if nodata.any() and isinstance(root, Figure):
        root.html.add_child(folium.Element(HATCH_PATTERN))
    parts = split_map(fmap)
    return parts, _legend(bounds, int(nodata.sum()), district_words(result_b.meta)[0])


class _FoldLayersWhenNarrow(MacroElement):
    """On a narrow map (a phone) the layer list starts folded behind its button, as on the app
    page, so it does not cover the zoom buttons; a click on the map folds it again."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function (map) {
            var list = map.getContainer().querySelector(".leaflet-control-layers");
            function fold() { if (list) { list.classList.remove("leaflet-control-layers-expanded"); } }
            if (map.getContainer().clientWidth < 600) { fold(); map.on("click", fold); }
        })({{ this._parent.get_name() }});
        {% endmacro %}"""
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "FoldLayersWhenNarrow"


class _Attribution(MacroElement):
    """Adds the data attribution (trusted HTML) to the map's attribution control."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.html|tojson }});
        {% endmacro %}"""
    )

    def __init__(self, html_text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.html = html_text


def _legend(bounds: list[float], no_data: int = 0, district: str = "borough") -> str:
    labels = _class_labels(bounds)
    rows = "".join(
        f'<li><span class="hs-sw" style="background:{c}"></span>{html.escape(t)}</li>'
        for c, t in zip(RDBU_REVERSED, labels, strict=True)
    )
    if no_data:
        rows += (
            f'<li><span class="hs-sw hs-hatch"></span>no data ({no_data:,} '
            f"ward{'s' if no_data != 1 else ''}): "
            f"no selected source covers their {html.escape(district)} in a period; not compared, not 0</li>"
        )
    hot = "".join(
        f'<li><span class="hs-sw" style="background:{s["fillColor"]};border:2px '
        f'{"dashed" if s["dashArray"] else "solid"} {s["color"]}"></span>{html.escape(str(s["label"]))}</li>'
        for s in STATUS_STYLE.values()
    )
    return (
        "<h3>Wards: change in incidents</h3>"
        "<p>Period B's count minus what B would hold at period A's monthly rate.</p>"
        f'<ul class="hs-keys">{rows}</ul>'
        "<p>Heavy outline: the change is statistically significant (Poisson test, false discovery "
        "rate 5%).</p>"
        f'<h3>Hotspots</h3><ul class="hs-keys">{hot}</ul>'
    )


def _class_labels(bounds: list[float]) -> list[str]:
    """Labels of :func:`change_breaks` classes: whole numbers from one bound to the next, none shared."""
    edges = [-math.inf, *bounds, math.inf]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if lo == -0.5 and hi == 0.5:
            out.append("about the same")
        elif math.isinf(lo):
            out.append(f"{_signed(hi - 0.5)} or fewer")
        elif math.isinf(hi):
            out.append(f"{_signed(lo + 0.5)} or more")
        elif lo + 0.5 == hi - 0.5:
            out.append(_signed(lo + 0.5))
        else:
            out.append(f"{_signed(lo + 0.5)} to {_signed(hi - 0.5)}")
    return out


def _signed(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+,.0f}"
