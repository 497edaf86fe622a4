"""Reading a vendor's answer: the ONE place where a body the code did not expect becomes an error.

The connectors and the GitHub client read every answer they use through `read(response, EXPECTED)`,
where `EXPECTED = Expected(Shape, "a list of users")` pairs a type pydantic can check (TypedDicts
declared with `@answer`, lists of them) with what the answer should have been, in words. The body is
parsed and checked in one step, so the code behind it indexes only what its shape declares.

Anything else (not JSON: a proxy's or captive portal's HTML page, a body cut short, nothing at all;
JSON of another type; a field missing or of the wrong type) is an `UnexpectedAnswer`, one line:

    procore: api.procore.com (PROCORE_API_URL) answered HTTP 200 GET /rest/v1.0/companies with an
    HTML page (<html><title>Guest Wi-Fi</title>…), not a list of companies; check PROCORE_API_URL
    and any proxy, firewall or captive portal between here and api.procore.com, then try again

(JSON of another shape says where: `JSON of another shape ([1].id is missing; body: […])`.)

It is a `VendorHalt`: the client that received it sends no more writes (`VendorClient.halt`) and
apply attempts no other change at that vendor. The excerpt is scrubbed (`quote_body`), and
token-like fields are masked first: in a body cut short the scrubber cannot have learned the token.
"""

from __future__ import annotations

import asyncio
import re
import types
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any, Generic, NotRequired, Required, TypeVar, Union, get_args, get_origin

import httpx
import msgspec
from pydantic import ConfigDict, StringConstraints, TypeAdapter, ValidationError, with_config
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict, get_type_hints, is_typeddict

from reconciler.connectors.http import Endpoint, answered_by, host_of
from reconciler.errors import VendorHalt
from reconciler.scrub import quote_body

T = TypeVar("T")

# A TypedDict of a vendor's answer: fields it does not name are kept as they came, unchecked.
answer = with_config(ConfigDict(extra="allow"))
# One the code reads only a few fields of, in bulk (a group's members): the rest are parsed as JSON
# (a body cut short is still refused) but not kept; three times faster on PingOne's member pages.
answer_in_part = with_config(ConfigDict(extra="ignore"))

# Values an answer hands back that a later request puts in a header or a URL: anything else there
# would crash the request, or (an id of "../x") send it somewhere else.
BearerToken = Annotated[str, StringConstraints(pattern=r"^[!-~]+$")]  # visible ASCII: fit for a header
PathId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$")]  # one segment
LinkUrl = Annotated[str, StringConstraints(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$")]

EXCERPT = 80  # characters of the body quoted in a message
_SCANNED = 16_384  # characters of the body scrubbed for the excerpt (far more than it shows)
_TOKEN_FIELD = re.compile(r'("[^"]{0,40}(?:token|secret|password)[^"]{0,40}"\s*:\s*")[^"]*', re.IGNORECASE)
_TOKEN_PARAM = re.compile(r"\b(\w{0,40}(?:token|secret|password)\w{0,40}=)[^&\s]*", re.IGNORECASE)
_KEY = re.compile(r"^[A-Za-z0-9_:.@$-]{1,100}$")


@cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    """Built once per shape (building one takes a while; an `Expected` may be made per request)."""
    return TypeAdapter(shape)


@cache
def _decoder(shape: Any) -> msgspec.json.Decoder[Any] | None:
    try:
        return msgspec.json.Decoder(_fast(shape, {}))
    except TypeError:
        return None


class Expected(Generic[T]):
    """What an answer must be: a type pydantic checks, and its description for messages."""

    def __init__(self, shape: type[T], description: str) -> None:
        self.shape = shape
        self.description = description
        self._key: Any = shape  # types and generic aliases are hashable: the adapter's cache key
        self._adapter: TypeAdapter[T] | None = None
        self._decoder: msgspec.json.Decoder[T] | None = None
        self._looked = False  # for a decoder

    @property
    def adapter(self) -> TypeAdapter[T]:
        if self._adapter is None:
            self._adapter = _adapter(self._key)
        return self._adapter

    @property
    def decoder(self) -> msgspec.json.Decoder[T] | None:
        """The fast check of a shape read in part (`answer_in_part` throughout; see `_fast`), else None."""
        if not self._looked:
            self._decoder, self._looked = _decoder(self._key), True
        return self._decoder

    def __repr__(self) -> str:
        return f"Expected({self.description!r})"


def prepare(*expected: Expected[Any]) -> None:
    """Build these shapes' checks now (while a request travels) rather than at their first answer."""
    for each in expected:
        _ = each.adapter, each.decoder


async def prepare_while_sending(*expected: Expected[Any]) -> None:
    """`prepare` a piece at a time, letting the event loop turn before each piece: requests just
    started go out first (opening a connection and writing the request takes about six turns), and
    the checks are built while they travel (~20 ms of CPU the first time, most of it the first
    piece) instead of before they leave or after their answers are in."""
    turns = 8
    for each in expected:
        for part in ("adapter", "decoder"):
            for _ in range(turns):
                await asyncio.sleep(0)
            getattr(each, part)
            turns = 1


def _fast(shape: Any, bound: dict[Any, Any]) -> Any:
    """The same shape for msgspec, whose checks take a half to a third of pydantic's time on pages of
    users; a TypeError for what it cannot say the same way. Only for TypedDicts read in part
    (`answer_in_part`, extra keys dropped as msgspec drops them), of str, int, bool, None, object,
    lists, unions and the constraints used here (a pattern, ge/le). msgspec is the stricter of the
    two (no "5" for 5, no 1 for true), so what it accepts pydantic accepts and reads the same;
    what it refuses, pydantic checks again (`read`): pydantic's lax reading, or its error."""
    if isinstance(shape, TypeVar):
        return _fast(bound[shape], {})
    origin = get_origin(shape)
    if origin is Annotated:
        base, *metadata = get_args(shape)
        return Annotated.__class_getitem__((_fast(base, bound), *(_meta(m) for m in metadata)))
    if origin is Union or origin is types.UnionType:
        return Union.__getitem__(tuple(_fast(a, bound) for a in get_args(shape)))
    if origin is list:
        return list[_fast(get_args(shape)[0], bound)]  # type: ignore[misc]
    typed = origin if origin is not None and is_typeddict(origin) else shape
    if is_typeddict(typed):
        if getattr(typed, "__pydantic_config__", {}).get("extra") != "ignore":
            raise TypeError(f"{typed.__name__} keeps the keys it does not name: pydantic reads it")
        params = dict(zip(getattr(typed, "__parameters__", ()), get_args(shape), strict=False))
        params = {k: bound.get(v, v) if isinstance(v, TypeVar) else v for k, v in params.items()}
        fields: dict[str, Any] = {}
        for name, hint in get_type_hints(typed, include_extras=True).items():
            wrapper: Any = get_origin(hint)
            optional = wrapper is NotRequired or (wrapper is not Required and not typed.__total__)
            inner = _fast(get_args(hint)[0] if wrapper in (NotRequired, Required) else hint, params)
            fields[name] = NotRequired[inner] if optional else Required[inner]
        return TypedDict(f"{typed.__name__}Checked", fields)  # type: ignore[operator]
    if shape in (str, int, bool, type(None)):
        return shape
    if shape is object or shape is Any:
        return Any
    raise TypeError(f"no fast check for {shape!r}")


def _meta(metadata: object) -> msgspec.Meta:
    """pydantic's constraint as msgspec's, or a TypeError."""
    if isinstance(metadata, StringConstraints):
        pattern = metadata.pattern
        others = {k: v for k, v in vars(metadata).items() if k != "pattern" and v is not None}
        if isinstance(pattern, str) and not others and pattern.count("$") == 1 and pattern.endswith("$"):
            # pydantic's patterns are Rust's: `$` ends the text; Python's would allow a newline before it
            return msgspec.Meta(pattern=pattern[:-1] + r"\Z")
    if isinstance(metadata, FieldInfo) and metadata.metadata and not metadata.description:
        names = [type(m).__name__.lower() for m in metadata.metadata]
        if set(names) <= {"ge", "le"}:
            return msgspec.Meta(**{n: getattr(m, n) for n, m in zip(names, metadata.metadata, strict=True)})
    raise TypeError(f"no fast check for {metadata!r}")


class UnexpectedAnswer(VendorHalt):
    """A successful status with a body the code did not expect (the message says what and why)."""

    def __init__(self, vendor: str, message: str, *, problem: str) -> None:
        super().__init__(vendor, message)
        self.problem = problem


def read(response: httpx.Response, expected: Expected[T], *, endpoint: Endpoint | None = None) -> T:
    """The body of `response` as `expected` declares it, or an `UnexpectedAnswer`. `endpoint` names
    the vendor for a response that did not come through a `VendorClient`."""
    decoder = expected.decoder
    if decoder is not None:
        try:
            return decoder.decode(response.content)
        except msgspec.MsgspecError:
            pass  # not as expected, or only as pydantic's lax reading allows: pydantic decides
    try:
        return expected.adapter.validate_json(response.content)
    except ValidationError as exc:
        raise unexpected(
            response, problem_of(response, exc), expected.description, endpoint=endpoint
        ) from None


def acknowledged(response: httpx.Response, what: str) -> None:
    """A write's answer whose content the code does not use: none at all, or a JSON object. A page,
    text or JSON cut short means something other than the vendor answered (a proxy, a portal) or the
    answer broke off: the write may not have been made, so it is an `UnexpectedAnswer` too."""
    if response.content.strip():
        read(response, Expected(dict[str, object], what))


def conform(response: httpx.Response, data: object, expected: Expected[T]) -> T:
    """`data`, part of `response`'s JSON already read, as `expected` declares it (items of a list the
    caller reads one by one), or an `UnexpectedAnswer`."""
    try:
        return expected.adapter.validate_python(data)
    except ValidationError as exc:
        raise unexpected(response, problem_of(response, exc), expected.description) from None


def unexpected(
    response: httpx.Response, problem: str, expected: str, *, endpoint: Endpoint | None = None
) -> UnexpectedAnswer:
    """The one-line error for an answer with `problem` instead of `expected`, and the client that
    received it halted. `problem` is "JSON of another shape (detail)" or how the body is not JSON;
    for callers that check an answer beyond its type (the GitHub client) as well as for `read`."""
    client = answered_by(response)
    endpoint = endpoint or (client.endpoint if client is not None else Endpoint(""))
    request = response.request
    host = host_of(request.url)
    setting = endpoint.setting(host)
    excerpt = _excerpt(response)
    if excerpt:
        problem = f"{problem[:-1]}; body: {excerpt})" if problem.endswith(")") else f"{problem} ({excerpt})"
    error = UnexpectedAnswer(
        endpoint.vendor,
        f"{endpoint.where(request.url)} answered HTTP {response.status_code} {request.method} "
        f"{request.url.path} with {problem}, not {expected}; {_advice(problem, setting, host)}",
        problem=problem,
    )
    if client is not None:
        client.halt(error)
    return error


SHAPE = "JSON of another shape"
CUT_SHORT = "JSON cut short"


def shape_problem(detail: str) -> str:
    """The problem of JSON that is not what the code needs, for `unexpected`."""
    return f"{SHAPE} ({detail})"


def problem_of(response: httpx.Response, exc: ValidationError) -> str:
    """What was wrong with the body, in words (never the values it held)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        text = response.text.strip()
        if not text:
            return "an empty body"
        if "html" in response.headers.get("content-type", "").lower() or text.startswith("<"):
            return "an HTML page"
        if text[:1] in "{[" and "EOF" in first["msg"]:
            return CUT_SHORT
        return "a body that is not JSON"
    more = f", and {len(errors) - 1} more" if len(errors) > 1 else ""
    return shape_problem(f"{_what(first['loc'], first['type'], first['msg'])}{more}")


def _what(loc: Sequence[int | str], kind: str, message: str) -> str:
    """`Resources[0].id is missing`, `access_token should be a valid string`."""
    path = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" if _KEY.match(part) else ".?" for part in loc
    ).lstrip(".")
    if kind == "missing":
        return f"{path} is missing" if path else "the body is missing"
    if kind == "string_pattern_mismatch":
        return f"{path} holds characters it cannot"
    said = message.split(",")[0]
    said = said.removeprefix("Input ") if said.startswith("Input should") else said[:1].lower() + said[1:]
    return f"{path or 'the body'} {said}" if said.startswith("should") else f"{path or 'the body'}: {said}"


def _advice(problem: str, setting: str, host: str) -> str:
    if problem.startswith(SHAPE):
        where = f"{setting} points at" if setting else f"{host} is"
        return (
            f"check that {where} the vendor's API, not a proxy or another service, then try again "
            "(report it if it persists)"
        )
    check = f"{setting} and any" if setting else "any"
    if problem.startswith(CUT_SHORT):
        return (
            f"the answer was cut off: try again; if it persists, check {check} proxy between here and {host}"
        )
    return f"check {check} proxy, firewall or captive portal between here and {host}, then try again"


def _excerpt(response: httpx.Response) -> str:
    """The start of the body: token-like fields masked, scrubbed, on one line, printable."""
    text = response.content[:_SCANNED].decode("utf-8", "replace")
    text = _TOKEN_PARAM.sub(r"\1***", _TOKEN_FIELD.sub(r"\1***", text))
    return "".join(c if c.isprintable() else "?" for c in quote_body(text, EXCERPT))
