"""YAML on disk to a validated `CampaignConfig`, with every problem as one `file: field.path: message` line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from foundry.config.campaign import CampaignConfig
from foundry.config.generators import _UNION_TAGS
from foundry.config.verifiers import _VERIFIER_KINDS


class ConfigError(Exception):
    """A bad config: `problems` holds one `file: field.path: message` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _set_path(data: dict[str, Any], dotted: str, raw: str) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    value = yaml.safe_load(raw) if raw != "" else ""
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
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def load_config(path: str | Path, overrides: list[str] | None = None) -> CampaignConfig:
    """Read a campaign YAML, apply `--set a.b=value` overrides, validate; relative paths resolve against the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}".splitlines()[0]]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError([f"--set {item}: expected path.to.field=value"])
        try:
            _set_path(data, key.strip(), raw)
        except (ValueError, IndexError, TypeError, AttributeError):
            raise ConfigError([f"--set {item}: no such field path"]) from None
    _resolve_paths(data, path.parent)
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {_describe(e, data)}" for e in exc.errors()]) from None


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in a config mean relative to the config file, wherever `foundry` runs from."""
    for section, key in (("source", "path"), ("output", "path"), ("engine", "model")):
        node = data.get(section)
        value = node.get(key) if isinstance(node, dict) else None
        if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
            candidate = base / value
            # A source or model that is not a local file is a hub name (`openai/gsm8k`), left as is; a source
            # that names a file format is a file, even a missing one (so the error names the right path).
            is_file = section == "source" and Path(value).suffix.lower() in (".jsonl", ".json", ".parquet")
            if section == "output" or is_file or candidate.exists():
                node[key] = str(candidate.resolve())
    tools = data["generator"].get("tools") if isinstance(data.get("generator"), dict) else None
    for tool in tools if isinstance(tools, list) else []:
        corpus = tool.get("corpus") if isinstance(tool, dict) else None
        if isinstance(corpus, str) and not Path(corpus).is_absolute():
            tool["corpus"] = str((base / corpus).resolve())
