"""The sampling_policy: block validates as the issue writes it and names the field of a bad value."""

from __future__ import annotations

import pytest
import yaml

from foundry.config import ConfigError, load_config

MINIMAL = {"name": "t", "source": {"path": "tasks.jsonl"}, "output": {"path": "out"}}


def load(tmp_path, block):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "sampling_policy": block}))
    return path


def problems(path):
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_issue_block_loads(tmp_path):
    block = {"kind": "adaptive", "pilot": 4, "prior": {"alpha": 1, "beta": 1}, "stop_hopeless_below": 0.05,
             "stop_easy_above": 0.95, "confidence": 0.05, "prefer": "informative"}
    config = load_config(load(tmp_path, block))
    assert config.sampling_policy.model_dump() == block


def test_unset_means_fixed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    assert load_config(path).sampling_policy is None


@pytest.mark.parametrize(("block", "field", "words"), [
    ({"kind": "fixed", "pilot": 4}, "sampling_policy", "pilot only apply to kind: adaptive"),
    ({"kind": "adaptive", "stop_hopeless_below": 0.5, "stop_easy_above": 0.4}, "sampling_policy",
     "must be above"),
    ({"kind": "adaptive", "confidence": 1.5}, "sampling_policy.confidence", "less than 1"),
    ({"kind": "adaptive", "prior": {"alpha": 0}}, "sampling_policy.prior.alpha", "greater than 0"),
    ({"kind": "bandit"}, "sampling_policy.kind", "fixed"),
    ({"kind": "adaptive", "pilots": 3}, "sampling_policy.pilots", ""),
])
def test_bad_blocks_name_file_and_field(tmp_path, block, field, words):
    path = load(tmp_path, block)
    found = problems(path)
    assert len(found) == 1
    assert found[0].startswith(f"{path}: {field}") and words in found[0], found
