"""Review test helpers: a small campaign output written by the real ShardWriter (verdicts from the real verifier
chain, no engine) and the real `foundry review` server process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from foundry.config import CampaignConfig
from foundry.generators.parsing import extract_answer, split_reasoning
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import open_store
from foundry.types import Sample, sample_id
from foundry.verifiers import build_chain

XSS = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2;alert(2)</script>'
"""A hostile completion fragment: if either part ran, `window.__xss` would be set and an alert would be open."""


def campaign_config(out: Path) -> CampaignConfig:
    return CampaignConfig.model_validate({
        "name": "review-test", "source": {"path": "tasks.jsonl"}, "output": {"path": str(out)},
        "verifiers": [{"kind": "sections"}, {"kind": "math", "reference_pattern": None}],
    })


def completion(number: int, answer: int) -> str:
    steps = f"1. Take {number} apples.\n2. Add one more.\n3. Count them: $x^2$ is not needed."
    hostile = f" {XSS}" if number == 0 else ""
    return f"<think>{steps}</think>So the answer is \\boxed{{{answer}}}.{hostile}"


def build_output(out: Path, tasks: int = 20, verify: bool = True) -> dict[str, Sample]:
    """Task i asks for i + 1; even tasks answered right (accepted), odd ones off by one (rejected by math).
    `verify=False` (load tests): no verdicts, every sample counts as rejected."""
    config = campaign_config(out)
    chain = build_chain(config) if verify else None
    samples = {}
    store = open_store(str(out))
    with ShardWriter(store, max_rows=8 if tasks <= 20 else 1000, manifest_extra={"campaign": config.name,
                                                        "config": config.model_dump(mode="json")}) as writer:
        for number in range(tasks):
            task_id = f"t{number:02d}"
            text = completion(number, number + 1 + number % 2)
            reasoning, answer = split_reasoning(text)
            sample = Sample(id=sample_id(config.name, task_id, 0), task_id=task_id, sample_index=0,
                            prompt=f"What is {number} + 1? **Show** your steps.", completion=text,
                            reasoning=reasoning, answer=answer, final_answer=extract_answer(answer, ["boxed"]),
                            reference=str(number + 1))
            verdicts, accepted = chain.run(sample) if chain else ([], False)
            sample = sample.model_copy(update={"verdicts": verdicts, "accepted": accepted})
            samples[sample.id] = sample
            writer.add_task(task_id, [sample])
    return samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def review_server(out: Path, *args: str, port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`foundry review OUT ARGS` as a real process on loopback; yields (url with token, process) once it answers."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "foundry", "review", str(out), "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url, deadline = None, time.time() + 90
        while url is None and time.time() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise AssertionError(f"foundry review exited with {process.returncode}")
            found = re.search(r"open (http://\S+)", line)
            url = found.group(1) if found else None
        assert url, "foundry review printed no URL"
        while time.time() < deadline:
            try:
                if httpx.get(url.split("#")[0], timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
