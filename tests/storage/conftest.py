"""Storage tests run every contract against both stores: a local folder and a real S3 server."""

from __future__ import annotations

import pytest

from foundry.storage.s3 import S3Store
from foundry.storage.uri import LocalStore


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """An empty store of each kind; the S3 one finds its keys through boto3's credential chain (environment)."""
    if request.param == "local":
        return LocalStore(tmp_path / "out")
    server = request.getfixturevalue("s3_server")
    return S3Store(request.getfixturevalue("s3_uri"), endpoint_url=server.endpoint_url)
