"""The screen verifier actors run for the sample gates: n-gram decontamination and the dedup fingerprint, built by
`build_gates(screened=True)`, picklable (it travels through Ray's object store); no Ray here."""

from __future__ import annotations

import json
import pickle

import pytest
import yaml

from foundry.config import load_config
from foundry.quality import build_gates
from foundry.quality.dedup import Deduplicator
from foundry.quality.gates import SampleDecontaminationGate, SampleDedupGate
from foundry.types import Sample
from tests.quality.test_gates import DATA, FULL, GSM8K, campaign


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in (DATA / "gsm8k-test-sample.jsonl").read_text().splitlines()]


def sample(sid: str, text: str, fingerprint: bytes | None = None) -> Sample:
    return Sample(id=sid, task_id=sid, sample_index=0, completion=text, accepted=True, fingerprint=fingerprint)


def test_screened_gates_leave_the_ngram_stage_and_fingerprints_to_the_screen(tmp_path, rows):
    built = build_gates(load_config(campaign(tmp_path, FULL)), screened=True)
    assert [type(g) for g in built.sample_gates] == [SampleDedupGate]  # no embedding stage: nothing else is left
    screen = pickle.loads(pickle.dumps(built.screen))  # as a verifier actor receives it
    leak = screen.screen(sample("s", "Here is the worked solution. " + rows[1]["answer"]))
    assert leak.fingerprint is None and (leak.verdict.verifier, leak.verdict.passed) == ("decontaminate", False)
    assert leak.verdict.reason.startswith("gsm8k item gsm8k-test-0001 (answer): n-gram coverage")
    text = "First I add the two numbers, then I divide by two, and so the mean of the pair is 5."
    clean = screen.screen(sample("c", text))
    assert clean.verdict is None
    # the stored bytes decode to the fingerprint of the text under the campaign's dedup settings
    settings = Deduplicator("near", 0.8)
    assert settings.from_bytes(clean.fingerprint).key == settings.fingerprint(text).key
    assert (settings.from_bytes(clean.fingerprint).signature == settings.fingerprint(text).signature).all()


def test_the_dedup_gate_trusts_the_fingerprint_a_sample_carries(tmp_path):
    """It must not fingerprint the text again (that is the cost the screen takes off the driver): a sample carrying
    the fingerprint of another text is judged by that fingerprint."""
    built = build_gates(load_config(campaign(tmp_path, FULL)), screened=True)
    dedup, screen = built.sample_gates[0], built.screen
    one = "The train left at noon and reached the coast two hours later, just before the storm began."
    other = "A farmer plants forty rows of corn and harvests nine bushels from every row in the autumn."
    assert dedup.check(sample("a", one, screen.screen(sample("a", one)).fingerprint)) is None
    copy = dedup.check(sample("b", other, screen.screen(sample("b", one)).fingerprint))
    assert copy is not None and "exact duplicate of sample a" in copy.reason
    assert dedup.check(sample("c", other)) is None  # no fingerprint: made from the text


def test_a_resumed_run_indexes_the_stored_fingerprints(tmp_path):
    built = build_gates(load_config(campaign(tmp_path, FULL)), screened=True)
    dedup, screen = built.sample_gates[0], built.screen
    one = "The train left at noon and reached the coast two hours later, just before the storm began."
    stored = screen.screen(sample("old", one)).fingerprint
    dedup.committed([{"id": "old", "completion": "a text the stored fingerprint is not of", "accepted": True,
                      "fingerprint": stored}])
    assert "sample old" in dedup.check(sample("new", one)).reason


def test_with_the_embedding_stage_on_completions_the_driver_embeds_only(tmp_path, rows, embedder, monkeypatch):
    import foundry.quality.gates as gates_module

    monkeypatch.setattr(gates_module, "Embedder", lambda *args, **kwargs: embedder)
    quality = {"decontaminate": {"benchmarks": [GSM8K], "embedding": {"completions": True}}}
    built = build_gates(load_config(campaign(tmp_path, quality)), screened=True)
    gate = built.sample_gates[0]
    assert isinstance(gate, SampleDecontaminationGate) and not gate.ngram
    assert built.screen.decontaminator.embedding is None and built.screen.dedup is None
    verbatim = "Here is the worked solution. " + rows[1]["answer"]
    assert gate.check(sample("v", verbatim)) is None  # the n-gram stage is the screen's; the gate does not repeat it
    reworded = ("Every day Janet's ducks produce 16 eggs. Each morning she has three of them for breakfast, and she "
                "uses four to bake muffins for her friends daily. The rest she sells at the farmers' market for $2 "
                "apiece. How many dollars does she earn daily at the market?")
    assert gate.check(sample("r", reworded)) is not None


def test_a_verifier_worker_screens_only_what_its_chain_accepts(tmp_path, rows):
    from foundry.cluster.runtime import VerifierWorker

    path = campaign(tmp_path, FULL)
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()),
                                    "verifiers": [{"kind": "regex", "pattern": "mean"}]}))
    config = load_config(path)
    worker = VerifierWorker(config.model_dump_json(), None, build_gates(config, screened=True).screen)
    leak = "The mean: here is the worked solution. " + rows[1]["answer"]
    clean = "First I add the two numbers, then I divide by two, and so the mean of the pair is 5."
    (leak_verdicts, leak_ok, leak_print), (ok_verdicts, ok, print_), (no_verdicts, no, no_print) = worker.verify(
        [sample("l", leak), sample("c", clean), sample("n", "No average here at all, only words.")])
    assert not leak_ok and [v.verifier for v in leak_verdicts] == ["regex", "decontaminate"] and leak_print is None
    assert ok and [v.verifier for v in ok_verdicts] == ["regex"] and print_ is not None
    assert not no and [v.verifier for v in no_verdicts] == ["regex"] and no_print is None  # rejected: not screened
