"""The campaign config: shipped configs validate, bad ones give one `file: field.path: message` line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from foundry.config import CampaignConfig, ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

MINIMAL = {"name": "t", "source": {"path": "tasks.jsonl"}, "output": {"path": "out"}}


def write(tmp_path: Path, data: dict | str, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def with_(**sections) -> dict:
    return {**MINIMAL, **sections}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    config = load_config(path)
    assert Path(config.source.path).is_file(), "shipped sources are files next to the config"
    assert Path(config.output.path).is_absolute()


def test_shipped_configs_exist():
    assert len(list(CONFIGS.glob("*.yaml"))) >= 3


# --- one line per problem, named by file and field path ---------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_(sampling={"temperature": -0.5}), "sampling.temperature: Input should be greater than or equal to 0"),
        (with_(sampling={"temprature": 0.5}), "sampling.temprature: unknown field"),
        (with_(verifiers=[{"kind": "length", "max_tokens": 0}]),
         "verifiers.0.max_tokens: Input should be greater than or equal to 1"),
        (with_(verifiers=[{"kind": "sections"}, {"kind": "regex", "pattern": "x", "must_mach": True}]),
         "verifiers.1.must_mach: unknown field"),
        (with_(verifiers=[{"kind": "math", "reference_pattern": 5}]),
         "verifiers.0.reference_pattern: Input should be a valid string"),
        ({"name": "t", "source": {"path": "tasks.jsonl"}}, "output: Field required"),
        (with_(name="has space"), "name: String should match pattern"),
        (with_(stop_after_accepted=2),
         "stop_after_accepted needs max_samples_per_task (the most samples to try per task)"),
        (with_(verifiers=[{"kind": "length"}, {"kind": "length"}]), "verifier names must be unique"),
        (with_(source={"path": "t.jsonl", "format": "csv"}), "source.format: Input should be"),
    ],
    ids=["negative-temperature", "typo", "verifier-field", "verifier-unknown-field", "verifier-type",
         "missing-output", "bad-name", "stop-without-max", "duplicate-verifiers", "bad-format"],
)
def test_a_bad_config_names_the_file_and_the_field(tmp_path, data, expected):
    path = write(tmp_path, data)
    lines = problems(path)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: {expected}")


def test_verifier_errors_name_the_list_index_not_the_kind_tag(tmp_path):
    path = write(tmp_path, with_(verifiers=[{"kind": "sections"}, {"kind": "length", "min_tokens": -1}]))
    [line] = problems(path)
    assert f"{path}: verifiers.1.min_tokens:" in line
    assert "length" not in line.split(": ")[1]


def test_every_problem_gets_its_own_line(tmp_path):
    data = {"name": "t", "source": {"path": "x.jsonl"}, "sampling": {"temperature": -1, "top_p": 2, "nope": 1}}
    path = write(tmp_path, data)
    lines = problems(path)
    fields = sorted(line.removeprefix(f"{path}: ").split(":")[0] for line in lines)
    assert fields == ["output", "sampling.nope", "sampling.temperature", "sampling.top_p"]


def test_an_unknown_verifier_kind_names_the_list_entry(tmp_path):
    [line] = problems(write(tmp_path, with_(verifiers=[{"kind": "telepathy"}])))
    assert ": verifiers.0.kind: unknown kind 'telepathy' (one of 'math', " in line


def test_a_bad_weight_names_its_verifier(tmp_path):
    # A dict key equal to a verifier kind (`math` is also the default verifier name) is a real key, not a union tag.
    path = write(tmp_path, with_(verifiers=[{"kind": "math"}], acceptance={"mode": "weighted",
                                                                             "weights": {"math": "heavy"}}))
    [line] = problems(path)
    assert line.startswith(f"{path}: acceptance.weights.math: ")


@pytest.mark.parametrize(
    ("section", "field"),
    [({"verifiers": [{"kind": "regex", "pattern": "([a-z]"}]}, "verifiers.0.pattern"),
     ({"generator": {"answer_patterns": ["boxed", "answer: (\\d+"]}}, "generator.answer_patterns"),
     ({"verifiers": [{"kind": "math", "reference_pattern": "#### (.+"}]}, "verifiers.0.reference_pattern")],
    ids=["regex-verifier", "answer-pattern", "reference-pattern"],
)
def test_an_invalid_regex_is_a_config_error(tmp_path, section, field):
    # Compiled at validation, so `foundry validate` catches it rather than the run.
    path = write(tmp_path, with_(**section))
    [line] = problems(path)
    assert line.startswith(f"{path}: {field}")
    assert "invalid regex" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [("name: [unclosed", "not valid YAML: line 1: "),
     ("- a\n- b\n", "expected a mapping (name: ..., source: ...) at the top level, found a list"),
     ("", "the config is empty")],
)
def test_a_file_that_is_not_a_yaml_mapping_is_one_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    [line] = problems(path)
    assert line.startswith(f"{path}: {expected}")
    assert "\n" not in line


def test_a_missing_config_file_is_a_config_error(tmp_path):
    assert problems(tmp_path / "nowhere.yaml") == [f"{tmp_path / 'nowhere.yaml'}: no such file"]


# --- --set overrides --------------------------------------------------------------------------------------------

@pytest.fixture
def base(tmp_path) -> Path:
    return write(tmp_path, with_(
        sampling={"temperature": 0.7},
        verifiers=[{"kind": "length", "max_tokens": 100}, {"kind": "regex", "pattern": "a"}],
        generator={"structured_outputs": {"regex": "x"}},
    ))


def test_set_parses_values_as_yaml(base):
    config = load_config(base, [
        "sampling.temperature=0.25",
        "sampling.n=4",
        "engine.enforce_eager=true",
        "generator.structured_outputs=null",
        "sampling.stop=[\"\\n\\n\", END]",  # YAML double quotes: escapes are decoded
        "generator.system_prompt=",
    ])
    assert config.sampling.temperature == 0.25
    assert config.sampling.n == 4 and isinstance(config.sampling.n, int)
    assert config.engine.enforce_eager is True
    assert config.generator.structured_outputs is None
    assert config.sampling.stop == ["\n\n", "END"]
    assert config.generator.system_prompt == ""


def test_set_creates_nested_sections_and_indexes_lists(base):
    config = load_config(base, ["verifiers.1.pattern=b+", "verifiers.0.max_tokens=7", "source.limit=3",
                                "source.fields.prompt=question", "engine.extra_args.max_num_batched_tokens=1024"])
    assert config.verifiers[1].pattern == "b+"
    assert config.verifiers[0].max_tokens == 7
    assert config.source.limit == 3 and config.source.fields.prompt == "question"
    assert config.source.fields.id == "id", "other mapped fields keep their defaults"
    assert config.engine.extra_args == {"max_num_batched_tokens": 1024}


def test_later_overrides_win(base):
    assert load_config(base, ["sampling.n=2", "sampling.n=5"]).sampling.n == 5


def test_an_override_is_validated_like_the_file(base):
    lines = problems(base, ["sampling.temperature=-1"])
    assert lines == [f"{base}: sampling.temperature: Input should be greater than or equal to 0"]
    assert problems(base, ["sampling.temprature=1"]) == [f"{base}: sampling.temprature: unknown field"]


@pytest.mark.parametrize(
    "item",
    ["verifiers.5.pattern=b", "verifiers.x.pattern=b", "name.first=1", "sampling.temperature.x=1",
     "verifiers.-9.name=x"],
)
def test_an_override_with_no_such_path_is_a_config_error(base, item):
    assert problems(base, [item]) == [f"--set {item}: no such field path"]


@pytest.mark.parametrize("item", ["sampling.temperature", "=0.5"])
def test_an_override_without_path_and_value_is_a_config_error(base, item):
    assert problems(base, [item]) == [f"--set {item}: expected path.to.field=value"]


def test_overrides_do_not_change_the_file(base):
    before = base.read_text()
    load_config(base, ["sampling.n=3"])
    assert base.read_text() == before


# --- paths ------------------------------------------------------------------------------------------------------

def test_relative_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "campaigns"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "tasks.jsonl").write_text('{"prompt": "p"}\n')
    (folder / "model").mkdir()
    path = write(folder, with_(source={"path": "data/tasks.jsonl"}, output={"path": "../out/run"},
                               engine={"model": "model"}))
    monkeypatch.chdir(tmp_path)  # anywhere but the config's folder
    config = load_config(path)
    assert config.source.path == str(folder / "data" / "tasks.jsonl")
    assert config.output.path == str(tmp_path / "out" / "run")
    assert config.engine.model == str(folder / "model")


def test_hub_names_absolute_paths_and_urls_are_left_alone(tmp_path):
    path = write(tmp_path, with_(source={"path": "openai/gsm8k", "format": "hf", "subset": "main"},
                                 output={"path": "s3://bucket/prefix"}, engine={"model": "Qwen/Qwen2.5-7B-Instruct"}))
    config = load_config(path)
    assert config.source.path == "openai/gsm8k"
    assert config.output.path == "s3://bucket/prefix"
    assert config.engine.model == "Qwen/Qwen2.5-7B-Instruct"
    absolute = write(tmp_path, with_(source={"path": "/data/tasks.jsonl"}, output={"path": "/data/out"}), "abs.yaml")
    config = load_config(absolute)
    assert (config.source.path, config.output.path) == ("/data/tasks.jsonl", "/data/out")


def test_a_relative_set_path_resolves_against_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "other.jsonl").write_text('{"prompt": "p"}\n')
    path = write(tmp_path, MINIMAL)
    monkeypatch.chdir("/")
    assert load_config(path, ["source.path=other.jsonl"]).source.path == str(tmp_path / "other.jsonl")


def test_a_missing_local_source_still_resolves_against_the_config_file(tmp_path, monkeypatch):
    # Else the run would read a same-named file in the working directory, or name the wrong path in its error.
    campaigns, elsewhere = tmp_path / "campaigns", tmp_path / "elsewhere"
    campaigns.mkdir()
    elsewhere.mkdir()
    (elsewhere / "tasks.jsonl").write_text('{"prompt": "a different file"}\n')
    path = write(campaigns, MINIMAL)
    monkeypatch.chdir(elsewhere)
    assert load_config(path).source.path == str(campaigns / "tasks.jsonl")


# --- derived values ---------------------------------------------------------------------------------------------

def test_config_hash_is_stable_and_ignores_the_cluster_address(tmp_path):
    path = write(tmp_path, MINIMAL)
    first = load_config(path).config_hash()
    assert first == load_config(path).config_hash()
    assert len(first) == 16 and int(first, 16) >= 0
    assert load_config(path, ["cluster.address=ray://head:10001"]).config_hash() == first
    assert load_config(path, ["sampling.temperature=0.3"]).config_hash() != first
    assert load_config(path, ["verifiers=[{kind: sections}]"]).config_hash() != first


def test_config_hash_ignores_key_order(tmp_path):
    a = write(tmp_path, "name: t\nsource: {path: x.jsonl}\noutput: {path: out}\nsampling: {n: 2, top_p: 0.5}\n",
              "a.yaml")
    b = write(tmp_path, "sampling: {top_p: 0.5, n: 2}\noutput: {path: out}\nsource: {path: x.jsonl}\nname: t\n",
              "b.yaml")
    assert load_config(a).config_hash() == load_config(b).config_hash()


def test_stop_after_accepted_with_a_sample_budget_is_fine(tmp_path):
    config = load_config(write(tmp_path, with_(stop_after_accepted=2, max_samples_per_task=8)))
    assert config.samples_per_task == 8


def test_samples_per_task_defaults_to_n(tmp_path):
    assert load_config(write(tmp_path, with_(sampling={"n": 6}))).samples_per_task == 6


def test_engine_args_pass_extra_args_through_and_drop_unset_fields():
    config = CampaignConfig.model_validate(with_(engine={
        "model": "m", "max_model_len": 2048, "extra_args": {"max_num_batched_tokens": 4096, "kv_cache_dtype": "fp8"},
        "env": {"VLLM_CPU_KVCACHE_SPACE": "4"},
    }))
    args = config.engine.engine_args()
    assert args["model"] == "m" and args["max_model_len"] == 2048
    assert args["max_num_batched_tokens"] == 4096 and args["kv_cache_dtype"] == "fp8"
    assert "extra_args" not in args and "env" not in args
    assert "tokenizer" not in args and "max_num_seqs" not in args, "None fields are left to vLLM's defaults"


def test_sampling_params_keep_vllm_names_and_drop_unset_fields():
    config = CampaignConfig.model_validate(with_(sampling={"n": 3, "temperature": 0.6, "stop": ["\n"]}))
    params = config.sampling.params()
    assert params == {"n": 3, "temperature": 0.6, "top_p": 1.0, "max_tokens": 512, "stop": ["\n"],
                      "ignore_eos": False}


def test_the_readme_campaign_example_is_a_valid_config(tmp_path):
    """The README's annotated campaign must keep up with the config models (unknown keys are errors)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("## A campaign", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "readme.yaml").write_text(example)
    config = load_config(tmp_path / "readme.yaml")
    assert config.output.path.startswith("s3://") and config.output.retry_mode == "standard"


# --- executor limits: store outages, the commit buffer, infrastructure retries ----------------------------------

def test_executor_limits_have_their_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert (config.output.max_outage_seconds, config.output.commit_queue_tasks) == (300, 4096)
    assert (config.cluster.infra_retries, config.cluster.infra_backoff_seconds) == (4, 1.0)


def test_executor_limits_can_be_set(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), ["output.max_outage_seconds=0", "output.commit_queue_tasks=1",
                                                    "cluster.infra_retries=0", "cluster.infra_backoff_seconds=30"])
    assert (config.output.max_outage_seconds, config.output.commit_queue_tasks) == (0, 1)
    assert (config.cluster.infra_retries, config.cluster.infra_backoff_seconds) == (0, 30)


@pytest.mark.parametrize(
    ("item", "expected"),
    [("output.max_outage_seconds=-1", "output.max_outage_seconds: Input should be greater than or equal to 0"),
     ("output.commit_queue_tasks=0", "output.commit_queue_tasks: Input should be greater than or equal to 1"),
     ("cluster.infra_retries=-1", "cluster.infra_retries: Input should be greater than or equal to 0"),
     ("cluster.infra_backoff_seconds=-0.5",
      "cluster.infra_backoff_seconds: Input should be greater than or equal to 0"),
     ("cluster.infra_backoff_seconds=31", "cluster.infra_backoff_seconds: Input should be less than or equal to 30")],
)
def test_executor_limits_out_of_range_are_config_errors(tmp_path, item, expected):
    path = write(tmp_path, MINIMAL)
    assert problems(path, [item]) == [f"{path}: {expected}"]


def test_executor_limits_do_not_change_the_config_hash(tmp_path):
    # They say how the run copes with failures, not what it generates: a resumed run may change them.
    path = write(tmp_path, MINIMAL)
    assert load_config(path, ["output.max_outage_seconds=10", "cluster.infra_retries=9"]).config_hash() \
        == load_config(path).config_hash()
