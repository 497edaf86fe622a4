"""The command line: declares the commands; `reconciler.commands` does the work.

Exit codes: 0 success, 1 any error (usage errors included, so that 2 only ever means "changes
present" under --detailed-exitcode), 2 changes present, 130 interrupted.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import Abort, Exit, TyperException

from reconciler.commands import apply as apply_cmd
from reconciler.commands import comment as comment_cmd
from reconciler.commands import demo as demo_cmd
from reconciler.commands import plan as plan_cmd
from reconciler.commands import sandbox_cmd
from reconciler.commands import sync as sync_cmd
from reconciler.commands import validate as validate_cmd
from reconciler.commands.context import AppContext
from reconciler.commands.state import Source
from reconciler.console import Output
from reconciler.errors import AccessError
from reconciler.gcpause import paused_gc
from reconciler.settings import environment, scrub

app = typer.Typer(
    name="access",
    help="Access-as-code for Procore, SAP Concur and PingOne: validate, plan and apply access from YAML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
sandbox_app = typer.Typer(help="The built-in sandbox of simulated vendors.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

RepoOption = Annotated[
    Path,
    typer.Option(
        "--repo", help="Repository root holding access/ and policies/.", show_default="current directory"
    ),
]
SandboxOption = Annotated[
    bool, typer.Option("--sandbox", help="Use the built-in simulated vendors (no credentials).")
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="Plan offline from a snapshot directory written by `access sync --out`."),
]


@app.callback()
def main_options(
    ctx: typer.Context,
    repo: RepoOption = Path("."),
    vendor: Annotated[
        list[str] | None,
        typer.Option("--vendor", help="Limit to these vendors (repeatable): procore, concur, pingone."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")] = False,
) -> None:
    ctx.obj = AppContext(repo=repo, vendors=tuple(vendor) if vendor else None, output=Output(quiet=quiet))


def _ctx(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


def _source(sandbox: bool, state: Path | None) -> Source:
    if sandbox and state is not None:
        raise AccessError("--sandbox and --state are alternatives: choose one")
    return Source(sandbox=sandbox, state_dir=state)


@app.command()
def validate(ctx: typer.Context) -> int:
    """Check the YAML in access/ (schema, references, policies) offline."""
    return validate_cmd.run(_ctx(ctx))


@app.command()
def plan(
    ctx: typer.Context,
    sandbox: SandboxOption = False,
    state: StateOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the plan file (JSON) here.")] = None,
    fmt: Annotated[plan_cmd.Format, typer.Option("--format", help="text, markdown or json.")] = "text",
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")
    ] = False,
) -> int:
    """Sync actual state, diff it against the YAML and show the changes."""
    return plan_cmd.run(
        _ctx(ctx), source=_source(sandbox, state), out=out, fmt=fmt, detailed_exitcode=detailed_exitcode
    )


@app.command()
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
) -> int:
    """Apply what approved pull requests asked for (or a plan file) to the vendors."""
    options = apply_cmd.ApplyOptions(allow_mass_revocation, allow_empty_vendor, audit_log)
    return apply_cmd.run(_ctx(ctx), plan_file=plan_file, source=_source(sandbox, None), options=options)


@app.command()
def demo(
    ctx: typer.Context,
    keep: Annotated[Path | None, typer.Option("--keep", help="Build the demo here and keep it.")] = None,
) -> int:
    """Walk through the approval gate in a temporary repository with the simulated GitHub and vendors."""
    return demo_cmd.run(_ctx(ctx), keep=keep)


@app.command()
def sync(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory for the snapshot files.")],
    sandbox: SandboxOption = False,
) -> int:
    """Write the normalized actual state of every vendor as snapshot files."""
    return sync_cmd.run(_ctx(ctx), source=_source(sandbox, None), out=out)


@app.command()
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
    source = _source(sandbox, state)
    return comment_cmd.run_comment(_ctx(ctx), plan_file=plan_file, source=source, pr=pr, head=head)


@app.command()
def drift(
    ctx: typer.Context,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="A plan file from `access plan --out` (else plan now).")
    ] = None,
    sandbox: SandboxOption = False,
    state: StateOption = None,
) -> int:
    """Open or update the drift issue while the vendors differ from the YAML; close it when they match."""
    return comment_cmd.run_drift(_ctx(ctx), plan_file=plan_file, source=_source(sandbox, state))


@app.command()
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


@sandbox_app.command("reset")
def sandbox_reset(ctx: typer.Context) -> int:
    """Restore the sandbox vendors to their seed state."""
    return sandbox_cmd.reset(_ctx(ctx))


@sandbox_app.command("serve")
def sandbox_serve(ctx: typer.Context) -> int:
    """Serve the sandbox vendors on 127.0.0.1 and print the variables that reach them."""
    return sandbox_cmd.serve(_ctx(ctx))


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


def main(argv: list[str] | None = None) -> None:
    """The one error boundary: AccessError -> 1 with its message, usage -> 1, Ctrl-C -> 130."""
    output = Output()
    try:
        with paused_gc():  # one command, one process: see reconciler.gcpause
            code = app(args=argv, prog_name="access", standalone_mode=False)
    except Exit as exc:
        code = exc.exit_code
    except (Abort, KeyboardInterrupt):
        code = 130
    except TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        output.error(f"Error: {exc.format_message()}\nTry 'access --help' for help.")
        code = 1
    except AccessError as exc:
        output.error(exc.message)
        code = exc.exit_code
    except Exception:  # an unexpected bug: short message, scrubbed traceback in a file
        log = Path(tempfile.gettempdir()) / "access-crash.log"
        log.write_text(scrub(traceback.format_exc(), environment()), encoding="utf-8")
        kind = type(sys.exc_info()[1]).__name__
        output.error(f"access crashed unexpectedly ({kind}); details in {log}")
        code = 1
    if code == 130:  # typer turns Ctrl-C inside a command into exit code 130
        output.error("interrupted")
    sys.exit(code if isinstance(code, int) else 0)
