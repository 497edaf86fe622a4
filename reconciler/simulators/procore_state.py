"""The Procore simulator's data: companies, directory users, templates, projects and memberships.

Plain mutable dataclasses (the simulator edits them under its lock), a compact JSON form for the
sandbox file, and two seeds: the demo company from `reconciler.sandbox_seed`, and a company at
scale for benchmarks. Ids are above 2**32 on purpose: Procore ids are 64-bit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import sandbox_seed
from reconciler.connectors.procore_connector import split_name
from reconciler.jsonfile import read_json, write_json

SIM_VERSION = 1
USER_ID_BASE = 2**33  # 8589934592: ids beyond 32 bits, as Procore's Multiple Procore Regions give
PROJECT_ID_BASE = 2**34
TEMPLATE_ID_BASE = 2**32
SEED_TIME = "2024-01-15T09:00:00Z"

# Permission templates a fresh company has in the sandbox (names as Procore's defaults spell them).
DEFAULT_TEMPLATES = (
    "Architect",
    "Project Engineer",
    "Project Manager",
    "Read Only",
    "Subcontractor",
    "Superintendent",
)


@dataclass(slots=True)
class SimUser:
    id: int
    email: str
    first_name: str
    last_name: str
    is_active: bool = True
    is_employee: bool = True
    job_title: str | None = None
    employee_id: str | None = None
    created_at: str = SEED_TIME
    updated_at: str = SEED_TIME
    last_login_at: str | None = None  # when the user last logged in to Procore (never: None)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(slots=True)
class SimTemplate:
    id: int
    name: str
    project_specific: bool = False

    @property
    def type(self) -> str:
        return "project_specific" if self.project_specific else "global"


@dataclass(slots=True)
class SimProject:
    id: int
    name: str
    active: bool = True
    members: dict[int, int | None] = field(default_factory=dict)  # user id -> permission template id
    directory: bool = True  # is the project's Directory tool enabled? (project users need it)


@dataclass(slots=True)
class SimCompany:
    id: int
    name: str
    installed: bool = True  # is the app (DMSA) connected to this company?
    users: dict[int, SimUser] = field(default_factory=dict)
    templates: dict[int, SimTemplate] = field(default_factory=dict)
    projects: dict[int, SimProject] = field(default_factory=dict)

    def user_by_email(self, email: str) -> SimUser | None:
        wanted = email.casefold()
        return next((u for u in self.users.values() if u.email.casefold() == wanted), None)


@dataclass(slots=True)
class ProcoreState:
    companies: dict[int, SimCompany] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # client_id -> client_secret
    next_id: int = USER_ID_BASE + 1_000_000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def project(self, project_id: int) -> tuple[SimCompany, SimProject] | None:
        for company in self.companies.values():
            found = company.projects.get(project_id)
            if found is not None:
                return company, found
        return None

    # -- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "sim_version": SIM_VERSION,
            "next_id": self.next_id,
            "clients": dict(self.clients),
            "companies": [
                {
                    "id": c.id,
                    "name": c.name,
                    "installed": c.installed,
                    "templates": [[t.id, t.name, t.project_specific] for t in c.templates.values()],
                    "users": [
                        [
                            u.id,
                            u.email,
                            u.first_name,
                            u.last_name,
                            u.is_active,
                            u.is_employee,
                            u.job_title,
                            u.employee_id,
                            u.created_at,
                            u.updated_at,
                            *([u.last_login_at] if u.last_login_at else []),
                        ]
                        for u in c.users.values()
                    ],
                    "projects": [
                        [p.id, p.name, p.active, [[uid, tid] for uid, tid in p.members.items()]]
                        + ([] if p.directory else [False])
                        for p in c.projects.values()
                    ],
                }
                for c in self.companies.values()
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcoreState:
        if data.get("sim_version") != SIM_VERSION:
            raise ValueError(f"procore simulator state has sim_version {data.get('sim_version')!r}")
        state = cls(clients=dict(data["clients"]), next_id=int(data["next_id"]))
        for c in data["companies"]:
            company = SimCompany(int(c["id"]), str(c["name"]), bool(c["installed"]))
            for tid, name, specific in c["templates"]:
                company.templates[tid] = SimTemplate(tid, name, specific)
            for uid, email, first, last, active, employee, title, emp_id, created, updated, *login in c[
                "users"
            ]:
                company.users[uid] = SimUser(
                    uid, email, first, last, active, employee, title, emp_id, created, updated, *login
                )
            for pid, name, active, members, *directory in c["projects"]:
                company.projects[pid] = SimProject(
                    pid, name, active, {uid: tid for uid, tid in members}, directory=all(directory)
                )
            state.companies[company.id] = company
        return state

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> ProcoreState:
        return cls.from_json(read_json(path))


SANDBOX_CLIENT_ID = "sandbox-procore-client"
SANDBOX_CLIENT_SECRET = "sandbox-procore-secret"  # a fake credential for the in-process simulator


def demo_state() -> ProcoreState:
    """The sandbox company from `sandbox_seed.procore()`, with ids, names and templates added."""
    seed = sandbox_seed.procore()
    state = ProcoreState(clients={SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET})
    company = SimCompany(int(sandbox_seed.PROCORE_COMPANY), "Harbor Build Co")
    state.companies[company.id] = company
    names = seed.catalog.get("project", DEFAULT_TEMPLATES)
    for n, name in enumerate(names):
        company.templates[TEMPLATE_ID_BASE + 101 + n] = SimTemplate(TEMPLATE_ID_BASE + 101 + n, name)
    template_ids = {t.name: t.id for t in company.templates.values()}
    ids: dict[str, int] = {}
    for n, account in enumerate(sorted(seed.accounts, key=lambda a: a.principal)):
        first, last = split_name(account.display_name)
        uid = USER_ID_BASE + 1001 + n * 17
        employee = not account.email.casefold().endswith("@steelframe.example")
        company.users[uid] = SimUser(
            uid,
            account.email,
            first,
            last,
            account.active,
            employee,
            last_login_at=account.last_sign_in or None,
        )
        ids[account.principal] = uid
    for n, name in enumerate(seed.resources.get("project", ())):
        pid = PROJECT_ID_BASE + 501 + n * 3
        company.projects[pid] = SimProject(pid, name)
    by_name = {p.name: p for p in company.projects.values()}
    for grant in seed.grants:
        by_name[grant.resource].members[ids[grant.principal]] = template_ids[grant.entitlement]
    return state


def scale_state(
    *,
    users: int = 20_000,
    projects: int = 1_000,
    members: tuple[int, int] = (20, 40),
    inactive_share: float = 0.05,
    company_id: int = int(sandbox_seed.PROCORE_COMPANY),
    seed: int = 7,
) -> ProcoreState:
    """A large company for benchmarks: `users` directory users, `projects` projects, members each."""
    rng = random.Random(seed)
    state = ProcoreState(clients={SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET})
    company = SimCompany(company_id, "Benchmark Construction")
    state.companies[company_id] = company
    for n, name in enumerate(DEFAULT_TEMPLATES):
        company.templates[TEMPLATE_ID_BASE + 101 + n] = SimTemplate(TEMPLATE_ID_BASE + 101 + n, name)
    template_ids = list(company.templates)
    user_ids: list[int] = []
    for n in range(users):
        uid = USER_ID_BASE + 10_000 + n
        active = rng.random() >= inactive_share
        company.users[uid] = SimUser(uid, f"user{n:05d}@bench.example", f"User{n:05d}", "Bench", active)
        if active:
            user_ids.append(uid)
    for n in range(projects):
        pid = PROJECT_ID_BASE + 10_000 + n
        project = SimProject(pid, f"Project {n:04d}")
        count = min(len(user_ids), rng.randint(*members))
        for uid in rng.sample(user_ids, count):
            project.members[uid] = rng.choice(template_ids)
        company.projects[pid] = project
    state.next_id = USER_ID_BASE + 10_000 + users + 1_000_000
    return state
