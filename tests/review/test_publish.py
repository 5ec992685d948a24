"""A reviewed output published: corrections and review events are their own configs, and the card says how far
people agree with each other and with each verifier."""

from __future__ import annotations

import re

import pytest
import yaml

from foundry.publish.hub import push
from foundry.review.compact import compact
from foundry.review.events import EventLog
from foundry.review.output import open_output
from foundry.review.server import ReviewService


def test_push_publishes_corrections_reviews_and_agreement(hub, campaign_output, tmp_path, monkeypatch):
    out, samples = campaign_output
    output = open_output(str(out))
    log = EventLog(tmp_path / "reviews.sqlite")
    service = ReviewService(output, log, "rejected", 2)
    corrected = []
    for reviewer in ("ann", "bob"):
        for n in range(3):  # the three rejected samples closest to acceptance, both reviewers
            item = service.next_item(reviewer)
            key = f"{reviewer}-key-{n:04d}"
            if n == 0 and reviewer == "ann":  # the right answer to task i is i + 1
                sample = samples[item["sample_id"]]
                result = service.submit(reviewer, {"key": key, "item_id": item["item_id"], "kind": "correct",
                                                   "answer": f"So the answer is \\boxed{{{int(sample.reference)}}}."})
                corrected.append(result["corrected_id"])
            else:
                service.submit(reviewer, {"key": key, "item_id": item["item_id"], "kind": "reject",
                                          "reason": "wrong-answer"})
    assert compact(output, log) == {"events": 6, "corrected": 1, "through": 6, "commit": 2}

    repo = "org/reviewed"
    push(str(out), repo, token=hub.token)
    received = hub.files(repo)
    card = received["README.md"].decode()
    front = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", card, re.S)[1])
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in front["configs"]}
    assert configs["corrected"] == "data/corrected-*.parquet" and configs["reviews"] == "data/reviews-*.parquet"

    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    cache = str(tmp_path / "cache")
    rows = datasets.load_dataset(str(hub.repo_dir(repo)), "corrected", split="train", cache_dir=cache)
    assert rows["id"] == corrected and rows[0]["accepted"] and rows[0]["parent_id"] in samples
    assert [v["verifier"] for v in rows[0]["verdicts"]] == ["sections", "math"]
    events = datasets.load_dataset(str(hub.repo_dir(repo)), "reviews", split="train", cache_dir=cache)
    assert sorted(events["kind"]) == ["correct", "reject", "reject", "reject", "reject", "reject"]

    # every one of the 6 reviews says "not as is" (a correction rejects the original): one value, alpha undefined
    assert "6 reviews by 2 people on 3 samples (3 reviewed twice or more)" in card
    assert "Krippendorff's alpha (nominal, accept/reject): undefined" in card
    # people rejected all three; math failed them (agrees), sections passed them (precision 0 of 3)
    assert "| math | 0 | - | - | 3 | 100.0% |" in card
    assert "| sections | 3 | 0.0% | - | 3 | 0.0% |" in card
