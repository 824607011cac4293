"""The PostgreSQL option: the metadata, key and audit tests again, on a real PostgreSQL server.

Selected by ``HOTSPOTS_DATABASE_URL``; the test server is started by the ``postgres`` fixture.
The tests imported below are collected again here, with their client fixtures overridden to use
PostgreSQL instead of SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hotspots.api.app import create_app
from hotspots.settings import Settings
from tests.pg import new_database
from tests.test_auth import (  # noqa: F401
    test_healthz_and_docs_are_open,
    test_no_key_is_401,
    test_no_viewer_output_has_a_count_below_k,
    test_revoked_key_is_refused,
    test_roles,
    test_upload_needs_admin_and_is_audited,
)
from tests.test_partners import (  # noqa: F401
    test_combined_analysis_says_which_sources_it_used,
    test_delete_is_admin_only_and_logged,
    test_sharing_record_is_stored_and_listed,
    upload_ae,
)


@pytest.fixture(scope="module")
def keys(
    postgres: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    url = new_database(postgres)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("pg-auth") / "var",
        database_url=url,
        tiles="none",
        auth_required=True,
    )
    with TestClient(create_app(settings)) as client:
        assert client.app.state.service.store.engine.dialect.name == "postgresql"  # type: ignore[attr-defined]
        security = client.app.state.service.security  # type: ignore[attr-defined]
        headers = {}
        for role in ("viewer", "police", "council", "admin"):
            _, secret = security.create_key(f"test-{role}", role)
            headers[role] = {"X-API-Key": secret}
        yield client, headers


@pytest.fixture(scope="module")
def client(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = new_database(postgres)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("pg-partners") / "var", database_url=url, tiles="none"
    )
    with TestClient(create_app(settings)) as c:
        _, secret = c.app.state.service.security.create_key("dm", "admin")  # type: ignore[attr-defined]
        c.headers.update({"X-API-Key": secret})
        upload_ae(c)
        yield c


def test_racing_writers_on_postgresql(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Several engines (processes) writing one dataset at once each get a version and keep their file."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hotspots.geo.inputs.ingest import Source, read_incidents
    from hotspots.store import Store
    from tests.test_store_integrity import _csv

    url = new_database(postgres)
    data_dir = tmp_path_factory.mktemp("pg-race")
    result = read_incidents([Source("a.csv", _csv(20, 9))])
    stores = [Store(data_dir, url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def write(store: Store) -> int:
        barrier.wait()
        return store.add_dataset("race", result.incidents, result.report).version

    with ThreadPoolExecutor(len(stores)) as pool:
        assert sorted(pool.map(write, stores)) == [1, 2, 3, 4]
    assert all(v.path.is_file() for v in stores[0].list_datasets())
    for s in stores:
        s.engine.dispose()
