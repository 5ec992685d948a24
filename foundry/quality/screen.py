"""The sample gates' stateless part, run where samples are verified, so it never costs the driver.

Normalizing a completion, hashing its n-grams against the benchmark index and computing its MinHash signature is
nearly all of what the sample gates cost (about 0.2-0.4 ms a sample), and none of it depends on other samples. The
campaign hands a `SampleScreen` to every verifier actor (once, through Ray's object store); each accepted sample
leaves verification with its n-gram decontamination verdict and its dedup fingerprint. What needs state or a model
stays with the driver's gates: the dedup index (a lookup and an add, ~15 us) and the embedding stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from foundry.quality.decontaminate import Decontaminator
from foundry.quality.dedup import Deduplicator
from foundry.types import Sample, Verdict


@dataclass(frozen=True)
class Screened:
    """What the screen says of one accepted sample: a failing `decontaminate` verdict (or None), and the
    fingerprint the dedup gate will look up (stored bytes, or None when dedup is off)."""

    verdict: Verdict | None = None
    fingerprint: bytes | None = None


class SampleScreen:
    """The n-gram decontamination check and the dedup fingerprint of a sample's completion. Picklable and
    read-only: `decontaminator` must hold no embedding model and no judge (see `Decontaminator.ngram_only`), and
    `dedup` is only used for its settings (an empty index)."""

    def __init__(self, decontaminator: Decontaminator | None = None, dedup: Deduplicator | None = None):
        self.decontaminator, self.dedup = decontaminator, dedup

    def screen(self, sample: Sample) -> Screened:
        """Screen an accepted sample: a contaminated one gets a verdict and no fingerprint (it will be rejected,
        so it never becomes an earlier copy)."""
        if self.decontaminator is not None and sample.completion:
            found = self.decontaminator.check(sample.completion, semantic=False)
            if found is not None:
                return Screened(Verdict(verifier="decontaminate", passed=False, score=0.0, reason=found.reason()))
        if self.dedup is None:
            return Screened()
        return Screened(fingerprint=self.dedup.to_bytes(self.dedup.fingerprint(sample.completion)))
