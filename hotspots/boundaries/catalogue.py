"""The national catalogue: every district and police force area of England and Wales, with wards.

Shipped in the package (``hotspots/boundaries/data/national_*.parquet``, built by
``scripts/build_package_data.py`` from ONS open data, OGL v3.0; see ``hotspots/PROVENANCE.md``):

- 7,665 wards as of May 2022 (ONS super-generalised "BSC" boundaries, about 200 m
  generalisation), each with its May 2022 and December 2024 local authority district and its
  Census 2021 usual residents;
- 335 districts: the 331 of May 2022 and the 4 unitary authorities made in April 2023
  (Cumberland, Westmorland and Furness, North Yorkshire, Somerset), with the police force area
  each lies in (the 17 districts they replaced stay resolvable, flagged as former);
- the 43 police force areas (39 English ``E23``, 4 Welsh ``W15``), December 2023.

All geometry is British National Grid (EPSG:27700), metres, vertices on a 1 m grid.

Typical use::

    from hotspots.boundaries.catalogue import boundary_set, resolve_force

    bset = boundary_set(["Basildon", "Castle Point"])
    essex = boundary_set([d.code for d in resolve_force("Essex Police").districts])

The tables are read once, on first use, by whichever thread gets there first; later calls
share them. Treat the frames handed out as read-only (copies are made where they are changed).
"""

from __future__ import annotations

import difflib
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from hotspots.boundaries.model import BoundarySet, boroughs_from_wards
from hotspots.crs import BNG
from hotspots.errors import InvalidInput, RowError

DATA = resources.files("hotspots.boundaries") / "data"
WARDS_FILE = "national_wards_2022.parquet"
DISTRICTS_FILE = "national_districts.parquet"
FORCES_FILE = "national_forces.parquet"

WARDS_VALID_FROM = "2022-05"
"""First month the catalogue's wards were in force (the May 2022 local elections)."""

GENERALISED_SHORE_M = 200.0
"""The ward outlines are ONS "super generalised" (about 200 m): coastal incidents within this
distance of a ward, and in no other district, are joined to the nearest ward."""
SOURCE = (
    "ONS Wards (May 2022) Boundaries UK BSC and Local Authority Districts (May 2022) BSC, "
    "with ONS ward-to-district (2022, 2024) and district-to-police-force-area (2023) lookups. "
    "Contains OS data © Crown copyright and database right 2022-2024. OGL v3.0"
)
POPULATION_SOURCE = (
    "Census 2021 usual residents (ONS), 2021 LSOA counts summed to each May 2022 ward through the "
    "LSOA's population-weighted centroid (best fit); unknown (null) for the 44 wards holding no "
    "centroid (21 City of London wards, the off-islands of Scilly, 19 small rural wards). OGL v3.0"
)
NOTES = [
    "Wards as of May 2022: ward reviews from May 2023 on are not reflected.",
    "ONS super-generalised boundaries (about 200 m): fine for maps and district totals; "
    "points within about 100 m of a ward edge may fall in the neighbouring ward.",
]

_CODE = re.compile(r"^[EW]\d{8}$")
_DISTRICT_PREFIXES = ("E06", "E07", "E08", "E09", "W06")
_FORCE_PREFIXES = ("E23", "W15")
_FORCE_WORDS = {"police", "constabulary", "service", "force", "area", "the", "heddlu"}
_FORCE_ALIASES = {
    # alias key -> force code. Keys are in _key() form, after _FORCE_WORDS are dropped.
    "met": "E23000001",
    "mps": "E23000001",
    "metropolitan": "E23000001",
    "city of london": "E23000034",
    "hampshire and isle of wight": "E23000030",
    "devon cornwall": "E23000035",
    "avon somerset": "E23000036",
}
_DISTRICT_ALIASES = {"hull": "E06000010", "bcp": "E06000058"}


@dataclass(frozen=True)
class District:
    """A local authority district (``E06`` unitary, ``E07`` non-metropolitan, ``E08``
    metropolitan, ``E09`` London borough, ``W06`` Welsh principal area).

    Attributes
    ----------
    code, name:
        ONS GSS code and name.
    force_code, force_name:
        The police force area holding (nearly all of) the district.
    current:
        True for the districts of December 2024; False for the 17 abolished in April 2023.
    successor:
        The December 2024 district holding this district's wards (its own code when current).
    wards:
        Number of May 2022 wards.
    population:
        Census 2021 usual residents of those wards (wards of unknown population count as 0).
    """

    code: str
    name: str
    force_code: str
    force_name: str
    current: bool
    successor: str
    wards: int
    population: int


@dataclass(frozen=True)
class Force:
    """A police force area (``E23``/``W15`` code) and its current districts."""

    code: str
    name: str
    districts: tuple[District, ...]


@dataclass(frozen=True)
class _Tables:
    wards: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    forces: pd.DataFrame
    by_code: dict[str, District]
    forces_by_code: dict[str, Force]
    district_keys: dict[str, str]
    force_keys: dict[str, str]


def _key(text: str) -> str:
    """A name folded for matching: case, accents, ``&``, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _force_key(text: str) -> str:
    words = [w for w in _key(text).split() if w not in _FORCE_WORDS]
    return " ".join(words)


def _district_name_keys(name: str) -> list[str]:
    """``"Bristol, City of"`` is also ``"City of Bristol"`` and ``"Bristol"``."""
    keys = [_key(name)]
    head, sep, tail = name.rpartition(", ")
    if sep and tail.casefold() in ("city of", "county of"):
        keys += [_key(f"{tail} {head}"), _key(head)]
    return keys


def _force_name_keys(name: str) -> list[str]:
    keys = [_force_key(name)]
    head, sep, tail = name.rpartition(", ")
    if sep:
        keys.append(_force_key(f"{tail} {head}"))  # "London, City of" -> "city of london"
    return keys


class Catalogue:
    """The national ward and district catalogue, read lazily from GeoParquet files.

    Parameters
    ----------
    data_dir:
        Folder holding the three ``national_*.parquet`` files; default: the copy shipped in
        the package.
    """

    def __init__(self, data_dir: Path | Traversable | None = None) -> None:
        self._dir = DATA if data_dir is None else data_dir
        self._lock = threading.Lock()
        self._tables: _Tables | None = None

    # -- loading ---------------------------------------------------------------------------------

    def _get(self) -> _Tables:
        tables = self._tables
        if tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = self._load()
                tables = self._tables
        return tables

    def _read(self, name: str) -> pd.DataFrame:
        with resources.as_file(self._dir / name) as path:
            if name == FORCES_FILE:
                return pd.read_parquet(path)
            return gpd.read_parquet(path)

    def _load(self) -> _Tables:
        wards = self._read(WARDS_FILE)
        districts = self._read(DISTRICTS_FILE)
        forces = self._read(FORCES_FILE)
        assert isinstance(wards, gpd.GeoDataFrame) and isinstance(districts, gpd.GeoDataFrame)
        if wards.crs is None or wards.crs.to_epsg() != BNG:
            raise ValueError(f"{WARDS_FILE} must be in EPSG:27700")
        pop = wards["population"].fillna(0)
        n22, n24 = wards.groupby("lad22_code").size(), wards.groupby("lad24_code").size()
        p22, p24 = pop.groupby(wards["lad22_code"]).sum(), pop.groupby(wards["lad24_code"]).sum()
        by_code: dict[str, District] = {}
        for row in districts.itertuples(index=False):
            counts, pops = (n22, p22) if row.in_2022 else (n24, p24)
            by_code[row.code] = District(
                code=str(row.code),
                name=str(row.name),
                force_code=str(row.force_code),
                force_name=str(row.force_name),
                current=bool(row.in_2024),
                successor=str(row.successor),
                wards=int(counts.get(row.code, 0)),
                population=int(pops.get(row.code, 0)),
            )
        forces_by_code = {
            str(code): Force(
                str(code),
                str(name),
                tuple(d for d in by_code.values() if d.current and d.force_code == code),
            )
            for code, name in zip(forces["code"], forces["name"], strict=True)
        }
        district_keys: dict[str, str] = {}
        for d in by_code.values():
            for k in _district_name_keys(d.name):
                district_keys.setdefault(k, d.code)
        for alias, code in _DISTRICT_ALIASES.items():
            district_keys.setdefault(alias, code)
        force_keys: dict[str, str] = {}
        for f in forces_by_code.values():
            for k in _force_name_keys(f.name):
                force_keys.setdefault(k, f.code)
        for alias, code in _FORCE_ALIASES.items():
            force_keys.setdefault(alias, code)
        return _Tables(wards, districts, forces, by_code, forces_by_code, district_keys, force_keys)

    # -- tables ----------------------------------------------------------------------------------

    def districts(self, include_former: bool = True) -> pd.DataFrame:
        """One row per district: ``code``, ``name``, ``force_code``, ``force_name``, ``current``,
        ``successor``, ``wards`` (count) and ``population`` (Census 2021 usual residents).

        ``include_former=False`` leaves out the 17 districts abolished in April 2023.
        """
        rows = [d for d in self._get().by_code.values() if include_former or d.current]
        return pd.DataFrame([vars(d) for d in rows]).reset_index(drop=True)

    def forces(self) -> pd.DataFrame:
        """One row per police force area: ``code`` (E23/W15), ``name``, ``districts`` (count)."""
        return pd.DataFrame(
            [
                {"code": f.code, "name": f.name, "districts": len(f.districts)}
                for f in self._get().forces_by_code.values()
            ]
        )

    def district_outlines(self) -> gpd.GeoDataFrame:
        """District polygons (EPSG:27700): ONS May 2022 BSC; the 2023 unitaries dissolved from
        the districts they replaced. Columns as the districts file: ``code``, ``name``,
        ``in_2022``, ``in_2024``, ``successor``, ``force_code``, ``force_name``, ``share``."""
        return self._get().districts.copy()

    @property
    def wards(self) -> gpd.GeoDataFrame:
        """All 7,665 wards (read-only): ``ward_code``, ``ward_name``, ``lad22_code``,
        ``lad24_code``, ``population`` (nullable integer), ``geometry`` (EPSG:27700)."""
        return self._get().wards

    # -- look-ups --------------------------------------------------------------------------------

    def district(self, name_or_code: str) -> District:
        """One district by GSS code or name (see :meth:`resolve_districts`)."""
        return self.resolve_districts([name_or_code])[0]

    def resolve_districts(self, names_or_codes: Sequence[str]) -> list[District]:
        """Districts by GSS code (``E06``/``E07``/``E08``/``E09``/``W06``) or by name.

        Names are matched ignoring case, accents, punctuation and ``&``/``and``
        (``"castle point"``, ``"Southend on Sea"``, ``"Bristol"`` for ``"Bristol, City of"``).
        Repeats are dropped; the order is kept.

        Raises
        ------
        InvalidInput
            If any entry is unknown (all are listed, each with the closest names), or none given.
        """
        if isinstance(names_or_codes, str):
            names_or_codes = [names_or_codes]
        tables = self._get()
        found: list[District] = []
        errors: list[RowError] = []
        for item in names_or_codes:
            text = str(item).strip()
            code = text.upper() if _CODE.match(text.upper()) else tables.district_keys.get(_key(text))
            district = tables.by_code.get(code) if code else None
            if district is None:
                errors.append(RowError(None, None, self._unknown_district(text), text))
            elif district not in found:
                found.append(district)
        if errors:
            raise InvalidInput("; ".join(e.message for e in errors), errors=errors, total_errors=len(errors))
        if not found:
            raise InvalidInput("no district given")
        return found

    def _unknown_district(self, text: str) -> str:
        tables = self._get()
        if _CODE.match(text.upper()):
            if text.upper().startswith(_FORCE_PREFIXES):
                return f"{text!r} is a police force area code, not a district (use the force's districts)"
            prefixes = ", ".join(_DISTRICT_PREFIXES)
            return f"unknown district code {text!r} (district codes start {prefixes})"
        force = tables.force_keys.get(_force_key(text))
        if force is not None:
            name = tables.forces_by_code[force].name
            return f"{text!r} is a police force area ({name}, {force}), not a district: use its districts"
        names = {d.name: d for d in tables.by_code.values()}
        close = _close(text, {_key(n): n for n in names}, _key)
        hint = f"; did you mean {_or_list(close)}?" if close else ""
        return f"unknown district {text!r}{hint}"

    def resolve_force(self, name_or_code: str) -> Force:
        """A police force area by code (``E23000028``) or name.

        Accepts the force's formal names and the bare place: ``"Essex"``, ``"Essex Police"``,
        ``"Metropolitan Police Service"``, ``"Met"``, ``"Thames Valley"``, ``"Devon and Cornwall
        Police"``, ``"City of London Police"``, ``"Avon and Somerset Constabulary"``.

        Raises
        ------
        InvalidInput
            For an unknown force, listing the closest names.
        """
        tables = self._get()
        text = str(name_or_code).strip()
        code = text.upper() if _CODE.match(text.upper()) else tables.force_keys.get(_force_key(text))
        force = tables.forces_by_code.get(code) if code else None
        if force is None:
            names = [f.name for f in tables.forces_by_code.values()]
            close = _close(text, {_force_key(n): n for n in names}, _force_key)
            hint = f"; did you mean {_or_list(close)}?" if close else ""
            raise InvalidInput(f"unknown police force area {text!r}{hint}")
        return force

    # -- boundary sets ---------------------------------------------------------------------------

    def boundary_set(
        self, district_codes: Sequence[str], name: str | None = None, title: str | None = None
    ) -> BoundarySet:
        """The May 2022 wards of the given districts as a :class:`BoundarySet` (EPSG:27700).

        ``district_codes`` takes anything :meth:`resolve_districts` accepts. A former district
        (abolished in 2023) gives its own wards; a current one the wards that lie in it since
        2023. Each ward's ``borough_code``/``borough_name`` is the requested district;
        ``population`` is Census 2021 usual residents (float, NaN where unknown). The boroughs
        are dissolved from the wards, so they nest exactly.

        Raises
        ------
        InvalidInput
            For unknown districts, or a district given together with the one that replaced it.
        """
        chosen = self.resolve_districts(district_codes)
        codes = {d.code for d in chosen}
        clash = [d for d in chosen if not d.current and d.successor in codes]
        if clash:
            raise InvalidInput(
                "these districts overlap: "
                + ", ".join(
                    f"{d.name} ({d.code}) is part of {self._get().by_code[d.successor].name}" for d in clash
                )
            )
        wards_all = self._get().wards
        parts = []
        for d in chosen:
            column = "lad22_code" if not d.current else "lad24_code"
            part = wards_all[wards_all[column] == d.code]
            parts.append(part.assign(borough_code=d.code, borough_name=d.name))
        wards = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=BNG)
        wards["population"] = wards["population"].astype("Float64").astype(float)
        wards = wards[["ward_code", "ward_name", "borough_code", "borough_name", "population", "geometry"]]
        names = [d.name for d in chosen]
        return BoundarySet(
            name=name or _slug(names),
            title=title or f"Wards (May 2022) of {_and_list(names)}",
            wards=wards,
            boroughs=boroughs_from_wards(wards),
            valid_from=WARDS_VALID_FROM,
            valid_to=None,
            approximate=False,
            source=SOURCE,
            shipped=True,
            shore_m=GENERALISED_SHORE_M,
            notes=list(NOTES),
            population_source=POPULATION_SOURCE,
        )

    def force_boundary_set(self, name_or_code: str) -> BoundarySet:
        """The wards of a whole police force area's current districts (see :meth:`boundary_set`)."""
        force = self.resolve_force(name_or_code)
        return self.boundary_set(
            [d.code for d in force.districts],
            name=f"force-{_slug([force.name], prefix='')}",
            title=f"{force.name} police force area: wards (May 2022)",
        )


def _close(text: str, keyed: dict[str, str], fold: Callable[[str], str]) -> list[str]:
    """Display names whose folded form contains, or is close to, the folded ``text``."""
    k = fold(text)
    if not k:
        return []
    contains = sorted(
        (name for key, name in keyed.items() if k in key or (len(key) > 3 and key in k)), key=len
    )
    fuzzy = [keyed[m] for m in difflib.get_close_matches(k, list(keyed), n=5, cutoff=0.7)]
    return list(dict.fromkeys(contains + fuzzy))[:5]


def _or_list(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _and_list(names: list[str]) -> str:
    if len(names) > 4:
        return f"{', '.join(names[:3])} and {len(names) - 3} more districts"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _slug(names: list[str], prefix: str = "catalogue-") -> str:
    parts = [re.sub(r"[^a-z0-9]+", "-", _key(n)).strip("-") for n in names]
    body = "-".join(parts) if len(parts) <= 3 else f"{parts[0]}-and-{len(parts) - 1}-more"
    return prefix + body[:80].strip("-")


_DEFAULT: Catalogue | None = None
_DEFAULT_LOCK = threading.Lock()


def national_catalogue() -> Catalogue:
    """The shared catalogue read from the package data (created once, thread-safe)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = Catalogue()
    return _DEFAULT


def districts(include_former: bool = True) -> pd.DataFrame:
    """See :meth:`Catalogue.districts` (shared catalogue)."""
    return national_catalogue().districts(include_former)


def forces() -> pd.DataFrame:
    """See :meth:`Catalogue.forces` (shared catalogue)."""
    return national_catalogue().forces()


def resolve_districts(names_or_codes: Sequence[str]) -> list[District]:
    """See :meth:`Catalogue.resolve_districts` (shared catalogue)."""
    return national_catalogue().resolve_districts(names_or_codes)


def resolve_force(name_or_code: str) -> Force:
    """See :meth:`Catalogue.resolve_force` (shared catalogue)."""
    return national_catalogue().resolve_force(name_or_code)


def boundary_set(
    district_codes: Sequence[str], name: str | None = None, title: str | None = None
) -> BoundarySet:
    """See :meth:`Catalogue.boundary_set` (shared catalogue)."""
    return national_catalogue().boundary_set(district_codes, name=name, title=title)


def force_boundary_set(name_or_code: str) -> BoundarySet:
    """See :meth:`Catalogue.force_boundary_set` (shared catalogue)."""
    return national_catalogue().force_boundary_set(name_or_code)
