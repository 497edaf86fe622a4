"""HTTP-level pieces of the GitHub simulator: error bodies, JSON request bodies, Link pagination."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx

from reconciler.simulators.base import json_response

DOCS = "https://docs.github.com/rest"


def error(
    status: int, message: str, headers: dict[str, str] | None = None, *, docs: str = DOCS
) -> httpx.Response:
    return json_response(
        status, {"message": message, "documentation_url": docs, "status": str(status)}, headers
    )


def not_found() -> httpx.Response:
    return error(404, "Not Found")


def bad_json() -> httpx.Response:
    return error(400, "Problems parsing JSON")


def validation(message: str, resource: str, field: str, code: str = "missing_field") -> httpx.Response:
    return json_response(
        422,
        {
            "message": message,
            "errors": [{"resource": resource, "field": field, "code": code}],
            "documentation_url": DOCS,
            "status": "422",
        },
    )


def json_body(request: httpx.Request) -> dict[str, Any] | None:
    """The request's JSON object (`{}` when there is no body), or None when it is not one."""
    try:
        data = json.loads(request.content or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def page(request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
    """One page of `items` (`per_page` default 30, max 100; `page` from 1) with a `Link` header."""
    query = dict(request.url.params)
    per_page = max(1, min(100, _int(query.get("per_page"), 30)))
    number = max(1, _int(query.get("page"), 1))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(number - 1) * per_page : number * per_page]
    links: list[str] = []

    def link(n: int, rel: str) -> None:
        params = {**query, "per_page": str(per_page), "page": str(n)}
        url = request.url.copy_with(query=urlencode(params).encode())
        links.append(f'<{url}>; rel="{rel}"')

    if number > 1:
        link(number - 1, "prev")
    if number < last:
        link(number + 1, "next")
        link(last, "last")
    if number > 1:
        link(1, "first")
    return json_response(200, chunk, {"link": ", ".join(links)} if links else None)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
