"""Turning a completion's text into reasoning and a final answer.

Pure functions on strings: they never raise on model output, however malformed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

BOXED = "boxed"
MATH_VERIFY = "math_verify"
TAIL_CHARS = 2000
"""Math-Verify reads only the end of a long answer: the last expression is there, and the parse (run here without
its SIGALRM timeout, which works only in the main thread) stays bounded."""


def split_reasoning(text: str, tags: tuple[str, str] = ("<think>", "</think>")) -> tuple[str | None, str]:
    """Split `<think>…</think>rest` into (reasoning, rest); (None, text) when there is no closed block.

    An opening tag is optional (many chat templates put it in the prompt), the closing tag is not.
    """
    open_tag, close_tag = tags
    end = text.find(close_tag)
    if end < 0:
        return None, text
    start = text.find(open_tag)
    begin = start + len(open_tag) if 0 <= start < end else 0
    return text[begin:end].strip(), text[end + len(close_tag) :].strip()


def last_boxed(text: str) -> str | None:
    """Content of the last balanced `\\boxed{...}` (nested braces allowed), or None."""
    start = text.rfind("\\boxed{")
    while start >= 0:
        depth, i = 0, start + len("\\boxed")
        for i in range(start + len("\\boxed"), len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start + len("\\boxed{") : i].strip()
        start = text.rfind("\\boxed{", 0, start)
    return None


def extract_answer(text: str, patterns: list[str]) -> str | None:
    """The final answer by the first pattern that finds one (no fallback); see `find_answer`."""
    return find_answer(text, patterns, fallback=None)[0]


def find_answer(text: str, patterns: list[str], fallback: str | None = MATH_VERIFY) -> tuple[str | None, str | None]:
    """(final answer, which extractor found it). Patterns are tried in order, the first that finds one wins: a
    built-in name (`boxed`, `gsm8k_hash`, `answer_is`, `final_answer`) or a regex whose first group (or whole
    match) is the answer, last match wins (source `pattern:<index>`). When none matches and `fallback` is
    `math_verify`, Math-Verify's own extraction (the last number or expression in the text) decides."""
    for index, pattern in enumerate(patterns):
        if pattern in BUILT_IN:
            found, source = BUILT_IN[pattern](text), pattern
        else:
            found, source = _last_match(text, re.compile(pattern, flags=re.MULTILINE)), f"pattern:{index}"
        if found:
            return found, source
    if fallback == MATH_VERIFY:
        found = math_verify_answer(text)
        if found:
            return found, MATH_VERIFY
    return None, None


def _last_match(text: str, pattern: re.Pattern) -> str | None:
    last = None
    for last in pattern.finditer(text):
        pass
    if last is None:
        return None
    return ((last.group(1) if last.groups() else last.group(0)) or "").strip() or None


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_GSM8K_HASH = re.compile(r"####[ \t]*([^\n]+)")
_ANSWER_IS = re.compile(r"(?i)\bthe\s+(?:final\s+)?answer\s+is\s*[:=]?[ \t]*([^\n]+)")
_FINAL_ANSWER = re.compile(r"(?i)\bfinal\s+answer\s*[:=][ \t]*([^\n]+)")


def _statement(pattern: re.Pattern) -> Callable[[str], str | None]:
    """A "<marker> value" convention: the value after the last marker, cleaned of markdown, `$`, units and a
    trailing period; a `\\boxed{}` inside it wins; a leading number (`5 apples.`) is the answer."""

    def extract(text: str) -> str | None:
        value = _last_match(text, pattern)
        if value is None:
            return None
        boxed = last_boxed(value)
        if boxed:
            return boxed
        value = value.replace("**", "").replace("$", "").strip()
        number = _NUMBER.match(value.lstrip("\\").lstrip())
        if number:
            return number.group(0).replace(",", "").lstrip("+")
        value = re.split(r"\.(?:\s|$)", value, maxsplit=1)[0].strip().rstrip(".")
        return value or None

    return extract


def math_verify_answer(text: str) -> str | None:
    """Math-Verify's default extraction (LaTeX, then plain expressions): the last answer-like span of free text."""
    from math_verify import parse

    try:
        parsed = parse(text[-TAIL_CHARS:], parsing_timeout=None)
    except Exception:  # noqa: BLE001 - model output is hostile: any parser failure means "no answer"
        return None
    return (str(parsed[1]).strip() or None) if len(parsed) >= 2 else None


BUILT_IN: dict[str, Callable[[str], str | None]] = {
    BOXED: last_boxed,
    "gsm8k_hash": _statement(_GSM8K_HASH),
    "answer_is": _statement(_ANSWER_IS),
    "final_answer": _statement(_FINAL_ANSWER),
}
"""Answer conventions known by name in `answer_patterns`: `\\boxed{}`, GSM8K's `#### 5`, "The answer is: 5",
"Final Answer: 5"."""
