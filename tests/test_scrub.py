"""The scrubber hides each secret in every form an echoed request shows it."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from reconciler.scrub import Scrubber, quote_body, scrub, scrubbable, scrubbing

SECRET = "s3cr3t/v@lue+x=y z"


def test_every_form_of_a_secret_is_masked() -> None:
    scrub = Scrubber([SECRET])
    raw = SECRET.encode()
    forms = [
        SECRET, quote(SECRET, safe=""), quote(SECRET, safe="").lower(), quote_plus(SECRET), json.dumps(SECRET),
        raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]  # fmt: skip
    for form in forms:
        assert "s3cr3t" not in scrub(f"before {form} after") and "***" in scrub(f"before {form} after"), form


def test_a_basic_header_is_masked_whatever_the_client_id() -> None:
    scrub = Scrubber([SECRET])
    for client_id in ("a", "ab", "abc", "worker-app-7"):
        header = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
        assert scrub(f"Authorization: Basic {header}\n") == "Authorization: Basic ***\n"


def test_tokens_learnt_later_are_masked_too_and_short_values_are_not_secrets() -> None:
    scrub = Scrubber(["abc"])
    assert scrub("abc") == "abc"
    scrub.remember("tok_0123456789")
    assert scrub("Bearer tok_0123456789") == "Bearer ***"


def test_a_body_is_scrubbed_before_it_is_cut() -> None:
    scrub = Scrubber([SECRET])
    body = "x" * 95 + SECRET
    assert "s3cr" not in scrub.quote_body(body, limit=100)
    assert quote_body("a\n  b") == "a b"


def test_text_written_in_pieces_is_scrubbed_whole_when_there_is_a_secret() -> None:
    """A plan file is written a piece at a time; a secret split across two pieces is still masked."""
    half = len(SECRET) // 2
    pieces = ["before " + SECRET[:half], SECRET[half:] + " after"]
    with scrubbing(Scrubber([SECRET])):
        assert [scrub(piece) for piece in scrubbable(pieces)] == ["before *** after"]
    with scrubbing(Scrubber()):  # nothing to scrub: the pieces as they come
        assert list(scrubbable(pieces)) == pieces
