"""The ``hotspots`` command line: analyse files, manage datasets, run the service.

The same front door as the API, over the same :class:`~hotspots.service.HotspotService`:
files are read and validated, analysed, evaluated and k-distanced by the service (so its
settings, e.g. ``HOTSPOTS_HARM_WEIGHTS_FILE``, apply), and the analysis options read their
help and ranges from the one parameter contract, :mod:`hotspots.geo.params`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hotspots.errors import HotspotError, InvalidInput
from hotspots.geo.params import AUTO, SPECS

# Only typer, rich and light modules at import time, so ``hotspots --help`` starts fast: each
# command imports the service, the analysis and the writers it uses at its top
# (tests/test_cli_startup.py checks that nothing heavy is imported).
if TYPE_CHECKING:
    from hotspots.boundaries.area import Area
    from hotspots.geo.inputs.ingest import ColumnMapping, IngestResult
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

app = typer.Typer(
    help="Crime and harm hotspots for community safety partnerships.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
OUTPUTS = [
    "hotspots.geojson",
    "hotspots.csv",
    "wards.geojson",
    "boroughs.geojson",
    "significance.geojson",
    "emerging.geojson",
    "incidents.csv",
    "map.html",
]


@contextmanager
def _progress() -> Iterator[Callable[[str, Callable[[], T]], T]]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:

        def step(description: str, fn: Callable[[], T]) -> T:
            task = progress.add_task(description, total=1)
            value = fn()
            progress.update(task, completed=1)
            return value

        yield step


def _fail(exc: HotspotError) -> None:
    console.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
    if isinstance(exc, InvalidInput):
        for err in exc.errors:
            console.print(f"  {err}", highlight=False, markup=False)
        if exc.total_errors > len(exc.errors):
            console.print(f"  ... and {exc.total_errors - len(exc.errors)} more", highlight=False)
    raise typer.Exit(code=2)


def _mapping(text: str | None) -> ColumnMapping | None:
    from hotspots.geo.inputs.ingest import ColumnMapping

    if not text:
        return None
    try:
        raw = json.loads(text)
        return ColumnMapping(**raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidInput(f"--mapping must be a JSON object of ColumnMapping fields: {exc}") from None


FilesArg = Annotated[
    list[Path], typer.Argument(help="Incident CSV file(s): police.uk street-level or mapped")
]
FormatOpt = Annotated[str, typer.Option("--format", help="auto, police-uk or generic")]
MappingOpt = Annotated[
    str | None,
    typer.Option(
        help='Generic CSV mapping as JSON, e.g. \'{"longitude":"lon","latitude":"lat","month":"m"}\''
    ),
]


def _contract(name: str) -> Any:
    """The typer option of a parameter, read off its :class:`~hotspots.geo.params.ParamSpec`
    (flag and help with the usable range; :meth:`AnalysisParams.validate` enforces it)."""
    spec = SPECS[name]
    return typer.Option(spec.flag, help=spec.describe())


EpsOpt = Annotated[float | None, _contract("eps_m")]
MinSamplesOpt = Annotated[int | None, _contract("min_samples")]
BufferOpt = Annotated[float, _contract("shape_buffer_m")]
CellSizeOpt = Annotated[float | None, _contract("cell_size_m")]
WeightOpt = Annotated[str, _contract("weight")]
MethodOpt = Annotated[str, _contract("method")]
MinClusterOpt = Annotated[int | None, _contract("min_cluster_size")]
MinLocationsOpt = Annotated[int, _contract("min_locations")]
CategoryOpt = Annotated[list[str] | None, typer.Option(help="Crime type to include (repeatable)")]
OutsideOpt = Annotated[
    str,
    typer.Option(
        help="Incidents outside the area: keep (default: kept, flagged and counted, as in a whole-force "
        "file), exclude (those more than HOTSPOTS_MAX_OUTSIDE_KM away) or reject"
    ),
]
BoundariesOpt = Annotated[
    str,
    typer.Option(
        help="A boundary file (GeoJSON, GeoPackage or zipped Shapefile of wards) used directly as the "
        "area, or the name of a stored boundary set, or 'auto' (the area's set in force each month)"
    ),
]
DistrictsOpt = Annotated[
    str | None,
    typer.Option(
        help='Area from the national catalogue: district names or codes, e.g. "Basildon,Castle Point"'
    ),
]
ForceOpt = Annotated[
    str | None, typer.Option("--police-force", help="Area from the national catalogue: a police force area")
]
AreaOpt = Annotated[str | None, typer.Option(help="A stored area (see 'hotspots areas list')")]
PopulationOpt = Annotated[
    Path | None, typer.Option(help="With a boundary file: CSV of ward code and residents, for rates")
]


def _choose_area(
    service: HotspotService,
    area: str | None,
    districts: str | None,
    police_force: str | None,
    boundaries: str,
    population: Path | None = None,
) -> tuple[Area, str]:
    """The area named by the CLI's options, and the ``boundaries`` parameter left for the analysis.

    At most one of ``--area``, ``--districts``, ``--police-force`` and ``--boundaries FILE``; none
    gives the shipped demo area. ``--boundaries`` names a file when it has a boundary file's suffix
    or exists; otherwise it is a stored boundary set's name (or ``auto``).
    """
    from hotspots.boundaries.formats import FORMATS as BOUNDARY_FORMATS

    path = Path(boundaries)
    is_file = boundaries != AUTO and (path.suffix.lower() in BOUNDARY_FORMATS or path.is_file())
    picked = [area is not None, bool(districts), police_force is not None, is_file]
    if sum(picked) > 1:
        raise InvalidInput("give at most one of --area, --districts, --police-force and --boundaries FILE")
    if population is not None and not is_file:
        raise InvalidInput("--population goes with --boundaries FILE")
    if is_file:
        if not path.is_file():
            raise InvalidInput(f"{boundaries}: no such boundary file")
        pop = (population.read_bytes(), population.name) if population is not None else None
        boundary_file = (path.read_bytes(), path.name)
        return service.transient_area(boundary_file=boundary_file, population=pop), AUTO
    if districts or police_force is not None:
        names = [d.strip() for d in (districts or "").split(",") if d.strip()]
        return service.transient_area(districts=names, police_force=police_force), boundaries
    return service.area(area), boundaries


@app.command("analyse")
def analyse_cmd(
    files: FilesArg,
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs (created if missing)")],
    eps_m: EpsOpt = None,
    min_samples: MinSamplesOpt = None,
    month_from: Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM")] = None,
    month_to: Annotated[str | None, typer.Option("--to", help="Last month, YYYY-MM")] = None,
    category: CategoryOpt = None,
    boundaries: BoundariesOpt = AUTO,
    districts: DistrictsOpt = None,
    police_force: ForceOpt = None,
    area: AreaOpt = None,
    population: PopulationOpt = None,
    buffer_m: BufferOpt = SPECS["shape_buffer_m"].default,
    min_locations: MinLocationsOpt = SPECS["min_locations"].default,
    cell_size_m: CellSizeOpt = None,
    weight: WeightOpt = "count",
    method: MethodOpt = "dbscan",
    min_cluster_size: MinClusterOpt = None,
    harm_table: Annotated[
        Path | None, typer.Option("--harm-table", help="CSV or JSON of harm weight per crime type")
    ] = None,
    fmt: FormatOpt = "auto",
    mapping: MappingOpt = None,
    outside: OutsideOpt = "keep",
    tiles: Annotated[
        str | None, typer.Option(help="Base map for map.html: openstreetmap, none or a URL")
    ] = None,
) -> None:
    """Find hotspots in FILES and write hotspots.geojson, hotspots.csv, wards.geojson, boroughs.geojson,
    significance.geojson, emerging.geojson, incidents.csv and a self-contained map.html to --out."""
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.geo.outputs.export import (
        boroughs_geojson,
        dumps,
        emerging_geojson,
        gi_grid_geojson,
        hotspots_csv,
        hotspots_geojson,
        incidents_csv,
        wards_geojson,
    )
    from hotspots.geo.stats.assessment import emerging_layer
    from hotspots.maps import MapOptions, render_standalone
    from hotspots.settings import Settings

    settings = Settings()
    try:
        service = _service(settings)
        where, boundaries = _choose_area(service, area, districts, police_force, boundaries, population)
        params = AnalysisParams(
            month_from=month_from,
            month_to=month_to,
            crime_types=tuple(category or ()),
            eps_m=eps_m,
            min_samples=min_samples,
            boundaries=boundaries,
            shape_buffer_m=buffer_m,
            cell_size_m=cell_size_m,
            weight=weight,  # type: ignore[arg-type]
            method=method,  # type: ignore[arg-type]
            min_cluster_size=min_cluster_size,
            min_locations=min_locations,
            harm_table=_harm_table(harm_table),
        )
        params.validate()
        with _progress() as step:
            ingested = _read_files(step, service, files, fmt, mapping, outside, where)
            result = step(
                "Joining wards and finding hotspots",
                lambda: service.analyse_incidents(
                    ingested.incidents, params, dataset=_label(files), area=where
                ),
            )
            emerging = step("Emerging hot spots over the months", lambda: emerging_layer(result, cell_size_m))
            out.mkdir(parents=True, exist_ok=True)

            def write_all() -> None:
                _write(out / "hotspots.geojson", dumps(hotspots_geojson(result)))
                _write(out / "hotspots.csv", hotspots_csv(result))
                _write(out / "wards.geojson", dumps(wards_geojson(result)))
                _write(out / "boroughs.geojson", dumps(boroughs_geojson(result)))
                _write(out / "significance.geojson", dumps(gi_grid_geojson(result)))
                _write(out / "emerging.geojson", dumps(emerging_geojson(result, emerging)))
                _write(out / "incidents.csv", incidents_csv(result))
                options = MapOptions(
                    tiles=tiles or settings.tiles,
                    tiles_attribution=settings.tiles_attribution,
                    title=f"Hotspots: {', '.join(p.name for p in files)}",
                )
                _write(out / "map.html", render_standalone(result, options, emerging))

            step(f"Writing outputs to {out}", write_all)
    except HotspotError as exc:
        _fail(exc)
        return
    for warning in ingested.report.warnings:
        console.print(f"[yellow]note:[/] {warning}", highlight=False)
    _print_summary(result.meta, result.hotspots)
    console.print(f"Wrote {', '.join(OUTPUTS)} to {out}")


DISTRIBUTED_OUTPUTS = [
    "hotspots.geojson",
    "hotspots.csv",
    "wards.geojson",
    "boroughs.geojson",
    "ward_months.csv",
]


@app.command("analyse-distributed")
def analyse_distributed_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(help="A directory of GeoParquet files, GeoParquet files, or incident CSV files"),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs (created if missing)")],
    eps_m: EpsOpt = None,
    min_samples: MinSamplesOpt = None,
    month_from: Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM")] = None,
    month_to: Annotated[str | None, typer.Option("--to", help="Last month, YYYY-MM")] = None,
    category: CategoryOpt = None,
    boundaries: Annotated[str, typer.Option(help="Boundary set, or 'auto' for the set in force")] = "auto",
    buffer_m: BufferOpt = SPECS["shape_buffer_m"].default,
    min_locations: MinLocationsOpt = SPECS["min_locations"].default,
    tile_m: Annotated[
        float | None, typer.Option("--tile-m", help="DBSCAN tile width, m (default 50 x eps)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: HOTSPOTS_DASK_SCHEDULER, else local)")
    ] = None,
) -> None:
    """Find hotspots on a Dask cluster (same hotspots as 'analyse') and write hotspots.geojson,
    hotspots.csv, wards.geojson, boroughs.geojson and ward_months.csv to --out.

    CSV files are validated on the workers and stored as GeoParquet in --out/partitions first.
    """
    import shapely

    from hotspots.boundaries import shipped_boundary_sets
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.geo.outputs.export import (
        boroughs_geojson,
        dumps,
        hotspots_csv,
        hotspots_geojson,
        wards_geojson,
        write_csv,
    )
    from hotspots.geo.scale import distributed
    from hotspots.settings import Settings

    settings = Settings()
    try:
        params = AnalysisParams(
            month_from=month_from,
            month_to=month_to,
            crime_types=tuple(category or ()),
            eps_m=eps_m,
            min_samples=min_samples,
            boundaries=boundaries,
            shape_buffer_m=buffer_m,
            min_locations=min_locations,
        )
        params.validate()
        csv_input = _distributed_input(paths)
        sets = shipped_boundary_sets()
        address = scheduler or settings.dask_scheduler
        with _progress() as step, distributed.dask_client(address, settings.dask_workers) as client:
            source: Path | list[Path] = paths[0] if len(paths) == 1 and paths[0].is_dir() else paths
            if csv_input:
                area = shapely.union_all([s.outline for s in sets.values()])
                source = step(
                    f"Validating {len(paths)} CSV file(s) on the cluster",
                    lambda: distributed.ingest_csv_partitioned(
                        client,
                        paths,
                        out / "partitions",
                        area=area,
                        max_outside_m=settings.max_outside_km * 1000,
                        max_bytes=settings.max_file_bytes,
                    ),
                )
            result = step(
                "Joining wards and finding hotspots on the cluster",
                lambda: distributed.analyse_distributed(
                    client, distributed.read_partitioned(source), sets, params, tile_m=tile_m
                ),
            )
        layers = result.as_analysis_result()
        layers.meta["dataset"] = "+".join(p.stem for p in paths)[:80]
        out.mkdir(parents=True, exist_ok=True)
        _write(out / "hotspots.geojson", dumps(hotspots_geojson(layers)))
        _write(out / "hotspots.csv", hotspots_csv(layers))
        _write(out / "wards.geojson", dumps(wards_geojson(layers)))
        _write(out / "boroughs.geojson", dumps(boroughs_geojson(layers)))
        ward_months = result.ward_month_counts.rename("count").reset_index()
        _write(out / "ward_months.csv", write_csv(ward_months, numeric=("count",)))
    except HotspotError as exc:
        _fail(exc)
        return
    _print_summary(result.meta, result.hotspots)
    console.print(f"Wrote {', '.join(DISTRIBUTED_OUTPUTS)} to {out}")


def _distributed_input(paths: list[Path]) -> bool:
    """True for CSV files, False for GeoParquet (files or one directory); else :class:`InvalidInput`."""
    for p in paths:
        if not p.exists():
            raise InvalidInput(f"{p}: no such file or directory")
    kinds = {"dir" if p.is_dir() else p.suffix.lower() for p in paths}
    if kinds == {".csv"}:
        return True
    if kinds == {".parquet"} or (kinds == {"dir"} and len(paths) == 1):
        return False
    raise InvalidInput("give CSV files, GeoParquet (.parquet) files, or one directory of GeoParquet files")


def _service(settings: Settings) -> HotspotService:
    from hotspots.service import HotspotService

    return HotspotService(settings)


def _label(files: list[Path]) -> str:
    return "+".join(p.stem for p in files)[:80]


def _read_files(
    step: Callable[[str, Callable[[], Any]], Any],
    service: HotspotService,
    files: list[Path],
    fmt: str,
    mapping: str | None,
    outside: str,
    area: Area,
) -> IngestResult:
    """Read and validate incident files against ``area`` as the service validates uploads."""
    from hotspots.geo.inputs.ingest import OUTSIDE_POLICIES, Source

    fmt_checked = _choice(fmt, ("auto", "police-uk", "generic"), "--format")
    outside_checked = _choice(outside, OUTSIDE_POLICIES, "--outside")
    limit = service.settings.max_file_bytes
    sources = step(f"Reading {len(files)} file(s)", lambda: [Source.from_path(f, limit) for f in files])
    result: IngestResult = step(
        "Validating incidents",
        lambda: service.read(
            sources,
            fmt=fmt_checked,  # type: ignore[arg-type]
            mapping=_mapping(mapping),
            outside=outside_checked,  # type: ignore[arg-type]
            area=area,
        ),
    )
    return result


def _harm_table(path: Path | None) -> tuple[tuple[str, float], ...] | None:
    from hotspots.geo.stats.harm import parse_harm_weights

    if path is None:
        return None
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    return parse_harm_weights(path.read_bytes()).to_items()


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _print_summary(meta: dict[str, Any], hotspots: Any) -> None:
    from hotspots.maps.panel import method_in_words  # after the analysis: keeps --help fast

    hit = meta.get("hit_rate")
    console.print(
        f"{meta['incidents']} incidents ({meta['incidents_without_location']} without location, "
        f"{meta['incidents_outside_area']} outside the wards), {meta['month_from']} to {meta['month_to']}; "
        f"{method_in_words(meta)}: "
        f"{meta['hotspots']} hotspot(s) holding {meta['incidents_in_hotspots']} incidents"
        + (f" ({hit:.0%} in {meta['hotspot_area_share']:.1%} of the area)" if hit is not None else ""),
        highlight=False,
    )
    areas = hotspots[hotspots["kind"] == "area"] if len(hotspots) else hotspots
    places = hotspots[hotspots["kind"] == "place"] if len(hotspots) else hotspots
    if len(areas):
        table = Table(title="Top hotspot areas")
        districts = f"{meta.get('district_word') or 'district'}s"  # the area's own word: boroughs, districts
        for col in ("rank", "id", "incidents", "locations", "area (ha)", "wards", districts, "cross-border"):
            table.add_column(col)
        for row in areas.head(10).itertuples():
            wards = list(dict.fromkeys(row.wards))  # one name per ward across a boundary change
            table.add_row(
                str(row.rank),
                str(row.hotspot_id),
                str(row.count),
                str(row.locations),
                f"{row.area_m2 / 1e4:.1f}",
                ", ".join(wards[:3]) + (" ..." if len(wards) > 3 else ""),
                ", ".join(row.boroughs),
                "yes" if row.cross_border else "",
            )
        console.print(table)
    if len(places):
        table = Table(title=f"Top places (hotspots on fewer than {meta.get('min_locations')} locations)")
        for col in ("rank", "id", "incidents", "locations", "location", "wards"):
            table.add_column(col)
        for row in places.head(10).itertuples():
            table.add_row(
                str(row.rank),
                str(row.hotspot_id),
                str(row.count),
                str(row.locations),
                row.location_text or "-",
                ", ".join(list(dict.fromkeys(row.wards))[:2]),
            )
        console.print(table)


@app.command("evaluate")
def evaluate_cmd(
    files: FilesArg,
    eps_m: EpsOpt = None,
    min_samples: MinSamplesOpt = None,
    test_month: Annotated[
        str | None, typer.Option("--test-month", help="Month to test on, YYYY-MM (default: the last)")
    ] = None,
    rolling: Annotated[int, _contract("rolling")] = 1,
    category: CategoryOpt = None,
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
    curve_out: Annotated[
        Path | None,
        typer.Option(
            "--curve",
            help="Also draw the PAI curve (PAI against area share 0.5-5%: hotspots, 50 m grid, "
            "kernel density, wards) of the last test month as a PNG",
        ),
    ] = None,
) -> None:
    """Do hotspots predict? Fit on months 1..n, test on n+1: hit rate, PAI, PEI, RRI, baselines."""
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.geo.outputs.export import dumps, jsonable
    from hotspots.settings import Settings

    settings = Settings()
    try:
        service = _service(settings)
        where, boundaries = _choose_area(service, area, districts, police_force, boundaries)
        params = AnalysisParams(
            crime_types=tuple(category or ()), eps_m=eps_m, min_samples=min_samples, boundaries=boundaries
        )
        params.validate()
        SPECS["rolling"].check(rolling)
        with _progress() as step:
            ingested = _read_files(step, service, files, fmt, mapping, outside, where)
            report = step(
                f"Fitting and testing over {rolling} month(s)",
                lambda: service.evaluate_incidents(
                    ingested.incidents, params, test_month, rolling, area=where
                ),
            )
    except HotspotError as exc:
        _fail(exc)
        return
    table = Table(title="Fit on earlier months, test on the next (same area share for every method)")
    for col in (
        "test month",
        "hit rate",
        "area",
        "PAI",
        "PEI",
        "RRI",
        "wards PAI",
        "KDE PAI",
        "50 m grid PAI",
    ):
        table.add_column(col, justify="right")
    for row in report["rows"]:
        table.add_row(
            row["test_month"],
            _fmt_share(row["hit_rate"]),
            _fmt_share(row["area_share"], 2),
            _fmt_num(row["pai"]),
            _fmt_num(row["pei"], 2),
            _fmt_num(row["rri"], 2),
            _fmt_num(row["wards_pai"]),
            _fmt_num(row["kde_pai"]),
            _fmt_num(row["grid_pai"]),
        )
    Console().print(table)
    curve = report.get("curve")
    if curve:
        Console().print(_curve_table(curve, report["test_months"][-1]))
    if json_out is not None:
        _write(json_out, dumps(jsonable(report)))
        console.print(f"Wrote {json_out}")
    if curve_out is not None and report.get("curve"):
        from hotspots.geo.stats.evaluation import pai_curve_png

        title = f"Fitted on the months before {report['test_months'][-1]}, tested on it"
        tmp = curve_out.with_name(f".{curve_out.name}.tmp")
        tmp.write_bytes(pai_curve_png(report["curve"], title))
        os.replace(tmp, curve_out)
        console.print(f"Wrote {curve_out}")


def _curve_table(curve: dict[str, Any], test_month: str) -> Table:
    """PAI at a few area shares: hotspots (the densest first, up to that share) and baselines."""
    table = Table(title=f"PAI curve, test month {test_month} (PAI at each share of the area)")
    for col in ("area share", "hotspots", "50 m grid", "KDE", "wards"):
        table.add_column(col, justify="right")
    shares = curve["shares"]
    hs = curve.get("hotspots") or {}
    h_share, h_pai = hs.get("area_share", []), hs.get("pai", [])
    for target in (0.005, 0.01, 0.02, 0.03, 0.05):
        i = min(range(len(shares)), key=lambda j: abs(shares[j] - target)) if shares else None
        if i is None:
            continue
        upto = [p for a, p in zip(h_share, h_pai, strict=True) if a <= shares[i] + 1e-12]
        table.add_row(
            _fmt_share(shares[i], 1),
            _fmt_num(upto[-1]) if upto else "-",
            *(_fmt_num((curve.get(name) or [None] * len(shares))[i]) for name in ("grid", "kde", "wards")),
        )
    return table


def _fmt_share(value: float | None, decimals: int = 0) -> str:
    return "-" if value is None else f"{value:.{decimals}%}"


def _fmt_num(value: float | None, decimals: int = 1) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


@app.command("kdistance")
def kdistance_cmd(
    files: FilesArg,
    out: Annotated[Path, typer.Option("--out", help="PNG file for the plot")],
    k: Annotated[float | None, _contract("k")] = None,
    eps_m: EpsOpt = None,
    min_samples: MinSamplesOpt = None,
    category: CategoryOpt = None,
    boundaries: BoundariesOpt = AUTO,
    districts: DistrictsOpt = None,
    police_force: ForceOpt = None,
    area: AreaOpt = None,
    fmt: FormatOpt = "auto",
    mapping: MappingOpt = None,
    outside: OutsideOpt = "keep",
) -> None:
    """k-distance plot for choosing eps: each incident's distance to its k-th nearest neighbour."""
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.geo.stats.assessment import k_distance_inputs
    from hotspots.geo.stats.parameters import k_distance_json, k_distance_png
    from hotspots.settings import Settings

    settings = Settings()
    try:
        service = _service(settings)
        where, boundaries = _choose_area(service, area, districts, police_force, boundaries)
        params = AnalysisParams(
            crime_types=tuple(category or ()), eps_m=eps_m, min_samples=min_samples, boundaries=boundaries
        )
        params.validate()
        SPECS["k"].check(k)
        with _progress() as step:
            ingested = _read_files(step, service, files, fmt, mapping, outside, where)
            result = step(
                "Finding hotspots",
                lambda: service.analyse_incidents(
                    ingested.incidents, params, dataset=_label(files), area=where, statistics=False
                ),
            )
            x, y, weights, k_used = k_distance_inputs(result, k)
            curve = step("Computing k-distances", lambda: k_distance_json(x, y, k_used, weights))
            png = k_distance_png(x, y, k_used, weights, current_eps_m=result.params.eps_m)
    except HotspotError as exc:
        _fail(exc)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(png)
    os.replace(tmp, out)
    console.print(
        f"k = {k_used:g}: suggested eps about {curve['suggested_eps_m']:.0f} m (knee of the curve); "
        f"wrote {out}",
        highlight=False,
    )


@app.command("patrol-plan")
def patrol_plan_cmd(
    files: FilesArg,
    hotspots: Annotated[
        str,
        typer.Option(
            "--hotspots",
            help="Hotspot ids, e.g. 1,2,5 (the ranks 'analyse' gives with the same options)",
        ),
    ],
    shift: Annotated[str, _contract("shift")] = "18:00-02:00",
    visit_min: Annotated[int, _contract("visit_min")] = 15,
    units: Annotated[int | None, _contract("units")] = None,
    seed: Annotated[int | None, _contract("seed")] = None,
    speed_kmh: Annotated[float, _contract("speed_kmh")] = 30.0,
    detour: Annotated[float, _contract("detour")] = 1.3,
    eps_m: EpsOpt = None,
    min_samples: MinSamplesOpt = None,
    month_from: Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM")] = None,
    month_to: Annotated[str | None, typer.Option("--to", help="Last month, YYYY-MM")] = None,
    category: CategoryOpt = None,
    boundaries: BoundariesOpt = AUTO,
    districts: DistrictsOpt = None,
    police_force: ForceOpt = None,
    area: AreaOpt = None,
    population: PopulationOpt = None,
    buffer_m: BufferOpt = SPECS["shape_buffer_m"].default,
    weight: WeightOpt = "count",
    method: MethodOpt = "dbscan",
    min_cluster_size: MinClusterOpt = None,
    harm_table: Annotated[
        Path | None, typer.Option("--harm-table", help="CSV or JSON of harm weight per crime type")
    ] = None,
    fmt: FormatOpt = "auto",
    mapping: MappingOpt = None,
    outside: OutsideOpt = "keep",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the plan as JSON")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the visits as CSV")] = None,
) -> None:
    """A patrol plan for chosen hotspots over one shift (Koper 1995 dosage): visits of 10-16 minutes,
    each hotspot at least every 2 hours, at seeded unpredictable times, in a short visiting order."""
    from hotspots.geo.analysis import AnalysisParams
    from hotspots.geo.outputs.export import dumps, jsonable, write_csv
    from hotspots.geo.plans.patrol import PLAN_CSV_COLUMNS, PLAN_CSV_NUMERIC, plan_table
    from hotspots.settings import Settings

    settings = Settings()
    try:
        service = _service(settings)
        where, boundaries = _choose_area(service, area, districts, police_force, boundaries, population)
        params = AnalysisParams(
            month_from=month_from,
            month_to=month_to,
            crime_types=tuple(category or ()),
            eps_m=eps_m,
            min_samples=min_samples,
            boundaries=boundaries,
            shape_buffer_m=buffer_m,
            weight=weight,  # type: ignore[arg-type]
            method=method,  # type: ignore[arg-type]
            min_cluster_size=min_cluster_size,
            harm_table=_harm_table(harm_table),
        )
        params.validate()
        SPECS["visit_min"].check(visit_min)
        with _progress() as step:
            ingested = _read_files(step, service, files, fmt, mapping, outside, where)
            result = step(
                "Finding hotspots",
                lambda: service.analyse_incidents(
                    ingested.incidents, params, dataset=_label(files), area=where, statistics=False
                ),
            )
            plan = step(
                "Planning patrols",
                lambda: service.patrol_plan_of(
                    result, hotspots, shift, visit_min, units, seed, speed_kmh, detour
                ),
            )
    except HotspotError as exc:
        _fail(exc)
        return
    body = plan.as_dict()
    body["dataset"] = result.meta.get("dataset")
    table = Table(title=f"Patrol plan {body['shift']}, {visit_min}-minute visits, seed {plan.seed}")
    for col in ("unit", "hotspot", "start", "end", "where"):
        table.add_column(col)
    for row in plan_table(plan):
        table.add_row(str(row["unit"]), f"#{row['hotspot_id']}", row["start"], row["end"], row["where"])
    Console().print(table)
    console.print(
        f"{len(plan.visits)} visits by {body['units_used']} unit(s); units needed: "
        f"{plan.units_needed if plan.units_needed is not None else 'more than ' + str(plan.units)}; "
        f"{body['times_note']}",
        highlight=False,
    )
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if json_out is not None:
        _write(json_out, dumps(jsonable(body)))
        console.print(f"Wrote {json_out}")
    if csv_out is not None:
        import pandas as pd

        frame = pd.DataFrame(plan_table(plan), columns=PLAN_CSV_COLUMNS, dtype=object)
        _write(
            csv_out,
            write_csv(frame, numeric=PLAN_CSV_NUMERIC),
        )
        console.print(f"Wrote {csv_out}")
    if not plan.meets_dosage:
        raise typer.Exit(code=1)


@app.command("ingest")
def ingest_cmd(
    files: FilesArg,
    name: Annotated[str, typer.Option(help="Dataset name; an existing name gets a new version")],
    area: Annotated[
        str | None, typer.Option(help="The stored area the data is for (default: the shipped demo area)")
    ] = None,
    fmt: FormatOpt = "auto",
    mapping: MappingOpt = None,
    outside: OutsideOpt = "keep",
    owner: Annotated[str | None, typer.Option(help="Organisation that owns the data")] = None,
    source_type: Annotated[
        str | None, typer.Option(help="police, council, health, education, probation or other")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="Purpose in the data-sharing agreement")] = None,
    agreement: Annotated[str | None, typer.Option(help="Data-sharing agreement reference")] = None,
    retention_until: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD: 'hotspots purge' deletes the dataset after this date")
    ] = None,
) -> None:
    """Validate FILES and store them as a new version of a dataset in the data directory."""
    from hotspots.geo.inputs.ingest import OUTSIDE_POLICIES, Source
    from hotspots.service import HotspotService
    from hotspots.settings import Settings
    from hotspots.store.sharing import Sharing

    settings = Settings()
    try:
        service = HotspotService(settings)
        with _progress() as step:
            sources = step(
                f"Reading {len(files)} file(s)",
                lambda: [Source.from_path(f, settings.max_file_bytes) for f in files],
            )
            version, report = step(
                "Validating and storing",
                lambda: service.ingest(
                    name,
                    sources,
                    fmt=_choice(fmt, ("auto", "police-uk", "generic"), "--format"),  # type: ignore[arg-type]
                    mapping=_mapping(mapping),
                    outside=_choice(outside, OUTSIDE_POLICIES, "--outside"),  # type: ignore[arg-type]
                    sharing=Sharing.parse(owner, source_type, purpose, agreement, retention_until),
                    area=area,
                ),
            )
        service.security.audit("cli", "admin", "upload", version.ref, {"rows": report.rows_accepted})
    except HotspotError as exc:
        _fail(exc)
        return
    for warning in report.warnings:
        console.print(f"[yellow]note:[/] {warning}", highlight=False)
    console.print(
        f"Stored {version.ref}: {report.rows_accepted} rows, "
        f"{report.rows_without_location} without location, "
        f"months {report.months[0]} to {report.months[-1]}",
        highlight=False,
    )


keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. bd-community-safety")],
    role: Annotated[str, typer.Option(help="viewer, police, council or admin")],
) -> None:
    """Create a key; the secret is printed once and only its hash is stored."""
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

    try:
        service = HotspotService(Settings())
        record, secret = service.security.create_key(name, role)
        service.security.audit("cli", "admin", "key created", record.name, {"role": record.role})
    except HotspotError as exc:
        _fail(exc)
        return
    console.print(
        f"Created key '{record.name}' with role {record.role}. Store it now; it is not shown again:"
    )
    print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (names, roles, revoked or not)."""
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

    table = Table(title="API keys")
    for col in ("name", "role", "created", "revoked"):
        table.add_column(col)
    for k in HotspotService(Settings()).security.list_keys():
        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else ""
        table.add_row(k.name, k.role, k.created_at.strftime("%Y-%m-%d %H:%M"), revoked)
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="Name of the key")]) -> None:
    """Revoke a key at once."""
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

    try:
        service = HotspotService(Settings())
        record = service.security.revoke_key(name)
        service.security.audit("cli", "admin", "key revoked", record.name, {})
    except HotspotError as exc:
        _fail(exc)
        return
    console.print(f"Revoked key '{record.name}'.")


boundaries_app = typer.Typer(help="Uploaded boundary sets: delete.", no_args_is_help=True)
app.add_typer(boundaries_app, name="boundaries")


@boundaries_app.command("delete")
def boundaries_delete(name: Annotated[str, typer.Argument(help="Name of an uploaded boundary set")]) -> None:
    """Delete an uploaded boundary set (shipped sets cannot be deleted; logged in the audit log)."""
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

    try:
        service = HotspotService(Settings())
        bset = service.delete_boundary_set(name)
        service.security.audit("cli", "admin", "boundary set deleted", bset.name, {"source": bset.source})
    except HotspotError as exc:
        _fail(exc)
        return
    console.print(f"Deleted boundary set {bset.name}")


areas_app = typer.Typer(
    help="Areas (a partnership, a force, a region): add, list, show, delete.", no_args_is_help=True
)
app.add_typer(areas_app, name="areas")


@areas_app.command("add")
def areas_add(
    name: Annotated[str, typer.Argument(help="Name for the area, e.g. south-essex")],
    districts: DistrictsOpt = None,
    police_force: ForceOpt = None,
    boundaries: Annotated[
        Path | None, typer.Option(help="A boundary file of wards: GeoJSON, GeoPackage or zipped Shapefile")
    ] = None,
    population: PopulationOpt = None,
    title: Annotated[str | None, typer.Option(help="Title for maps and briefings")] = None,
) -> None:
    """Make an area from catalogue districts, a police force area, or a boundary file; store it."""
    from hotspots.settings import Settings

    try:
        service = _service(Settings())
        if boundaries is not None:
            if districts or police_force is not None:
                raise InvalidInput("give one of --districts, --police-force and --boundaries")
            if not boundaries.is_file():
                raise InvalidInput(f"{boundaries}: no such boundary file")
            area = service.add_area_from_file(
                boundaries.read_bytes(),
                boundaries.name,
                name,
                title=title,
                population_csv=population.read_bytes() if population is not None else None,
            )
        else:
            if population is not None:
                raise InvalidInput("--population goes with --boundaries FILE")
            names = [d.strip() for d in (districts or "").split(",") if d.strip()]
            area = service.add_area(name, title=title, districts=names, police_force=police_force)
        service.security.audit("cli", "admin", "area created", area.name, {"kind": area.kind, **area.spec})
    except HotspotError as exc:
        _fail(exc)
        return
    _print_area(area.describe())


@areas_app.command("list")
def areas_list() -> None:
    """List the areas: the shipped demo and the stored ones."""
    from hotspots.settings import Settings

    table = Table(title="Areas")
    for col in ("name", "title", "kind", "districts", "wards", "km2"):
        table.add_column(col)
    for a in _service(Settings()).areas():
        d = a.describe()
        table.add_row(
            d["name"],
            d["title"],
            d["kind"],
            str(len(d["districts"])),
            str(d["wards"]),
            f"{d['area_km2']:,.0f}",
        )
    Console().print(table)


@areas_app.command("show")
def areas_show(name: Annotated[str, typer.Argument(help="Name of the area")]) -> None:
    """An area's districts, wards, boundary sets and population."""
    from hotspots.settings import Settings

    try:
        described = _service(Settings()).area(name).describe()
    except HotspotError as exc:
        _fail(exc)
        return
    _print_area(described)


@areas_app.command("delete")
def areas_delete(name: Annotated[str, typer.Argument(help="Name of a stored area")]) -> None:
    """Forget a stored area (its datasets stay; logged in the audit log)."""
    from hotspots.settings import Settings

    try:
        service = _service(Settings())
        record = service.delete_area(name)
        service.security.audit("cli", "admin", "area deleted", record.name, {"kind": record.kind})
    except HotspotError as exc:
        _fail(exc)
        return
    console.print(f"Deleted area {record.name}")


def _print_area(d: dict[str, Any]) -> None:
    districts = ", ".join(f"{x['name']} ({x['code']})" for x in d["districts"])
    population = "with" if d["has_population"] else "without"
    Console().print(
        f"{d['name']}: {d['title']} ({d['kind']}); {len(d['districts'])} district(s): {districts}; "
        f"{d['wards']} wards, {d['area_km2']:,.0f} km2, {population} ward population",
        highlight=False,
        soft_wrap=True,
    )


@app.command("delete")
def delete_cmd(ref: Annotated[str, typer.Argument(help="name (every version) or name@version")]) -> None:
    """Delete a dataset version, or every version of a dataset (logged in the audit log)."""
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

    try:
        service = HotspotService(Settings())
        gone = service.delete_dataset(ref)
        for v in gone:
            service.security.audit("cli", "admin", "dataset deleted", v.ref, {"rows": v.rows})
    except HotspotError as exc:
        _fail(exc)
        return
    console.print(f"Deleted {', '.join(v.ref for v in gone)}")


@app.command("purge")
def purge_cmd() -> None:
    """Delete every dataset past the retention date of its data-sharing agreement (logged).

    Run it daily, e.g. from cron: ``0 2 * * * hotspots purge``.
    """
    from hotspots.service import HotspotService
    from hotspots.settings import Settings

    try:
        gone = HotspotService(Settings()).purge_expired()
    except HotspotError as exc:
        _fail(exc)
        return
    console.print(
        f"Purged {', '.join(v.ref for v in gone)}" if gone else "Nothing is past its retention date."
    )


@app.command("datasets")
def datasets_cmd() -> None:
    """List the stored dataset versions."""
    from hotspots.settings import Settings
    from hotspots.store import Store

    settings = Settings()
    table = Table(title=f"Datasets in {settings.data_dir}")
    for col in ("dataset", "rows", "months", "stored"):
        table.add_column(col)
    for d in Store(settings.data_dir, settings.sqlalchemy_url).list_datasets():
        months = d.report.get("months") or ["?"]
        table.add_row(
            d.ref, str(d.rows), f"{months[0]} to {months[-1]}", d.created_at.strftime("%Y-%m-%d %H:%M")
        )
    Console().print(table)


@app.command("serve")
def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Run the web service on the data directory (loads the shipped sample data on first start)."""
    import uvicorn

    from hotspots.api.app import create_app
    from hotspots.settings import Settings

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    app_ = create_app(settings, seed_in_background=True)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    access = (
        "API keys required (HOTSPOTS_AUTH_REQUIRED=true)"
        if settings.auth_required
        else "demo mode: anonymous callers get viewer access; set HOTSPOTS_AUTH_REQUIRED=true in production"
    )
    console.print(
        f"[bold green]hotspots[/] serving data from {settings.data_dir.resolve()}\n"
        f"  Access: {access}\n"
        f"  App:  http://{shown}:{port}/app\n"
        f"  Map:  http://{shown}:{port}/maps/hotspots\n"
        f"  API:  http://{shown}:{port}/docs",
        highlight=False,
    )
    uvicorn.run(app_, host=host, port=port, log_level="info")


def _register_extras() -> None:
    """Commands kept in their own modules (imported lazily, so ``--help`` stays fast)."""
    from hotspots.cli_interventions import register

    register(app, sys.modules[__name__])


_register_extras()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
