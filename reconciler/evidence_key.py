"""The evidence pack's signing key: Ed25519 (PyNaCl), in the formats OpenSSL reads.

The private key is a secret setting, `ACCESS_EVIDENCE_SIGNING_KEY`: the 32-byte seed in hex, or a
PKCS#8 PEM (`openssl genpkey -algorithm ed25519`). Its public half is committed in the repository
as `policies/evidence.pub` (a PEM SubjectPublicKeyInfo: what `openssl pkeyutl -verify -pubin`
takes), where changing it needs the policy owners like any file of policies/. The signature is
Ed25519 over the manifest's exact bytes, stored raw (64 bytes), so an auditor can check a pack with
OpenSSL alone:

    sha256sum -c --strict SHA256SUMS
    openssl pkeyutl -verify -pubin -inkey evidence.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from reconciler.errors import AccessError, ConfigError

KEY_ENV = "ACCESS_EVIDENCE_SIGNING_KEY"
PUBLIC_KEY_FILE = Path("policies") / "evidence.pub"
SANDBOX_KEY_FILE = "evidence.key"
# DER prefixes of an Ed25519 key (RFC 8410): SubjectPublicKeyInfo and PKCS#8 PrivateKeyInfo.
_SPKI = bytes.fromhex("302a300506032b6570032100")
_PKCS8 = bytes.fromhex("302e020100300506032b657004220420")
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.S)


def _pem(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _der(text: str, label: str) -> bytes | None:
    found = _PEM.search(text)
    if found is None or found[1] != label:
        return None
    try:
        return base64.b64decode("".join(found[2].split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def generate() -> SigningKey:
    return SigningKey(secrets.token_bytes(32))


def private_text(key: SigningKey) -> str:
    """The secret as stored: the seed in hex."""
    return bytes(key).hex()


def private_pem(key: SigningKey) -> str:
    return _pem("PRIVATE KEY", _PKCS8 + bytes(key))


def public_pem(key: VerifyKey) -> str:
    return _pem("PUBLIC KEY", _SPKI + bytes(key))


def fingerprint(key: VerifyKey) -> str:
    """SHA-256 of the raw public key, in hex: how parameters.csv and `verify` name the key."""
    return hashlib.sha256(bytes(key)).hexdigest()


def parse_private(text: str, *, where: str = KEY_ENV) -> SigningKey:
    raw = text.strip()
    seed: bytes | None = None
    if raw.startswith("-----BEGIN"):
        der = _der(raw, "PRIVATE KEY")
        if der is not None and len(der) == len(_PKCS8) + 32 and der.startswith(_PKCS8):
            seed = der[len(_PKCS8) :]
    elif re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        seed = bytes.fromhex(raw)
    if seed is None:
        raise ConfigError(
            f"{where} is not an Ed25519 private key: give the 32-byte seed in hex (what `access evidence "
            "keygen` prints) or a PKCS#8 PEM (`openssl genpkey -algorithm ed25519`)"
        )
    return SigningKey(seed)


def parse_public(text: str, *, where: str) -> VerifyKey:
    raw = text.strip()
    der = _der(raw, "PUBLIC KEY") if raw.startswith("-----BEGIN") else None
    if der is not None and len(der) == len(_SPKI) + 32 and der.startswith(_SPKI):
        return VerifyKey(der[len(_SPKI) :])
    if re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        return VerifyKey(bytes.fromhex(raw))
    raise AccessError(
        f"{where}: not an Ed25519 public key (a PEM 'PUBLIC KEY', as `access evidence keygen` writes)"
    )


def key_from_env(env: Mapping[str, str]) -> SigningKey:
    raw = env.get(KEY_ENV, "")
    if not raw.strip():
        raise ConfigError(
            f"{KEY_ENV} is not set: the evidence pack is signed with it. Make a pair with `access evidence "
            f"keygen`, store the private half as the secret {KEY_ENV} and commit the public half as "
            f"{PUBLIC_KEY_FILE} (docs/audit.md)"
        )
    return parse_private(raw)


def sandbox_key(directory: Path) -> SigningKey:
    """The sandbox's own key (created on first use), the stand-in for the secret."""
    path = directory / SANDBOX_KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(private_text(generate()) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return parse_private(path.read_text(encoding="utf-8"), where=str(path))


def sign(key: SigningKey, data: bytes) -> bytes:
    return bytes(key.sign(data).signature)


def verifies(key: VerifyKey, data: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        key.verify(data, signature)
    except BadSignatureError:
        return False
    return True
