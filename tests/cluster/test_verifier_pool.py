"""VerifierPool on real verifier actors: checks of many tasks merged into few calls, and a runaway check found."""

from __future__ import annotations

import asyncio

from foundry.cluster.runtime import VerifierPool
from foundry.config import CampaignConfig
from foundry.errors import VerificationTimeout
from foundry.types import Sample


def test_merged_calls_and_a_runaway_check_failed_alone_as_infrastructure(ray_local, monkeypatch):
    # `^(a+)+$` backtracks exponentially on "aaa…ab": a real runaway check, the kind a timeout exists for
    campaign = CampaignConfig.model_validate({
        "name": "v", "source": {"path": "x.jsonl"}, "output": {"path": "/tmp/unused"},
        "verifiers": [{"kind": "regex", "pattern": "^(a+)+$"}],
        "cluster": {"verifier_workers": 1, "verifier_num_cpus": 0.5},
    })
    pool = VerifierPool(campaign, 1)
    calls: list[int] = []
    real_call = pool._call

    async def counting(worker, batch):
        calls.append(len(batch))
        await real_call(worker, batch)

    monkeypatch.setattr(pool, "_call", counting)
    good = [[Sample(id=f"{t}-{i}", task_id=str(t), sample_index=i, completion="aaaa") for i in range(2)]
            for t in range(30)]
    runaway = [Sample(id="bad", task_id="bad", sample_index=0, completion="a" * 40 + "b")]

    async def main():
        await pool.describe()  # the worker has started: the first call's time (which sizes merged calls) is a check's
        return await asyncio.gather(*(pool.verify(samples, 3.0) for samples in good[:15] + [runaway] + good[15:]),
                                    return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        pool.shutdown()
    for outcome in results[:15] + results[16:]:
        assert [accepted for _, accepted, _ in outcome] == [True, True]
    # a timeout says nothing about the sample: it is an infrastructure error (retried, never a rejection)
    assert isinstance(results[15], VerificationTimeout) and "exceeded 3s" in str(results[15])
    assert max(calls) > 1  # tasks waiting for the busy worker went out together
    assert calls.count(1) >= 2  # after the merged call timed out, its tasks were checked alone
