"""Packaging a campaign for Ray Jobs (no cluster needed); the real submission runs in tests/e2e/test_cluster.py."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from foundry.cluster.submit import (CONFIG_NAME, JobInputError, campaign_jobs, dashboard_address, failure_line,
                                    overall_status, package, status_line, submit)
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


class FakeJobs:
    """The slice of Ray's JobSubmissionClient that submit and campaign_jobs use (unit test only)."""

    def __init__(self):
        self.jobs = {}

    def submit_job(self, *, entrypoint, runtime_env, metadata, submission_id):
        self.jobs[submission_id] = SimpleNamespace(submission_id=submission_id, entrypoint=entrypoint,
                                                   metadata=metadata, start_time=len(self.jobs), status="PENDING")
        return submission_id

    def get_job_info(self, job_id):
        if job_id not in self.jobs:
            raise RuntimeError(f"Job {job_id} does not exist")
        return self.jobs[job_id]

    def list_jobs(self):
        return list(self.jobs.values())


def test_a_partitioned_campaign_is_one_job_per_partition(tmp_path):
    client = FakeJobs()
    config, workdir = write_campaign(tmp_path)
    jobs, campaign = submit(client, config, ["cluster.partitions=3"], resume=True, workdir=workdir)
    assert campaign.cluster.partitions == 3 and len(jobs) == 3
    group = jobs[0].removesuffix("-p0of3")
    assert jobs == [f"{group}-p{i}of3" for i in range(3)]
    for index, job in enumerate(jobs):
        details = client.jobs[job]
        assert details.entrypoint.endswith(f"--resume --partition {index}")
        assert details.metadata["campaign_job"] == group and details.metadata["partition"] == f"p{index}of3"
    assert campaign_jobs(client, group) == jobs and campaign_jobs(client, jobs[1]) == [jobs[1]]
    with pytest.raises(JobInputError, match="no job"):
        campaign_jobs(client, "foundry-other")


def test_one_partition_can_be_resubmitted_alone(tmp_path):
    client = FakeJobs()
    config, workdir = write_campaign(tmp_path)
    jobs, _ = submit(client, config, ["cluster.partitions=3"], only=[2], resume=True, workdir=workdir)
    assert len(jobs) == 1 and jobs[0].endswith("-p2of3")
    assert client.jobs[jobs[0]].entrypoint.endswith("--partition 2")
    with pytest.raises(JobInputError, match="expected 0 to 2"):
        submit(client, config, ["cluster.partitions=3"], only=[3], workdir=tmp_path / "job2")
    with pytest.raises(JobInputError, match="above 1"):
        submit(client, config, None, only=[0], workdir=tmp_path / "job3")


def test_an_unpartitioned_campaign_is_one_job_as_before(tmp_path):
    client = FakeJobs()
    config, workdir = write_campaign(tmp_path)
    jobs, _ = submit(client, config, None, workdir=workdir)
    [job] = jobs
    assert "--partition" not in client.jobs[job].entrypoint and "campaign_job" not in client.jobs[job].metadata


@pytest.mark.parametrize("statuses, overall", [
    (["SUCCEEDED", "RUNNING"], "RUNNING"), (["SUCCEEDED", "FAILED"], "FAILED"), (["STOPPED", "SUCCEEDED"], "STOPPED"),
    (["SUCCEEDED", "SUCCEEDED"], "SUCCEEDED"), (["FAILED", "PENDING"], "PENDING"),
])
def test_a_partitioned_campaign_has_one_status(statuses, overall):
    assert overall_status(statuses) == overall


def test_each_partition_job_gets_its_own_working_dir(tmp_path):
    client = FakeJobs()
    config, workdir = write_campaign(tmp_path)
    captured = []
    submit_job = client.submit_job
    client.submit_job = lambda **kw: captured.append(kw["runtime_env"]["working_dir"]) or submit_job(**kw)
    submit(client, config, ["cluster.partitions=2"], workdir=workdir)
    assert len(set(captured)) == 2
    for folder in map(Path, captured):
        assert (folder / CONFIG_NAME).is_file() and (folder / "data" / "tasks.jsonl").is_file()


RAY_NO_FOUNDRY = ("Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n"
                  "Running entrypoint for job foundry-x-1: python -m foundry run campaign.yaml --quiet\n"
                  "/usr/bin/python3: No module named foundry\n")


def test_a_cluster_without_foundry_is_explained():
    for line in (failure_line(RAY_NO_FOUNDRY), status_line(RAY_NO_FOUNDRY)):
        assert "no foundry package" in line and "ray start" in line and "--ship-code" in line


def test_other_failures_keep_rays_words():
    message = "Job entrypoint command failed with exit code 2, last available logs:\nerror: source.path: no such file"
    assert failure_line(message) == "error: source.path: no such file"
    assert status_line(message) == "Job entrypoint command failed with exit code 2, last available logs:"


def test_the_job_log_explains_when_rays_message_does_not_yet():
    message = "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n"
    logs = "Running entrypoint: python -m foundry run campaign.yaml\n/tmp/bin/python: No module named foundry\n"
    assert "no foundry package" in status_line(message, logs) and "no foundry package" in failure_line(message, logs)

