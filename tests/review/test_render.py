"""Model text is hostile: rendered markdown, code and math, with nothing executable left."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from foundry.review.render import render, split_steps

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "$\\href{javascript:alert(1)}{x}$",
    "<math><mi><img src=x onerror=alert(1)></mi></math>",
    '```html\n<script>alert(1)</script>\n```',
]


class Elements(HTMLParser):
    """What a browser's parser would build: tags and attributes, escaped text left as text."""

    def __init__(self, markup: str):
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_renders_inert(payload):
    out = render(f"before {payload} after")
    for tag, attrs in Elements(out).found:
        assert tag not in ("script", "svg", "img", "iframe", "object"), out
        for name, value in attrs:
            assert not name.startswith("on"), out
            assert not (value or "").strip().lower().startswith("javascript:"), out
    assert "before" in out and "after" in out


def test_script_text_stays_visible():
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render("<script>alert(1)</script>")


def test_markdown_code_and_math():
    out = render("**bold** and `x`\n\n```python\nprint(1)\n```\n\n$x^2$ costs $5 and $6")
    assert "<strong>bold</strong>" in out and "<code>x</code>" in out
    assert '<span class="nb">print</span>' in out  # pygments
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in out
    assert "costs $5 and $6" in out  # prices are not math


def test_steps_from_numbers_or_paragraphs():
    assert split_steps("Setup\n1. a\n2. b\nmore b") == ["Setup", "1. a", "2. b\nmore b"]
    assert split_steps("Step 1: x\nStep 2: y") == ["Step 1: x", "Step 2: y"]
    assert split_steps("one\n\ntwo\n\n\nthree") == ["one", "two", "three"]
    assert split_steps(None) == [] and split_steps("  ") == []
