"""Files -> validated models, every problem located at file:line and reported together."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler import people_table
from reconciler.catalogs import closest
from reconciler.desired import ALL_MODELS, AccessFile, field_names
from reconciler.errors import AccessError, LocatedError, ValidationErrors
from reconciler.gcpause import paused_gc
from reconciler.location import Location
from reconciler.people_table import EMPTY as EMPTY_PEOPLE
from reconciler.people_table import PeopleTable
from reconciler.yaml_files import read_folder
from reconciler.yaml_source import LineDict, YamlDocument, load_yaml

ACCESS_DIR = "access"
_PEOPLE_KEYS = frozenset({"people", "teams"})
_MODEL_NAMES = {m.__name__ for m in ALL_MODELS} | {"Resource", "LoginOverride", "str", "none"}


@dataclass(frozen=True, slots=True)
class SourceFile:
    document: YamlDocument
    model: AccessFile  # (its `people` left empty: `people` below holds them, as columns)
    # Its people and teams were compiled and are kept elsewhere (normalize's PeopleMemo); this copy
    # holds the rest of the file.
    people_elsewhere: bool = False
    people: PeopleTable = EMPTY_PEOPLE


def without_people(source: SourceFile) -> SourceFile:
    """`source` without its people and teams (their records are kept by whoever asks)."""
    data = source.document.tree
    if not isinstance(data, LineDict):
        return SourceFile(source.document, source.model, people_elsewhere=True)
    lean = LineDict(data.line)
    for key, value in data.items():
        if key not in _PEOPLE_KEYS:
            lean[key] = value
            if key in data.key_lines:
                lean.key_lines[key] = data.key_lines[key]
    document = YamlDocument(source.document.file, lean, list(source.document.errors))
    model = source.model.model_copy(update={"people": {}, "teams": {}})
    return SourceFile(document, model, people_elsewhere=True)


@dataclass(frozen=True, slots=True)
class DesiredFiles:
    files: tuple[SourceFile, ...]
    # The digest, or what it is the sha256 of (the files' names and bytes), hashed when asked:
    # `validate` never asks, and hashing 8 MB of people.yaml is a twentieth of its time.
    hashed: str | tuple[bytes, ...]

    @property
    def digest(self) -> str:
        """sha256 over the files' names and bytes (a commit's: over their names and blob ids)."""
        if isinstance(self.hashed, str):
            return self.hashed
        digest = hashlib.sha256()
        for part in self.hashed:
            digest.update(part)
        return digest.hexdigest()


# A parsed, valid file by (name, "git:" and its blob id, `blob_key`):
# the approval ledger reads dozens of commits whose files are mostly the same, and parses each
# version once.
FileCache = dict[tuple[str, str], SourceFile]

# A commit's file as the object database holds it: (name, blob id, its bytes when needed).
Blob = tuple[str, str, Callable[[], bytes]]


def read_files(repo: Path, cache: FileCache | None = None) -> DesiredFiles:
    """Load every YAML file under `repo/access/`; raise ValidationErrors with all problems."""
    root = repo / ACCESS_DIR
    if not root.is_dir():
        raise AccessError(f"{root}: no such directory (is --repo the repository root?)")
    with paused_gc():
        return _read_files(repo, cache)


def read_blobs(blobs: Iterable[Blob], cache: FileCache) -> DesiredFiles:
    """Load a commit's access/ files from its blobs (`git_tree.yaml_blobs`), sorted by name: a
    version seen before is not even read. The digest is over the names and blob ids."""
    errors: list[LocatedError] = []
    files: list[SourceFile] = []
    digest = hashlib.sha256()
    with paused_gc():
        for name, blob, data in sorted(blobs, key=itemgetter(0)):
            digest.update(f"{name}\0{blob}\0".encode())
            _add(name, blob_key(name, blob)[1], data, cache, files, errors)
    if errors:
        raise ValidationErrors(errors)
    return DesiredFiles(tuple(files), digest.hexdigest())


def blob_key(name: str, blob: str) -> tuple[str, str]:
    """The `FileCache` key of a file whose git blob id is `blob` (read from a checkout or a tree:
    one key, so what apply parsed of HEAD serves the gate's reading of older commits)."""
    return name, f"git:{blob}"


def git_blob_id(raw: bytes) -> str:
    """The id git gives a blob of these bytes."""
    digest = hashlib.sha1(b"blob %d\0" % len(raw))
    digest.update(raw)
    return digest.hexdigest()


def _read_files(repo: Path, cache: FileCache | None = None) -> DesiredFiles:
    found = read_folder(repo, ACCESS_DIR)
    errors = list(found.errors)
    files: list[SourceFile] = []
    hashed: list[bytes] = []
    for name, raw in found.files:
        hashed += (name.encode(), b"\0", raw, b"\0")
        key = blob_key(name, git_blob_id(raw))[1] if cache is not None else ""
        _add(name, key, raw, cache, files, errors)
    if errors:
        raise ValidationErrors(errors)
    return DesiredFiles(tuple(files), tuple(hashed))


def _add(
    name: str,
    key: str,
    data: bytes | Callable[[], bytes],
    cache: FileCache | None,
    files: list[SourceFile],
    errors: list[LocatedError],
) -> None:
    """Parse and validate one file (or take it from `cache` by `key`) into `files`."""
    found = cache.get((name, key)) if cache is not None else None
    if found is not None:
        files.append(found)
        return
    raw = data if isinstance(data, bytes) else data()
    document = load_yaml(raw, name, defer="people", fields=people_table.FIELDS)
    errors.extend(document.errors)
    if document.tree is None:
        return  # an empty file, or one that could not be read
    deferred = document.deferred  # people written a person a line: read as columns if plainly valid
    people = people_table.of_rows(deferred.rows) if deferred is not None else None
    if deferred is not None and people is not None:
        document.deferred = deferred._replace(rows=None)  # (its text is kept, should anyone ask)
    elif deferred is not None:
        document.data  # noqa: B018 (read whole: the model validates every person, errors located)
    model = validate_document(document, errors)
    if model is not None:
        if people is None:
            people = people_table.of_models(model.people, document)
            model = model.model_copy(update={"people": {}})  # (the table has them)
        files.append(SourceFile(document, model, people=people))
        if cache is not None and not document.errors:
            cache[(name, key)] = files[-1]


def validate_document(document: YamlDocument, errors: list[LocatedError]) -> AccessFile | None:
    """The file's model; its people left out when the document read them as columns."""
    return validate_model(document, errors, AccessFile, field_names(), "access/")


M = TypeVar("M", bound=BaseModel)


def validate_model(
    document: YamlDocument,
    errors: list[LocatedError],
    model: type[M],
    names: Iterable[str],
    folder: str,
) -> M | None:
    """Validate one file against `model`; pydantic's errors become located ones in `errors`.

    `names` are the field names "did you mean" draws from for an unknown field.
    """
    data = document.tree  # (without a deferred key's value: its reader validates it)
    if not isinstance(data, dict):
        errors.append(
            LocatedError(document.location(()), f"a file in {folder} must be a mapping of sections")
        )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = exc.errors()
        # A misspelt field is reported as unknown; its "missing" twin would only repeat it.
        typo_parents = {_clean(e["loc"])[:-1] for e in found if e["type"] == "extra_forbidden"}
        known = sorted(names)
        for error in found:
            if error["type"] == "missing" and _clean(error["loc"])[:-1] in typo_parents:
                continue
            errors.append(_located(document, error, known, model))
        return None


def _clean(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location without union-branch and validator names."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _MODEL_NAMES or "[" in p)))


def _located(document: YamlDocument, error: Any, known: list[str], model: type[BaseModel]) -> LocatedError:
    path = _clean(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        parent, name = path[:-1], str(path[-1])
        allowed = fields_at(model, parent)
        pool = [f for f in (allowed if allowed is not None else known) if f != name]
        hint = closest(name, pool, 1)
        if hint:
            suggestion = f" (did you mean {hint[0]!r}?)"
        elif allowed:
            suggestion = f" (allowed here: {', '.join(sorted(allowed))})"
        else:
            suggestion = ""
        what = f"{_dotted(parent)}: unknown field" if parent else "unknown section"
        return LocatedError(_where(document, path), f"{what} {name!r}{suggestion}")
    if kind == "missing":
        return LocatedError(_where(document, path[:-1]), f"{_dotted(path[:-1])}: missing field {path[-1]!r}")
    message = str(error["msg"])
    if kind == "string_pattern_mismatch" and path and path[-1] == "email":
        message = f"not an email address: {error.get('input')!r}"
    elif kind == "bool_type":
        message = f"expected true or false, not {error.get('input')!r} (only true/false are booleans)"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    return LocatedError(_where(document, path), f"{_dotted(path)}: {message}")


@functools.cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str] | None:
    """The field names allowed at `path` in `model`'s files (None when the schema cannot tell)."""
    schema = _schema(model)
    definitions: dict[str, Any] = schema.get("$defs", {})

    def expand(node: Any) -> list[dict[str, Any]]:
        if not isinstance(node, dict):
            return []
        ref = node.get("$ref")
        if isinstance(ref, str):
            return expand(definitions.get(ref.rsplit("/", 1)[-1]))
        branches = [*node.get("anyOf", ()), *node.get("oneOf", ()), *node.get("allOf", ())]
        if branches:
            return [found for branch in branches for found in expand(branch)]
        return [node]

    nodes = expand(schema)
    for step in path:
        following: list[dict[str, Any]] = []
        for node in nodes:
            properties = node.get("properties", {})
            if isinstance(step, str) and step in properties:
                following += expand(properties[step])
            elif isinstance(node.get("additionalProperties"), dict):
                following += expand(node["additionalProperties"])
            elif isinstance(step, int) and "items" in node:
                following += expand(node["items"])
        nodes = following
    names = sorted({name for node in nodes for name in node.get("properties", {})})
    return names or None


def _where(document: YamlDocument, path: tuple[Any, ...]) -> Location:
    """The line of a model path; `members` is implicit in the short form of a resource."""
    if document.has(path):
        return document.location(path)
    short = tuple(p for p in path if p != "members")
    full, brief = document.line_of(path), document.line_of(short)
    return document.at(max(full, brief) or 1)


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path if p != "members") or "(top)"
