"""Edits access/ in place with ruamel.yaml's round trip, so comments, order and quoting survive.

Each edit goes to the file that already holds the deepest part of its path (a company, a role, the
`people:` section); what is new goes to the vendor's own file (`access/procore.yaml`), created with
the schema line when missing. Nothing is written outside access/.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from reconciler.catalogs import static_catalog
from reconciler.errors import AccessError
from reconciler.importer import EditKind, ImportDraft, MemberEdit, YamlPath
from reconciler.loader import ACCESS_DIR

HEADER = "# yaml-language-server: $schema=../schema/access.schema.json\n#\n"
FLOW_WIDTH = 80  # a list created here that fits in this many characters is written on one line
_ABOUT = {
    "people": "# Everyone whose access this repository manages, one line each (written by `access import`).\n",
    "procore": "# Procore: directory accounts and project memberships with a permission template each.\n",
    "concur": "# SAP Concur: accounts and roles (by their documented names; see docs/concur.md).\n",
    "pingone": "# PingOne: populations (which create accounts), direct group memberships and roles with a scope.\n",
}


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


@dataclass
class AccessTree:
    """The YAML files of access/ as round-trip documents."""

    repo: Path
    docs: dict[Path, CommentedMap] = field(default_factory=dict)
    changed: set[Path] = field(default_factory=set)
    created: list[CommentedSeq] = field(default_factory=list)  # lists made here: flow style if short
    notes: list[str] = field(default_factory=list)
    counts: dict[Path, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, repo: Path) -> AccessTree:
        tree = cls(repo)
        root = repo / ACCESS_DIR
        if root.is_dir():
            yaml = _yaml()
            for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
                try:
                    data = yaml.load(path.read_text(encoding="utf-8"))
                except YAMLError as exc:
                    raise AccessError(f"{path.relative_to(repo)}: not valid YAML ({exc})") from None
                if data is None:
                    continue
                if not isinstance(data, CommentedMap):
                    raise AccessError(f"{path.relative_to(repo)}: a file in access/ must be a mapping")
                tree.docs[path] = data
        return tree

    # -- finding and creating ---------------------------------------------------------------------

    def _default_file(self, section: str) -> Path:
        name = "people" if section == "teams" else section
        return self.repo / ACCESS_DIR / f"{name}.yaml"

    def _doc(self, path: Path, section: str) -> CommentedMap:
        doc = self.docs.get(path)
        if doc is None:
            doc = CommentedMap()
            doc.yaml_set_start_comment(HEADER.rstrip("\n") + "\n" + _ABOUT.get(section, "").rstrip("\n"))
            self.docs[path] = doc
        return doc

    def locate(self, path: YamlPath) -> tuple[Path, CommentedMap]:
        """The file holding the deepest existing prefix of `path` (the section's file if none)."""
        best: tuple[int, Path] | None = None
        for file, doc in self.docs.items():
            depth = len(list(_walk(doc, path)))
            if depth and (best is None or depth > best[0]):
                best = (depth, file)
        if best is None:
            file = self._default_file(path[0])
            return file, self._doc(file, path[0])
        return best[1], self.docs[best[1]]

    def node(self, path: YamlPath, *, create: bool, fresh: dict[str, object] | None = None) -> Any:
        """The node at `path`; with `create`, missing mappings on the way are added."""
        file, doc = self.locate(path)
        node: Any = doc
        for depth, part in enumerate(path):
            key = _find_key(node, part, path[:depth])
            if key is None:
                if not create:
                    return None
                self.changed.add(file)
                value: Any = CommentedMap()
                if depth == 0 and fresh:
                    for name, setting in fresh.items():
                        value[name] = _flow(list(setting)) if isinstance(setting, list) else setting
                node[part] = value
                key = part
            elif node[key] is None and create and depth < len(path) - 1:
                node[key] = CommentedMap()
                self.changed.add(file)
            node = node[key]
        return file, node

    def _members(self, path: YamlPath, *, create: bool, mapping: bool) -> tuple[Path, Any] | None:
        """The members container of a resource, in its short or long form."""
        found = self.node(path[:-1], create=create)
        if found is None:
            return None
        file, parent = found
        key = _find_key(parent, path[-1], path[:-1])
        if key is None:
            if not create:
                return None
            parent[path[-1]] = CommentedMap() if mapping else self._new_list()
            self.changed.add(file)
            return file, parent[path[-1]]
        value = parent[key]
        if (
            isinstance(value, CommentedMap)
            and "members" in value
            and set(value) <= {"members", "authoritative"}
        ):
            parent, key, value = value, "members", value["members"]
        if value is None:
            if not create:
                return None
            parent[key] = value = CommentedMap() if mapping else self._new_list()
        return file, value

    def _new_list(self) -> CommentedSeq:
        seq = CommentedSeq()
        self.created.append(seq)
        return seq

    def _count(self, file: Path, what: str) -> None:
        self.changed.add(file)
        counts = self.counts.setdefault(file, {})
        counts[what] = counts.get(what, 0) + 1

    # -- edits ------------------------------------------------------------------------------------

    def apply(self, draft: ImportDraft) -> None:
        for person in draft.people:
            file, people = self.node(("people",), create=True)
            entry = CommentedMap([("email", person.email), ("name", person.name)])
            for vendor, override in person.logins:
                entry[vendor] = override
            entry.fa.set_flow_style()
            _append(people, person.key, entry)
            self._count(file, "people added")
        for login in draft.logins:
            found = self.node(("people", login.key), create=False)
            if found is not None and isinstance(found[1], CommentedMap):
                found[1][login.vendor] = login.login
                self._count(found[0], "logins set")
        for team in draft.teams:
            file, teams = self.node(("teams",), create=True)
            entry = CommentedMap([("description", team.description), ("members", _flow(list(team.members)))])
            _append(teams, team.name, entry)
            self._count(file, "teams added")
        for vendor, settings in draft.sections.items():
            self.node((vendor,), create=True, fresh=settings)
        for edit in draft.edits:
            self._apply_edit(edit)
        for company, name in draft.company_names.items():
            found = self.node(("procore", "companies", company), create=False)
            if found is not None and isinstance(found[1], CommentedMap) and "name" not in found[1]:
                found[1].insert(0, "name", name)
        for seq in self.created:
            if sum(len(str(i)) + 2 for i in seq) <= FLOW_WIDTH and all(isinstance(i, str) for i in seq):
                seq.fa.set_flow_style()

    def _apply_edit(self, edit: MemberEdit) -> None:
        mapping = edit.path[-2] in ("projects", "roles") and edit.path[0] != "concur"
        if edit.kind is EditKind.ADDITIVE:
            self._additive(edit)
            return
        if edit.kind is EditKind.REMOVE:
            found = self._members(edit.path, create=False, mapping=mapping)
            if found is not None and _remove(found[1], edit.member):
                self._count(found[0], "lines removed")
            else:
                self.notes.append(
                    f"{'.'.join(edit.path)}: {edit.member} is not listed there directly (a team gives it);"
                    " kept: change the team, or the plan will show the difference"
                )
            return
        found = self._members(edit.path, create=True, mapping=mapping)
        assert found is not None
        file, members = found
        value = _flow(list(edit.value)) if isinstance(edit.value, tuple) else edit.value
        if _set(members, edit.member, value, replace=edit.kind is EditKind.SET):
            self._count(file, "lines changed" if edit.kind is EditKind.SET else "lines added")
        else:
            self.notes.append(
                f"{'.'.join(edit.path)}: {edit.member} is already listed (an expired or hand-written line);"
                " kept as written"
            )

    def _additive(self, edit: MemberEdit) -> None:
        found = self.node(edit.path[:-1], create=True)
        file, parent = found
        key = _find_key(parent, edit.path[-1], edit.path[:-1])
        mapping = edit.path[-2] in ("projects", "roles") and edit.path[0] != "concur"
        if key is None:
            key = edit.path[-1]
            parent[key] = CommentedMap() if mapping else self._new_list()
        value = parent[key]
        if (
            isinstance(value, CommentedMap)
            and "members" in value
            and set(value) <= {"members", "authoritative"}
        ):
            if "authoritative" in value:
                self.notes.append(
                    f"{'.'.join(edit.path)}: {edit.note}; its `authoritative` is kept as written"
                )
                return
            value.insert(0, "authoritative", False, comment=edit.note)
        else:
            members = value if value is not None else (CommentedMap() if mapping else self._new_list())
            parent[key] = CommentedMap([("authoritative", False), ("members", members)])
            parent[key].yaml_add_eol_comment(edit.note, "authoritative")
        self._count(file, "resources made additive")

    # -- writing ----------------------------------------------------------------------------------

    def render(self) -> Iterator[tuple[Path, str]]:
        yaml = _yaml()
        for path in sorted(self.changed):
            out = io.StringIO()
            yaml.dump(self.docs[path], out)
            yield path, out.getvalue()

    def write(self) -> list[Path]:
        root = (self.repo / ACCESS_DIR).resolve()
        written: list[Path] = []
        for path, text in self.render():
            if root not in path.resolve().parents:
                raise AccessError(f"{path}: refusing to write outside {root}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


# -- helpers over round-trip nodes -------------------------------------------------------------------


def _append(mapping: CommentedMap, key: str, value: Any) -> None:
    """Add `key` last; blank lines that closed the mapping move below it, so the new line joins the
    block instead of starting after the gap before the next section."""
    last = next(reversed(mapping), None) if len(mapping) else None
    mapping[key] = value
    tokens: Any = mapping.ca.items.get(last) if last is not None else None
    token = tokens[2] if tokens and len(tokens) > 2 else None
    if token is None or not token.value.endswith("\n\n"):
        return
    text = token.value.rstrip("\n")
    gap = token.value[len(text) :]
    token.value = text + "\n" if text else "\n"
    if not text:
        tokens[2] = None
    mapping.yaml_add_eol_comment("#", key)
    mapping.ca.items[key][2].value = gap


def _flow(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _resolver(parent_path: YamlPath) -> Callable[[str], str] | None:
    """How names compare at a level: Concur roles by code or documented name, in any case."""
    if parent_path == ("concur", "roles"):
        catalog = static_catalog("concur", "role")
        if catalog is not None:
            return lambda name: catalog.resolve(name) or name
    return None


def _find_key(node: Any, part: str, parent_path: YamlPath) -> Any:
    if not isinstance(node, CommentedMap):
        return None
    if part in node:
        return part
    resolve = _resolver(parent_path)
    wanted = resolve(part) if resolve else part
    for key in node:
        name = str(key)
        if name == part or (resolve is not None and resolve(name) == wanted):
            return key
    return None


def _walk(doc: CommentedMap, path: YamlPath) -> Iterator[Any]:
    node: Any = doc
    for depth, part in enumerate(path):
        key = _find_key(node, part, path[:depth])
        if key is None:
            return
        node = node[key]
        yield node


def _member_index(members: Any, name: str) -> Any:
    if isinstance(members, CommentedMap):
        return next((k for k in members if str(k) == name), None)
    if isinstance(members, CommentedSeq):
        for i, item in enumerate(members):
            if str(item) == name or (
                isinstance(item, dict) and len(item) == 1 and str(next(iter(item))) == name
            ):
                return i
    return None


def _remove(members: Any, name: str) -> bool:
    index = _member_index(members, name)
    if index is None:
        return False
    del members[index]
    return True


def _set(members: Any, name: str, value: Any, *, replace: bool) -> bool:
    index = _member_index(members, name)
    if index is not None and not replace:
        return False
    if isinstance(members, CommentedMap):
        current = members.get(index) if index is not None else None
        if isinstance(current, CommentedMap) and "template" in current and isinstance(value, str):
            current["template"] = value
        elif index is not None:
            members[index] = value
        else:
            _append(members, name, value)
        return True
    item: Any = name if value is None else CommentedMap([(name, value)])
    if isinstance(item, CommentedMap):
        item.fa.set_flow_style()
    if index is None:
        members.append(item)
    else:
        members[index] = item
    return True
