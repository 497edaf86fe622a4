"""A canary secret never reaches output, plan files, journals or crash logs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from reconciler.commands import plan as plan_cmd
from reconciler.sandbox import vendor_sandbox
from tests.helpers import run_cli

CANARY = "sekrit-canary-7f3a"


@pytest.mark.loopback
def test_wrong_credentials_against_loopback_vendors_never_echo_the_secret(
    example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = example_repo / ".access-sandbox"
    with (
        vendor_sandbox("procore").loopback(state) as procore_env,
        vendor_sandbox("pingone").loopback(state) as pingone_env,
    ):
        for key, value in {**procore_env, **pingone_env}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("PROCORE_CLIENT_SECRET", CANARY)
        monkeypatch.setenv("PINGONE_CLIENT_SECRET", CANARY)
        plan_file = example_repo / "plan.json"
        for vendor in ("procore", "pingone"):
            code, out, err = run_cli(
                capsys, "--repo", str(example_repo), "--vendor", vendor, "plan", "--out", str(plan_file)
            )
            assert code == 1
            assert err.strip(), "a failed login must say what failed"
            assert CANARY not in out + err
        assert not plan_file.exists() or CANARY not in plan_file.read_text()


def test_a_crash_log_is_scrubbed_of_secrets(
    example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINGONE_CLIENT_SECRET", CANARY)

    def explode(*args: object, **kwargs: object) -> int:
        raise RuntimeError(f"unexpected bug while holding {CANARY}")

    monkeypatch.setattr(plan_cmd, "run", explode)
    monkeypatch.setattr(tempfile, "tempdir", str(example_repo.parent))
    code, out, err = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox")
    assert code == 1
    assert "access crashed unexpectedly (RuntimeError); details in" in err
    log = Path(err.rsplit("details in ", 1)[1].strip())
    text = log.read_text()
    assert "unexpected bug while holding ***" in text
    assert CANARY not in text + out + err
    assert log.stat().st_mode & 0o077 == 0, "the crash log is readable by its owner only"

    code, _, again = run_cli(capsys, "--repo", str(example_repo), "plan", "--sandbox")
    second = Path(again.rsplit("details in ", 1)[1].strip())
    assert second != log and log.exists(), (
        "each run keeps its own crash log (concurrent runs do not overwrite)"
    )
