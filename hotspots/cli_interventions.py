"""``hotspots evaluate-intervention``: did it work? (WDD, WDQ, synthetic control on files).

Registered on the main command line by :mod:`hotspots.cli`. The evaluation is the
service's (the same as ``GET /interventions/{id}/evaluation``), on the files given, with
exact counts (the CLI's own output is exact).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from hotspots.geo.params import AUTO

# The options shared with the other commands, as :mod:`hotspots.cli` words them (not imported
# from there: this module is imported while that one is still being made).
FilesArg = Annotated[
    list[Path], typer.Argument(help="Incident CSV file(s): police.uk street-level or mapped")
]
FormatOpt = Annotated[str, typer.Option("--format", help="auto, police-uk or generic")]
MappingOpt = Annotated[str | None, typer.Option(help="Generic CSV mapping as JSON (see 'hotspots analyse')")]
CategoryOpt = Annotated[list[str] | None, typer.Option(help="Crime type to include (repeatable)")]
OutsideOpt = Annotated[str, typer.Option(help="Incidents outside the area: keep, exclude or reject")]
BoundariesOpt = Annotated[
    str, typer.Option(help="A boundary file used as the area, a stored boundary set's name, or 'auto'")
]
DistrictsOpt = Annotated[
    str | None, typer.Option(help="Area from the national catalogue: district names or codes")
]
ForceOpt = Annotated[
    str | None, typer.Option("--police-force", help="Area from the national catalogue: a police force area")
]
AreaOpt = Annotated[str | None, typer.Option(help="A stored area (see 'hotspots areas list')")]


def register(app: typer.Typer, cli: ModuleType) -> None:
    """Add the ``evaluate-intervention`` command to ``app`` (``cli``: the :mod:`hotspots.cli` module)."""

    @app.command("evaluate-intervention")
    def evaluate_intervention_cmd(
        files: FilesArg,
        target: Annotated[
            Path, typer.Option("--target", help="Where the intervention was: a GeoJSON polygon (WGS84)")
        ],
        start: Annotated[str, typer.Option("--start", help="First month of the intervention, YYYY-MM")],
        end: Annotated[
            str | None, typer.Option("--end", help="Last month, YYYY-MM (default: the last month of data)")
        ] = None,
        before_months: Annotated[
            int | None,
            typer.Option("--before-months", help="Months before the start (default: as many as after)"),
        ] = None,
        buffer_m: Annotated[
            float, typer.Option("--buffer-m", help="Width of the buffer ring around the target, metres")
        ] = 250.0,
        control: Annotated[
            str,
            typer.Option(
                "--control",
                help="Control area: 'auto' (the area beyond the buffer and a further gap of buffer-m), "
                "a GeoJSON polygon file, or 'wards' with --control-ward",
            ),
        ] = "auto",
        control_ward: Annotated[
            list[str] | None,
            typer.Option("--control-ward", help="With --control wards: a ward code (repeat)"),
        ] = None,
        buffer_control: Annotated[
            Path | None, typer.Option("--buffer-control", help="The buffer's own control: a GeoJSON polygon")
        ] = None,
        scale_control: Annotated[
            bool,
            typer.Option(
                "--scale-control",
                help="WDD with the control weighted to the target's size (default: the plain formula; "
                "both are always in the report, as wdd_plain and wdd_scaled)",
            ),
        ] = False,
        category: CategoryOpt = None,
        weight: Annotated[str, typer.Option("--weight", help="count or harm")] = "count",
        boundaries: BoundariesOpt = AUTO,
        districts: DistrictsOpt = None,
        police_force: ForceOpt = None,
        area: AreaOpt = None,
        fmt: FormatOpt = "auto",
        mapping: MappingOpt = None,
        outside: OutsideOpt = "keep",
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Also write the full report as JSON")
        ] = None,
        png_out: Annotated[
            Path | None, typer.Option("--png", help="Also write the monthly chart as PNG")
        ] = None,
    ) -> None:
        """Did it work? Target, buffer and control before and after the start: weighted displacement
        difference and quotient, and a synthetic control with placebo p-value."""
        from hotspots.errors import HotspotError, InvalidInput
        from hotspots.geo.outputs.export import dumps, jsonable
        from hotspots.geo.stats import interventions as iv
        from hotspots.service_interventions import EvaluationParams
        from hotspots.settings import Settings

        try:
            service = cli._service(Settings())
            where, _ = cli._choose_area(service, area, districts, police_force, boundaries)
            cli._choice(weight, ("count", "harm"), "--weight")
            if not target.is_file():
                raise InvalidInput(f"{target}: no such GeoJSON file")
            target_geom = iv.parse_geojson_polygon(target.read_bytes(), what=str(target.name))
            control_geom = None
            kind = control
            if control not in ("auto", "wards"):
                path = Path(control)
                if not path.is_file():
                    raise InvalidInput(f"--control must be auto, wards or a GeoJSON file; no file {control}")
                control_geom = iv.parse_geojson_polygon(path.read_bytes(), what=path.name)
                kind = "polygon"
            cd = None
            if buffer_control is not None:
                if not buffer_control.is_file():
                    raise InvalidInput(f"{buffer_control}: no such GeoJSON file")
                cd = iv.parse_geojson_polygon(buffer_control.read_bytes(), what=buffer_control.name)
            params = EvaluationParams(
                start=start,
                end=end,
                before_months=before_months,
                buffer_m=buffer_m,
                control=kind,
                control_wards=tuple(control_ward or ()),
                crime_types=tuple(category or ()),
                weight=weight,  # type: ignore[arg-type]
                scale_control=scale_control,
            )
            params.validate()
            with cli._progress() as step:
                ingested = cli._read_files(step, service, files, fmt, mapping, outside, where)
                report: dict[str, Any] = step(
                    "Evaluating",
                    lambda: service.interventions.evaluate_incidents(
                        ingested.incidents,
                        target_geom,
                        where,
                        params,
                        control_geometry=control_geom,
                        buffer_control=cd,
                    ),
                )
        except HotspotError as exc:
            cli._fail(exc)
            return
        _print_report(report)
        if json_out is not None:
            cli._write(json_out, dumps(jsonable(report)))
            cli.console.print(f"Wrote {json_out}")
        if png_out is not None:
            import os

            from hotspots.maps.intervention_chart import evaluation_png

            tmp = png_out.with_name(f".{png_out.name}.tmp")
            tmp.write_bytes(evaluation_png(report))
            os.replace(tmp, png_out)
            cli.console.print(f"Wrote {png_out}")


def _fmt(value: Any, decimals: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{decimals}f}"


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    p = report["periods"]
    table = Table(
        title=f"Before {p['before']['from']}..{p['before']['to']} ({p['before']['months']} months), "
        f"after {p['after']['from']}..{p['after']['to']} ({p['after']['months']} months)"
    )
    for col in ("area", "before", "after", "change"):
        table.add_column(col, justify="right" if col != "area" else "left")
    names = ["target", "buffer", "control"] + (["buffer_control"] if "buffer_control" in report else [])
    for name in names:
        b, a = report[name]["before"], report[name]["after"]
        change = (
            f"{(a - b) / b:+.0%}" if isinstance(a, int | float) and isinstance(b, int | float) and b else "-"
        )
        table.add_row(name, _fmt(b, 0), _fmt(a, 0), change)
    out = Console()
    out.print(table)
    w, q, s = report["wdd"], report["wdq"], report["synthetic"]
    stats = Table(title="Did it work?")
    for col in ("measure", "estimate", "se", "z", "p"):
        stats.add_column(col, justify="left" if col == "measure" else "right")
    stats.add_row("WDD local", _fmt(w.get("local")), _fmt(w.get("local_se")), "", "")
    stats.add_row("WDD displacement", _fmt(w.get("displacement")), _fmt(w.get("displacement_se")), "", "")
    stats.add_row(
        "WDD total", _fmt(w.get("total")), _fmt(w.get("se")), _fmt(w.get("z"), 2), _fmt(w.get("p"), 3)
    )
    other = report.get("wdd_scaled" if w.get("formula") == "plain" else "wdd_plain") or {}
    stats.add_row(
        f"WDD total ({other.get('formula', 'other')})",
        _fmt(other.get("total")),
        _fmt(other.get("se")),
        _fmt(other.get("z"), 2),
        _fmt(other.get("p"), 3),
    )
    stats.add_row("WDQ", _fmt(q.get("value"), 2), "", "", "")
    stats.add_row("synthetic control", _fmt(s.get("effect")), "", "", _fmt(s.get("p"), 3))
    out.print(stats)
    out.print(f"WDD: {w.get('reading', '')}", highlight=False)
    out.print(f"WDD ({other.get('formula', 'other')}): {other.get('reading', '')}", highlight=False)
    out.print(f"WDQ: {q.get('reading', '')}", highlight=False)
    if s.get("reason"):
        out.print(f"Synthetic control: {s['reason']}", highlight=False)
    out.print(f"Control: {report['control']['rule']}", highlight=False)
    out.print(report["verdict"], highlight=False)
