"""`foundry push` against the local Hub stand-in: exactly the committed shards go up, with a card that loads.

Outputs are real: written by `ShardWriter` to a local folder or a real S3 server, then salted with what must never
be published (an orphan shard in data/, staging debris, credentials in the config and the environment).
"""

from __future__ import annotations

import io
import json
import re
import uuid
from fnmatch import fnmatch

import pytest
import yaml
from matplotlib.image import imread
from typer.testing import CliRunner

from foundry.cli import app
from foundry.publish.plots import PLOTS
from foundry.report import cost, findings
from foundry.publish.hub import (
    FIELD_DOCS,
    REDACTED,
    NotAnOutput,
    PushError,
    dataset_card,
    push,
    redact_manifest,
)
from foundry.storage.manifest import read_manifest
from foundry.storage.records import Manifest
from foundry.storage.shards import SCHEMA, ShardWriter
from foundry.storage.uri import LocalStore, ObjectStore, open_store
from foundry.types import Sample, Verdict, sample_id

CAMPAIGN = "hub-test"
ORPHAN = "data/accepted-00099.parquet"  # matches the card's glob: publishing it would add rows no commit claims
STAGED = "_foundry/staging/00042-deadbeef/accepted.parquet"
# huggingface_hub's own LFS upload passes a file object as `data=` to httpx; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def secrets() -> dict[str, str]:
    """Distinct secret-looking values, one per place a credential can hide."""
    return {name: f"{name}-{uuid.uuid4().hex}" for name in ("endpoint", "profile", "address", "env", "judge",
                                                              "query", "environ")}


def config(secret: dict[str, str] | None = None, **extra) -> dict:
    """A campaign config dump as the manifest records it, with credentials where a user could put them."""
    secret = secret or {}
    return {
        "name": CAMPAIGN,
        "source": {"format": None, "path": f"s3://tasks/math.jsonl?X-Amz-Signature={secret.get('query', 'x')}"
                   if secret else "configs/data/smoke.jsonl", "split": "train"},
        "generator": {"kind": "reasoning"},
        "engine": {"model": "foundry/tiny-random", "seed": 0, "extra_args": {},
                   "env": {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_TOKEN": secret.get("env", "not-a-secret")}},
        "sampling": {"n": 3, "temperature": 0.7, "top_p": 1.0, "max_tokens": 64},
        "verifiers": [
            {"kind": "sections", "name": "format"},
            {"kind": "math", "name": "math"},
            {"kind": "rubric", "name": "judge", "judge": {"kind": "replicas", "api_key_env": "OPENAI_API_KEY",
                                                           "engine": {"env": {"API_KEY": secret.get("judge", "j")}}}},
        ],
        "acceptance": {"mode": "all", "weights": {}, "threshold": 1.0},
        "output": {"path": "out", "shard_max_rows": 4, "keep_rejected": True, "region": "us-east-1",
                   "endpoint_url": f"https://AKIA1234:{secret['endpoint']}@s3.example.com" if secret else None,
                   "profile": secret.get("profile")},
        "cluster": {"address": f"ray://admin:{secret['address']}@head:10001" if secret else None, "replicas": 1},
        **extra,
    }


def samples(task_id: str) -> list[Sample]:
    """Three samples of a task, the first accepted; nested tool-call messages and verdicts, as real rows have."""
    out = []
    for index in range(3):
        accepted = index == 0
        call = {"id": f"call-{index}", "type": "function", "function": {"name": "python", "arguments": {"x": 1}}}
        messages = [{"role": "user", "content": f"2 + 2? ({task_id})"},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "content": "4", "tool_call_id": call["id"], "name": "python"},
                    {"role": "assistant", "content": f"\\boxed{{{4 if accepted else 5}}}"}]
        verdicts = [Verdict(verifier="format", passed=True, score=1.0, seconds=0.001),
                    Verdict(verifier="math", passed=accepted, score=float(accepted),
                            reason="" if accepted else "expected 4, got 5", seconds=0.01)]
        out.append(Sample(id=sample_id(CAMPAIGN, task_id, index), task_id=task_id, sample_index=index,
                          messages=messages, completion=messages[-1]["content"], final_answer=str(4 + index % 2),
                          reference="4", verdicts=verdicts, accepted=accepted, completion_tokens=7,
                          provenance={"campaign": CAMPAIGN, "model": "foundry/tiny-random",
                                      "engine_args": {"seed": 0}}))
    return out


def write_output(store: ObjectStore, *, tasks: int = 6, secret: dict[str, str] | None = None,
                 provenance_extra: dict | None = None, **config_extra) -> Manifest:
    """A committed output (3 commits of accepted + rejected shards), then the debris `push` must leave behind."""
    manifest_extra = {
        "campaign": CAMPAIGN, "config_hash": "0123456789abcdef", "config": config(secret, **config_extra),
        "provenance": {"campaign": CAMPAIGN, "model": "foundry/tiny-random", "config_hash": "0123456789abcdef",
                       "engine_args": {"model": "foundry/tiny-random", "seed": 0, **(provenance_extra or {})},
                       "sampling_params": {"n": 3, "temperature": 0.7, "max_tokens": 64},
                       "verifiers": [{"name": "format", "version": "1"},
                                     {"name": "math", "version": "math-verify==0.9.0"},
                                     {"name": "judge", "version": "1"}],
                       "versions": {"foundry-data": "0.1.0"}},
        "runs": [{"run_id": "first", "status": "finished", "started_at": 1_700_000_000.0, "wall_seconds": 12.5, "samples": 3 * tasks, "accepted": tasks,
                  "rejected": 2 * tasks, "completion_tokens": 21 * tasks, "replica_seconds": 12.5,
                  "gpus_per_replica": 1.0, "replicas": 1, "tasks_resumed": 0,
                  "verifiers": {"format": {"passed": 3 * tasks, "failed": 0},
                                "math": {"passed": tasks, "failed": 2 * tasks}}}],
    }
    with ShardWriter(store, max_rows=4, flush_seconds=3600, manifest_extra=manifest_extra) as writer:
        for n in range(tasks):
            writer.add_task(f"task-{n:02d}", samples(f"task-{n:02d}"))
    manifest = read_manifest(store)
    store.put(ORPHAN, store.get(manifest.shards[0].path))
    store.put(STAGED, b"half-written shard")
    return manifest


@pytest.fixture(params=["local", "s3"])
def output(request, tmp_path) -> tuple[ObjectStore, str | None, list[str]]:
    """An empty output of each kind, the S3 endpoint to read it through, and the S3 keys (in the environment)."""
    if request.param == "local":
        return LocalStore(tmp_path / "out"), None, []
    server = request.getfixturevalue("s3_server")
    store = open_store(request.getfixturevalue("s3_uri"), endpoint_url=server.endpoint_url)
    return store, server.endpoint_url, [server.access_key, server.secret_key]


PLOT_FILES = [f"plots/{file}" for file, _ in PLOTS.values()]
"""The card's PNGs, uploaded beside it by every push."""


def repo_name() -> str:
    return f"foundry-test/ds-{uuid.uuid4().hex[:10]}"


def front_matter(card: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", card, re.S)
    assert match, "the card starts with YAML front matter"
    return yaml.safe_load(match[1])


def test_push_uploads_exactly_the_committed_shards_card_and_manifest(hub, output, monkeypatch):
    store, endpoint_url, s3_keys = output
    secret = secrets()
    monkeypatch.setenv("OPENAI_API_KEY", secret["environ"])  # ambient credentials are never read into a file
    manifest = write_output(store, secret=secret)
    repo = repo_name()
    before = len(hub.requests)

    url = push(store.uri, repo, token=hub.token, endpoint_url=endpoint_url)

    assert url.startswith(f"{hub.endpoint}/datasets/{repo}/commit/")
    received = hub.files(repo)
    shards = [s.path for s in manifest.shards]
    assert len(shards) == 6 and {s.split("-")[0] for s in shards} == {"data/accepted", "data/rejected"}
    plots = PLOT_FILES
    assert set(received) == {*shards, *plots, "README.md", "manifest.json"}
    assert ORPHAN not in received and not any(p.startswith("_foundry/") for p in received)
    for path in shards:
        assert received[path] == store.get(path), path
    card = dataset_card(manifest, repo_id=repo, found=findings(store, manifest), plots=True)
    assert received["README.md"] == card.encode() == store.get("README.md")  # the output keeps the card too
    for path in plots:  # linked from the card, kept in the output beside it, and real images
        assert f"]({path})" in card and received[path] == store.get(path)
        assert imread(io.BytesIO(received[path]), format="png").shape[2] in (3, 4)
    assert received["manifest.json"] == redact_manifest(manifest)[0].json_bytes()

    requests = [r for r in hub.requests[before:] if r["path"] != "/api/agent-harnesses"]  # huggingface_hub's own
    errors = [(r["method"], r["path"].split("?")[0], r["status"]) for r in requests if r["status"] >= 300]
    assert errors == []  # a new repo's top level is listed, and it has no data/ folder to list yet
    uploads = [r for r in requests if r["method"] == "PUT"]
    assert sorted(r["body"] for r in uploads) == sorted(received[p] for p in shards + plots)  # LFS objects
    assert all("authorization" not in r["headers"] for r in uploads)  # storage URLs never see the token
    assert all(r["headers"]["authorization"] == f"Bearer {hub.token}" for r in requests if r["method"] != "PUT")
    for value in [*secret.values(), *s3_keys, hub.token]:
        assert not any(value.encode() in r["body"] for r in requests), value
        assert not any(value.encode() in data for data in received.values()), value


def test_card_front_matter_matches_uploads_and_datasets_loads_them(hub, tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "out")
    manifest = write_output(store)
    repo = repo_name()
    push(store.uri, repo, token=hub.token)
    received = hub.files(repo)
    card = received["README.md"].decode()

    meta = front_matter(card)
    assert meta["tags"] == ["synthetic", "foundry"] and meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"] and "license" not in meta
    configs = {c["config_name"]: c["data_files"] for c in meta["configs"]}
    assert set(configs) == {"default", "rejected"}
    for name, split in (("default", "accepted"), ("rejected", "rejected")):
        (files,) = configs[name]
        assert files["split"] == "train"
        matched = sorted(p for p in received if fnmatch(p, files["path"]))
        assert matched == sorted(s.path for s in manifest.shards if s.split == split)

    figures = cost(manifest)
    for text in (f"# {CAMPAIGN}", "foundry/tiny-random", "temperature=0.7",
                 "math-verify==0.9.0", "every verifier passes", "0123456789abcdef",
                 f'load_dataset("{repo}", split="train")', f'load_dataset("{repo}", "rejected", split="train")',
                 f"| gpu seconds per accepted | {figures['gpu_seconds_per_accepted']} |"):
        assert text in card, text
    assert set(FIELD_DOCS) == set(SCHEMA.names)
    assert all(f"| `{name}` |" in card for name in SCHEMA.names)

    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    repo_dir = hub.repo_dir(repo)
    accepted_files = [str(repo_dir / p) for p in sorted(received) if p.startswith("data/accepted-")]
    rows = datasets.load_dataset("parquet", data_files={"train": accepted_files}, split="train",
                                 cache_dir=str(tmp_path / "cache"))
    assert rows.num_rows == manifest.accepted and all(rows["accepted"])
    assert rows[0]["messages"][1]["tool_calls"][0]["function"]["name"] == "python"
    assert [v["verifier"] for v in rows[0]["verdicts"]] == ["format", "math"]
    # What `load_dataset("org/name", "rejected")` does on the Hub: the card's own configs pick the files.
    rejected = datasets.load_dataset(str(repo_dir), "rejected", split="train", cache_dir=str(tmp_path / "cache"))
    assert rejected.num_rows == manifest.rejected and not any(rejected["accepted"])


def test_repush_without_rejected_removes_stale_shards_and_keeps_license(hub, tmp_path):
    store = LocalStore(tmp_path / "out")
    write_output(store)
    repo = repo_name()
    push(store.uri, repo, token=hub.token)
    assert any(p.startswith("data/rejected-") for p in hub.files(repo))

    smaller = LocalStore(tmp_path / "smaller")
    manifest = write_output(smaller, tasks=2, license="apache-2.0")
    push(smaller.uri, repo, token=hub.token, include_rejected=False)

    received = hub.files(repo)
    accepted = [s.path for s in manifest.shards if s.split == "accepted"]
    assert set(received) == {*accepted, *PLOT_FILES, "README.md", "manifest.json"}  # older shards would match the globs
    meta = front_matter(received["README.md"].decode())
    assert meta["license"] == "apache-2.0"
    assert [c["config_name"] for c in meta["configs"]] == ["default"]


def test_large_outputs_go_up_in_batches_with_the_card_last(hub, tmp_path):
    store = LocalStore(tmp_path / "out")
    manifest = write_output(store)
    repo = repo_name()
    push(store.uri, repo, token=hub.token, revision="v1", files_per_commit=2, read_bytes=1)

    commits = [c for c in hub.commits if c["repo"] == repo]
    assert [len(c["added"]) for c in commits] == [2, 2, 8] and {c["revision"] for c in commits} == {"v1"}
    assert "README.md" in commits[-1]["added"] and not any("README.md" in c["added"] for c in commits[:-1])
    assert set(hub.files(repo, "v1")) == {*(s.path for s in manifest.shards), *PLOT_FILES, "README.md",
                                           "manifest.json"}
    assert hub.files(repo, "main") == {}


def test_redaction_keeps_names_and_drops_credentials():
    secret = secrets()
    manifest = Manifest(campaign=CAMPAIGN, config=config(secret))
    clean, removed = redact_manifest(manifest)
    text = clean.model_dump_json()
    assert not any(value in text for value in secret.values())
    assert clean.config["engine"]["env"] == {"VLLM_CPU_KVCACHE_SPACE": REDACTED, "HF_TOKEN": REDACTED}
    assert clean.config["output"]["endpoint_url"] == REDACTED and clean.config["cluster"]["address"] == REDACTED
    assert clean.config["output"]["region"] == "us-east-1"
    assert clean.config["source"]["path"] == "s3://tasks/math.jsonl"  # a presigned query carries a signature
    assert clean.config["verifiers"][2]["judge"]["api_key_env"] == "OPENAI_API_KEY"  # a name, not a key
    assert all(any(value in r for r in removed) for name, value in secret.items() if name != "environ")
    card = dataset_card(manifest)
    assert not any(value in card for value in secret.values())


def test_a_credential_in_row_provenance_is_never_published(hub, tmp_path):
    store = LocalStore(tmp_path / "out")
    write_output(store, provenance_extra={"hf_token": "hf_" + uuid.uuid4().hex})
    before = len(hub.requests)
    with pytest.raises(PushError, match="provenance"):
        push(store.uri, repo_name(), token=hub.token)
    assert len(hub.requests) == before  # refused before talking to the Hub


def test_an_output_without_manifest_is_not_an_output(tmp_path):
    with pytest.raises(NotAnOutput, match="no manifest.json"):
        push(str(tmp_path), "org/name")


# --- the command -------------------------------------------------------------------------------------------------

def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["push", *args], env=env, catch_exceptions=False)


def test_cli_push_succeeds(hub, tmp_path):
    store = LocalStore(tmp_path / "out")
    write_output(store)
    repo = repo_name()
    result = invoke(store.uri, "--repo-id", repo, "--no-include-rejected", "--private", "--token-env",
                    "FOUNDRY_HUB_TOKEN", env={"FOUNDRY_HUB_TOKEN": hub.token})
    assert result.exit_code == 0, result.output
    assert f"{hub.endpoint}/datasets/{repo}/commit/" in result.stdout
    assert hub.repos[repo]["private"]
    assert not any(p.startswith("data/rejected-") for p in hub.files(repo))


@pytest.mark.parametrize("args, reason", [
    (["--repo-id", "org/name"], "no manifest.json"),
    (["--repo-id", "no-namespace"], "expected org/name"),
    (["--repo-id", "org/name", "--token-env", "FOUNDRY_UNSET_TOKEN"], "FOUNDRY_UNSET_TOKEN is not set"),
    (["--repo-id", "org/name", "--export", "dpo"], "--export 'dpo': expected one of sft, preference, rl"),
    (["--repo-id", "org/name", "--export", "rl", "--min-pass-rate", "1.5"], "--min-pass-rate 1.5"),
])
def test_cli_push_bad_input_exits_2(hub, tmp_path, args, reason):
    result = invoke(str(tmp_path), *args)
    assert result.exit_code == 2 and reason in result.stderr, result.output


@pytest.mark.parametrize("status", [500, 401])
def test_cli_push_failure_exits_1_with_one_line(hub, tmp_path, status):
    store = LocalStore(tmp_path / "out")
    write_output(store)
    with hub.failing(status):
        result = invoke(store.uri, "--repo-id", repo_name(), env={"HF_TOKEN": hub.token})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("failed:") and str(status) in lines[0], result.stderr
    assert "Traceback" not in result.output and hub.token not in result.output
    if status == 401:
        assert "check the token" in lines[0]


def test_cli_push_with_a_wrong_token_exits_1(hub, tmp_path):
    store = LocalStore(tmp_path / "out")
    write_output(store)
    result = invoke(store.uri, "--repo-id", repo_name(), env={"HF_TOKEN": "hf_wrong"})
    assert result.exit_code == 1 and "401" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_partitioned_output_is_pushed_whole(hub, tmp_path):
    """Two partitions' commits in one output: the push and the card's configs take every partition's shards."""
    store = LocalStore(tmp_path / "out")
    extra = {"campaign": CAMPAIGN, "config_hash": "0123456789abcdef"}
    with ShardWriter(store, max_rows=4, flush_seconds=3600, partition="p0of2", manifest_extra=extra) as first, \
            ShardWriter(store, max_rows=4, flush_seconds=3600, partition="p1of2", manifest_extra=extra) as second:
        for n in range(4):
            (first if n % 2 else second).add_task(f"task-{n:02d}", samples(f"task-{n:02d}"))
    manifest = read_manifest(store)
    shards = {s.path for s in manifest.shards}
    assert {s.partition for s in manifest.shards} == {"p0of2", "p1of2"} and manifest.tasks_completed == 4
    repo = repo_name()
    push(store.uri, repo, token=hub.token)
    received = hub.files(repo)
    assert set(received) == {*shards, *PLOT_FILES, "README.md", "manifest.json"}
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in front_matter(received["README.md"].decode())["configs"]}
    assert {p for p in received if fnmatch(p, configs["default"])} | {p for p in received
                                                                       if fnmatch(p, configs["rejected"])} == shards


def test_push_publishes_training_ready_exports_as_configs(hub, tmp_path, monkeypatch):
    """Tasks of known outcome (yield_output): mid passes 2 of 4, easy 4 of 4, hard 0 of 4."""
    from publish.yield_output import write_output as write_known_output

    out = write_known_output(tmp_path / "out")
    repo = repo_name()
    result = invoke(out, "--repo-id", repo, "--export", "sft", "--export", "preference", "--export", "rl",
                    env={"HF_TOKEN": hub.token})
    assert result.exit_code == 0, result.output
    received = hub.files(repo)
    card = received["README.md"].decode()
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in front_matter(card)["configs"]}
    assert {name: configs[name] for name in ("sft", "preference", "rl")} == {
        "sft": "sft/train-*.parquet", "preference": "preference/train-*.parquet", "rl": "rl/train-*.parquet"}
    assert "## Training-ready configs" in card and "| `sft` | 6 |" in card and "| `rl` | 3 |" in card

    import datasets
    import huggingface_hub.constants

    with monkeypatch.context() as offline:
        offline.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        offline.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        repo_dir, cache = str(hub.repo_dir(repo)), str(tmp_path / "cache")
        sft = datasets.load_dataset(repo_dir, "sft", split="train", cache_dir=cache)
        assert sorted(sft["task_id"]) == ["easy"] * 4 + ["mid"] * 2  # accepted samples only
        assert all(row["messages"][-1]["role"] == "assistant" for row in sft)
        pairs = datasets.load_dataset(repo_dir, "preference", split="train", cache_dir=cache)
        assert pairs["task_id"] == ["mid"]  # the only task with both an accepted and a rejected sample
        assert pairs[0]["chosen_id"] in {"mid-0", "mid-2"} and pairs[0]["rejected_id"] in {"mid-1", "mid-3"}
        rl = datasets.load_dataset(repo_dir, "rl", split="train", cache_dir=cache)
        assert sorted(zip(rl["task_id"], rl["pass_rate"])) == [("easy", 5 / 6), ("hard", 1 / 6), ("mid", 0.5)]

    # a push without exports removes the earlier export files, or the old configs' globs would still match
    assert invoke(out, "--repo-id", repo, env={"HF_TOKEN": hub.token}).exit_code == 0
    assert not any(p.split("/")[0] in ("sft", "preference", "rl") for p in hub.files(repo))
