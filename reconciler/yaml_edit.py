"""One-line edits of access/ YAML that keep comments and layout (ruamel.yaml round trip).

ruamel.yaml keeps comments, quotes and flow/block styles, but normalizes a few things (the
alignment padding in `bob:   {...}`). So the edited document is dumped, and only the changed lines
inside the edited block are taken from the dump; every other line stays byte for byte as it was.
A request is then a one-line diff: a member appended to a flow list (`VPN: [a, b, judy]`) or a
line added to a block mapping (`judy: Project Engineer`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.errors import AccessError
from reconciler.render.escape import md_code, md_fence

Path = tuple[str, ...]


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


@dataclass(frozen=True, slots=True)
class Member:
    """What to write for one member: the entitlement (or "") and the optional expiry and reason."""

    name: str
    entitlement: str = ""  # a Procore template, a PingOne role scope; "" for plain membership
    entitlement_key: str = ""  # "template" or "scope": the key in the long form
    expires: dt.date | None = None
    reason: str = ""
    certified: dt.date | None = None

    def options(self) -> CommentedMap | str | None:
        """The member's value: a plain entitlement, None (a bare name), or a flow mapping."""
        extra = [("expires", self.expires), ("reason", self.reason), ("certified", self.certified)]
        extra = [(k, v) for k, v in extra if v]
        if not extra:
            return self.entitlement or None
        value = CommentedMap()
        if self.entitlement and self.entitlement_key:
            value[self.entitlement_key] = self.entitlement
        for key, item in extra:
            value[key] = item
        value.fa.set_flow_style()
        return value


def _node(data: Any, path: Path, file: str) -> tuple[Any, Any, str]:
    """The parent mapping, the node at `path`, and the last key."""
    parent: Any = None
    node = data
    for key in path:
        if not isinstance(node, CommentedMap):
            raise AccessError(f"{file}: {'.'.join(path)}: not a mapping at {key!r}")
        match = next((k for k in node if str(k) == key), None)
        if match is None:
            raise AccessError(f"{file}: no {'.'.join(path)}")
        parent, node = node, node[match]
    return parent, node, path[-1]


def _members(node: Any) -> Any:
    """The long form `{members: ..., authoritative: ...}` holds its members under `members`."""
    if (
        isinstance(node, CommentedMap)
        and "members" in node
        and set(map(str, node)) <= {"members", "authoritative"}
    ):
        return node["members"]
    return node


def _listed(members: Any, name: str) -> bool:
    if isinstance(members, CommentedMap):
        return any(str(k) == name for k in members)
    if isinstance(members, CommentedSeq):
        for item in members:
            if (isinstance(item, CommentedMap) and any(str(k) == name for k in item)) or str(item) == name:
                return True
    return False


def add_member(text: str, file: str, path: Path, member: Member) -> str:
    """`text` with `member` added to the resource at `path`; a one-line change."""
    yaml = _yaml()
    data = yaml.load(text)
    parent, node, key = _node(data, path, file)
    members = _members(node)
    if _listed(members, member.name):
        raise AccessError(f"{file}: {member.name} is already listed under {'.'.join(path)}")
    value = member.options()
    if isinstance(members, CommentedMap):
        members[member.name] = value
    elif isinstance(members, CommentedSeq):
        if value is None:
            members.append(member.name)
        else:
            item = CommentedMap()
            item[member.name] = value
            item.fa.set_flow_style()
            members.append(item)
    elif members is None:
        seq = CommentedSeq([member.name] if value is None else [])
        if value is not None:
            item = CommentedMap()
            item[member.name] = value
            item.fa.set_flow_style()
            seq.append(item)
        seq.fa.set_flow_style()
        parent[next(k for k in parent if str(k) == key)] = seq
    else:
        raise AccessError(f"{file}: {'.'.join(path)}: cannot add a member to {type(members).__name__}")
    start, end = block_lines(text, parent, key)
    return splice(text, dump(yaml, data), start, end)


def _listed_key(members: CommentedMap, name: str, file: str, path: Path) -> Any:
    """The key under which `name` is listed in a members mapping (keys may be non-strings)."""
    match = next((k for k in members if str(k) == name), None)
    if match is None:
        raise AccessError(f"{file}: {name} is not listed under {'.'.join(path)}")
    return match


def remove_member(text: str, file: str, path: Path, name: str) -> str:
    """`text` without `name` under the resource at `path`; the one line (or list item) removed."""
    yaml = _yaml()
    data = yaml.load(text)
    parent, node, key = _node(data, path, file)
    members = _members(node)
    if isinstance(members, CommentedMap):
        match = _listed_key(members, name, file, path)
        del members[match]
        if not members and members is node and not members.fa.flow_style():
            # the last member of a block mapping: `Role:` with nothing under it (nobody), one line less
            parent[next(k for k in parent if str(k) == key)] = None
    elif isinstance(members, CommentedSeq):
        index = next(
            (i for i, item in enumerate(members)
             if str(item) == name or (isinstance(item, CommentedMap) and any(str(k) == name for k in item))),
            None,
        )  # fmt: skip
        if index is None:
            raise AccessError(f"{file}: {name} is not listed under {'.'.join(path)}")
        del members[index]
    else:
        raise AccessError(f"{file}: {name} is not listed under {'.'.join(path)}")
    start, end = block_lines(text, parent, key)
    return splice(text, dump(yaml, data), start, end)


def remove_entry(text: str, file: str, path: Path, name: str) -> str:
    """`text` without the entry `name` of the mapping at `path` (a person in `people`, a member of a
    resource): when the mapping is written in block style, exactly the entry's own lines go (its key
    line and what is nested under it), every other byte stays (an aligned `bob:   {...}` beside it
    too); otherwise as `remove_member` does."""
    yaml = _yaml()
    data = yaml.load(text)
    _, node, _ = _node(data, path, file)
    members = _members(node)
    if not isinstance(members, CommentedMap) or members.fa.flow_style() or len(members) < 2:
        return remove_member(text, file, path, name)  # (the last one leaves `Resource:` empty: one line)
    match = _listed_key(members, name, file, path)
    start, column = members.lc.key(match)
    lines = text.splitlines(keepends=True)
    end = start + 1
    while end < len(lines):
        stripped = lines[end].lstrip()
        if stripped and not stripped.startswith("#") and len(lines[end]) - len(stripped) <= column:
            break
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # blank lines after the entry belong to what follows
    return "".join(lines[:start] + lines[end:])


def set_member_option(text: str, file: str, path: Path, name: str, option: str, value: Any) -> str:
    """Set `option` (expires, certified, ...) on member `name`: its line becomes the long form."""
    yaml = _yaml()
    data = yaml.load(text)
    parent, node, key = _node(data, path, file)
    members = _members(node)
    if isinstance(members, CommentedMap):
        match = _listed_key(members, name, file, path)
        members[match] = _with_option(members[match], option, value, path)
    elif isinstance(members, CommentedSeq):
        for i, item in enumerate(members):
            if str(item) == name:
                wrapped = CommentedMap()
                wrapped[name] = _with_option(None, option, value, path)
                wrapped.fa.set_flow_style()
                members[i] = wrapped
                break
            if isinstance(item, CommentedMap):
                match = next((k for k in item if str(k) == name), None)
                if match is not None:
                    item[match] = _with_option(item[match], option, value, path)
                    break
        else:
            raise AccessError(f"{file}: {name} is not listed under {'.'.join(path)}")
    else:
        raise AccessError(f"{file}: {name} is not listed under {'.'.join(path)}")
    start, end = block_lines(text, parent, key)
    return splice(text, dump(yaml, data), start, end)


def _with_option(current: Any, option: str, value: Any, path: Path) -> CommentedMap:
    if isinstance(current, CommentedMap):
        current[option] = value
        return current
    out = CommentedMap()
    if isinstance(current, str) and current:
        out["scope" if "roles" in path and path[0] == "pingone" else "template"] = current
    out[option] = value
    out.fa.set_flow_style()
    return out


def dump(yaml: YAML, data: Any) -> str:
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def block_lines(text: str, parent: Any, key: str) -> tuple[int, int]:
    """The 0-based line range [start, end) of the block of `key` in `parent`, in the original text."""
    match = next(k for k in parent if str(k) == key)
    start, column = parent.lc.key(match)
    lines = text.splitlines()
    end = start + 1
    while end < len(lines):
        line = lines[end]
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#") and len(line) - len(stripped) <= column:
            break
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return start, end


def splice(original: str, dumped: str, start: int, end: int) -> str:
    """Take from `dumped` only the hunks that touch lines [start, end] of `original`."""
    old = original.splitlines(keepends=True)
    new = dumped.splitlines(keepends=True)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        touches = i1 <= end and i2 >= start
        if tag == "equal" or not touches:
            out.extend(old[i1:i2])
        else:
            out.extend(new[j1:j2])
    result = "".join(out)
    if original.endswith("\n") and not result.endswith("\n"):
        result += "\n"
    return result


def changed_lines(before: str, after: str) -> Sequence[str]:
    """The +/- lines of a unified diff (for tests and previews)."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def diff_sections(root: pathlib.Path, texts: Mapping[str, str]) -> list[str]:
    """Markdown for a pull request body: each edited file's +/- lines under its name (escaped: the
    lines are the YAML's, and no line of theirs can close the fence or render as markup)."""
    lines: list[str] = []
    for file, text in texts.items():
        before = (root / file).read_text(encoding="utf-8")
        lines += ["", f"{md_code(file)}:", "", *md_fence(changed_lines(before, text), "diff")]
    return lines
