"""Expiry warnings: assignments lapsing within N days are listed, with where they are written."""

from __future__ import annotations

from pathlib import Path

from reconciler.changes import Finding, Severity
from reconciler.rules import check_desired
from tests.policy_helpers import CO, TODAY, desired_from, policies_from

PROCORE = f"""
procore:
  companies:
    "{CO}":
      projects:
        Harbor Tower:
          alice: {{template: Project Engineer, expires: 2026-12-03, reason: PROC-1}}
          bob: {{template: Superintendent, expires: 2026-12-04}}
          carol: {{template: Project Manager, expires: 2026-11-24}}
"""


def test_assignments_expiring_within_the_window_are_warned_about(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, procore=PROCORE)
    findings = check_desired(desired, policies_from(tmp_path, "expiry_warnings: {within_days: 10}\n"), TODAY)
    assert findings == [
        Finding(
            Severity.WARNING,
            "expiry-warning",
            "alice: Procore project Harbor Tower as Project Engineer expires 2026-12-03 (in 10 days)",
            vendor="procore",
            principal="alice@harbor.example",
            source="access/procore.yaml:6",
            hint="extend `expires` (with a reason) if it is still needed; it is revoked after that day",
        ),
        Finding(
            Severity.WARNING,
            "expiry-warning",
            "carol: Procore project Harbor Tower as Project Manager expires 2026-11-24 (tomorrow)",
            vendor="procore",
            principal="carol@harbor.example",
            source="access/procore.yaml:8",
            hint="extend `expires` (with a reason) if it is still needed; it is revoked after that day",
        ),
    ]


def test_nothing_within_the_window_means_no_warning(tmp_path: Path) -> None:
    desired = desired_from(tmp_path, procore=PROCORE)
    findings = check_desired(desired, policies_from(tmp_path, "expiry_warnings: {within_days: 0}\n"), TODAY)
    assert findings == []
