"""A package index on loopback, as `python -m http.server` serves a directory: the PEP 503 simple
pages of a folder of wheels and sdists, each link carrying the file's `#sha256=`."""

from __future__ import annotations

import hashlib
import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from reconciler.release import normalize


def project_of(filename: str) -> str:
    """The project a wheel or sdist file belongs to (`PyYAML-6.0.2-...whl` -> `pyyaml`)."""
    stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
    return normalize(stem.split("-", 1)[0])


def write_simple_index(files: Path, root: Path) -> Path:
    """root/simple/<project>/index.html for every file in `files` (copied under root/files)."""
    projects: dict[str, list[Path]] = {}
    store = root / "files"
    store.mkdir(parents=True, exist_ok=True)
    for path in sorted(files.iterdir()):
        if path.suffix == ".whl" or path.name.endswith(".tar.gz"):
            (store / path.name).write_bytes(path.read_bytes())
            projects.setdefault(project_of(path.name), []).append(store / path.name)
    simple = root / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    for project, paths in projects.items():
        rows = []
        for path in paths:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            rows.append(f'<a href="../../files/{html.escape(path.name)}#sha256={digest}">{path.name}</a><br>')
        (simple / project).mkdir(exist_ok=True)
        (simple / project / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(rows) + "\n</body></html>\n"
        )
    return simple


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """`python -m http.server --bind 127.0.0.1 --directory root` in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
