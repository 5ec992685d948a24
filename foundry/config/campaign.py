"""The root of the config tree: one campaign, source to output."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field, model_validator

from foundry.config.base import Strict
from foundry.config.cluster import ClusterConfig
from foundry.config.engine import EngineConfig, SamplingConfig
from foundry.config.generators import AnyGeneratorConfig, GeneratorConfig
from foundry.config.output import OutputConfig
from foundry.config.quality import QualityConfig
from foundry.config.sampling import SamplingPolicyConfig
from foundry.config.source import SourceConfig
from foundry.config.verifiers import AcceptanceConfig, VerifierConfig


class CampaignConfig(Strict):
    """A synthetic-data campaign: source → generator → verifiers → output."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Campaign name; part of every sample id."""
    source: SourceConfig
    generator: AnyGeneratorConfig = Field(default_factory=GeneratorConfig)
    """`kind: reasoning` (default) or `kind: tool_use`."""
    engine: EngineConfig = Field(default_factory=EngineConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    verifiers: list[VerifierConfig] = Field(default_factory=list)
    """Verifiers in order, cheapest first."""
    acceptance: AcceptanceConfig = Field(default_factory=AcceptanceConfig)
    stop_after_accepted: int | None = Field(default=None, ge=1)
    """Stop sampling a task once this many of its samples were accepted."""
    max_samples_per_task: int | None = Field(default=None, ge=1)
    """Upper bound on samples per task (default: `sampling.n`, one request per task)."""
    output: OutputConfig
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    quality: QualityConfig | None = None
    """Quality gates: benchmark decontamination and deduplication of tasks and samples (off when unset)."""
    sampling_policy: SamplingPolicyConfig | None = None
    """Per-task sampling budget: `kind: fixed` when unset (today's), or `kind: adaptive` (pilot, Beta stop rules)."""

    @model_validator(mode="after")
    def _check(self) -> CampaignConfig:
        names = [v.name for v in self.verifiers]
        if len(names) != len(set(names)):
            raise ValueError(f"verifier names must be unique, got {names}")
        if self.stop_after_accepted and self.max_samples_per_task is None:
            raise ValueError("stop_after_accepted needs max_samples_per_task (the most samples to try per task)")
        if any(v.kind == "trace" for v in self.verifiers) and self.generator.kind != "tool_use":
            raise ValueError("the trace verifier checks tool-use rollouts: it needs generator.kind tool_use")
        if self.generator.kind == "tool_use" and self.generator.max_wall_seconds >= self.cluster.request_timeout_seconds:
            # The watchdog would take a replica whose rollouts are all still within their budget for a hung one.
            raise ValueError("generator.max_wall_seconds must be below cluster.request_timeout_seconds")
        return self

    @property
    def samples_per_task(self) -> int:
        return self.max_samples_per_task or self.sampling.n

    def config_hash(self) -> str:
        """Hash of what the campaign generates (not where it runs or writes), recorded in provenance and the manifest."""
        body = self.model_dump(mode="json", exclude={"cluster", "output"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
