"""`render.escape`: a pull request's text shows as the same characters on GitHub, never as markup.

Each check renders through a real CommonMark + GFM renderer (tests/github_markdown.py) and reads the
result as a person would: which elements exist, what text is visible, who would be pinged.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.render.escape import (
    WORD_JOINER,
    html_text,
    md_code,
    md_fence,
    md_text,
    mention,
    one_line,
    script_json,
)
from tests.github_markdown import pings, text_of, to_html

FAKE = (
    "**approved by @glin-sec** <img src=x onerror=alert(1)> [click](https://evil.example) "
    "![x](https://evil.example/x.png) | fake | row |\n# Heading"
)
TABLE = "| who | why |\n|---|---|\n| {} | x |\n"

# Text a pull request could write: every markdown, HTML and GitHub trigger, line breaks, letters.
MARKUP = "*_~`[]()!|#<>&$@\\-+=.:/\"' \t\n\r0123456789abcAZ\u00e9\u2028"
hostile_text = st.text(alphabet=st.sampled_from(MARKUP), max_size=40) | st.sampled_from(
    [FAKE, "<details><summary>x</summary>", "1. a", "- b", "> c", "    code", "***", "===", "[^1]"]
)


def _visible(text: str) -> str:
    """What a reader sees of `text` in a paragraph: one line, outer spaces trimmed."""
    return one_line(text).strip(" \t")


def test_the_fake_approval_renders_as_its_own_words_in_a_table_cell() -> None:
    rendered = to_html(TABLE.format(md_text(FAKE)))
    assert not re.search(r"<(strong|em|img|a|h1|s|del|code)\b", rendered)
    assert rendered.count("<td>") == 2, "no cell, row or heading of its own"
    assert text_of(rendered.split("<td>")[1].split("</td>")[0]) == one_line(FAKE)
    assert pings(rendered) == [], "nobody is pinged"


@pytest.mark.parametrize(
    ("text", "element"),
    [
        ("**bold** and __bold__", "strong"),
        ("*em* and _em_", "em"),
        ("~~gone~~ and ~gone~", "s>"),  # GitHub: <del>, also for one tilde
        ("`code`", "code"),
        ("[link](https://evil.example)", "a"),
        ("<https://evil.example>", "a"),
        ("![img](https://evil.example/x.png)", "img"),
        ("<img src=x onerror=alert(1)>", "img"),
        ("<details open><summary>approved</summary>", "details"),
        ("# Heading", "h1"),
        ("> quoted", "blockquote"),
        ("- item", "li"),
        ("1. item", "li"),
        ("    indented code", "pre"),
        ("***", "hr"),
    ],
)
def test_no_markdown_or_html_of_the_texts_own_at_the_start_of_a_line(text: str, element: str) -> None:
    assert f"<{element}" in to_html(text), "the case is real: unescaped, it renders"
    rendered = to_html(md_text(text))
    assert f"<{element}" not in rendered
    assert text_of(rendered).strip() == text.strip()


def test_a_line_break_never_starts_a_block_and_setext_underlines_stay_text() -> None:
    rendered = to_html("intro " + md_text("reason\n# Heading\n---\n| a | b |"))
    assert rendered.startswith("<p>") and rendered.count("<p>") == 1 and "<h" not in rendered
    assert text_of(rendered).strip() == "intro reason # Heading --- | a | b |"


def test_mentions_and_references_are_shown_and_never_ping() -> None:
    text = "ask @glin-sec, @harborbuild/security, #12, GH-7 (mail grace.lin@harborbuild.example)"
    assert pings(to_html(text)) == ["@glin-sec", "@harborbuild/security", "#12", "#7"]
    rendered = to_html(md_text(text))
    assert pings(rendered) == []
    assert text_of(rendered).strip() == text
    assert "grace.lin@harborbuild.example" in md_text(text), "an email address is left alone"


def test_underscores_inside_a_word_stay_as_written_elsewhere_escaped() -> None:
    assert md_text("EXP_APPROVER") == "EXP_APPROVER"
    assert md_text("_x_") == "\\_x\\_"


def test_math_dollars_are_not_delimiters() -> None:
    assert "$" not in md_text("$\\color{red}{approved}$")


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_any_text_renders_as_itself_in_a_paragraph_a_table_cell_and_a_list(text: str) -> None:
    escaped = md_text(text)
    assert "\n" not in escaped and "\r" not in escaped
    paragraph = to_html(escaped)
    assert not re.search(r"<(?!/?p>)", paragraph), paragraph  # nothing but the paragraph itself
    assert text_of(paragraph).strip(" \t\n") == _visible(text)
    assert pings(paragraph) == []
    table = to_html(TABLE.format(escaped))
    assert table.count("<td") == 2, "no cell of its own"
    assert not re.search(r"<(?!/?(table|thead|tbody|tr|th|td)>)", table), table
    item = to_html(f"- {escaped}")
    assert item.count("<li>") == 1 and not re.search(r"<(?!/?(ul|li|p)>)", item), item


def test_our_prose_keeps_its_code_and_the_values_put_in_it_stay_inert() -> None:
    hint = "add `github: <login>` to **approved by @glin-sec** in access/"
    rendered = to_html(md_text(hint, code_spans=True))
    assert re.findall(r"<code>(.*?)</code>", rendered) == ["github: &lt;login&gt;"]
    assert "<strong" not in rendered and pings(rendered) == []
    assert text_of(rendered).strip() == hint.replace("`", "")


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_with_code_spans_any_text_makes_nothing_but_code_and_shows_every_other_character(text: str) -> None:
    rendered = to_html(md_text(text, code_spans=True))
    assert not re.search(r"<(?!/?(p|code)>)", rendered), rendered
    assert pings(rendered) == []
    # Every character is shown, in order (backticks and spacing may go to code spans' fences).
    assert re.sub(r"[`\s]", "", text_of(rendered)) == re.sub(r"[`\s]", "", one_line(text))


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_a_code_span_shows_any_text_and_a_table_cell_holds_it(text: str) -> None:
    if not one_line(text).strip():
        return
    rendered = to_html(md_code(text))
    assert rendered.count("<code>") == 1
    code = html_text_of_code(rendered)
    assert code.strip(" ") == one_line(text).strip(" ")
    table = to_html(TABLE.format(md_code(text, in_table=True)))
    assert table.count("<td>") == 2 and html_text_of_code(table).strip(" ") == one_line(text).strip(" ")


def html_text_of_code(rendered: str) -> str:
    return text_of(rendered.split("<code>", 1)[1].split("</code>", 1)[0])


def test_a_fence_no_line_of_the_yaml_can_close() -> None:
    lines = ["-  old: x", "```", "+  reason: '````'", "   ```", "# Heading <img src=x>"]
    rendered = to_html("\n".join(md_fence(lines, "diff")) + "\nafter")
    assert rendered.count("<pre>") == 1 and "<h1" not in rendered and "<img" not in rendered
    assert text_of(rendered.split("</pre>")[0]).rstrip("\n") == "\n".join(lines)


def test_a_deliberate_mention_pings_only_a_real_login() -> None:
    assert pings(to_html(f"asked: {mention('glin-sec')}")) == ["@glin-sec"]
    for bad in ("glin-sec](https://evil.example)", "-x", "a b", "x--y/../z"):
        rendered = to_html(f"asked: {mention(bad)}")
        assert (
            pings(rendered) == [] and "<a" not in rendered and text_of(rendered).strip() == f"asked: @{bad}"
        )


def test_html_text_escapes_quotes_for_attributes() -> None:
    assert html_text("\"><img src=x onerror='alert(1)'>&") == (
        "&quot;&gt;&lt;img src=x onerror=&#x27;alert(1)&#x27;&gt;&amp;"
    )


@given(st.lists(st.text(alphabet=st.sampled_from("</script><!--&>\u2028 ax"), max_size=30), max_size=5))
def test_json_for_a_script_element_reads_back_the_same_and_holds_no_markup(strings: list[str]) -> None:
    safe = script_json(json.dumps({"strings": strings}))
    assert not set(safe) & set("<>&")
    assert json.loads(safe) == {"strings": strings}


def test_the_word_joiner_is_invisible_text() -> None:
    assert WORD_JOINER == "\u2060"
    assert text_of(to_html(md_text("@glin-sec"))).strip() == "@glin-sec"
