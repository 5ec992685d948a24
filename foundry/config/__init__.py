"""The shape of a campaign: one pydantic tree, loaded from YAML, the only place config shape lives.

Engine and sampling fields keep vLLM's own names (`tensor_parallel_size`, `max_model_len`, `temperature`, ...) and
are passed through to `AsyncEngineArgs` / `SamplingParams` unchanged. Unknown keys are errors so typos never pass.
The package is split by concern; every public name is re-exported here, so `from foundry.config import X` works.
A new stage puts its models in a module of its own here and adds one optional field to `CampaignConfig`.
"""

from foundry.config.base import TINY_MODEL, Regex, Strict
from foundry.config.campaign import CampaignConfig
from foundry.config.cluster import ClusterConfig
from foundry.config.engine import EngineConfig, SamplingConfig
from foundry.config.generators import AnyGeneratorConfig, GeneratorConfig, StopReason, ToolUseGeneratorConfig
from foundry.config.loading import ConfigError, load_config, load_config_data, load_verify_config
from foundry.config.output import OutputConfig
from foundry.config.source import FieldMap, SourceConfig
from foundry.config.tools import FunctionToolConfig, PythonToolConfig, SearchToolConfig, ToolConfig
from foundry.config.verifiers import (
    AcceptanceConfig,
    CodeTestVerifierConfig,
    JudgeConfig,
    LengthVerifierConfig,
    MathVerifierConfig,
    RegexVerifierConfig,
    RubricCriterion,
    RubricVerifierConfig,
    SectionsVerifierConfig,
    TraceVerifierConfig,
    VerifierConfig,
)

__all__ = [
    "TINY_MODEL", "AcceptanceConfig", "AnyGeneratorConfig", "CampaignConfig", "ClusterConfig", "CodeTestVerifierConfig",
    "ConfigError", "EngineConfig", "FieldMap", "FunctionToolConfig", "GeneratorConfig", "JudgeConfig",
    "LengthVerifierConfig", "MathVerifierConfig", "OutputConfig", "PythonToolConfig", "Regex", "RegexVerifierConfig",
    "RubricCriterion", "RubricVerifierConfig", "SamplingConfig", "SearchToolConfig", "SectionsVerifierConfig",
    "SourceConfig", "StopReason", "Strict", "ToolConfig", "ToolUseGeneratorConfig", "TraceVerifierConfig",
    "VerifierConfig", "load_config", "load_config_data", "load_verify_config",
]
