"""The code-test verifier: extract the program from a completion, run it against the task's tests in the sandbox.

Three test styles are understood (from `sample.tests`, a dict or its JSON text):
- stdin/stdout cases: `{"stdin_stdout": [{"input": ..., "output": ...}]}` (also APPS `{"inputs", "outputs"}` and
  CodeContests `{"input", "output"}` lists);
- asserts: `{"asserts": "assert f(1) == 2\\n..." | [...], "entry_point": "f"}` (also MBPP `test_list`), or HumanEval's
  `{"test": "def check(candidate): ...", "entry_point": "f"}`;
- function calls: `{"fn_name": "twoSum", "cases": [{"args": [...], "kwargs": {...}, "expected": ...}]}`.
An optional `"prompt"` holds code the completion continues (HumanEval's stub); a completion that redefines the entry
point replaces it. Each test is one sandbox execution with its own timeout; outputs are compared on the host.
"""

from __future__ import annotations

import ast
import json
import math
import re
import secrets
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from foundry.config import CodeTestVerifierConfig
from foundry.types import Sample, Verdict
from foundry.verifiers.base import accept, reject
from foundry.verifiers.sandbox import ExecResult, Sandbox, SandboxLimits, SandboxUnavailable

PYTHON_FENCES = {"", "python", "py", "python3", "py3"}
COMPILE_ERRORS = ("SyntaxError", "IndentationError", "TabError")
_NO_VALUE = object()


def extract_code(text: str, block: Literal["last", "first", "all"] = "last", require_fence: bool = True) -> str | None:
    """The program in `text`: its Python fenced blocks (last, first or all joined); without fences the whole text,
    or None when `require_fence`. Never raises."""
    blocks = fenced_blocks(text)
    if not blocks:
        return None if require_fence else text
    if block == "first":
        return blocks[0]
    if block == "all":
        return "\n\n".join(blocks)
    return blocks[-1]


def fenced_blocks(text: str) -> list[str]:
    """Bodies of ``` fences tagged python (or untagged), in order; an unclosed last fence runs to the end."""
    blocks: list[str] = []
    body: list[str] | None = None
    wanted = False
    for line in text.split("\n"):
        stripped = line.strip()
        if body is None:
            if stripped.startswith("```"):
                tag = stripped[3:].strip().lower()
                wanted = (tag.split()[0] if tag else "") in PYTHON_FENCES
                body = []
        elif stripped.startswith("```") and not stripped.strip("`"):
            if wanted:
                blocks.append(textwrap.dedent("\n".join(body)))
            body = None
        else:
            body.append(line)
    if body and wanted:  # the model was cut off inside its last block
        blocks.append(textwrap.dedent("\n".join(body)))
    return blocks


@dataclass(frozen=True)
class TestCase:
    """One sandbox execution and what must come out of it."""

    label: str
    program: str
    stdin: str = ""
    expected_stdout: str | None = None
    """Compared with the program's stdout (stdin/stdout style)."""
    expected_value: Any = _NO_VALUE
    """Compared with the value printed after the marker (function-call style)."""


class TestFormatError(ValueError):
    """`sample.tests` is in no style this verifier knows."""


def build_cases(code: str, tests: Any, marker: str) -> list[TestCase]:
    """The executions that test `code`; `marker` is printed by the harness only once a test has really finished."""
    spec = _normalize(tests)
    if "stdin_stdout" in spec:
        return [
            TestCase(f"case {i}", code, stdin=_text(case["input"]), expected_stdout=_text(case["output"]))
            for i, case in enumerate(spec["stdin_stdout"], 1)
        ]
    for key in ("entry_point", "fn_name"):
        if spec.get(key) is not None and not str(spec[key]).isidentifier():
            raise TestFormatError(f"{key} {spec[key]!r} is not a Python name")
    program = _with_prompt(code, spec)
    done = f"\nprint({marker!r})\n"
    if "test" in spec:
        entry = spec.get("entry_point")
        call = f"\ncheck({entry})\n" if entry else "\n"
        return [TestCase("check", f"{program}\n\n{spec['test']}\n{call}{done}")]
    if "asserts" in spec:
        setup, asserts = _split_asserts(spec["asserts"])
        setup = "\n".join(filter(None, [spec.get("setup", ""), setup]))
        return [
            TestCase(f"case {i} ({_preview(line, 60, quote=False)})", f"{program}\n\n{setup}\n{line}\n{done}")
            for i, line in enumerate(asserts, 1)
        ]
    return [
        TestCase(f"case {i}", program + _call_harness(spec["fn_name"], case, marker), expected_value=case["expected"])
        for i, case in enumerate(spec["cases"], 1)
    ]


def _normalize(tests: Any) -> dict[str, Any]:
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except ValueError:
            return {"asserts": tests}  # plain test source
    if not isinstance(tests, dict):
        raise TestFormatError(f"tests must be a mapping, got {type(tests).__name__}")
    if "stdin_stdout" in tests:
        return tests
    for inputs, outputs in (("inputs", "outputs"), ("input", "output")):  # APPS / TACO, CodeContests
        if isinstance(tests.get(inputs), list) and isinstance(tests.get(outputs), list) and "fn_name" not in tests:
            pairs = zip(tests[inputs], tests[outputs], strict=False)
            return {"stdin_stdout": [{"input": i, "output": o} for i, o in pairs]}
    if "test_list" in tests:  # MBPP
        return {"asserts": tests["test_list"], "setup": tests.get("test_setup_code") or "", **tests}
    if "fn_name" in tests and isinstance(tests.get("cases"), list):
        return tests
    if "asserts" in tests or isinstance(tests.get("test"), str):
        return tests
    raise TestFormatError(f"unrecognized tests (keys: {', '.join(sorted(map(str, tests))) or 'none'})")


def _text(value: Any) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _with_prompt(code: str, spec: dict[str, Any]) -> str:
    """Join the task's code stub and the completion: a full redefinition replaces the stub, a body continues it."""
    prompt = spec.get("prompt") or ""
    entry = spec.get("entry_point") or spec.get("fn_name")
    if not prompt:
        return code
    if entry and re.search(rf"^\s*(async\s+)?def\s+{re.escape(entry)}\s*\(", code, flags=re.MULTILINE):
        return f"{prompt}\n\n{code}" if _compiles(prompt) else code  # keep the stub's imports when it stands alone
    return prompt + code


def _compiles(source: str) -> bool:
    try:
        compile(source, "prompt", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _split_asserts(asserts: str | list[str]) -> tuple[str, list[str]]:
    """Setup statements (imports, helpers) and one source line per assert, so each assert is its own test."""
    if isinstance(asserts, list):
        return "", [str(a) for a in asserts]
    try:
        tree = ast.parse(asserts)
    except SyntaxError:
        return "", [asserts]
    setup, tests = [], []
    for node in tree.body:
        (tests if isinstance(node, ast.Assert) else setup).append(ast.get_source_segment(asserts, node) or "")
    return "\n".join(setup), tests or [asserts]


def _call_harness(fn_name: str, case: dict[str, Any], marker: str) -> str:
    # Arguments travel as JSON text, so every test gets fresh objects however the function mutates them.
    args, kwargs = json.dumps(case.get("args", [])), json.dumps(case.get("kwargs", {}))
    return f"""

import json as __json
__cls = globals().get("Solution")
__fn = getattr(__cls(), {fn_name!r}) if isinstance(__cls, type) and hasattr(__cls, {fn_name!r}) else {fn_name}
__out = __fn(*__json.loads({args!r}), **__json.loads({kwargs!r}))
print({marker!r} + __json.dumps(__out, default=repr))
"""


def outputs_match(got: str, expected: str, float_tolerance: float | None = None) -> bool:
    """Equal up to trailing whitespace (per line and at the end), and up to `float_tolerance` for numeric tokens."""
    got_lines, want_lines = _lines(got), _lines(expected)
    if got_lines == want_lines:
        return True
    if float_tolerance is None or len(got_lines) != len(want_lines):
        return False
    for got_line, want_line in zip(got_lines, want_lines, strict=True):
        got_tokens, want_tokens = got_line.split(), want_line.split()
        if len(got_tokens) != len(want_tokens):
            return False
        if not all(_token_match(g, w, float_tolerance) for g, w in zip(got_tokens, want_tokens, strict=True)):
            return False
    return True


def values_match(got: Any, expected: Any, float_tolerance: float | None = None) -> bool:
    """Deep equality of JSON values, numbers within `float_tolerance` when set."""
    if isinstance(got, list) and isinstance(expected, list | tuple):
        return len(got) == len(expected) and all(
            values_match(g, e, float_tolerance) for g, e in zip(got, expected, strict=True)
        )
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(values_match(got[k], expected[k], float_tolerance) for k in got)
    if float_tolerance is not None and _is_number(got) and _is_number(expected):
        return math.isclose(got, expected, rel_tol=float_tolerance, abs_tol=float_tolerance)
    return bool(got == expected)


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _token_match(got: str, want: str, tolerance: float) -> bool:
    if got == want:
        return True
    try:
        return math.isclose(float(got), float(want), rel_tol=tolerance, abs_tol=tolerance)
    except ValueError:
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _preview(text: Any, limit: int = 40, quote: bool = True) -> str:
    text = repr(text) if quote else str(text).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CodeTestVerifier:
    """Passes when the extracted program passes the task's tests (or a `pass_threshold` fraction of them).

    The sandbox starts on first use and is dropped when pickled, so the verifier can be shipped to worker processes.
    """

    version = "1"

    def __init__(self, config: CodeTestVerifierConfig):
        self.name = config.name
        self.config = config
        self.limits = SandboxLimits(
            cpu_seconds=config.cpu_seconds,
            memory_mb=config.memory_mb,
            max_processes=config.max_processes,
            max_file_mb=config.max_file_mb,
            max_open_files=config.max_open_files,
            wall_seconds=config.wall_seconds,
            max_output_bytes=config.max_output_bytes,
        )
        self._sandbox: Sandbox | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def verify(self, sample: Sample) -> Verdict:
        text = sample.answer if sample.answer is not None else sample.completion
        code = extract_code(text or "", self.config.block, self.config.require_fence)
        problem = self._check_code(code)
        if problem:
            return reject(self, problem)
        if sample.tests is None:
            return reject(self, "task has no tests")
        marker = f"__foundry_done_{secrets.token_hex(8)}__"
        try:
            cases = build_cases(code, sample.tests, marker)
        except (TestFormatError, KeyError, TypeError) as exc:
            return reject(self, f"bad tests: {exc}"[:300])
        if not cases:
            return reject(self, "task has no tests")
        return self._verdict(cases, self._run(cases), marker)

    def preflight(self) -> None:
        """Start the sandbox now, so a machine without bubblewrap fails the campaign at start-up with the reason,
        instead of rejecting every sample."""
        sandbox, _ = self._started()
        result = sandbox.run("print(1)")
        if result.stdout.strip() != "1":
            raise SandboxUnavailable(f"the sandbox cannot run a trivial program: {_last_error(result)}")

    def close(self) -> None:
        with self._lock:
            if self._sandbox is not None:
                self._sandbox.close()
            if self._threads is not None:
                self._threads.shutdown()
            self._sandbox = self._threads = None

    def __getstate__(self) -> dict[str, Any]:
        # Live zygotes and threads stay in this process; a copy starts its own on first use.
        return {**self.__dict__, "_sandbox": None, "_threads": None, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _check_code(self, code: str | None) -> str | None:
        if code is None:
            return "no code block"
        if not code.strip():
            return "empty code"
        if len(code) > self.config.max_code_chars:
            return f"code too long ({len(code)} chars > {self.config.max_code_chars})"
        try:
            code.encode("utf-8")
        except UnicodeEncodeError:
            return "code is not valid UTF-8 (lone surrogate)"
        return None

    def _run(self, cases: list[TestCase]) -> list[ExecResult]:
        """Run the cases in order (spread over the workers); stop at a timeout or a compile error, which the rest
        would only repeat."""
        sandbox, threads = self._started()
        if threads is None:
            pending = (sandbox.run(case.program, case.stdin) for case in cases)
        else:
            futures = [threads.submit(sandbox.run, case.program, case.stdin) for case in cases]
            pending = (future.result() for future in futures)
        results: list[ExecResult] = []
        for result in pending:
            results.append(result)
            if result.timed_out or _compile_error(result):
                break
        if threads is not None:
            for future in futures:
                future.cancel()
        return results

    def _started(self) -> tuple[Sandbox, ThreadPoolExecutor | None]:
        with self._lock:
            if self._sandbox is None:
                self._sandbox = Sandbox(self.limits, mode=self.config.sandbox, workers=self.config.workers)
                if self.config.workers > 1:
                    self._threads = ThreadPoolExecutor(self.config.workers, thread_name_prefix="code-tests")
            return self._sandbox, self._threads

    def _verdict(self, cases: list[TestCase], results: list[ExecResult], marker: str) -> Verdict:
        if results and (error := _compile_error(results[0])):
            return reject(self, error)
        failures = [why for case, result in zip(cases, results) if (why := self._judge(case, result, marker))]
        not_run = len(cases) - len(results)
        failed = len(failures) + not_run
        score = 1 - failed / len(cases)
        if failed == 0:
            return accept(self, score=1.0, reason=f"{len(cases)}/{len(cases)} tests passed")
        reason = f"{failed}/{len(cases)} tests failed; first: {failures[0]}"
        if not_run:
            reason += f" ({not_run} not run after it)"
        if score >= self.config.pass_threshold:
            return accept(self, score=score, reason=reason)
        return reject(self, reason, score=score)

    def _judge(self, case: TestCase, result: ExecResult, marker: str) -> str | None:
        """None when the case passed, else a short reason naming the case."""
        if result.timed_out:
            return f"timeout on {case.label}"
        if result.killed_reason:
            return f"{case.label}: {result.killed_reason}"
        if result.exit_code != 0:
            return f"{case.label}: {_last_error(result) or f'exit status {result.exit_code}'}"
        if case.expected_stdout is not None:
            if outputs_match(result.stdout, case.expected_stdout, self.config.float_tolerance):
                return None
            return f"{case.label} expected {_preview(case.expected_stdout)} got {_preview(result.stdout)}"
        lines = [line for line in result.stdout.split("\n") if line.startswith(marker)]
        if not lines:
            return f"{case.label}: exited before the tests finished"
        if case.expected_value is _NO_VALUE:
            return None
        try:
            value = json.loads(lines[-1][len(marker) :])
        except ValueError:
            value = lines[-1][len(marker) :]
        if values_match(value, case.expected_value, self.config.float_tolerance):
            return None
        return f"{case.label} expected {_preview(case.expected_value)} got {_preview(value)}"


def _last_error(result: ExecResult) -> str:
    lines = [line.strip() for line in result.stderr.strip().split("\n") if line.strip()]
    return _preview(lines[-1], 200, quote=False) if lines else ""


def _compile_error(result: ExecResult) -> str | None:
    """'SyntaxError: ... (line N)' when the program did not compile (a compile error prints no traceback)."""
    error = _last_error(result)
    if result.exit_code != 1 or "Traceback" in result.stderr or not error.startswith(COMPILE_ERRORS):
        return None
    found = re.search(r'File "program\.py", line (\d+)', result.stderr)
    return f"{error} (line {found.group(1)})" if found else error
