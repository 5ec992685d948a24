"""The dataset card from a typed manifest: one Hub config per committed split, runs with their honest state."""

from __future__ import annotations

import re

import yaml

from foundry.publish.card import dataset_card, published_shards
from foundry.storage.records import Manifest, RunRecord


def shard(split: str, seq: int, rows: int = 1) -> dict:
    return {"path": f"data/{split}-{seq:05d}.parquet", "split": split, "rows": rows, "bytes": 10, "commit": seq}


MANIFEST = Manifest(
    campaign="gates", counts={"accepted": 3, "rejected": 5, "excluded": 2, "tasks": 4},
    shards=[shard("accepted", 0, 3), shard("rejected", 0, 5), shard("excluded", 0, 2), shard("tasks", 100_000, 4)],
    runs=[RunRecord(run_id="first", started_at=1_000.0, updated_at=1_200.0, replicas=1, gpus_per_replica=1.0),
          RunRecord(run_id="second", status="finished", started_at=2_000.0, wall_seconds=50.0, replicas=1,
                    gpus_per_replica=1.0)])


def front_matter(card: str) -> dict:
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", card, re.S)[1])


def test_every_committed_split_is_its_own_config():
    card = dataset_card(MANIFEST, repo_id="org/ds")
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in front_matter(card)["configs"]}
    assert configs == {"default": "data/accepted-*.parquet", "rejected": "data/rejected-*.parquet",
                       "excluded": "data/excluded-*.parquet", "tasks": "data/tasks-*.parquet"}
    assert 'excluded = load_dataset("org/ds", "excluded", split="train")' in card
    assert "| `excluded` | 2 |" in card and "| `tasks` | 4 |" in card
    assert "3 accepted and 5 rejected of 8 samples" in card


def test_without_rejected_only_that_split_is_left_out():
    names = [c["config_name"] for c in front_matter(dataset_card(MANIFEST, include_rejected=False))["configs"]]
    assert names == ["default", "excluded", "tasks"]
    assert [s.path for s in published_shards(MANIFEST, include_rejected=False)] == [
        "data/accepted-00000.parquet", "data/excluded-00000.parquet", "data/tasks-100000.parquet"]


def test_a_killed_run_is_shown_as_killed_and_its_time_counted():
    card = dataset_card(MANIFEST)
    assert "| 0 | 1970-01-01 00:16:40 | killed | 200.0 |" in card
    assert "| 1 | 1970-01-01 00:33:20 | finished | 50.0 |" in card
    assert "| gpu seconds | 250.0 |" in card
