"""`access doctor` against the simulators on loopback (the live code path): each check passes on the
sandbox and fails, with what to do, when the setup is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from reconciler.hosts import ALLOW_ENV
from reconciler.sandbox import vendor_sandbox
from reconciler.sandbox.concur import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_REFRESH_TOKEN
from reconciler.simulators.concur import ConcurSimulator
from reconciler.simulators.concur_state import ConcurState
from reconciler.simulators.serve import serve
from tests.helpers import run_cli

pytestmark = pytest.mark.loopback

Serve = Callable[..., dict[str, str]]


@pytest.fixture
def served(example_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Serve the sandbox vendors of `example_repo` on loopback and point the environment at them;
    `edit(vendor, state)` may change a simulator's state file first."""
    state_dir = example_repo / ".access-sandbox"
    with ExitStack() as stack:

        def start(
            *vendors: str, edit: Callable[[str, dict], None] | None = None, **env: str
        ) -> dict[str, str]:  # type: ignore[type-arg]
            found: dict[str, str] = {}
            for vendor in vendors or ("procore", "concur", "pingone"):
                vendor_sandbox(vendor).reset(state_dir)
                if edit is not None:
                    path = state_dir / f"{vendor}.sim.json"
                    data = json.loads(path.read_text())
                    edit(vendor, data)
                    path.write_text(json.dumps(data))
                served = dict(stack.enter_context(vendor_sandbox(vendor).loopback(state_dir)))
                hosts = [h for h in (found.get(ALLOW_ENV, ""), served.pop(ALLOW_ENV, "")) if h]
                found |= served | {ALLOW_ENV: ",".join(hosts)}
            found |= env
            for name, value in found.items():
                monkeypatch.setenv(name, value)
            return found

        yield start


def _doctor(capsys: pytest.CaptureFixture[str], repo: Path, *vendors: str) -> tuple[int, list[str]]:
    args = [a for v in vendors for a in ("--vendor", v)]
    code, out, err = run_cli(capsys, "--repo", str(repo), *args, "doctor")
    return code, out.splitlines() + err.splitlines()


def test_doctor_passes_on_the_sandbox_with_one_line_per_check(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    served()
    code, lines = _doctor(capsys, example_repo)
    assert code == 0, lines
    assert (
        "✓ procore: credentials: token accepted; the app is installed in: Harbor Build Co (562949953421312)"
        in lines
    )
    assert "✓ procore: company 562949953421312: Harbor Build Co: the app is installed" in lines
    assert "✓ procore: project Harbor Tower: Directory tool readable (9 members)" in lines
    assert any(line.startswith("✓ concur: geolocation: http://127.0.0.1:") for line in lines)
    assert "✓ concur: scopes: all 6 scopes the connector uses" in lines
    assert "✓ pingone: environment: Sandbox (SANDBOX, 7a3c9e52-5b1d-4f0e-9a61-5a4db0c1e001)" in lines
    assert "✓ pingone: roles: all 3 roles in access/ exist" in lines
    assert all(line[0] in "✓✗" for line in lines[:-1]) and lines[-1].endswith("0 failed")


@pytest.mark.parametrize(
    ("vendor", "variable"),
    [
        ("procore", "PROCORE_CLIENT_SECRET"),
        ("concur", "CONCUR_CLIENT_SECRET"),
        ("pingone", "PINGONE_CLIENT_SECRET"),
    ],
)
def test_wrong_credentials_fail_the_credentials_check(
    vendor: str, variable: str, example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    served(vendor, **{variable: "wrong-secret"})
    code, lines = _doctor(capsys, example_repo, vendor)
    assert code == 1
    failed = [line for line in lines if line.startswith("✗")]
    assert failed and failed[0].startswith(f"✗ {vendor}: credentials: ")
    assert "wrong-secret" not in "\n".join(lines)


def test_missing_settings_fail_for_a_vendor_the_yaml_manages(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served("procore")
    monkeypatch.delenv("PROCORE_COMPANY_ID")
    code, lines = _doctor(capsys, example_repo, "procore")
    assert code == 1
    assert "✗ procore: settings: procore: PROCORE_COMPANY_ID is not set" in lines


def test_a_company_the_app_is_not_installed_in_fails(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    served("procore", PROCORE_COMPANY_ID="562949953421312,7")
    code, lines = _doctor(capsys, example_repo, "procore")
    assert code == 1
    assert (
        "✗ procore: company 7: not visible to the app: install it there (Company Admin > App Management),"
        " or remove the id from PROCORE_COMPANY_ID"
    ) in lines


def test_a_project_without_the_directory_tool_fails(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    def close_directory(vendor: str, data: dict) -> None:  # type: ignore[type-arg]
        for company in data["companies"]:
            for project in company["projects"]:
                if project[1] == "Pier 7 Retrofit":
                    project.append(False)

    served("procore", edit=close_directory)
    code, lines = _doctor(capsys, example_repo, "procore")
    assert code == 1
    assert "✓ procore: project Harbor Tower: Directory tool readable (9 members)" in lines
    assert any(
        line.startswith("✗ procore: project Pier 7 Retrofit: its Directory is closed") for line in lines
    )


def test_a_project_the_company_lacks_fails(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    procore = example_repo / "access/procore.yaml"
    procore.write_text(procore.read_text().replace("Pier 7 Retrofit:", "Pier 8 Retrofit:"))
    served("procore")
    code, lines = _doctor(capsys, example_repo, "procore")
    assert code == 1
    assert (
        "✗ procore: project Pier 8 Retrofit: no such project in company 562949953421312 (closest: Pier 7 Retrofit)"
    ) in lines


def test_a_concur_geolocation_other_than_the_companys_fails(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    env = served("concur")
    elsewhere = env["CONCUR_GEOLOCATION"].replace("127.0.0.1", "localhost")
    both = f"{env[ALLOW_ENV]},{elsewhere.removeprefix('http://')}"  # both hosts opted into
    served("concur", CONCUR_GEOLOCATION=elsewhere, ACCESS_ALLOW_HOSTS=both)
    code, lines = _doctor(capsys, example_repo, "concur")
    assert code == 1
    assert f"✗ concur: geolocation: the company lives at {env['CONCUR_GEOLOCATION']}" in "\n".join(
        lines
    ) or any("✗ concur: geolocation: the company lives at http://127.0.0.1:" in line for line in lines)


def test_a_concur_token_without_the_provisioning_scopes_fails(
    example_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor_sandbox("concur").reset(example_repo / ".access-sandbox")
    simulator = ConcurSimulator(ConcurState.load(example_repo / ".access-sandbox/concur.sim.json"))
    simulator.granted_scope = "identity.user.core.read identity.user.enterprise.read spend.user.general.read"
    simulator.add_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
    simulator.issue_refresh_token(SANDBOX_REFRESH_TOKEN)
    with serve(simulator.handle) as url:
        simulator.geolocation = simulator.glz = url
        for name, value in {
            "CONCUR_CLIENT_ID": SANDBOX_CLIENT_ID, "CONCUR_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            "CONCUR_REFRESH_TOKEN": SANDBOX_REFRESH_TOKEN, "CONCUR_GEOLOCATION": url,
            "CONCUR_COMPANY_ID": simulator.state.company_id, "CONCUR_TOKEN_STORE": "file",
            "CONCUR_TOKEN_FILE": str(example_repo / ".access-sandbox/concur.token.json"),
            ALLOW_ENV: url.removeprefix("http://"),
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        code, lines = _doctor(capsys, example_repo, "concur")
    assert code == 1
    assert (
        "✗ concur: scopes: the token lacks spend.user.general.writeonly, user.provision.read,"
        " user.provision.write: add them to the app registration, then run `access concur setup` again"
    ) in lines


def test_a_wrong_pingone_environment_fails(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    env = served("pingone")
    served("pingone", PINGONE_AUTH_ENVIRONMENT_ID=env["PINGONE_ENVIRONMENT_ID"],
           PINGONE_ENVIRONMENT_ID="00000000-0000-4000-8000-000000000000")  # fmt: skip
    code, lines = _doctor(capsys, example_repo, "pingone")
    assert code == 1
    assert any(
        line.startswith("✗ pingone: environment: 00000000-0000-4000-8000-000000000000 answered HTTP")
        for line in lines
    )


def test_a_pingone_role_that_does_not_exist_fails(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    pingone = example_repo / "access/pingone.yaml"
    pingone.write_text(pingone.read_text().replace("Identity Data Admin:", "Identity Data Admn:"))
    served("pingone")
    code, lines = _doctor(capsys, example_repo, "pingone")
    assert code == 1
    assert (
        "✗ pingone: roles: no such role: Identity Data Admn (closest: Identity Data Admin, Identity Data Read Only)"
        in lines
    )


def test_doctor_format_json_is_one_document_of_every_check(
    example_repo: Path, served: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    served("procore", PROCORE_COMPANY_ID="562949953421312,7")
    code, out, err = run_cli(
        capsys, "--repo", str(example_repo), "--vendor", "procore", "doctor", "--format", "json"
    )
    assert code == 1
    document = json.loads(out)
    assert (
        document["ok"] is False
        and document["failed"] == 1
        and document["passed"] == len(document["checks"]) - 1
    )
    assert {
        "area": "procore", "check": "company 7", "ok": False,
        "detail": "not visible to the app: install it there (Company Admin > App Management), or remove the id "
        "from PROCORE_COMPANY_ID",
    } in document["checks"]  # fmt: skip
    assert "✗" not in out and err.rstrip().endswith("passed, 1 failed")
