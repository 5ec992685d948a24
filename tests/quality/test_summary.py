"""Gate counts from committed rows, with the expected numbers counted by hand."""

from __future__ import annotations

from foundry.quality.summary import quality_counts


def verdict(verifier, passed, reason=""):
    return {"verifier": verifier, "passed": passed, "score": 1.0 if passed else 0.0, "reason": reason, "seconds": 0}


def test_counts_per_benchmark_method_and_dedup_rate():
    excluded = [
        {"gate": "decontaminate", "benchmark": "gsm8k", "method": "ngram"},
        {"gate": "decontaminate", "benchmark": "gsm8k", "method": "ngram"},
        {"gate": "decontaminate", "benchmark": "humaneval", "method": "embedding"},
        {"gate": "dedup", "method": "exact", "duplicate_of": "t1"},
    ]
    math_ok = verdict("math", True)
    samples = [
        {"accepted": True, "verdicts": [math_ok]},
        {"accepted": True, "verdicts": [math_ok]},
        {"accepted": False, "verdicts": [verdict("math", False, "wrong answer")]},
        {"accepted": False, "verdicts": [math_ok, verdict("dedup", False, "near-duplicate of sample s1 (Jaccard "
                                                                            "0.91)")]},
        {"accepted": False, "verdicts": [math_ok, verdict("decontaminate", False, "gsm8k item 7: n-gram coverage "
                                                                                  "0.93")]},
    ]
    counts = quality_counts(excluded, samples)
    assert counts["excluded_tasks"] == {"decontaminate": {"gsm8k/ngram": 2, "humaneval/embedding": 1},
                                        "dedup": {"exact": 1}}
    assert counts["rejected_samples"] == {"decontaminate": {"gsm8k": 1}, "dedup": {"near": 1}}
    assert counts["sample_dedup_rate"] == 0.25  # 1 duplicate among 4 samples the verifiers accepted


def test_nothing_gated():
    assert quality_counts([], [{"accepted": True, "verdicts": []}]) == {
        "excluded_tasks": {"decontaminate": {}, "dedup": {}},
        "rejected_samples": {"decontaminate": {}, "dedup": {}}, "sample_dedup_rate": 0.0}
