"""Packaging a campaign for Ray Jobs (no cluster needed); the real submission runs in tests/e2e/test_cluster.py."""

from __future__ import annotations

import json

import pytest
import yaml

from foundry.cluster.submit import CONFIG_NAME, JobInputError, dashboard_address, package
from foundry.config import load_config


def write_campaign(tmp_path, source: str = "data/tasks.jsonl") -> tuple:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tasks.jsonl").write_text(json.dumps({"id": "a", "prompt": "1+1?", "answer": "2"}) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "pkg", "source": {"path": source}, "output": {"path": "s3://b/p"},
                                      "verifiers": [{"kind": "length", "max_tokens": 8}]}))
    return config, tmp_path / "job"


def test_package_is_self_contained_with_overrides_applied(tmp_path):
    config, workdir = write_campaign(tmp_path)
    workdir.mkdir()
    campaign = package(config, ["sampling.n=4"], workdir)
    shipped = yaml.safe_load((workdir / CONFIG_NAME).read_text())
    assert shipped["source"]["path"] == "data/tasks.jsonl"
    assert (workdir / "data" / "tasks.jsonl").read_text() == (tmp_path / "data" / "tasks.jsonl").read_text()
    assert shipped["sampling"]["n"] == 4 and campaign.sampling.n == 4
    assert shipped["output"]["path"] == "s3://b/p"
    again = load_config(workdir / CONFIG_NAME)  # what the job will load, from its own working dir
    assert again.sampling == campaign.sampling and again.verifiers == campaign.verifiers
    assert again.source.path == str((workdir / "data" / "tasks.jsonl").resolve())


def test_hub_dataset_names_stay_names(tmp_path):
    config, workdir = write_campaign(tmp_path, source="openai/gsm8k")
    workdir.mkdir()
    package(config, ["source.format=hf"], workdir)
    assert yaml.safe_load((workdir / CONFIG_NAME).read_text())["source"]["path"] == "openai/gsm8k"
    assert not (workdir / "data").exists()


def test_address_from_option_or_environment(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    with pytest.raises(JobInputError, match="--address"):
        dashboard_address(None)
    assert dashboard_address("head:8265") == "http://head:8265"
    monkeypatch.setenv("RAY_ADDRESS", "https://head:443")
    assert dashboard_address(None) == "https://head:443"
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://api:8265")
    assert dashboard_address(None) == "http://api:8265"
    assert dashboard_address("http://opt:1") == "http://opt:1"
