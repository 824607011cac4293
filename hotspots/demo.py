"""The shipped demo: the east London tri-borough area and its sample datasets.

This module (with :mod:`hotspots.boundaries.shipped`, which builds the demo's boundary
sets) is the one place that names the tri-borough: every other step follows whatever area a
dataset belongs to. ``make run`` serves the demo; a partnership makes its own area from the
national catalogue or a boundary file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from hotspots.boundaries import shipped_boundary_sets
from hotspots.boundaries.area import Area
from hotspots.geo.inputs.ingest import ColumnMapping, Source
from hotspots.store.sharing import Sharing

DEMO_AREA = "tri-borough"
"""Name of the shipped demo area, the default of ``make run``."""


@dataclass(frozen=True)
class SampleDataset:
    name: str
    filename: str
    mapping: ColumnMapping | None
    note: str = ""
    """What the file covers and lacks beyond what its report says (districts, dropped categories)."""


SAMPLES = [
    SampleDataset(
        "tri-borough-2018-2020",
        "police_api_points_tri_borough_2018-02_to_2020-12.csv.gz",
        ColumnMapping(longitude="Longitude", latitude="Latitude", month="Month", category="Crime type"),
        "all three boroughs; no violence and sexual offences, no anti-social behaviour (not in the source)",
    ),
    SampleDataset(
        "bd-2023-01",
        "2023-01-metropolitan-street_barking-and-dagenham.csv.gz",
        None,
        "Barking and Dagenham only; one month (a police.uk street file)",
    ),
    SampleDataset(
        "tri-borough-2022",
        "police_uk_tri_borough_2022-01_to_2022-09.csv.gz",
        ColumnMapping(
            longitude="longitude",
            latitude="latitude",
            month="month",
            category="crime_type",
            location="location_type",
        ),  # fmt: skip
        "all three boroughs; no anti-social behaviour (dropped by the source); coordinates rounded "
        "to 4 decimal places (7-11 m)",
    ),
    SampleDataset(
        "bd-havering-2016-2018",
        "police_api_bd_havering_2016-01_to_2018-06.csv.gz",
        ColumnMapping(
            longitude="longitude",
            latitude="latitude",
            month="month",
            category="crime_type",
            id="api_id",
            location="location",
        ),  # fmt: skip
        "Barking and Dagenham and Havering only (no Redbridge); Barking and Dagenham has no 2016-04 "
        "and Havering no 2016-03",
    ),
]
DEFAULT_DATASET = SAMPLES[0].name
"""The API's default dataset (``/hotspots`` etc. without ``dataset=``)."""
SAMPLE_NOTES = {s.name: s.note for s in SAMPLES if s.note}
APP_CATEGORY = "Violence and sexual offences"
"""The app page opens on the newest dataset that holds this category (see ``app_default``)."""
SERVE_FIRST = (DEFAULT_DATASET, "tri-borough-2022")
"""Samples ``hotspots serve`` loads before it answers on a first start: the API's default and
the one the app page opens on (``app_default`` picks it from these alone, as from all four). The
others load in the background just after, and appear in the dataset list when stored."""
SAMPLE_SHARING = Sharing(
    owner="Metropolitan Police Service (published by data.police.uk)",
    source_type="police",
    purpose="Shipped sample: open data under the Open Government Licence v3.0",
    agreement="OGL v3.0 (open data, no data-sharing agreement needed)",
)


def demo_area() -> Area:
    """The demo area: the tri-borough wards of 2018 and 2022 (EPSG:27700)."""
    shipped = tuple(shipped_boundary_sets().values())
    return Area(
        DEMO_AREA,
        "Barking and Dagenham, Havering and Redbridge (shipped demo)",
        shipped,
        "demo",
        {"boundary_sets": [s.name for s in shipped]},
        token="shipped",
    )


def sample_source(filename: str) -> Source:
    """A shipped sample file as an ingest source."""
    with resources.as_file(resources.files("hotspots") / "sample_data" / filename) as path:
        return Source.from_path(path)
