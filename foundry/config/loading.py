"""YAML on disk to a validated `CampaignConfig`, with every problem as one `file: field.path: message` line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from foundry.config.campaign import CampaignConfig
from foundry.config.generators import _UNION_TAGS
from foundry.config.parsing import ConfigError, describe_value, parse_yaml, read_config_file
from foundry.config.quality import resolve_quality_paths
from foundry.config.tools import ToolConfig
from foundry.config.verifiers import _VERIFIER_KINDS, VerifierConfig

_KINDS = {name: [member.model_fields["kind"].default for member in get_args(get_args(union)[0])]
          for name, union in (("verifiers", VerifierConfig), ("tools", ToolConfig))}
"""The kinds a list entry may have, in declaration order, by the name of the list."""


def _set_path(data: dict[str, Any], dotted: str, raw: str, where: str) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    value = parse_yaml(raw, where, with_lines=False) if raw != "" else ""
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


def _user_path(loc: tuple[Any, ...], data: Any) -> str:
    """The error location as the user wrote it: discriminated unions add their tag (`math`, `python`) to the
    location, which is not a key in the file; keys that are really there (`weights.math`) stay."""
    parts, node = [], data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif part in _VERIFIER_KINDS | _UNION_TAGS:
            continue
        else:
            node = None
        parts.append(str(part))
    return ".".join(parts)


def _describe(error: dict[str, Any], data: Any = None) -> str:
    loc = _user_path(error["loc"], data)
    message, kind = error["msg"], error["type"]
    if kind == "extra_forbidden":
        message = "unknown field"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        # pydantic names its classes ("a valid dictionary or instance of SourceConfig"); say what the file holds.
        message = f"expected a mapping of fields (key: value), found {describe_value(error['input'])}"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        # pydantic would name the discriminator function and leave `kind` out of the location.
        loc = f"{loc}.kind" if loc else "kind"
        collection = next((str(p) for p in reversed(error["loc"]) if str(p) in _KINDS), None)
        expected = error.get("ctx", {}).get("expected_tags") or ", ".join(map(repr, _KINDS.get(collection, [])))
        message = f"unknown kind {error['ctx']['tag']!r}" if kind == "union_tag_invalid" else "Field required"
        message += f" (one of {expected})" if expected else ""
    return f"{loc}: {message}" if loc else message


def load_config(path: str | Path, overrides: list[str] | None = None) -> CampaignConfig:
    """Read a campaign YAML, apply `--set a.b=value` overrides, validate; relative paths resolve against the file."""
    path = Path(path)
    data = load_config_data(path, overrides)
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {_describe(e, data)}" for e in exc.errors()]) from None


VERIFY_ONLY_FIELDS = ("verifiers", "acceptance", "generator", "cluster")
"""What `foundry verify` reads from a config: it generates nothing, so a file with only these is enough."""


def load_verify_config(path: str | Path, overrides: list[str] | None = None) -> CampaignConfig:
    """A config for re-checking samples: a whole campaign, or just `verifiers` (and optionally `acceptance`,
    `generator` answer/think settings, `cluster`). The missing campaign fields get placeholders nothing reads: the
    samples come from `--input` and the verdicts go to `--output`."""
    path = Path(path)
    data = load_config_data(path, overrides)
    if "source" not in data and "output" not in data and "engine" not in data:
        unknown = sorted(set(data) - {*VERIFY_ONLY_FIELDS, "name"})
        if unknown:
            raise ConfigError([f"{path}: {key}: unknown field (a verify config holds {', '.join(VERIFY_ONLY_FIELDS)})"
                               for key in unknown])
        data = {"name": "verify", **data, "source": {"path": "-"}, "output": {"path": "-"}}
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {_describe(e, data)}" for e in exc.errors()]) from None


def load_config_data(path: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """The config file as plain data, overrides applied and relative paths resolved, not yet validated (for a
    command that validates it against a model of its own)."""
    data = read_config_file(path)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError([f"--set {item}: expected path.to.field=value"])
        try:
            _set_path(data, key.strip(), raw, f"--set {item}")
        except (ValueError, IndexError, TypeError, AttributeError):
            raise ConfigError([f"--set {item}: no such field path"]) from None
    _resolve_paths(data, path.parent)
    return data


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in a config mean relative to the config file, wherever `foundry` runs from."""
    verifiers = data.get("verifiers") if isinstance(data.get("verifiers"), list) else []
    judges = [v.get("judge") for v in verifiers if isinstance(v, dict)]
    engines = [("engine", judge.get("engine")) for judge in judges if isinstance(judge, dict)]
    for section, node in [(s, data.get(s)) for s in ("source", "output", "engine")] + engines:
        key = "model" if section == "engine" else "path"
        value = node.get(key) if isinstance(node, dict) else None
        if isinstance(value, str) and value.startswith("~"):
            value = node[key] = str(Path(value).expanduser())  # the shell would have; YAML does not
        if isinstance(value, str) and value and "://" not in value and not Path(value).is_absolute():
            candidate = base / value
            # A source or model that is not a local file is a hub name (`openai/gsm8k`), left as is; a source
            # that names a file format is a file, even a missing one (so the error names the right path).
            is_file = section == "source" and Path(value).suffix.lower() in (".jsonl", ".json", ".parquet")
            if section == "output" or is_file or candidate.exists():
                node[key] = str(candidate.resolve())
    resolve_quality_paths(data, base)
    tools = data["generator"].get("tools") if isinstance(data.get("generator"), dict) else None
    for tool in tools if isinstance(tools, list) else []:
        corpus = tool.get("corpus") if isinstance(tool, dict) else None
        if isinstance(corpus, str) and corpus:
            corpus = Path(corpus).expanduser()
            tool["corpus"] = str(corpus if corpus.is_absolute() else (base / corpus).resolve())
