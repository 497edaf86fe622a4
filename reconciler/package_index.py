"""The package index's word on a release: the sha256 of each file it serves for one version.

The simple repository API, as pip reads it: PEP 691 JSON when the index offers it, else the PEP 503
HTML page whose links carry `#sha256=` (a directory of wheels served by `python -m http.server`
is one). Read-only GETs, no credentials sent but those the URL itself carries, which are never shown.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from reconciler.errors import AccessError
from reconciler.release import normalize

PYPI = "https://pypi.org/simple/"
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_LINK = re.compile(r"<a\s[^>]*href=\"([^\"]+)\"", re.IGNORECASE)


def shown(url: str) -> str:
    """The URL without the user and password it may carry (a private index's token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host))


def _files(page: httpx.Response) -> dict[str, str]:
    """filename -> sha256 of every file the project page lists."""
    found: dict[str, str] = {}
    if "json" in page.headers.get("content-type", ""):
        for entry in page.json().get("files", []):
            digest = (entry.get("hashes") or {}).get("sha256")
            if digest:
                found[str(entry["filename"])] = str(digest)
        return found
    for href in _LINK.findall(page.text):
        url = html.unescape(href)
        path, _, fragment = url.partition("#")
        if fragment.startswith("sha256="):
            found[path.rsplit("/", 1)[-1]] = fragment.removeprefix("sha256=")
    return found


def release_hashes(
    index_url: str, project: str, version: str, *, transport: httpx.BaseTransport | None = None
) -> dict[str, str]:
    """filename -> sha256 of `project`'s files for `version` (its wheels and sdist) at the index."""
    base = index_url if index_url.endswith("/") else index_url + "/"
    url = urljoin(base, normalize(project) + "/")
    try:
        with httpx.Client(transport=transport, timeout=20, follow_redirects=True) as client:
            page = client.get(url, headers={"Accept": ACCEPT})
    except httpx.HTTPError as exc:
        raise AccessError(
            f"cannot read {shown(url)} ({type(exc).__name__}: {exc}); check PIP_INDEX_URL or pass --index-url"
        ) from None
    if page.status_code == 404:
        raise AccessError(f"{project} is not on the package index {shown(base)} (404 for {shown(url)})")
    if page.status_code != 200:
        raise AccessError(f"the package index answered HTTP {page.status_code} for {shown(url)}")
    stem = normalize(project).replace("-", "_")
    prefixes = (f"{stem}-{version}-", f"{stem}-{version}.tar.gz")
    wanted = {name: digest for name, digest in _files(page).items() if name.lower().startswith(prefixes)}
    if not wanted:
        raise AccessError(f"{project} {version} is not on the package index {shown(base)} ({shown(url)})")
    return dict(sorted(wanted.items()))
