"""Untrusted text made inert in markdown and HTML (pure).

Every string that comes from access/ or policies/ (people's and teams' names, resource names,
reasons, file names, approver rules) or from a vendor's answer is data. A pull request writes it, so
it must reach reviewers as the characters it is, never as markup: no bold "approved by" line, no
image, link, heading, table row or `<details>` block of its own, and no `@mention` or `#123` that
pings people or links elsewhere.

- `md_text(text)`: inline markdown (GitHub's CommonMark + GFM) that renders as `text` itself.
- `md_code(text)`: a code span that shows `text` itself.
- `md_fence(lines)`: a fenced code block that no line of its content can close.
- `html_text(text)`: HTML text or a quoted attribute value (`html.escape`, quotes included).
- `script_json(json_text)`: JSON made safe to sit inside a `<script>` element.
- `mention(login)`: a deliberate `@login` ping, only for a well-formed GitHub login.

Mentions and references are broken with U+2060 WORD JOINER after the `@` (or `#`, or `GH-`): it has
no width and no glyph, so the text reads the same, but GitHub's mention and reference filters, which
run on the rendered text, no longer match. An entity (`&#64;`) would not do: the markdown renderer
decodes it back into `@` before those filters see the text. U+2060 rather than the zero-width joiner
(U+200D): a joiner asks fonts to join the characters on either side (emoji sequences, Indic and
Arabic scripts); the word joiner only forbids a line break there.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

WORD_JOINER = "\u2060"

# Backslash escapes: CommonMark renders a backslash-escaped ASCII punctuation character as itself.
_BACKSLASHED = frozenset("\\`*~[]()!|#")
# Entities for what HTML would read (also inside inline HTML) and for GitHub's math delimiter `$`.
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "$": "&#36;"}
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ASCII_ALNUM = _ASCII_WORD - {"_"}
_ORDERED_LIST_START = re.compile(r"[0-9]{1,9}[.)]")
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")


def one_line(text: str) -> str:
    """`text` with every line break (CR, LF, and the other breaks `str.splitlines` knows) a space."""
    return " ".join(text.splitlines()) if text else ""


def md_text(text: str, *, code_spans: bool = False) -> str:
    """`text` as inline markdown that GitHub renders as exactly `text` (line breaks as spaces).

    For inline places: a paragraph, a list item after its marker, a table cell, emphasis. Not inside
    a code span or a raw HTML block (`<details>`/`<summary>` lines), where escapes show as written.

    - HTML: `<`, `>`, `&` become entities (no tag, comment or entity of the text's own);
    - emphasis, strikethrough, code, links, images, table cells: `*`, `~`, `` ` ``, `[`, `]`,
      `(`, `)`, `!`, `|` and `\\` are backslash-escaped; `_` too, unless between two letters or
      digits (`EXP_APPROVER`), where CommonMark never reads it as emphasis;
    - blocks: line breaks become spaces, so the text never starts a block of its own; `#` is always
      escaped, and a leading `-`, `+`, `=`, `1.` or whitespace too (headings, lists, rules, code
      blocks when the text is put at the start of a line);
    - GitHub: `$` (math) becomes an entity; `@login`, `#123` and `GH-123` get U+2060 after the `@`,
      `#` or `-`, so they neither ping nor link (an email address's `@` is left alone: GitHub never
      reads it as a mention).

    `code_spans`: for our own prose that quotes field names in backticks (findings' messages and
    hints: "extend `expires`"): each pair of backticks becomes a code span (`md_code`), the rest is
    escaped as above. Values put into that prose can only move text in or out of code, which is as
    inert as text.
    """
    flat = one_line(text)
    if not code_spans or "`" not in flat:
        return _escaped(flat, line_start=True)
    parts = flat.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one is text
        parts[-2:] = [f"{parts[-2]}`{parts[-1]}"]
    return "".join(
        (md_code(part) if part.strip() else _escaped(f"`{part}`", line_start=False))
        if i % 2
        else _escaped(part, line_start=i == 0)
        for i, part in enumerate(parts)
    )


def _escaped(flat: str, *, line_start: bool) -> str:
    """`md_text` of one line; `line_start`: it may begin a line (escape what starts a block)."""
    out: list[str] = []
    start = len(flat) - len(flat.lstrip()) if line_start else -1  # where a block could start
    ordered = _ORDERED_LIST_START.match(flat, start) if line_start else None
    marker = ordered.end() - 1 if ordered else -1  # the `.` or `)` of a `1.` at the start
    last = len(flat) - 1
    for i, char in enumerate(flat):
        before = flat[i - 1] if i > 0 else ""
        after = flat[i + 1] if i < last else ""
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif line_start and i == 0 and char in " \t":
            out.append(f"&#{ord(char)};")  # four leading spaces would start a code block
        elif char in _BACKSLASHED or i == marker or (i == start and char in "-+="):
            out.append("\\" + char)
            if char == "#" and after.isdigit():
                out.append(WORD_JOINER)  # #123: an issue or pull request reference
        elif char == "_":
            out.append("_" if before.isalnum() and after.isalnum() else "\\_")
        elif char == "@":
            out.append("@")
            if after in _ASCII_ALNUM and before not in _ASCII_WORD:
                out.append(WORD_JOINER)  # @login, @org/team: a mention
        elif char == "-" and after.isdigit() and _gh_prefix(flat, i):
            out.append("-" + WORD_JOINER)  # GH-123: a reference too
        else:
            out.append(char)
    return "".join(out)


def _gh_prefix(text: str, i: int) -> bool:
    """Whether `text[i]` is the `-` of a `GH-` that starts a word."""
    return text[max(0, i - 2) : i].casefold() == "gh" and (i < 3 or text[i - 3] not in _ASCII_WORD)


def md_code(text: str, *, in_table: bool = False) -> str:
    """A code span that shows `text` as it is (line breaks as spaces): its backtick fence is longer
    than any run of backticks in the text. `in_table`: the span is in a GFM table cell, where `|`
    must be written `\\|` even inside code (GitHub shows it as `|`)."""
    flat = one_line(text)
    if not flat.strip():
        return md_text(flat)
    fence = "`" * (max(map(len, re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat[0] == "`" or flat[-1] == "`" or (flat[0] == " " and flat[-1] == " ") else ""
    if in_table:
        flat = flat.replace("|", "\\|")
    return f"{fence}{pad}{flat}{pad}{fence}"


def md_fence(lines: Iterable[str], info: str = "") -> list[str]:
    """A fenced code block of `lines`: the fence is longer than any run of backticks in them, so no
    line closes it early. `info` (the language) is ours, never the text's."""
    body = [line for text in lines for line in (text.splitlines() or [""])]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body, fence]


def html_text(text: str) -> str:
    """`text` for HTML: element content or a quoted attribute value (`<`, `>`, `&`, `"`, `'`)."""
    return html.escape(text, quote=True)


_SCRIPT_JSON = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def script_json(json_text: str) -> str:
    """JSON text (`json.dumps`) for inside a `<script>` element: `<`, `>` and `&` as `\\u` escapes, so
    that no string in it can end the element (`</script>`) or send the HTML parser into its
    script-comment states (`<!--`, `<script`), which would swallow the rest of the page. The JSON
    means the same: `JSON.parse` reads the escapes back."""
    return json_text.translate(_SCRIPT_JSON)


def mention(login: str) -> str:
    """`@login`, a deliberate ping, when `login` is a well-formed GitHub login; anything else is
    shown as text (`md_text`), pinging nobody."""
    if _LOGIN.fullmatch(login):
        return f"@{login}"
    return md_text(f"@{login}")
