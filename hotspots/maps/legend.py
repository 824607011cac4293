"""The page extras of the hotspot map: the legend (in words, following the layer list), the
title, attribution and the CSS and script they need."""

from __future__ import annotations

import html
from collections.abc import Sequence

from branca.element import MacroElement
from folium.template import Template

from hotspots.geo.analysis import AnalysisResult
from hotspots.geo.outputs.export import ATTRIBUTION
from hotspots.maps.fmt import count_text, disclosure_k, district_words
from hotspots.maps.fmt import fmt_number as _fmt_number
from hotspots.maps.fmt import num as _num
from hotspots.maps.fmt import pct as _pct
from hotspots.maps.fmt import seq as _seq
from hotspots.maps.heat import HEAT_STOPS, HeatSurface
from hotspots.maps.intervention_layer import INTERVENTION_STROKE
from hotspots.maps.layers import WardLegend
from hotspots.maps.panel import method_in_words as method_text
from hotspots.maps.statistics import (
    EMERGING_LAYER_NAME,
    GI_LAYER_NAME,
    StatLayer,
)
from hotspots.maps.style import (
    BOROUGH_STROKE,
    HOTSPOT_FILL,
    HOTSPOT_STROKE,
    LEGEND_CLASS,
    NO_POPULATION_FILL,
    QUIET_STROKE,
    TOP_FILL,
    MapOptions,
)


class PageExtras(MacroElement):
    """Title, legend control, data attribution and page CSS (all HTML pre-escaped by the caller)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .hs-title { position: absolute; z-index: 1000; top: 10px; left: 50%; transform: translateX(-50%);
          max-width: 60%; padding: 4px 12px; background: rgba(255,255,255,0.92); border-radius: 4px;
          box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 600 15px/1.3 system-ui, sans-serif;
          text-align: center; pointer-events: none; }
        .hs-legend { background: rgba(255,255,255,0.95); padding: 6px 10px; border-radius: 4px;
          box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 12px/1.35 system-ui, sans-serif;
          max-width: 300px; max-height: 62vh; overflow-y: auto; }
        .hs-legend summary { font-weight: 700; font-size: 13px; cursor: pointer; }
        .hs-legend h4 { margin: 8px 0 3px; font-size: 12px; }
        .hs-legend .hs-row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
        .hs-legend .hs-sw { flex: none; display: inline-block; width: 18px; height: 12px;
          border: 1px solid #7a7a7a; }
        .hs-legend .hs-line { flex: none; display: inline-block; width: 18px; height: 0;
          border-top: 4px solid {{ this.borough_stroke }}; }
        .hs-legend .hs-ramp { flex: none; display: inline-block; width: 60px; height: 12px;
          background: linear-gradient(to right, {{ this.heat_gradient }}); }
        .hs-legend .hs-note { color: #444; font-size: 11px; margin-top: 2px; }
        .hs-legend .hs-sub { font-weight: 600; font-size: 11px; margin: 4px 0 1px; }
        .hs-legend .hs-row > span:last-child { min-width: 0; }
        .hs-legend .hs-attr { color: #666; font-size: 10px; margin-top: 6px; }
        .hs-legend .hs-hatch, .hs-legend .hs-sw.hs-hatch {
          background: repeating-linear-gradient(45deg, #cccccc 0 3px, #8c8c8c 3px 4px); }
        .leaflet-container path.hs-nopop { fill: url(#hs-hatch); }
        .leaflet-popup, .leaflet-fade-anim .leaflet-popup { opacity: 1 !important; transition: none; }
        .leaflet-popup-content-wrapper, .leaflet-popup-tip { background: #ffffff; opacity: 1;
          color: #1a1a1a; box-shadow: 0 2px 10px rgba(0,0,0,0.45); }
        .leaflet-popup-content { max-height: 60vh; overflow-y: auto; font: 13px/1.4 system-ui, sans-serif; }
        .leaflet-popup-content table { border-collapse: collapse; }
        .hs-rank-icon { overflow: visible; }
        .hs-rank { display: inline-block; transform: translate(-50%, -50%); min-width: 22px; height: 22px;
          padding: 0 3px; box-sizing: border-box; border-radius: 11px; background: #ffffff;
          border: 2px solid #000000; color: #000000; font: 700 12px/18px system-ui, sans-serif;
          text-align: center; pointer-events: none; box-shadow: 0 1px 3px rgba(0,0,0,0.5); }
        path.hs-chosen { stroke: #ff8c00; }
        @media (max-width: 760px) {
          .leaflet-popup-content { width: auto !important; max-width: calc(100vw - 110px);
            max-height: 42vh; margin: 10px 12px; font-size: 12px; }
          .leaflet-popup-content th { padding-right: 4px; }
          .leaflet-control-attribution { max-width: calc(100% - 120px); font-size: 9px; line-height: 1.25; }
          .hs-legend { max-height: 45vh; max-width: calc(100vw - 80px); }
        }
        .leaflet-popup-content th { text-align: left; vertical-align: top; padding-right: 6px; }
        .hs-tp { width: 230px; }
        .hs-tp-h { font-size: 11px; color: #444; margin-top: 3px; }
        .hs-tp-n { font-size: 11px; color: #444; }
        .hs-bars { display: grid; grid-auto-flow: column; grid-auto-columns: 1fr; align-items: end;
          column-gap: 1px; height: 34px; border-bottom: 1px solid #888; }
        .hs-bars i { display: block; background: {{ this.bar_colour }}; }
        .hs-bars i.hs-sup { background: repeating-linear-gradient(45deg, #cccccc 0 2px, #8c8c8c 2px 3px); }
        .hs-axis { display: grid; grid-auto-flow: column; grid-auto-columns: 1fr; font-size: 9px;
          color: #555; text-align: center; }
        .hs-axis-h { text-align: left; }
        .hs-label-icon { overflow: visible; }
        .hs-label { display: inline-block; transform: translate(-50%, -50%); white-space: nowrap;
          font: 700 13px/1.2 system-ui, sans-serif; color: #222; letter-spacing: 0.02em;
          text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; pointer-events: none; }
        {% if this.background %}.leaflet-container { background: {{ this.background }}; }{% endif %}
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        {% if this.title_html %}<div class="hs-title">{{ this.title_html }}</div>{% endif %}
        <svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>
        <pattern id="hs-hatch" width="6" height="6" patternUnits="userSpaceOnUse"
          patternTransform="rotate(45)"><rect width="6" height="6" fill="{{ this.no_population_fill }}"/>
        <line x1="0" y1="0" x2="0" y2="6" stroke="#8c8c8c" stroke-width="2"/></pattern></defs></svg>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map) {
            map.attributionControl.addAttribution({{ this.attribution_html|tojson }});
            var legend = L.control({position: "bottomleft"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "hs-legend-control");
                div.innerHTML = {{ this.legend_html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo(map);
            // A legend section of an optional layer is shown while its layer is on the map.
            function follow(key, layer) {
                var section = legend.getContainer().querySelector('[data-hs-layer="' + key + '"]');
                if (!section) { return; }
                var sync = function () { section.hidden = !map.hasLayer(layer); };
                map.on("overlayadd overlayremove", sync);
                sync();
            }
            {%- for key, layer in this.toggles %}
            follow({{ key|tojson }}, {{ layer }});
            {%- endfor %}
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        *,
        title_html: str,
        legend_html: str,
        attribution_html: str,
        background: str | None,
        toggles: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__()
        self._name = "HotspotPageExtras"
        self.toggles = list(toggles)  # (legend section key, JS variable of its layer)
        self.bar_colour = HOTSPOT_FILL
        self.no_population_fill = NO_POPULATION_FILL
        self.title_html = title_html
        self.legend_html = legend_html
        self.attribution_html = attribution_html
        self.background = background
        self.borough_stroke = BOROUGH_STROKE
        self.heat_gradient = ", ".join(
            f"rgba({r},{g},{b},{0.15 + 0.6 * t:.2f}) {t * 100:.0f}%" for t, (r, g, b) in HEAT_STOPS
        )


def legend_html(
    result: AnalysisResult,
    ward_legends: list[WardLegend],
    heat: HeatSurface | None,
    options: MapOptions,
    stats: Sequence[tuple[str, StatLayer]] = (),
    *,
    interventions: int = 0,
) -> str:
    meta = result.meta
    esc = html.escape
    opened = " open" if options.legend_open else ""
    parts = [f'<details class="{LEGEND_CLASS}"{opened}><summary>Legend</summary>']
    period = f"{esc(str(meta.get('month_from')))} to {esc(str(meta.get('month_to')))}"
    crime_types = meta.get("crime_types")
    types = (
        "all crime types"
        if crime_types in (None, "all") or not crime_types
        else ", ".join(esc(str(c)) for c in _seq(crime_types))
    )
    parts.append(f'<div class="hs-note">{period}; {types}</div>')
    for ward in ward_legends:
        by_rate = ward.measure == "rate"
        what = "incidents per 1,000 residents" if by_rate else "incidents"
        heading = f"Wards: {what}" + (f" ({esc(ward.name)})" if len(ward_legends) > 1 else "")
        parts.append(f"<h4>{heading}</h4>")
        if not by_rate or ward.has_rates:
            for colour, label in zip(ward.breaks.colours, ward.breaks.labels, strict=True):
                swatch = f'<span class="hs-sw" style="background:{colour}"></span>'
                parts.append(f'<div class="hs-row">{swatch}{label}</div>')
        if ward.no_data:
            n = ward.no_data
            parts.append(
                '<div class="hs-row"><span class="hs-sw hs-hatch hs-nodata-sw"></span>'
                f"no data ({n:,} ward{'s' if n != 1 else ''}): no analysed source covers "
                f"{'its' if n == 1 else 'their'} {district_words(meta)[0]}; not 0</div>"
            )
        if by_rate and ward.unknown_population:
            n = ward.unknown_population
            parts.append(
                '<div class="hs-row"><span class="hs-sw hs-hatch"></span>'
                f"population unknown ({n:,} ward{'s' if n != 1 else ''}): no rate</div>"
            )
        if by_rate and ward.withheld:
            n = ward.withheld
            fewer = f"fewer than {ward.k} incidents" if ward.k else "small count"
            parts.append(
                '<div class="hs-row"><span class="hs-sw hs-hatch"></span>'
                f"rate withheld: {fewer} ({n:,} ward{'s' if n != 1 else ''})</div>"
            )
        if ward.population_source and (by_rate or ward.has_rates):
            parts.append(f'<div class="hs-note">Population: {esc(ward.population_source)}</div>')
        elif by_rate or ward.unknown_population:
            parts.append('<div class="hs-note">Population: no figures for these boundaries.</div>')
    if ward_legends:
        measure = "rates per 1,000 residents" if options.measure == "rate" else "counts"
        how = "Natural-breaks (Fisher-Jenks)" if options.breaks == "natural" else "Quantile"
        parts.append(
            f'<div class="hs-note">{how} classes of the ward {measure}. Hover a ward for its count, '
            "rate and Gi* result.</div>"
        )
    word, words = district_words(meta)
    parts.append(
        f'<h4>{words.capitalize()}</h4><div class="hs-row"><span class="hs-line"></span>{word} boundary'
        " (hover for its count)</div>"
    )
    n_hot = len(result.hotspots)
    method = "HDBSCAN" if meta.get("method") == "hdbscan" else "DBSCAN"
    # How many of the hotspots drawn are among the strongest (fewer when focused on a district).
    top = int((result.hotspots["hotspot_id"].astype(int) <= options.top).sum()) if n_hot else 0
    if options.top and top:
        which = "the" if top == options.top else f"{top} of the"
        parts.append(
            "<h4>Hotspots</h4>"
            f'<div class="hs-row"><span class="hs-sw" style="background:{TOP_FILL}bf;'
            f'border:3px solid #000"></span>{which} top {options.top}, numbered by rank ({method}); '
            "click for a summary</div>"
            f'<div class="hs-row"><span class="hs-sw" style="background:{HOTSPOT_FILL}2e;'
            f'border:1px solid {QUIET_STROKE}"></span>the other {n_hot - top:,}</div>'
            f'<div class="hs-row"><span class="hs-sw" style="background:{TOP_FILL}bf;'
            f'border:2px dashed #000"></span>dashed: crosses a {word} border</div>'
        )
    else:
        parts.append(
            "<h4>Hotspots</h4>"
            f'<div class="hs-row"><span class="hs-sw" style="background:{HOTSPOT_FILL}59;'
            f'border:2px solid {HOTSPOT_STROKE}"></span>{method} cluster; click for its summary</div>'
            f'<div class="hs-row"><span class="hs-sw" style="background:{HOTSPOT_FILL}59;'
            f'border:2px dashed {HOTSPOT_STROKE}"></span>dashed: crosses a {word} border</div>'
        )
    if len(result.context_hotspots):
        parts.append(
            '<div class="hs-row"><span class="hs-sw" style="background:#9e9e9e26;'
            'border:1px dashed #6b6b6b"></span>grey: a cluster wholly outside the area '
            "(context, not ranked)</div>"
        )
    if interventions:
        parts.append(
            "<h4>Interventions</h4>"
            f'<div class="hs-row"><span class="hs-sw" style="border:3px dashed {INTERVENTION_STROKE}">'
            f"</span>a recorded intervention ({interventions:,}); click for its evaluation</div>"
        )
    buffer_m = meta.get("shape_buffer_m")
    note = (
        f"{n_hot:,} hotspot{'s' if n_hot != 1 else ''}: {esc(method_text(meta))}; drawn "
        f"{_fmt_number(_num(buffer_m), 0)} m around their locations."
    )
    hit_rate, area_share = _num(meta.get("hit_rate")), _num(meta.get("hotspot_area_share"))
    if n_hot and hit_rate is not None and area_share:
        note += f" They hold {_pct(hit_rate)} of located incidents in {_pct(area_share)} of the area"
        note += f" (PAI {hit_rate / area_share:.1f})."
    parts.append(f'<div class="hs-note">{note}</div>')
    if heat is not None and disclosure_k(meta) is not None:
        parts.append(  # densities move with the count (about 7 per km2 per incident): no figures
            "<h4>Heat (kernel density)</h4>"
            '<div class="hs-row"><span class="hs-ramp"></span>low to high (relative)</div>'
            f'<div class="hs-note">Gaussian kernel, {_fmt_number(options.heat_bandwidth_m, 0)} m;'
            " densities withheld under disclosure control.</div>"
        )
    elif heat is not None:
        parts.append(
            "<h4>Heat (kernel density)</h4>"
            '<div class="hs-row"><span class="hs-ramp"></span>'
            f"low to {_fmt_number(heat.full_colour_per_km2, 0)}+ incidents per km&sup2;</div>"
            f'<div class="hs-note">Gaussian kernel, {_fmt_number(options.heat_bandwidth_m, 0)} m;'
            f" peak {_fmt_number(heat.peak_per_km2, 0)} per km&sup2;.</div>"
        )
    for key, stat in stats:
        parts.append(f'<div class="hs-sec" data-hs-layer="{key}">{stat.legend_html}</div>')
    if stats:
        names = " and ".join(
            f"&ldquo;{GI_LAYER_NAME if key == 'gi' else EMERGING_LAYER_NAME}&rdquo;" for key, _ in stats
        )
        parts.append(f'<div class="hs-note">Tick {names} in the layer list for the statistical tests.</div>')
    k = disclosure_k(meta)
    counts = [f"{count_text(meta.get('incidents'), k)} incidents"]
    for key, text in (
        ("incidents_without_location", "without a location (not mapped)"),
        ("incidents_outside_area", "outside the boundaries"),
    ):
        value = meta.get(key)
        if value or (value is None and k and key in meta):
            counts.append(f"{count_text(value, k)} {text}")
    parts.append(f'<div class="hs-note">{"; ".join(counts)}.</div>')
    disclosure = meta.get("disclosure")
    if k and isinstance(disclosure, dict) and disclosure.get("rule"):
        parts.append(f'<div class="hs-note">Disclosure control: {esc(str(disclosure["rule"]))}</div>')
    for note_text in _seq(meta.get("boundary_notes")):
        parts.append(f'<div class="hs-note">{esc(str(note_text))}</div>')
    parts.append(f'<div class="hs-attr">{esc(ATTRIBUTION)}</div></details>')
    return "".join(parts)
