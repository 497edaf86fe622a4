"""Settings that are not secrets never mask anything, however ordinary their values.

`CONCUR_TOKEN_STORE=file` (the CronJob and `sandbox serve` set it) once turned output into
`valid: 4 ***s`, `POST /pro***/v4/Users` and `cannot read the plan *** (No such *** or directory)`.
Whole runs, as processes, with every such setting set to a common word, print no `***` at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sandbox import vendor_sandbox
from reconciler.scrub import Scrubber
from reconciler.settings import SETTINGS

ACCESS = Path(sys.executable).parent / "access"

# Settings whose values are names, ids, modes, paths or environments, set to words output is made of.
# The sandbox reads none of them (it has its own fakes), so they can be anything here.
WORDS = {
    "CONCUR_TOKEN_STORE": "file",
    "CONCUR_SECRETS_ENVIRONMENT": "access-apply",
    "CONCUR_TOKEN_FILE": "token",
    "CONCUR_REFRESH_TOKEN_SECRET": "key",
    "CONCUR_GEOLOCATION_SECRET": "secret",
    "CONCUR_COMPANY_ID": "company",
    "CONCUR_CLIENT_ID": "access",
    "CONCUR_DEFAULT_COUNTRY": "US",
    "PINGONE_ENVIRONMENT_ID": "environment",
    "PINGONE_AUTH_ENVIRONMENT_ID": "grant",
    "PINGONE_ORGANIZATION_ID": "account",
    "PINGONE_CLIENT_ID": "role",
    "PINGONE_TOKEN_AUTH_METHOD": "client_secret_post",
    "PROCORE_ENVIRONMENT": "production",
    "PROCORE_COMPANY_ID": "project",
    "PROCORE_CLIENT_ID": "user",
}


def access(repo: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [str(ACCESS), "--repo", str(repo), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_words_are_settings_that_hold_no_secret() -> None:
    assert {name: SETTINGS[name] for name in WORDS if SETTINGS[name] == "secret"} == {}


def test_a_sandbox_run_with_ordinary_words_in_the_settings_prints_them_unmasked(example_repo: Path) -> None:
    outputs: list[str] = []
    for args, exit_code, expect in (
        (("validate",), 0, "valid: 4 files"),
        (("plan", "--sandbox", "--out", str(example_repo / "plan.json")), 0, "Plan: "),
        (("--verbose", "apply", "--sandbox"), 0, "concur POST /profile/v4/Users -> 201"),
        (("plan", "--sandbox", "--detailed-exitcode"), 0, "No changes"),
        (("report", "--sandbox", "--out", str(example_repo / "report.csv")), 0, ""),
        (("why", "judy", "--sandbox"), 0, "access/concur.yaml"),
        (("apply", str(example_repo / "no-such-file.json"), "--sandbox"), 1, "cannot read the plan file"),
    ):
        code, output = access(example_repo, *args, env=WORDS)
        assert code == exit_code, output
        assert expect in output
        outputs.append(output)
    outputs.append((example_repo / "report.csv").read_text(encoding="utf-8"))
    everything = "\n".join(outputs)
    assert "***" not in everything
    assert "(No such file or directory)" in everything and "/oauth/token -> 200" in everything


@pytest.mark.loopback
def test_the_live_path_with_a_token_file_store_prints_its_words_unmasked(
    example_repo: Path, tmp_path: Path
) -> None:
    """`sandbox serve`'s variables, as a CronJob would set them: CONCUR_TOKEN_STORE=file is used."""
    state = example_repo / ".access-sandbox"
    with (
        vendor_sandbox("procore").loopback(state) as procore,
        vendor_sandbox("concur").loopback(state) as concur,
        vendor_sandbox("pingone").loopback(state) as pingone,
    ):
        hosts = ",".join(env.pop("ACCESS_ALLOW_HOSTS") for env in (procore, concur, pingone))
        env = {**procore, **concur, **pingone, "ACCESS_ALLOW_HOSTS": hosts}
        assert env["CONCUR_TOKEN_STORE"] == "file"
        code, output = access(example_repo, "--verbose", "plan", env=env)
    assert code == 0, output
    assert "concur GET /profile/identity/v4.1/Users -> 200" in output and "Plan: " in output
    assert "***" not in output


def test_a_declared_secret_is_masked_everywhere_and_a_plain_setting_nowhere() -> None:
    env = {"CONCUR_TOKEN_STORE": "file", "CONCUR_SECRETS_ENVIRONMENT": "access-apply",
           "CONCUR_CLIENT_SECRET": "s3cr3t-value", "ACCESS_APPLY_POINT_KEY": "0123456789abcdef"}  # fmt: skip
    scrub = Scrubber.from_env(env)
    text = "access-apply: No such file (POST /profile/v4/Users) s3cr3t-value 0123456789abcdef"
    assert scrub(text) == "access-apply: No such file (POST /profile/v4/Users) *** ***"


def test_an_unknown_variable_named_like_a_secret_is_masked_conservatively() -> None:
    env = {"DEPLOY_TOKEN": "tok_0123456789", "NPM_KEY_STORE": "file", "SIGNING_KEY_ENABLED": "true",
           "BUILD_TOKEN_COUNT": "12345", "PATH": "/usr/bin"}  # fmt: skip
    scrub = Scrubber.from_env(env)
    assert scrub("Bearer tok_0123456789") == "Bearer ***"
    assert scrub("GET /profile: file not found") == "GET /profile: *** not found"  # only standing alone
    assert scrub('{"authoritative": true, "count": 12345}') == '{"authoritative": true, "count": 12345}'
