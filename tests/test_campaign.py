"""Campaign guards that act before any engine or Ray starts."""

from __future__ import annotations

import pytest

from foundry.campaign import Campaign, OutputExists
from foundry.config import CampaignConfig
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import LocalStore


def config(tmp_path) -> CampaignConfig:
    source = tmp_path / "tasks.jsonl"
    source.write_text('{"id": "a", "prompt": "hi"}\n')
    return CampaignConfig(name="guard", source={"path": str(source)}, output={"path": str(tmp_path / "out")})


@pytest.mark.parametrize("existing", ["data/train-00000-of-00001.parquet", "manifest.json"])
def test_a_non_empty_output_is_refused_without_resume(tmp_path, existing):
    target = tmp_path / "out" / existing
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    with pytest.raises(OutputExists, match="--resume"):
        Campaign(config(tmp_path)).run()
    assert target.read_text() == "{}"


def test_recovery_never_deletes_files_it_could_not_have_written(tmp_path):
    store = LocalStore(tmp_path)
    store.put("data/train-00000-of-00001.parquet", b"user data")
    store.put("data/accepted-00007.parquet", b"orphan shard of ours")
    with ShardWriter(store):
        pass
    assert store.get("data/train-00000-of-00001.parquet") == b"user data"
    assert store.get("data/accepted-00007.parquet") is None
