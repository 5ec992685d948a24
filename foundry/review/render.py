"""Model text to safe HTML: markdown, highlighted code, LaTeX as MathML, then an allow-list sanitizer.

Model output is hostile. Markdown runs with raw HTML off (a `<script>` in a completion becomes visible text), math
is converted on the server (no script in the page renders it), and nh3 (ammonia) cleans the result against an
allow-list as the last step, so nothing that reaches the browser can carry a script, handler or `javascript:` URL.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt

MATHML_TAGS = {
    "math", "mi", "mn", "mo", "ms", "mrow", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot", "mtext", "mspace",
    "mstyle", "mtable", "mtr", "mtd", "munder", "mover", "munderover", "menclose", "mpadded", "mphantom", "merror",
    "semantics", "annotation",
}
TAGS = set(nh3.ALLOWED_TAGS) | MATHML_TAGS | {"pre", "code", "span", "div"}
ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title"},
    "ol": {"start"},
    "math": {"display", "xmlns"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace"},
    "mstyle": {"displaystyle", "scriptlevel"},
    "mtd": {"columnalign"},
    "mspace": {"width"},
    "menclose": {"notation"},
}
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use code points: placeholders for math while markdown runs
_MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])",
                   re.DOTALL)
_STEP_START = re.compile(r"^\s*(?:step\s*\d+\s*[:.)]|\d+\s*[.)]\s)", re.IGNORECASE)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:  # optional: plain code blocks without pygments
        return ""
    try:
        lexer = get_lexer_by_name(lang or "text")
    except ClassNotFound:
        return ""
    body = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="highlight"><code>{body}</code></pre>'


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight}).enable("table")


@lru_cache(maxsize=4096)
def _math(latex: str, display: bool) -> str:
    """MathML of one formula; cached, as reasoning repeats its formulas and the converter is the slowest part."""
    try:
        return latex_to_mathml(latex.strip(), display="block" if display else "inline")
    except Exception:  # a formula the converter cannot read stays visible as its source
        return f'<code class="math-source">{html.escape(latex)}</code>'


def render(text: str | None) -> str:
    """Sanitized HTML of one piece of model text."""
    if not text:
        return ""
    text = text.replace(_OPEN, "").replace(_CLOSE, "")
    formulas: list[str] = []

    def stash(match: re.Match) -> str:
        display = match.group(1) is not None or match.group(2) is not None
        latex = next(g for g in match.groups() if g is not None)
        formulas.append(_math(latex, display))
        return f"{_OPEN}{len(formulas) - 1}{_CLOSE}"

    body = _markdown().render(_MATH.sub(stash, text))
    body = re.sub(f"{_OPEN}(\\d+){_CLOSE}", lambda m: formulas[int(m.group(1))], body)
    return clean(body)


def clean(markup: str) -> str:
    """The last line of defence: allow-listed tags and attributes only; links get rel=noopener noreferrer."""
    return nh3.clean(markup, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "mailto"})


def split_steps(reasoning: str | None) -> list[str]:
    """Reasoning as steps: numbered steps ("1.", "Step 2:") when the text has at least two, else paragraphs."""
    if not reasoning or not reasoning.strip():
        return []
    lines = reasoning.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if _STEP_START.match(line)]
    if len(starts) >= 2:
        bounds = ([0] if starts[0] > 0 else []) + starts + [len(lines)]
        steps = ["\n".join(lines[a:b]).strip() for a, b in zip(bounds, bounds[1:])]
    else:
        steps = [part.strip() for part in re.split(r"\n\s*\n", reasoning.strip())]
    return [step for step in steps if step]


def highlight_css() -> str:
    try:
        from pygments.formatters import HtmlFormatter
    except ImportError:
        return ""
    return HtmlFormatter().get_style_defs(".highlight")
