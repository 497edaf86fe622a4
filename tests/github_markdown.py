"""Markdown as GitHub shows it, as near as a test gets offline.

GitHub renders comments and descriptions as CommonMark + GFM (tables, strikethrough, raw HTML
allowed and then sanitized); markdown-it-py (installed with rich) does the same with its `commonmark`
preset and the `table` and `strikethrough` rules. Then GitHub turns `@login`, `@org/team`, `#123`
and `GH-123` in the rendered text (outside code) into pings and links: `pings` applies its
patterns (html-pipeline's MentionFilter and IssueReferenceFilter) to that text.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# html-pipeline's MentionFilter.MentionPattern and its team pattern, and issue references.
_MENTION = re.compile(
    r"(?:^|\W)@((?>[a-z0-9][a-z0-9-]*))(?!/)(?=\.+[ \t\W]|\.+$|[^0-9a-zA-Z_.]|$)", re.IGNORECASE
)
_TEAM = re.compile(r"(?:^|\W)@([a-z0-9][a-z0-9-]*)/([a-z][a-z0-9_-]*)", re.IGNORECASE)
_REFERENCE = re.compile(r"(?:^|\W)(?:#|GH-)(\d+)\b", re.IGNORECASE)


def to_html(markdown: str) -> str:
    return _MD.render(markdown)


def text_of(fragment: str) -> str:
    """The visible text of an HTML fragment: tags dropped, entities read, invisible U+2060 dropped."""
    return html.unescape(re.sub(r"<[^>]*>", "", fragment)).replace("\u2060", "")


def pings(rendered: str) -> list[str]:
    """What GitHub would turn into a mention or a reference in rendered HTML (code excluded)."""
    outside_code = re.sub(r"<(code|pre)\b.*?</\1>", " ", rendered, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]*>", " ", outside_code))
    return [
        *(f"@{m[1]}" for m in _MENTION.finditer(text)),
        *(f"@{m[1]}/{m[2]}" for m in _TEAM.finditer(text)),
        *(f"#{m[1]}" for m in _REFERENCE.finditer(text)),
    ]
