"""CodeTestVerifier: code extraction, output comparison, the three test styles, and real HumanEval problems.

Programs run in the real bubblewrap sandbox. HumanEval rows are copied into configs/data (MIT, see
LICENSE-humaneval); tests never read anything outside the project.
"""

from __future__ import annotations

import json
import pickle
import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry.config import CodeTestVerifierConfig
from foundry.types import Sample
from foundry.verifiers import BUILDERS
from foundry.verifiers.base import VerifierChain
from foundry.verifiers.code import CodeTestVerifier, extract_code, outputs_match, values_match

HUMANEVAL = Path(__file__).resolve().parents[2] / "configs" / "data" / "humaneval-sample.jsonl"
ROWS = [json.loads(line) for line in HUMANEVAL.read_text().splitlines()]


def sample(completion: str, tests, answer: str | None = None) -> Sample:
    return Sample(id="s", task_id="t", sample_index=0, completion=completion, answer=answer, tests=tests)


def fenced(code: str) -> str:
    return f"Reasoning first.\n```python\n{code}\n```\nDone."


@pytest.fixture(scope="module")
def verifier():
    code_verifier = CodeTestVerifier(CodeTestVerifierConfig(wall_seconds=3))
    yield code_verifier
    code_verifier.close()


@pytest.fixture(scope="module")
def raw_verifier():
    """For completion-style models: the completion continues the prompt, no fences."""
    code_verifier = CodeTestVerifier(CodeTestVerifierConfig(require_fence=False, wall_seconds=3))
    yield code_verifier
    code_verifier.close()


# --- extraction ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "block", "require_fence", "expected"),
    [
        ("```python\nprint(1)\n```", "last", True, "print(1)"),
        ("a\n```python\nx = 1\n```\nb\n```py\nx = 2\n```", "last", True, "x = 2"),
        ("a\n```python\nx = 1\n```\nb\n```py\nx = 2\n```", "first", True, "x = 1"),
        ("a\n```python\nx = 1\n```\nb\n```\nx = 2\n```", "all", True, "x = 1\n\nx = 2"),
        ("```python3 title=sol.py\nx = 3\n```", "last", True, "x = 3"),
        ("```Python\nx = 4\n```", "last", True, "x = 4"),
        ("```cpp\nint main(){}\n```\n```python\nx = 5\n```", "last", True, "x = 5"),
        ("```cpp\nint main(){}\n```", "last", True, None),
        ("1. step\n   ```python\n   def f():\n       return 6\n   ```", "last", True, "def f():\n    return 6"),
        ("cut off here:\n```python\nx = 7\nfor i in", "last", True, "x = 7\nfor i in"),
        ("no fences at all", "last", True, None),
        ("no fences at all", "last", False, "no fences at all"),
        ("", "last", True, None),
        ("```python\ns = '``` inside a string'\n```", "last", True, "s = '``` inside a string'"),
    ],
)
def test_extract_code(text, block, require_fence, expected):
    assert extract_code(text, block, require_fence) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["last", "first", "all"]), st.booleans())
def test_extract_never_raises_on_arbitrary_text(text, block, require_fence):
    code = extract_code(text, block, require_fence)
    assert code is None or isinstance(code, str)
    assert code is not None or require_fence


fragments = st.sampled_from(["```", "```python", "```py x", "```c", "\n", "\r\n", "    ", "`", "x = 1", "\t", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(fragments, max_size=40).map("".join), st.sampled_from(["last", "first", "all"]))
def test_extract_never_raises_on_fence_soup(text, block):
    code = extract_code(text, block, require_fence=True)
    bare_fences = [line for line in (code or "").split("\n") if line.strip()[:3] == "```" and not line.strip("` \t")]
    assert not bare_fences  # a bare fence line always ends a block, it is never part of one


body_lines = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + "()=+:'\" #", min_size=1).filter(
        lambda line: line.strip() and not line[0].isspace()
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(body_lines, st.text(alphabet=string.ascii_letters + " .,\n", max_size=40))
def test_extract_recovers_a_fenced_block_verbatim(lines, prose):
    body = "\n".join(lines)
    assert extract_code(f"{prose}\n```python\n{body}\n```\n{prose}") == body


# --- comparison ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("got", "expected", "tolerance", "match"),
    [
        ("5\n", "5", None, True),
        ("5   \n\n\n", "5\n", None, True),
        ("1 2\r\n3\r\n", "1 2\n3\n", None, True),
        ("6\n", "5\n", None, False),
        ("5\n6\n", "5\n", None, False),
        (" 5\n", "5\n", None, False),
        ("0.3333333\n", "0.333333333\n", None, False),
        ("0.3333333\n", "0.333333333\n", 1e-6, True),
        ("0.34 x\n", "0.333333333 x\n", 1e-6, False),
        ("1e3 abc\n", "1000.0 abc\n", 1e-9, True),
        ("nan\n", "1\n", 1e-6, False),
    ],
)
def test_outputs_match(got, expected, tolerance, match):
    assert outputs_match(got, expected, tolerance) is match


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text(alphabet=" \t\n", max_size=5))
def test_outputs_match_ignores_trailing_whitespace(text, tail):
    assert outputs_match(text + tail, text)


def test_values_match():
    assert values_match([1, [2.0000001]], [1, [2]], 1e-6)
    assert not values_match([1, [2.1]], [1, [2]], 1e-6)
    assert values_match({"a": [1, 2]}, {"a": [1, 2]})
    assert not values_match({"a": 1}, {"b": 1})
    assert not values_match([1, 2], [1, 2, 3])


# --- the three test styles -------------------------------------------------------------------------------------

STDIN_TESTS = {"stdin_stdout": [{"input": f"{a} {b}\n", "output": f"{a + b}\n"} for a, b in [(1, 2), (5, 7), (0, 0)]]}


@pytest.mark.parametrize(
    ("completion", "passed", "score", "reason"),
    [
        (fenced("a, b = map(int, input().split())\nprint(a + b)"), True, 1.0, "3/3 tests passed"),
        (
            fenced("a, b = map(int, input().split())\nprint(a + b + (a == 5))"),
            False,
            2 / 3,
            "1/3 tests failed; first: case 2 expected '12\\n' got '13\\n'",
        ),
        (fenced("print(input().split()[9])"), False, 0.0, "3/3 tests failed; first: case 1: IndexError: list index"),
        (fenced("print(3)"), False, 1 / 3, "2/3 tests failed; first: case 2 expected"),
        (fenced("x = (\n"), False, 0.0, "SyntaxError: '(' was never closed (line 1)"),
        ("a, b = ...", False, 0.0, "no code block"),
    ],
)
def test_stdin_stdout(verifier, completion, passed, score, reason):
    verdict = verifier.verify(sample(completion, STDIN_TESTS))
    assert (verdict.passed, verdict.score) == (passed, pytest.approx(score))
    assert verdict.reason.startswith(reason), verdict.reason


def test_native_dataset_formats_and_json_text(verifier):
    program = fenced("print(int(input()) * 2)")
    apps = {"inputs": ["2\n", "3\n"], "outputs": ["4\n", "6\n"]}
    code_contests = {"input": ["2\n"], "output": ["4\n"]}
    for tests in (apps, code_contests, json.dumps(apps)):
        assert verifier.verify(sample(program, tests)).passed


def test_answer_is_preferred_over_reasoning(verifier):
    completion = "<think>```python\nprint(0)\n```</think>" + fenced("print(int(input()) * 2)")
    answer = fenced("print(int(input()) * 2)")
    assert verifier.verify(sample(completion, {"inputs": ["2\n"], "outputs": ["4\n"]}, answer=answer)).passed


def test_timeout_stops_the_remaining_cases(verifier):
    tests = {"stdin_stdout": [{"input": str(i), "output": str(i)} for i in range(10)]}
    completion = fenced("x = input()\nif x == '1':\n    while True: pass\nprint(x)")
    verdict = verifier.verify(sample(completion, tests))
    assert verdict.reason == "9/10 tests failed; first: timeout on case 2 (8 not run after it)"


def test_float_tolerance_and_pass_threshold():
    config = CodeTestVerifierConfig(float_tolerance=1e-4, pass_threshold=0.5, wall_seconds=3)
    tolerant = CodeTestVerifier(config)
    try:
        tests = {"stdin_stdout": [{"input": "3", "output": "0.33333333"}, {"input": "0", "output": "inf"}]}
        verdict = tolerant.verify(sample(fenced("n = int(input())\nprint(round(1 / n, 5))"), tests))
        assert verdict.passed and verdict.score == 0.5 and "ZeroDivisionError" in verdict.reason
    finally:
        tolerant.close()


ASSERTS = {
    "asserts": "import math\nassert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert math.isclose(add(0.1, 0.2), 0.3)",
    "entry_point": "add",
}
FIRST = "first: case 1 (assert add(1, 2) == 3):"


@pytest.mark.parametrize(
    ("code", "passed", "reason"),
    [
        ("def add(a, b):\n    return a + b", True, "3/3 tests passed"),
        ("def add(a, b):\n    return a - b", False, f"3/3 tests failed; {FIRST} AssertionError"),
        ("def add(a, b):\n    return int(a + b)", False, "1/3 tests failed; first: case 3 (assert math.isclose(add("),
        ("import os\nos._exit(0)\ndef add(a, b):\n    return a + b", False, f"3/3 tests failed; {FIRST} exited before"),
        ("import sys\nsys.exit(0)", False, f"3/3 tests failed; {FIRST} exited before"),
    ],
)
def test_asserts(verifier, code, passed, reason):
    verdict = verifier.verify(sample(fenced(code), ASSERTS))
    assert verdict.passed is passed and verdict.reason.startswith(reason), verdict.reason


def test_mbpp_asserts_and_plain_string_tests(verifier):
    mbpp = {"test_list": ["assert sq(2) == 4", "assert sq(3) == 9"], "test_setup_code": ""}
    assert verifier.verify(sample(fenced("def sq(x):\n    return x * x"), mbpp)).passed
    assert verifier.verify(sample(fenced("def sq(x):\n    return x * x"), "assert sq(4) == 16")).passed


CALLS = {
    "fn_name": "twoSum",
    "cases": [
        {"args": [[2, 7, 11, 15], 9], "expected": [0, 1]},
        {"args": [[3, 2, 4], 6], "expected": [1, 2]},
        {"args": [[3, 3]], "kwargs": {"target": 6}, "expected": [0, 1]},
    ],
}
LEETCODE = """
class Solution:
    def twoSum(self, nums, target):
        seen = {}
        for i, n in enumerate(nums):
            if target - n in seen:
                return [seen[target - n], i]
            seen[n] = i
"""


@pytest.mark.parametrize(
    ("code", "passed", "reason"),
    [
        (LEETCODE, True, "3/3 tests passed"),
        (LEETCODE.replace("return [seen[target - n], i]", "return (seen[target - n], i)"), True, "3/3"),
        ("def twoSum(nums, target):\n    return [0, 1]", False, "1/3 tests failed; first: case 2 expected [1, 2] got"),
        ("def twoSum(nums, target): return {1}", False, "3/3 tests failed; first: case 1 expected [0, 1] got '{1}'"),
        ("def other():\n    pass", False, "3/3 tests failed; first: case 1: NameError: name 'twoSum' is not defined"),
    ],
)
def test_function_calls(verifier, code, passed, reason):
    verdict = verifier.verify(sample(fenced(code), CALLS))
    assert verdict.passed is passed and verdict.reason.startswith(reason), verdict.reason


@pytest.mark.parametrize(
    ("tests", "reason"),
    [
        (None, "task has no tests"),
        ({"stdin_stdout": []}, "task has no tests"),
        ({"whatever": 1}, "bad tests: unrecognized tests (keys: whatever)"),
        ([1, 2], "bad tests: tests must be a mapping, got list"),
        ({"test": "def check(c): pass", "entry_point": "x; import os"}, "bad tests: entry_point"),
    ],
)
def test_bad_tests_are_rejections_not_errors(verifier, tests, reason):
    verdict = verifier.verify(sample(fenced("print(1)"), tests))
    assert not verdict.passed and verdict.reason.startswith(reason), verdict.reason


# --- HumanEval, the real thing ---------------------------------------------------------------------------------


def humaneval_tests(row: dict) -> dict:
    return {"test": row["test"], "entry_point": row["entry_point"], "prompt": row["prompt"]}


def off_by_one(solution: str) -> str | None:
    """The canonical solution with its first integer literal off by one, or None if it has none."""
    first = re.search(r"(?<![\w.])\d+(?![\w.])", solution)
    if first is None:
        return None
    return solution[: first.start()] + str(int(first.group()) + 1) + solution[first.end() :]


@pytest.mark.parametrize("row", ROWS, ids=[r["task_id"] for r in ROWS])
def test_humaneval_canonical_passes_and_broken_variants_fail(raw_verifier, verifier, row):
    tests = humaneval_tests(row)
    assert raw_verifier.verify(sample(row["canonical_solution"], tests)).passed  # body continuing the prompt
    full = fenced(row["prompt"] + row["canonical_solution"])
    assert verifier.verify(sample(full, tests)).passed  # a chat model's full function
    broken = raw_verifier.verify(sample("    return None\n", tests))
    assert not broken.passed and broken.reason.startswith("1/1 tests failed; first: check:")
    if (wrong := off_by_one(row["canonical_solution"])) is not None:
        assert not raw_verifier.verify(sample(wrong, tests)).passed


def test_humaneval_data_is_self_contained():
    assert len(ROWS) >= 20 and {"task_id", "prompt", "entry_point", "canonical_solution", "test"} <= set(ROWS[0])
    assert "MIT License" in (HUMANEVAL.parent / "LICENSE-humaneval").read_text()


# --- lifecycle -------------------------------------------------------------------------------------------------


def test_built_from_config_and_closed_by_the_chain():
    code_verifier = BUILDERS["code"](CodeTestVerifierConfig(name="tests"))
    assert isinstance(code_verifier, CodeTestVerifier) and code_verifier.name == "tests"
    chain = VerifierChain([code_verifier])
    verdicts, accepted = chain.run(sample(fenced("print(2)"), {"inputs": ["1"], "outputs": ["2"]}))
    assert accepted and verdicts[0].verifier == "tests"
    chain.close()
    assert code_verifier._sandbox is None


def test_pickles_without_its_processes_and_restarts_lazily(verifier):
    tests = {"inputs": ["1"], "outputs": ["2"]}
    verifier.verify(sample(fenced("print(2)"), tests))  # the original has a live sandbox
    copy = pickle.loads(pickle.dumps(verifier))
    try:
        assert copy._sandbox is None
        assert copy.verify(sample(fenced("print(2)"), tests)).passed
        assert verifier.verify(sample(fenced("print(2)"), tests)).passed
    finally:
        copy.close()


def test_two_workers_give_the_same_verdicts():
    parallel = CodeTestVerifier(CodeTestVerifierConfig(workers=2, wall_seconds=3))
    try:
        tests = {"stdin_stdout": [{"input": str(i), "output": str(i * i)} for i in range(12)]}
        good = parallel.verify(sample(fenced("n = int(input())\nprint(n * n)"), tests))
        bad = parallel.verify(sample(fenced("n = int(input())\nprint(n * n if n < 7 else 0)"), tests))
        assert good.passed and bad.reason == "5/12 tests failed; first: case 8 expected '49' got '0\\n'"
    finally:
        parallel.close()
