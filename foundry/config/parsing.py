"""Config text to plain data: strict YAML (a key given twice is an error, not a silent override), and every way a
file or a `--set` value can fail to parse turned into one line that names it (and the line, for a file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_DATA_SUFFIXES = (".jsonl", ".parquet", ".arrow")
"""What `foundry run tasks.jsonl` means: the data file passed where the campaign config goes."""


class ConfigError(Exception):
    """A bad config: `problems` holds one `file: field.path: message` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(f"duplicate key {key!r}")
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a mapping may not hold the same key twice (PyYAML keeps the last one, so a
    second `sampling:` block would silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self._check_unique(node)
        return super().construct_mapping(node, deep=deep)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # A merge (`<<: *base`) copies base's keys into the node, and may do so before base itself is constructed:
        # check the keys written in each mapping before any merge adds to them. A key written after a merge
        # overrides the merged one; that is what merges are for, not a duplicate.
        self._check_unique(node)
        super().flatten_mapping(node)

    def _check_unique(self, node: yaml.MappingNode) -> None:
        checked = self.__dict__.setdefault("_checked", set())
        if node in checked:
            return
        checked.add(node)
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # complex keys are left to PyYAML (which refuses unhashable ones)
            key = self.construct_object(key_node)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)


def read_config_file(path: Path) -> dict[str, Any]:
    """The top-level mapping of a config file, or a ConfigError with one line naming the file."""
    if path.suffix.lower() in _DATA_SUFFIXES and path.is_file():
        raise ConfigError([f"{path}: a {path.suffix} file is data, not a campaign config (a YAML config names it "
                           "in source.path)"])
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not part of the text
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError([f"{path}: not a UTF-8 text file (line {line}: byte 0x{raw[exc.start]:02x}); "
                           "save it as UTF-8"]) from None
    if "\0" in text:
        raise ConfigError([f"{path}: not a text file (it holds NUL bytes)"])
    data = parse_yaml(text, str(path), with_lines=True)
    if data is None:
        raise ConfigError([f"{path}: the config is empty (expected name, source, output, ...)"])
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping (name: ..., source: ...) at the top level, "
                           f"found {describe_value(data)}"])
    return data


def parse_yaml(text: str, where: str, with_lines: bool) -> Any:
    """Parse strict YAML; problems become one line `where: ...` (`with_lines`: say which line, for files)."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError([f"{where}: line {exc.line}: {exc}" if with_lines else f"{where}: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{where}: not valid YAML: {_yaml_problem(exc, text, with_lines)}"]) from None
    except RecursionError:
        raise ConfigError([f"{where}: not valid YAML: nested too deeply"]) from None


def _yaml_problem(exc: yaml.YAMLError, text: str, with_lines: bool) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem and exc.problem.startswith("but "):  # "expected X" + "but found Y"
            problem = f"{exc.context}, {exc.problem}"
        elif exc.context and exc.problem:
            opened = exc.context_mark and mark and exc.context_mark.line != mark.line
            problem += f" ({exc.context} on line {exc.context_mark.line + 1})" if opened and with_lines else (
                f" ({exc.context})")
        if "unknown escape character" in problem:
            problem += "; a backslash in double quotes starts an escape: use single quotes ('\\s+') or double it"
        elif "'\\t' that cannot start any token" in problem:
            problem += "; indent with spaces, not tabs"
        where = mark.line + 1 if mark else None
    elif isinstance(exc, yaml.reader.ReaderError):
        problem = f"unacceptable character #x{exc.character:04x}: control characters are not allowed"
        where = text[:exc.position].count("\n") + 1
    else:
        problem, where = (str(exc).strip().splitlines() or [type(exc).__name__])[0], None
    return f"line {where}: {problem}" if with_lines and where else problem


def describe_value(value: Any) -> str:
    """What a YAML value is, as a user would say it: `a list`, `the string 'tasks.jsonl'`, `nothing`."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, str):
        return f"the string {value if len(value) <= 40 else value[:37] + '...'!r}"
    names = {list: "a list", int: "an integer", float: "a number", bool: "a boolean", dict: "a mapping"}
    return names.get(type(value), f"a {type(value).__name__}")
