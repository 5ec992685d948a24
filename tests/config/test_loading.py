"""Reading a config file as a new user writes it: every way the file or a `--set` can be wrong is one line that
names the file (and line) or the override, never a traceback and never a silent surprise."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from foundry.config import ConfigError, load_config, load_verify_config

MINIMAL = "name: t\nsource: {path: tasks.jsonl}\noutput: {path: out}\n"


def write(tmp_path: Path, content: str | bytes, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    assert all("\n" not in line for line in caught.value.problems)
    return caught.value.problems


# --- duplicate keys (defect 7) ------------------------------------------------------------------------------------

def test_a_second_sampling_block_is_rejected_with_its_line(tmp_path):
    path = write(tmp_path, MINIMAL + "sampling:\n  n: 2\n  temperature: 0.5\nsampling:\n  n: 8\n")
    assert problems(path) == [f"{path}: line 7: duplicate key 'sampling'"]


@pytest.mark.parametrize(
    ("body", "line", "key"),
    [(MINIMAL + "sampling: {n: 2, temperature: 0.5, n: 4}\n", 4, "n"),
     (MINIMAL + "verifiers:\n  - kind: length\n    max_tokens: 10\n    max_tokens: 20\n", 7, "max_tokens"),
     (MINIMAL + "engine:\n  extra_args:\n    block_size: 16\n    block_size: 32\n", 7, "block_size"),
     ("name: t\nname: u\nsource: {path: tasks.jsonl}\noutput: {path: out}\n", 2, "name")],
    ids=["flow-mapping", "inside-a-list-item", "free-form-dict", "top-level-first-line"],
)
def test_duplicate_keys_are_rejected_at_any_depth(tmp_path, body, line, key):
    path = write(tmp_path, body)
    assert problems(path) == [f"{path}: line {line}: duplicate key '{key}'"]


def test_keys_that_differ_only_in_case_are_not_duplicates(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "engine:\n  env: {HOME_DIR: a, home_dir: b}\n"))
    assert config.engine.env == {"HOME_DIR": "a", "home_dir": "b"}


def test_merge_keys_may_be_overridden_without_counting_as_duplicates(tmp_path):
    # `<<: *anchor` then an explicit key is YAML's way to override a shared block, even through two merges.
    path = write(tmp_path, MINIMAL + (
        "verifiers:\n"
        "  - &a {kind: length, name: a, max_tokens: 100}\n"
        "  - &b\n    <<: *a\n    name: b\n"
        "  - <<: *b\n    name: c\n    max_tokens: 300\n"
    ))
    config = load_config(path)
    assert [(v.name, v.max_tokens) for v in config.verifiers] == [("a", 100), ("b", 100), ("c", 300)]


def test_a_duplicate_key_in_a_set_value_names_the_override(tmp_path):
    path = write(tmp_path, MINIMAL)
    item = "sampling={n: 1, temperature: 0.2, n: 2}"
    assert problems(path, [item]) == [f"--set {item}: duplicate key 'n'"]


# --- bytes that are not a YAML text (defect 8) --------------------------------------------------------------------

@pytest.mark.parametrize(
    "content",
    [b"name: caf\xe9\nsource: {path: tasks.jsonl}\noutput: {path: out}\n",  # Latin-1, as old editors save it
     "name: t\n".encode("utf-16"),  # Windows "Unicode"
     bytes(range(256)) * 8],  # a binary file passed by mistake
    ids=["latin-1", "utf-16", "binary"],
)
def test_a_file_that_is_not_utf8_is_one_line(tmp_path, content):
    path = write(tmp_path, content)
    [line] = problems(path)
    assert line.startswith(f"{path}: not a UTF-8 text file")


def test_a_file_with_nul_bytes_is_not_a_text_file(tmp_path):
    path = write(tmp_path, b"name: t\n\x00\x00\x00\x00")
    assert problems(path) == [f"{path}: not a text file (it holds NUL bytes)"]


def test_a_utf8_file_with_a_byte_order_mark_loads(tmp_path):
    assert load_config(write(tmp_path, "\ufeff" + MINIMAL)).name == "t"


def test_non_ascii_utf8_text_loads(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "generator: {system_prompt: 'Réponds en français — 答え'}\n"))
    assert config.generator.system_prompt == "Réponds en français — 答え"


# --- --set values that are not YAML (defect 8) --------------------------------------------------------------------

def test_a_set_value_that_is_not_valid_yaml_names_the_override(tmp_path):
    path = write(tmp_path, MINIMAL)
    item = 'generator.answer_patterns=["\\s"]'  # `\s` is not an escape of YAML's double quotes
    [line] = problems(path, [item])
    assert line.startswith(f"--set {item}: not valid YAML: ")
    assert "single quotes" in line, "the usual cause (a backslash in double quotes) gets its fix"


def test_the_same_pattern_in_single_quotes_is_fine(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), ["generator.answer_patterns=['\\s(\\d+)']"])
    assert config.generator.answer_patterns == ["\\s(\\d+)"]


@pytest.mark.parametrize("value", ["[unclosed", "{a: 1", "a: b: c", "!!python/object/apply:os.system [ls]"])
def test_other_unparseable_set_values_are_one_line(tmp_path, value):
    item = f"generator.system_prompt={value}"
    [line] = problems(write(tmp_path, MINIMAL), [item])
    assert line.startswith(f"--set {item}: not valid YAML: ")


# --- YAML syntax errors name the line -----------------------------------------------------------------------------

def test_a_tab_in_the_indentation_names_its_line(tmp_path):
    path = write(tmp_path, MINIMAL + "sampling:\n  n: 2\n\ttemperature: 0.5\n")
    [line] = problems(path)
    assert line.startswith(f"{path}: not valid YAML: line 6: ")
    assert line.endswith("indent with spaces, not tabs")


def test_an_unclosed_bracket_names_where_it_was_opened(tmp_path):
    path = write(tmp_path, "name: t\nsource: {path: tasks.jsonl\noutput: {path: out}\n")
    [line] = problems(path)
    assert re.match(rf"{re.escape(str(path))}: not valid YAML: line \d+: .*line 2\b", line), line


def test_a_python_object_tag_is_refused_not_executed(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, MINIMAL + f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    [line] = problems(path)
    assert line.startswith(f"{path}: not valid YAML: line 4: ")
    assert not marker.exists()


def test_two_yaml_documents_are_one_line(tmp_path):
    path = write(tmp_path, MINIMAL + "---\nname: u\n")
    [line] = problems(path)
    assert line == (f"{path}: not valid YAML: line 4: expected a single document in the stream, "
                    "but found another document")


# --- paths and shapes a new user trips on --------------------------------------------------------------------------

def test_a_directory_is_not_a_config_file(tmp_path):
    assert problems(tmp_path) == [f"{tmp_path}: is a directory, not a config file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_one_line(tmp_path):
    path = write(tmp_path, MINIMAL)
    path.chmod(0)
    assert problems(path) == [f"{path}: cannot read: Permission denied"]


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_a_file_the_kernel_refuses_to_read_is_one_line():
    # /proc/self/mem refuses a plain read (EIO) even to root: the general "cannot read" path.
    assert problems(Path("/proc/self/mem")) == ["/proc/self/mem: cannot read: Input/output error"]


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n", "---\n"], ids=["empty", "blank",
                                                                                     "comment", "document-start"])
def test_an_empty_config_says_so(tmp_path, content):
    path = write(tmp_path, content)
    assert problems(path) == [f"{path}: the config is empty (expected name, source, output, ...)"]


@pytest.mark.parametrize(
    ("content", "found"),
    [("- name: t\n- source: x\n", "a list"), ("just some words\n", "the string 'just some words'"),
     ("42\n", "an integer")],
)
def test_a_top_level_that_is_not_a_mapping_says_what_it_found(tmp_path, content, found):
    path = write(tmp_path, content)
    assert problems(path) == [f"{path}: expected a mapping (name: ..., source: ...) at the top level, found {found}"]


def test_a_section_that_is_not_a_mapping_is_a_field_error(tmp_path):
    path = write(tmp_path, MINIMAL + "sampling: 4\n")
    [line] = problems(path)
    assert line.startswith(f"{path}: sampling: ")


def test_a_non_string_top_level_key_is_a_field_error(tmp_path):
    path = write(tmp_path, MINIMAL + "1: one\nnull: none\n")
    assert sorted(problems(path)) == [f"{path}: 1: Keys should be strings", f"{path}: None: Keys should be strings"]


def test_a_set_into_a_section_that_is_not_a_mapping_names_the_override(tmp_path):
    path = write(tmp_path, MINIMAL + "sampling: 4\n")
    assert problems(path, ["sampling.n=2"]) == ["--set sampling.n=2: no such field path"]


# --- shapes pydantic would describe in its own terms ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("extra", "expected"),
    [("source: tasks.jsonl\n", "source: expected a mapping of fields (key: value), found the string 'tasks.jsonl'"),
     ("sampling:\n", "sampling: expected a mapping of fields (key: value), found nothing (an empty value)"),
     ("generator: reasoning\n", "generator: expected a mapping of fields (key: value), found the string 'reasoning'"),
     ("verifiers: [math]\n", "verifiers.0: expected a mapping of fields (key: value), found the string 'math'")],
    ids=["source-as-a-path", "empty-section", "generator-as-a-name", "verifier-as-a-name"],
)
def test_a_section_given_as_a_plain_value_says_what_it_found(tmp_path, extra, expected):
    body = MINIMAL.replace("source: {path: tasks.jsonl}\n", "") if extra.startswith("source") else MINIMAL
    path = write(tmp_path, body + extra)
    assert problems(path) == [f"{path}: {expected}"]


def test_an_unknown_kind_names_the_kind_field_and_the_choices(tmp_path):
    path = write(tmp_path, MINIMAL + "generator: {kind: reason}\nverifiers: [{kind: maths}]\n")
    assert sorted(problems(path)) == [
        f"{path}: generator.kind: unknown kind 'reason' (one of 'reasoning', 'tool_use')",
        f"{path}: verifiers.0.kind: unknown kind 'maths' (one of 'math', 'regex', 'length', 'sections', 'code', "
        "'rubric', 'trace')",
    ]


def test_a_missing_kind_names_the_kind_field_and_the_choices(tmp_path):
    path = write(tmp_path, MINIMAL + "verifiers: [{name: x}]\n"
                                     "generator: {kind: tool_use, tools: [{name: py}]}\n")
    assert sorted(problems(path)) == [
        f"{path}: generator.tools.0.kind: Field required (one of 'python', 'search', 'function')",
        f"{path}: verifiers.0.kind: Field required (one of 'math', 'regex', 'length', 'sections', 'code', 'rubric', "
        "'trace')",
    ]


# --- paths as a shell user writes them ----------------------------------------------------------------------------

def test_a_home_relative_path_means_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    path = write(tmp_path / "home" / "data", "name: t\nsource: {path: ~/data/tasks.jsonl}\noutput: {path: ~/out}\n"
                 "generator: {kind: tool_use, tools: [{kind: search, corpus: ~/data/corpus.jsonl}]}\n")
    config = load_config(path)
    assert config.source.path == str(home / "data" / "tasks.jsonl")
    assert config.output.path == str(home / "out")
    assert config.generator.tools[0].corpus == str(home / "data" / "corpus.jsonl")


def test_a_local_judge_model_resolves_against_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "judge-model").mkdir()
    path = write(tmp_path, MINIMAL + "verifiers:\n  - kind: rubric\n    criteria: [{name: a, description: b}]\n"
                                     "    judge: {kind: replicas, engine: {model: judge-model}}\n")
    monkeypatch.chdir("/")
    assert load_config(path).verifiers[0].judge.engine.model == str(tmp_path / "judge-model")


@pytest.mark.parametrize("field", ["output.path", "source.path", "generator.tools.0.corpus"])
def test_an_empty_path_is_an_error_not_the_config_folder(tmp_path, field):
    # Resolved against the config file, "" would have meant the config's own folder.
    path = write(tmp_path, MINIMAL + "generator: {kind: tool_use, tools: [{kind: search, corpus: c.jsonl}]}\n")
    assert problems(path, [f"{field}="]) == [f"{path}: {field}: String should have at least 1 character"]


def test_a_verify_config_may_hold_only_verifiers(tmp_path):
    path = tmp_path / "checks.yaml"
    path.write_text("verifiers:\n  - {kind: math}\nacceptance: {mode: any}\n"
                    "generator: {answer_patterns: ['answer: (\\d+)']}\n")
    config = load_verify_config(path)
    assert [v.kind for v in config.verifiers] == ["math"] and config.acceptance.mode == "any"
    assert config.generator.answer_patterns[0] == "answer: (\\d+)"


def test_a_verify_config_with_campaign_only_fields_names_them(tmp_path):
    path = tmp_path / "checks.yaml"
    path.write_text("verifiers:\n  - {kind: math}\nsampling: {n: 4}\n")
    with pytest.raises(ConfigError) as caught:
        load_verify_config(path)
    assert caught.value.problems == [f"{path}: sampling: unknown field (a verify config holds verifiers, acceptance, "
                                     "generator, cluster)"]


def test_a_whole_campaign_is_still_a_verify_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: full\nsource: {path: tasks.jsonl}\noutput: {path: out}\nverifiers:\n  - {kind: math}\n")
    assert load_verify_config(path).name == "full"
