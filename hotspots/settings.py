"""The service's one settings object, read from ``HOTSPOTS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings for the service and the CLI.

    Every field can be set with an environment variable ``HOTSPOTS_<FIELD>``,
    e.g. ``HOTSPOTS_DATA_DIR=/srv/hotspots`` or ``HOTSPOTS_TILES=none``.
    """

    model_config = SettingsConfigDict(env_prefix="HOTSPOTS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Directory holding the embedded store: GeoParquet datasets and the SQLite DB.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL for metadata; default is SQLite inside data_dir.",
    )
    seed_sample_data: bool = Field(
        default=True, description="Load the shipped demo area's sample datasets into an empty store."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: float = Field(
        default=200.0,
        gt=0,
        description="Largest accepted upload (MiB): the request body, all its files together, "
        "and each file after decompression.",
    )
    max_file_mb: float = Field(
        default=4096.0,
        gt=0,
        description="Largest file the CLI reads (MiB, after decompression of a .gz): 'hotspots analyse' "
        "works on local files, so its limit is more generous than an upload's.",
    )
    max_boundary_upload_mb: float = Field(
        default=20.0,
        gt=0,
        description="Largest accepted boundary file (MiB); a zipped Shapefile may expand to 8 times this.",
    )
    max_boundary_features: int = Field(
        default=10_000,
        ge=1,
        description="Most wards in one boundary file (England and Wales have about 7,700 wards).",
    )
    max_outside_km: float = Field(
        default=5.0,
        ge=0,
        description="With outside=exclude (or reject), incidents further than this (km) outside the area "
        "are left out (or refused); by default they are kept and flagged outside_area.",
    )
    max_reported_errors: int = Field(default=100, ge=1, description="Row errors listed per report.")
    tiles: str = Field(
        default="openstreetmap",
        description="Base map: 'openstreetmap', 'none' (offline), or an XYZ URL template.",
    )
    tiles_attribution: str | None = Field(default=None, description="Attribution text for a custom tile URL.")
    auth_required: bool = Field(
        default=False,
        description="Production: every route but /healthz and the docs needs an API key. "
        "False (the demo default) lets anonymous callers in as 'viewer', and says so at start-up.",
    )
    disclosure_k: int = Field(
        default=5,
        ge=1,
        description="Viewers and councils see no count from 1 to k-1: cell key perturbation with "
        "small-cell suppression (see hotspots.geo.disclosure).",
    )
    disclosure_secret: SecretStr | None = Field(
        default=None,
        description="Secret behind the records' fixed disclosure keys; unset: a random one kept in "
        "DATA_DIR/disclosure.key (created on first use). Changing it changes every perturbed count.",
    )
    cache_size: int = Field(default=64, ge=1, description="Analysis results kept in memory.")
    max_concurrent_analyses: int = Field(
        default=2,
        ge=1,
        description="Uncached analyses (analysis, emerging, evaluation, comparison) computed at once; "
        "others wait, cached results never do. About one per core.",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address for the distributed path, e.g. tcp://host:8786; "
        "unset: a local cluster on this machine (loopback only).",
    )
    dask_workers: int | None = Field(
        default=None, ge=1, description="Worker processes of the local Dask cluster (default: one per core)."
    )
    harm_weights_file: Path | None = Field(
        default=None,
        description="CSV or JSON table of harm weight per crime type; default: the ONS CSS-based table.",
    )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_boundary_upload_bytes(self) -> int:
        return int(self.max_boundary_upload_mb * 1024 * 1024)

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hotspots.db'}"
