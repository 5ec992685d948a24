"""Turning a completion's text into reasoning and a final answer.

Pure functions on strings: they never raise on model output, however malformed.
"""

from __future__ import annotations

import re

BOXED = "boxed"


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
    """The final answer by the first pattern that finds one; `boxed` means the last balanced \\boxed{...}."""
    for pattern in patterns:
        if pattern == BOXED:
            found = last_boxed(text)
        else:
            matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
            found = None
            if matches:
                last = matches[-1]
                found = (last.group(1) if last.groups() else last.group(0)) or ""
                found = found.strip()
        if found:
            return found
    return None
