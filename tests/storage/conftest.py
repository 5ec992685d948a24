"""Storage tests run every contract against both stores: a local folder and a real S3 server."""

from __future__ import annotations

import pytest
from fixtures.crash_writer import committed_sample_ids, write_tasks

from foundry.storage.s3 import S3Store
from foundry.storage.uri import LocalStore


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """An empty store of each kind; the S3 one finds its keys through boto3's credential chain (environment)."""
    if request.param == "local":
        return LocalStore(tmp_path / "out")
    server = request.getfixturevalue("s3_server")
    return S3Store(request.getfixturevalue("s3_uri"), endpoint_url=server.endpoint_url)


@pytest.fixture(scope="session")
def reference_ids(tmp_path_factory) -> set[str]:
    """Sample ids of an uninterrupted run: what every interrupted-then-resumed run must end up with."""
    store = LocalStore(tmp_path_factory.mktemp("uninterrupted"))
    write_tasks(store)
    return set(committed_sample_ids(store))
