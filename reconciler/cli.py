"""The command line: declares the commands; `reconciler.commands` does the work.

Exit codes: 0 success, 1 any error (usage errors included, so that 2 only ever means "changes
present" under --detailed-exitcode), 2 changes present, 130 interrupted.
"""

import gc
import importlib
import logging
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.exceptions import Abort, Exit, TyperException

from reconciler.commands.context import AppContext
from reconciler.commands.formats import PlanFormat, TextOrJson
from reconciler.console import Output, configure_logging, no_color_wanted
from reconciler.errors import AccessError, ValidationErrors
from reconciler.gcpause import paused_gc
from reconciler.repo_root import default_repo
from reconciler.scrub import Scrubber, scrub, scrubbing
from reconciler.settings import environment

if TYPE_CHECKING:
    from reconciler.commands.access_view import ViewOptions
    from reconciler.commands.state import Source
    from reconciler.periods import Instant

# Each command imports its modules when it runs: `access validate` never loads the gate, the
# connectors or the simulators (half a second of imports before this).


def _examples(*lines: str) -> str:
    """The closing lines of a command's --help (`\\b` keeps click from rewrapping them)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


EXAMPLES = {
    "validate": _examples(
        "access validate", "access validate --format json", "access --repo ../access-repo validate"
    ),
    "plan": _examples(
        "access plan --sandbox",
        "access plan --vendor procore --out plan.json",
        "access plan --state snapshot/ --format markdown",
    ),
    "apply": _examples("access apply --sandbox", "access apply plan.json", "access apply --format json"),
    "demo": _examples("access demo", "access demo --keep /tmp/access-demo"),
    "show": _examples("access show plan.json", "access show plan.json --format markdown"),
    "import": _examples(
        "access import --sandbox",
        "access import --vendor procore",
        "access import --state snapshot/ --infer-teams",
    ),
    "init": _examples("access init", "access init --upgrade", "access init --upgrade --dry-run"),
    "doctor": _examples(
        "access doctor", "access doctor --vendor procore --format json", "access doctor --github"
    ),
    "sync": _examples(
        "access sync --sandbox --out snapshot/", "access sync --vendor pingone --out snapshot/"
    ),
    "comment": _examples(
        "access comment --plan plan.json", "access comment --sandbox --pr 42 --head HEAD_SHA"
    ),
    "drift": _examples("access drift", "access drift --plan plan.json"),
    "adopt": _examples(
        "access adopt --plan plan.json   # in the drift workflow",
        "access adopt --sandbox",
        "access adopt --plan plan.json --unattributed   # also drift no vendor record names",
    ),
    "schema": _examples("access schema", "access schema --check"),
    "why": _examples(
        "access why bob --sandbox",
        "access why alice 'Harbor Tower' --format json",
        "access why carol --at 2026-09-30   # as of that day: main then, the stored snapshot",
    ),
    "request": _examples(
        "access request judy 'Harbor Tower' 'Project Engineer' --reason PROC-412",
        "access request mike 'Environment Admin' --reason SEC-1207   # privileged: expires by default",
        "access request carol VPN --expires 2026-12-31 --sandbox",
        "access request --from-issue   # in the access-request workflow",
    ),
    "report": _examples(
        "access report --sandbox --out report.html",
        "access report --state snapshot/ --format csv --out access.csv",
        "access report --at 2026-09-30 --out access-q3.csv   # as of that day",
    ),
    "reset": _examples("access sandbox reset", "access sandbox reset --vendor procore"),
    "export-tree": _examples(
        'access export-tree "$HEAD_SHA" "$RUNNER_TEMP/pull-request"',
        "access export-tree HEAD /tmp/access-head",
    ),
    "point-show": _examples("access apply-point show", "access apply-point show --sandbox"),
    "point-set": _examples(
        "ACCESS_APPLY_POINT_KEY=... access apply-point set HEAD",
        "git push origin +refs/access/applied:refs/access/applied   # then publish it",
    ),
    "audit-verify": _examples(
        "git fetch origin refs/access/audit:refs/access/audit   # first: refs/access/* are not cloned",
        "access audit verify",
        "access audit verify --expect 1a2b3c4d5e6f   # a head noted earlier: catches a ref moved back",
        "access audit verify --sandbox",
    ),
    "audit-show": _examples(
        "access audit show", "access audit show --format json", "access audit show --sandbox"
    ),
    "evidence": _examples(
        "access evidence --period 2026-Q3 --out evidence-2026-q3/",
        "access evidence --period 2026-07-01..2026-09-30 --out q3/ --state snapshot/",
        "access evidence verify evidence-2026-q3/",
        "access evidence keygen --public policies/evidence.pub",
    ),
    "snapshots": _examples(
        "access sync --out snapshot/ && access snapshots keep snapshot/",
        "access snapshots list",
        "git ls-remote --refs origin 'refs/access/snapshots/*' | cut -f2 | xargs access snapshots expired",
    ),
    "serve": _examples(
        "access sandbox serve", "access sandbox serve  # prints the variables, then serves until Ctrl-C"
    ),
}


app = typer.Typer(
    name="access",
    help="Access-as-code for Procore, SAP Concur and PingOne: validate, plan and apply access from YAML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
sandbox_app = typer.Typer(help="The built-in sandbox of simulated vendors.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
point_app = typer.Typer(
    help="The signed apply point (refs/access/applied): the commit whose access/ is approved and applied.",
    no_args_is_help=True,
)
app.add_typer(point_app, name="apply-point")
audit_app = typer.Typer(
    help="The audit trail in git (refs/access/audit): every apply run's entries, a signed hash chain.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
evidence_app = typer.Typer(
    help="A signed evidence pack for an audit period (--period, --out); `verify` checks one; `keygen` makes a key.",
)
app.add_typer(evidence_app, name="evidence")
snapshots_app = typer.Typer(
    help="The vendors' daily snapshots, kept in git as refs/access/snapshots/YYYY-MM-DD (for --at and evidence).",
    no_args_is_help=True,
)
app.add_typer(snapshots_app, name="snapshots")

RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="Repository root holding access/ and policies/.",
        show_default="found upward from here, as git does",
    ),
]
SandboxOption = Annotated[
    bool, typer.Option("--sandbox", help="Use the built-in simulated vendors (no credentials).")
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="Plan offline from a snapshot directory written by `access sync --out`."),
]


def in_github_actions() -> bool:
    return environment().get("GITHUB_ACTIONS") == "true"


def _version(value: bool) -> None:
    if value:
        from reconciler.version import package_version

        sys.stdout.write(f"access {package_version()}\n")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    repo: RepoOption = None,
    vendor: Annotated[
        list[str] | None,
        typer.Option(
            "--vendor",
            metavar="VENDOR",
            help="Limit to these vendors (repeatable): procore, concur, pingone.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only results and errors: no progress, notes or hints.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log every vendor request on stderr (also: ACCESS_LOG=debug)."),
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours or styles in the output (also: NO_COLOR=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Global options go before or after the command: `access plan --vendor procore` works too."""
    env = environment()
    output = Output(quiet=quiet, annotations=in_github_actions(), no_color=no_color_wanted(env, no_color))
    # Connectors log through `logging` (a rate-limit wait; with --verbose every request): --quiet
    # leaves only errors.
    configure_logging(output, env, verbose=verbose, scrub=scrub)
    retained = ctx.obj if isinstance(ctx.obj, list) else []  # from `entry`, through `_run`
    if repo is None:
        repo = default_repo(Path.cwd(), new=ctx.invoked_subcommand == "init")
    ctx.obj = AppContext(
        repo=repo, vendors=tuple(vendor) if vendor else None, output=output, env=env, retained=retained
    )


def _ctx(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


def _source(sandbox: bool, state: Path | None) -> "Source":
    from reconciler.commands.state import Source

    if sandbox and state is not None:
        raise AccessError("--sandbox and --state are alternatives: choose one")
    return Source(sandbox=sandbox, state_dir=state)


@app.command(epilog=EXAMPLES["validate"])
def validate(
    ctx: typer.Context,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
) -> int:
    """Check the YAML in access/ (schema, references, policies) offline."""
    from reconciler.commands import validate as validate_cmd

    return validate_cmd.run(_ctx(ctx), fmt=fmt)


@app.command(epilog=EXAMPLES["plan"])
def plan(
    ctx: typer.Context,
    sandbox: SandboxOption = False,
    state: StateOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the plan file (JSON) here.")] = None,
    fmt: Annotated[PlanFormat, typer.Option("--format", help="text, markdown or json.")] = "text",
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")
    ] = False,
    snapshot_out: Annotated[
        Path | None,
        typer.Option(
            "--snapshot-out",
            help="Also write what the vendors said as snapshot files here (as `access sync --out`).",
        ),
    ] = None,
) -> int:
    """Sync actual state, diff it against the YAML and show the changes."""
    early = None
    if state is not None and not sandbox and snapshot_out is None:
        # The snapshot's second process starts before the plan's modules are imported (a fifth of
        # a second): `make_plan` takes it (`SnapshotReading.start`).
        from reconciler.snapshot_reading import SnapshotReading
        from reconciler.vendors import VENDORS

        early = SnapshotReading.start_early(state, _ctx(ctx).vendors or VENDORS)
    try:
        from reconciler.commands import plan as plan_cmd

        return plan_cmd.run(
            _ctx(ctx),
            source=_source(sandbox, state),
            out=out,
            fmt=fmt,
            detailed_exitcode=detailed_exitcode,
            snapshot_out=snapshot_out,
        )
    finally:
        if early is not None:
            early.stop()  # (stopped already once taken and done with: then nothing to do)


@app.command(epilog=EXAMPLES["apply"])
def apply(
    ctx: typer.Context,
    plan_file: Annotated[Path | None, typer.Argument(help="A plan file from `access plan --out`.")] = None,
    sandbox: SandboxOption = False,
    allow_mass_revocation: Annotated[
        bool, typer.Option("--allow-mass-revocation", help="Apply even past the revocation safety limits.")
    ] = False,
    allow_empty_vendor: Annotated[
        bool, typer.Option("--allow-empty-vendor", help="Apply even when a vendor's sync found no accounts.")
    ] = False,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log", help="Append the audit log here.", show_default="<state dir>/audit.jsonl"
        ),
    ] = None,
    fmt: Annotated[
        TextOrJson,
        typer.Option("--format", help="text, or json: the results on stdout (progress on stderr)."),
    ] = "text",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the approval ledger's verdict for every change (approved by whom, restore, or held "
            "and why, with who could approve) and write nothing.",
        ),
    ] = False,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="With --dry-run: read the actual state from this snapshot directory."),
    ] = None,
) -> int:
    """Apply what approved pull requests asked for (or a plan file) to the vendors."""
    from reconciler.commands import apply as apply_cmd
    from reconciler.errors import AccessError

    if state is not None and not dry_run:
        raise AccessError("--state is read-only: use it with `access apply --dry-run`")
    options = apply_cmd.ApplyOptions(
        allow_mass_revocation, allow_empty_vendor, audit_log, fmt=fmt, dry_run=dry_run
    )
    return apply_cmd.run(_ctx(ctx), plan_file=plan_file, source=_source(sandbox, state), options=options)


@app.command(epilog=EXAMPLES["show"])
def show(
    ctx: typer.Context,
    plan_file: Annotated[Path, typer.Argument(help="A plan file from `access plan --out`.")],
    fmt: Annotated[PlanFormat, typer.Option("--format", help="text, markdown or json.")] = "text",
) -> int:
    """Show a saved plan file as `access plan` shows a plan (no vendor is asked)."""
    from reconciler.commands import show as show_cmd

    return show_cmd.run(_ctx(ctx), plan_file, fmt=fmt)


@app.command(epilog=EXAMPLES["demo"])
def demo(
    ctx: typer.Context,
    keep: Annotated[Path | None, typer.Option("--keep", help="Build the demo here and keep it.")] = None,
) -> int:
    """Walk through the approval gate in a temporary repository with the simulated GitHub and vendors."""
    from reconciler.commands import demo as demo_cmd

    return demo_cmd.run(_ctx(ctx), keep=keep)


@app.command(epilog=EXAMPLES["init"])
def init(
    ctx: typer.Context,
    upgrade: Annotated[
        bool,
        typer.Option(
            "--upgrade",
            help="Rewrite the files init manages (workflows, lock, ...) for this release and show their "
            "diff; files changed here are kept.",
        ),
    ] = False,
    index_url: Annotated[
        str | None,
        typer.Option(
            "--index-url",
            metavar="URL",
            help="The package index whose copy of this release the lock pins "
            "(default: PIP_INDEX_URL, else PyPI).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written and the diffs; write nothing.")
    ] = False,
) -> int:
    """Scaffold a repository that installs this release: access/, policies/, workflows, hash-pinned lock."""
    from reconciler.commands import init as init_cmd

    return init_cmd.run(_ctx(ctx), upgrade=upgrade, index_url=index_url, dry_run=dry_run)


@app.command("import", epilog=EXAMPLES["import"])
def import_(
    ctx: typer.Context,
    sandbox: SandboxOption = False,
    state: StateOption = None,
    infer_teams: Annotated[
        bool,
        typer.Option("--infer-teams", help="Make a team of the people who share exactly the same access."),
    ] = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
) -> int:
    """Read what the vendors have and write it as YAML under access/ (merged into existing files)."""
    from reconciler.commands import import_cmd

    return import_cmd.run(_ctx(ctx), source=_source(sandbox, state), infer_teams=infer_teams, fmt=fmt)


@app.command(epilog=EXAMPLES["doctor"])
def doctor(
    ctx: typer.Context,
    github: Annotated[
        bool,
        typer.Option(
            "--github",
            help="Check what the approval gate needs on GitHub instead (environments, secrets, the default "
            "branch's rules, CODEOWNERS, the apply point); vendors too when --vendor names them.",
        ),
    ] = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
) -> int:
    """Check each configured vendor's setup in one read-only run (credentials, companies, scopes)."""
    from reconciler.commands import doctor as doctor_cmd

    return doctor_cmd.run(_ctx(ctx), github=github, fmt=fmt)


@app.command(epilog=EXAMPLES["sync"])
def sync(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory for the snapshot files.")],
    sandbox: SandboxOption = False,
) -> int:
    """Write the normalized actual state of every vendor as snapshot files."""
    from reconciler.commands import sync as sync_cmd

    return sync_cmd.run(_ctx(ctx), source=_source(sandbox, None), out=out)


@app.command(epilog=EXAMPLES["comment"])
def comment(
    ctx: typer.Context,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="A plan file from `access plan --out` (else plan now).")
    ] = None,
    pr: Annotated[
        int | None, typer.Option("--pr", help="Pull request number.", show_default="from GITHUB_EVENT_PATH")
    ] = None,
    head: Annotated[
        str | None,
        typer.Option("--head", help="Head commit the plan is for.", show_default="from the event or the PR"),
    ] = None,
    sandbox: SandboxOption = False,
    state: StateOption = None,
) -> int:
    """Post the plan as ONE pull-request comment (updated in place on every push)."""
    from reconciler.commands import comment as comment_cmd

    source = _source(sandbox, state)
    return comment_cmd.run_comment(_ctx(ctx), plan_file=plan_file, source=source, pr=pr, head=head)


@app.command(epilog=EXAMPLES["drift"])
def drift(
    ctx: typer.Context,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="A plan file from `access plan --out` (else plan now).")
    ] = None,
    sandbox: SandboxOption = False,
    state: StateOption = None,
) -> int:
    """Open or update the drift issue while the vendors differ from the YAML; close it when they match."""
    from reconciler.commands import comment as comment_cmd

    return comment_cmd.run_drift(_ctx(ctx), plan_file=plan_file, source=_source(sandbox, state))


@app.command(epilog=EXAMPLES["adopt"])
def adopt(
    ctx: typer.Context,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="A plan file from `access plan --out` (else plan now).")
    ] = None,
    unattributed: Annotated[
        bool,
        typer.Option(
            "--unattributed",
            help="Also offer drift no vendor record attributes (Procore, Concur): it may be a line deleted on purpose.",
        ),
    ] = False,
    base: Annotated[str, typer.Option("--base", help="The branch the pull requests go to.")] = "main",
    remote: Annotated[str, typer.Option("--remote", help="The git remote to push to.")] = "origin",
    sandbox: SandboxOption = False,
    state: StateOption = None,
) -> int:
    """ONE pull request per out-of-band grant (drift someone made by hand), adding its YAML line to keep it."""
    from reconciler.commands import adopt as adopt_cmd
    from reconciler.commands.branch_pr import Target

    return adopt_cmd.run(
        _ctx(ctx), plan_file=plan_file, source=_source(sandbox, state),
        target=Target(base=base, remote=remote, sandbox=sandbox), unattributed=unattributed,
    )  # fmt: skip


@app.command(epilog=EXAMPLES["schema"])
def schema(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for the schemas (default: schema/).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check that the schemas are up to date.")
    ] = False,
) -> int:
    """Write JSON Schemas of access/ and policies/ files, for editors."""
    from reconciler.commands import schema as schema_cmd

    return schema_cmd.run(_ctx(ctx), out, check=check)


NoSyncOption = Annotated[
    bool, typer.Option("--no-sync", help="Do not read the vendors: the YAML (and its history) only.")
]
AuditLogOption = Annotated[
    Path | None,
    typer.Option("--audit-log", help="The audit log to read.", show_default="<state dir>/audit.jsonl"),
]


AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="DATE",
        help="As of a day (its end, UTC) or a time with its zone: main's commit then, the stored "
        "snapshot nearest it (refs/access/snapshots/), the approvals then.",
    ),
]


def _at(value: str | None) -> "Instant | None":
    from reconciler.periods import parse_instant

    return parse_instant(value) if value is not None else None


def _view(sandbox: bool, state: Path | None, no_sync: bool, audit_log: Path | None) -> "ViewOptions":
    from reconciler.commands.access_view import ViewOptions

    return ViewOptions(_source(sandbox, state), sync=not no_sync, audit_log=audit_log)


@app.command(epilog=EXAMPLES["why"])
def why(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="Their key in access/people.yaml, email or GitHub login.")],
    resource: Annotated[str | None, typer.Argument(help="Only this project, role or group.")] = None,
    sandbox: SandboxOption = False,
    state: StateOption = None,
    no_sync: NoSyncOption = False,
    audit_log: AuditLogOption = None,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
    at: AtOption = None,
) -> int:
    """Why a person holds what they hold: the YAML line, commit, pull request, approvals, applied."""
    from reconciler.commands import why as why_cmd

    return why_cmd.run(
        _ctx(ctx), person, resource, options=_view(sandbox, state, no_sync, audit_log), fmt=fmt, at=_at(at)
    )


@app.command(epilog=EXAMPLES["report"])
def report(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write here (default: stdout).")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="html or csv (default: from --out's suffix, else csv).")
    ] = "",
    sandbox: SandboxOption = False,
    state: StateOption = None,
    no_sync: NoSyncOption = False,
    audit_log: AuditLogOption = None,
    sla: Annotated[
        bool,
        typer.Option("--sla", help="Only the deprovisioning SLA view (policies/ leavers), as CSV."),
    ] = False,
    at: AtOption = None,
) -> int:
    """Everyone's access with its provenance, as CSV or one self-contained HTML page."""
    from reconciler.commands import report as report_cmd

    options = _view(sandbox, state, no_sync, audit_log)
    return report_cmd.run(_ctx(ctx), out=out, fmt=fmt, options=options, sla=sla, at=_at(at))


@app.command(epilog=EXAMPLES["request"])
def request(
    ctx: typer.Context,
    person: Annotated[
        str | None, typer.Argument(help="Who gets the access (key, email or GitHub login).")
    ] = None,
    resource: Annotated[str | None, typer.Argument(help="The project, role or group, as in access/.")] = None,
    entitlement: Annotated[
        str | None,
        typer.Argument(help="Procore permission template; PingOne role scope (default environment)."),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Last day (YYYY-MM-DD).", show_default="privileged: max_days"),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why: a ticket id.")] = "",
    from_issue: Annotated[
        bool,
        typer.Option("--from-issue", help="Read the request from the issue form event (GITHUB_EVENT_PATH)."),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(
            "--base", help="The branch to request into.", show_default="the remote's default branch"
        ),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="The git remote to push to.")] = "origin",
    sandbox: SandboxOption = False,
    state: StateOption = None,
    no_sync: NoSyncOption = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
) -> int:
    """Ask for access: the one-line YAML change on a new branch and its pull request, with the plan."""
    import datetime as dt

    from reconciler.commands import request as request_cmd
    from reconciler.commands.branch_pr import Target

    app_ctx = _ctx(ctx)
    if from_issue:
        event = app_ctx.env.get("GITHUB_EVENT_PATH", "")
        if not event:
            raise AccessError("--from-issue: GITHUB_EVENT_PATH is not set (it is, in a GitHub Actions run)")
        ask = request_cmd.read_issue_form(Path(event))
    else:
        if not person or not resource:
            raise AccessError("access request: give PERSON and RESOURCE (or --from-issue)")
        try:
            until = dt.date.fromisoformat(expires) if expires else None
        except ValueError:
            raise AccessError(f"--expires: {expires!r} is not a date (YYYY-MM-DD)") from None
        ask = request_cmd.Ask(person, resource, entitlement or "", until, reason)
    source = None if no_sync else _source(sandbox, state)
    target = Target(base=base, remote=remote, sandbox=sandbox)
    return request_cmd.run(app_ctx, ask, target=target, source=source, fmt=fmt)


@app.command(epilog=_examples("access cleanup", "access cleanup --sandbox"))
def cleanup(
    ctx: typer.Context,
    base: Annotated[
        str | None,
        typer.Option("--base", help="The branch to clean.", show_default="the remote's default branch"),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="The git remote to push to.")] = "origin",
    sandbox: SandboxOption = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
) -> int:
    """Open or update ONE pull request deleting expired assignments; warn about those expiring soon."""
    from reconciler.commands import cleanup as cleanup_cmd
    from reconciler.commands.branch_pr import Target

    return cleanup_cmd.run(_ctx(ctx), target=Target(base=base, remote=remote, sandbox=sandbox), fmt=fmt)


@app.command(
    epilog=_examples("access recertify", "access recertify --sandbox", "access recertify --format json")
)
def recertify(
    ctx: typer.Context,
    base: Annotated[
        str | None,
        typer.Option("--base", help="The branch to recertify.", show_default="the remote's default branch"),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="The git remote to push to.")] = "origin",
    sandbox: SandboxOption = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="Read last sign-ins from a snapshot (`access sync --out`), not the vendors."
        ),
    ] = None,
) -> int:
    """Per owner, open or update ONE pull request re-approving the access due (policies/ recertification)."""
    from reconciler.commands import recertify as recertify_cmd
    from reconciler.commands.branch_pr import Target

    return recertify_cmd.run(
        _ctx(ctx),
        target=Target(base=base, remote=remote, sandbox=sandbox),
        fmt=fmt,
        source=_source(sandbox, state),
    )


@app.command(
    epilog=_examples(
        "access leavers",
        "access leavers --hr-export hr/leavers.csv",
        "access leavers --sandbox",
    )
)
def leavers(
    ctx: typer.Context,
    base: Annotated[
        str | None,
        typer.Option(
            "--base", help="The branch to remove them from.", show_default="the remote's default branch"
        ),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="The git remote to push to.")] = "origin",
    sandbox: SandboxOption = False,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Read PingOne from a snapshot (`access sync --out`), not live."),
    ] = None,
    hr_export: Annotated[
        Path | None,
        typer.Option(
            "--hr-export",
            help="A CSV from HR: person (or email) and end_date.",
            show_default="policies/ leavers.hr_export",
        ),
    ] = None,
) -> int:
    """Open or update ONE pull request removing the people who have left (PingOne, HR) from access/."""
    from reconciler.commands import leavers as leavers_cmd
    from reconciler.commands.branch_pr import Target

    return leavers_cmd.run(
        _ctx(ctx),
        target=Target(base=base, remote=remote, sandbox=sandbox),
        source=_source(sandbox, state),
        hr_export=hr_export,
    )


@app.command(
    epilog=_examples("access undo 20261123T051703-4f0a9c1e2b3d", "access undo RUN --dry-run --sandbox")
)
def undo(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="The apply run to undo (its id in `access audit show`).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; open no pull request.")] = False,
    audit_log: Annotated[
        Path | None, typer.Option("--audit-log", help="The audit log holding the run (default: the state's).")
    ] = None,
    base: Annotated[
        str | None,
        typer.Option("--base", help="The branch to undo on.", show_default="the remote's default branch"),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="The git remote to push to.")] = "origin",
    sandbox: SandboxOption = False,
) -> int:
    """Open or update ONE pull request reversing the YAML edits one apply run applied."""
    from reconciler.commands import undo as undo_cmd
    from reconciler.commands.branch_pr import Target

    target = Target(base=base, remote=remote, sandbox=sandbox)
    return undo_cmd.run(_ctx(ctx), run, target=target, audit_log=audit_log, dry_run=dry_run)


@app.command(
    epilog=_examples(
        "access notify --dry-run",
        "access notify --dry-run --format json",
        "access notify   # daily, in the drift workflow",
    )
)
def notify(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the reminders that would be sent, and where; send nothing."),
    ] = False,
    sandbox: SandboxOption = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
) -> int:
    """Send the reminders policies/notifications.yaml routes (recertification due, held pull requests,
    expiring access, leavers) to Slack, Microsoft Teams and email, once per schedule step."""
    from reconciler.commands import notify as notify_cmd

    return notify_cmd.run(_ctx(ctx), source=_source(sandbox, None), dry_run=dry_run, fmt=fmt)


@app.command("export-tree", hidden=True, epilog=EXAMPLES["export-tree"])
def export_tree(
    ctx: typer.Context,
    sha: Annotated[str, typer.Argument(help="The commit whose access/ and policies/ to write.")],
    dest: Annotated[Path, typer.Argument(help="An empty (or new) directory to write them into.")],
) -> int:
    """Write a commit's access/ and policies/ into DEST as data, blob by blob (no .gitattributes, no
    filters; symbolic links refused): how the plan workflow reads a pull request."""
    from reconciler.commands import export_tree as export_tree_cmd

    return export_tree_cmd.run(_ctx(ctx), sha, dest)


@sandbox_app.command("reset", epilog=EXAMPLES["reset"])
def sandbox_reset(ctx: typer.Context) -> int:
    """Restore the sandbox vendors to their seed state."""
    from reconciler.commands import sandbox_cmd

    return sandbox_cmd.reset(_ctx(ctx))


@sandbox_app.command("serve", epilog=EXAMPLES["serve"])
def sandbox_serve(ctx: typer.Context) -> int:
    """Serve the sandbox vendors on 127.0.0.1 and print the variables that reach them."""
    from reconciler.commands import sandbox_cmd

    return sandbox_cmd.serve(_ctx(ctx))


@point_app.command("show", epilog=EXAMPLES["point-show"])
def apply_point_show(ctx: typer.Context, sandbox: SandboxOption = False) -> int:
    """Print the apply point's commit after checking its signature."""
    from reconciler.commands import apply_point_cmd

    return apply_point_cmd.show(_ctx(ctx), _source(sandbox, None))


@point_app.command("set", epilog=EXAMPLES["point-set"])
def apply_point_set(
    ctx: typer.Context,
    commit: Annotated[str, typer.Argument(help="The commit whose access/ is approved and in force.")],
    sandbox: SandboxOption = False,
) -> int:
    """Sign COMMIT as the apply point with ACCESS_APPLY_POINT_KEY (administrators; first setup)."""
    from reconciler.commands import apply_point_cmd

    return apply_point_cmd.set_point(_ctx(ctx), _source(sandbox, None), commit)


AuditSandboxOption = Annotated[
    bool, typer.Option("--sandbox", help="The sandbox's trail: its own key and simulated repository.")
]
RepositoryOption = Annotated[
    str | None,
    typer.Option(
        "--repository",
        metavar="OWNER/NAME",
        help="The repository the trail is signed for (a trail written before a rename).",
        show_default="GITHUB_REPOSITORY; in the sandbox, its simulated repository",
    ),
]


@audit_app.command("verify", epilog=EXAMPLES["audit-verify"])
def audit_verify(
    ctx: typer.Context,
    sandbox: AuditSandboxOption = False,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="RECORD",
            help="Fail unless the chain contains this record (a head noted earlier).",
        ),
    ] = None,
    repository: RepositoryOption = None,
) -> int:
    """Check every record of the audit trail: one line, ✓ intact or ✗ the first bad record and why."""
    from reconciler.commands import audit_cmd

    return audit_cmd.verify(_ctx(ctx), _source(sandbox, None), expect=expect, repository=repository)


@audit_app.command("show", epilog=EXAMPLES["audit-show"])
def audit_show(
    ctx: typer.Context,
    sandbox: AuditSandboxOption = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json.")] = "text",
    repository: RepositoryOption = None,
) -> int:
    """Print the audit trail's entries (what changed, on whose request and approval), once verified."""
    from reconciler.commands import audit_cmd

    return audit_cmd.show(_ctx(ctx), _source(sandbox, None), fmt=fmt, repository=repository)


@evidence_app.callback(invoke_without_command=True, epilog=EXAMPLES["evidence"])
def evidence(
    ctx: typer.Context,
    period: Annotated[
        str | None,
        typer.Option(
            "--period", metavar="PERIOD", help="2026-Q3, 2026-07-01..2026-09-30, 2026-09 or 2026 (UTC days)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="The directory for the pack (new or empty).")
    ] = None,
    sandbox: SandboxOption = False,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="The vendors at the period's end from this snapshot directory.",
            show_default="the stored snapshot nearest the end",
        ),
    ] = None,
    no_sync: Annotated[
        bool, typer.Option("--no-sync", help="No vendor snapshot: the YAML and its history only.")
    ] = False,
) -> int:
    """Write a signed evidence pack for an audit period: population, changes, leavers, recertifications."""
    if ctx.invoked_subcommand is not None:
        return 0
    if period is None or out is None:
        raise AccessError(
            "access evidence needs --period and --out (or a command: verify, keygen); see --help"
        )
    from reconciler.commands import evidence as evidence_cmd
    from reconciler.commands.access_view import ViewOptions
    from reconciler.periods import parse_period

    options = ViewOptions(_source(sandbox, state), sync=not no_sync)
    return evidence_cmd.run(_ctx(ctx), period=parse_period(period), out=out, options=options)


@evidence_app.command("verify", epilog=EXAMPLES["evidence"])
def evidence_verify(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The evidence pack's directory.")],
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", help="The public key (PEM).", show_default="policies/evidence.pub of the repository"
        ),
    ] = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="The sandbox's own key.")] = False,
) -> int:
    """Check a pack: every file against SHA256SUMS, and its signature. One line; exit 1 names what fails."""
    from reconciler.commands import evidence as evidence_cmd

    return evidence_cmd.verify(_ctx(ctx), directory, key_file=key, source=_source(sandbox, None))


@evidence_app.command("keygen", epilog=EXAMPLES["evidence"])
def evidence_keygen(
    ctx: typer.Context,
    public: Annotated[
        Path | None, typer.Option("--public", help="Also write the public key here (policies/evidence.pub).")
    ] = None,
) -> int:
    """Print a new Ed25519 key pair: the private half for ACCESS_EVIDENCE_SIGNING_KEY, the public to commit."""
    from reconciler.commands import evidence as evidence_cmd

    return evidence_cmd.keygen(_ctx(ctx), public)


@snapshots_app.command("keep", epilog=EXAMPLES["snapshots"])
def snapshots_keep(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="What `access sync --out DIR` wrote.")],
    day: Annotated[
        str | None, typer.Option("--day", help="The day it is the snapshot of.", show_default="today (UTC)")
    ] = None,
) -> int:
    """Keep a snapshot as refs/access/snapshots/DAY; delete local ones past ACCESS_SNAPSHOT_RETENTION_DAYS."""
    from reconciler.commands import snapshots as snapshots_cmd

    return snapshots_cmd.keep(_ctx(ctx), directory, day)


@snapshots_app.command("list", epilog=EXAMPLES["snapshots"])
def snapshots_list(ctx: typer.Context) -> int:
    """Print the days kept (oldest first) and their commits."""
    from reconciler.commands import snapshots as snapshots_cmd

    return snapshots_cmd.show(_ctx(ctx))


@snapshots_app.command("expired", epilog=EXAMPLES["snapshots"])
def snapshots_expired(
    ctx: typer.Context,
    refs: Annotated[list[str] | None, typer.Argument(help="Snapshot refs (default: the local ones).")] = None,
) -> int:
    """Print the snapshot refs past the retention (ACCESS_SNAPSHOT_RETENTION_DAYS, default 400 days)."""
    from reconciler.commands import snapshots as snapshots_cmd

    return snapshots_cmd.expired(_ctx(ctx), list(refs or []))


def _mount_optional(module: str, name: str) -> None:
    """Sub-apps that live with their vendor (`access concur setup`)."""
    try:
        sub = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return
    app.add_typer(sub.app, name=name)


_mount_optional("reconciler.commands.concur", "concur")


GLOBAL_VALUE_OPTIONS = ("--repo", "--vendor")
GLOBAL_FLAGS = ("--quiet", "-q", "--verbose", "-v", "--no-color")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options written after the command in front of it (`access plan --vendor procore`
    means `access --vendor procore plan`), so they work in either place."""
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.partition("=")[0]
        if name in GLOBAL_VALUE_OPTIONS:
            width = 1 if "=" in arg else 2
            hoisted.extend(argv[i : i + width])
            i += width
            continue
        (hoisted if arg in GLOBAL_FLAGS else rest).append(arg)
        i += 1
    return hoisted + rest


def entry() -> None:
    """The console script (and `python -m reconciler`): `main`, then, if the command kept its
    records (`AppContext.retain`), an exit that leaves freeing them to the operating system."""
    # No pydantic plugins for the CLI's models, unless asked for: finding out whether any are
    # installed imports importlib.metadata and reads every installed package's entry points
    # (~25 ms of each command's start). An explicit setting is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    retained: list[object] = []
    try:
        main(retained=retained)
    except SystemExit as exc:
        if not retained:
            raise
        code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)


def main(argv: list[str] | None = None, *, retained: list[object] | None = None) -> None:
    """The one error boundary: AccessError -> 1 with its message, usage -> 1, Ctrl-C -> 130.

    Everything the run prints or writes passes one scrubber, which knows the configured secrets
    and learns every token the run obtains.
    """
    with scrubbing(Scrubber.from_env(environment())) as scrubber, warnings.catch_warnings():
        # anyio (under httpx) wraps each connection attempt in a task; cancelling one before it
        # starts (a sibling request failed) drops the attempt unawaited. Nothing is lost; the
        # warning would only alarm. Collected here, inside the filter, not at interpreter exit.
        warnings.filterwarnings("ignore", r"coroutine '.*try_connect' was never awaited", RuntimeWarning)
        code = _run(argv, scrubber, retained)
        if not retained:  # (with records kept, `entry` exits without a collection's full scan)
            gc.collect()
    sys.exit(code)


def _run(argv: list[str] | None, scrubber: Scrubber, retained: list[object] | None = None) -> int:
    args = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    output = Output(
        annotations=in_github_actions(), no_color=no_color_wanted(environment(), "--no-color" in args)
    )
    try:
        with paused_gc():  # one command, one process: see reconciler.gcpause
            code = app(args=args, prog_name="access", standalone_mode=False, obj=retained)
            if retained:  # never scanned again: the first collection would walk all of it, and exit is next
                gc.freeze()
    except Exit as exc:
        code = exc.exit_code
    except (Abort, KeyboardInterrupt):
        code = 130
    except TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        output.error(f"Error: {exc.format_message()}\nTry 'access --help' for help.")
        code = 1
    except AccessError as exc:
        output.error(exc.message)
        if isinstance(exc, ValidationErrors):
            for error in exc.errors:
                output.annotate("error", str(error.location or ""), error.detail)
        code = exc.exit_code
    except Exception:  # an unexpected bug: short message, scrubbed traceback in a file of its own
        kind = type(sys.exc_info()[1]).__name__
        try:
            handle, name = tempfile.mkstemp(prefix="access-crash-", suffix=".log")  # one per run, mode 0600
            log = Path(name)
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(scrubber(traceback.format_exc()))
            output.error(f"access crashed unexpectedly ({kind}); details in {log}")
        except (OSError, MemoryError):  # the handler must not crash in turn
            output.error(f"access crashed unexpectedly ({kind})")
        code = 1
    if code == 130:  # typer turns Ctrl-C inside a command into exit code 130
        output.error("interrupted")
    return code if isinstance(code, int) else 0
