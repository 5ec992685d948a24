"""A real campaign writing to a real S3 server (SeaweedFS): shards, commits and manifest through boto3."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
from fixtures.engine import campaign_yaml

from foundry.campaign import Campaign
from foundry.config import load_config
from foundry.storage.uri import open_store

pytestmark = pytest.mark.e2e


def test_campaign_to_s3_then_resume_is_a_no_op(replica_pool, s3_server, s3_uri, tmp_path):
    path = campaign_yaml(tmp_path, output__path=s3_uri, output__endpoint_url=s3_server.endpoint_url,
                         output__shard_max_rows=5)
    config = load_config(path)
    manifest = Campaign(config, replicas=replica_pool).run()
    store = open_store(s3_uri, endpoint_url=s3_server.endpoint_url)
    ids = []
    for shard in (s for s in manifest.shards if s.split in ("accepted", "rejected")):  # not data/tasks-*
        table = pq.read_table(io.BytesIO(store.get(shard.path)))
        assert table.num_rows == shard.rows
        ids += table.column("id").to_pylist()
    assert manifest.accepted > 0 and manifest.rejected > 0
    assert len(ids) == len(set(ids)) == manifest.samples
    assert not store.list("_foundry/staging/")
    raw = store.get("manifest.json").decode()
    assert s3_server.secret_key not in raw and s3_server.access_key not in raw

    again = Campaign(config, resume=True, replicas=replica_pool).run()
    assert again.samples == manifest.samples and again.shards == manifest.shards
    assert again.runs[-1].tasks_resumed == 16 and again.runs[-1].samples == 0
    assert json.loads(store.get("manifest.json"))["commits"] == manifest.commits
