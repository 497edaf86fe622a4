"""Facts about people from GitHub, through the client against the simulator: accounts and renames,
repository activity (who pushed what), collaborator roles, and commits' authors and committers."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import git
import httpx
import pytest

from reconciler.connectors.answers import UnexpectedAnswer
from reconciler.connectors.http import RetryPolicy
from reconciler.github_api import Activity, Commit, GitHubClient, GitHubError, GitHubUser
from reconciler.simulators.base import SimulatorTransport
from reconciler.simulators.github import DEFAULT_TOKEN, GitHubSimulator, fake_sha
from reconciler.simulators.github_git import git_branches

T = TypeVar("T")
REPO = "harborbuild/access"
ENV = {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": DEFAULT_TOKEN}
API = f"https://api.github.com/repos/{REPO}"
AUTH = {"authorization": f"Bearer {DEFAULT_TOKEN}"}
ZERO = "0" * 40
AUTHORED = 1_772_352_000  # 2026-03-01T08:00:00Z
SPEC_PATH = (
    Path(__file__).resolve().parents[1]
    / "../shared/oracles/github/api.github.com.pulls-issues-contents.trimmed.json"
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sim(fake_time: FakeTime) -> GitHubSimulator:
    return GitHubSimulator(REPO, clock=fake_time.clock)


def ask(
    handler: Callable[[httpx.Request], httpx.Response],
    fake_time: FakeTime,
    call: Callable[[GitHubClient], Awaitable[T]],
) -> T:
    """Run `call` with a read-only client whose requests `handler` answers."""

    async def main() -> T:
        policy = RetryPolicy(sleep=fake_time.sleep, rng=random.Random(7))
        transport = SimulatorTransport(handler)
        async with GitHubClient.from_env(
            ENV, writable=False, transport=transport, policy=policy, clock=fake_time.clock
        ) as gh:
            return await call(gh)

    return asyncio.run(main())


def get(sim: GitHubSimulator, url: str, **params: str) -> httpx.Response:
    return sim.handle(httpx.Request("GET", url, params=params, headers=AUTH))


def links(response: httpx.Response) -> dict[str, dict[str, list[str]]]:
    """rel -> the query of its URL."""
    found = httpx.Response(200, headers=response.headers).links
    return {rel: parse_qs(urlsplit(link["url"]).query) for rel, link in found.items()}


# ---------------------------------------------------------------- users and renames


def test_a_rename_keeps_the_id_and_frees_the_old_login(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    pull = sim.create_pull("alice", fake_sha("a1"))
    sim.review(pull, "carol")
    alice_id = sim.state.users["alice"]
    sim.rename_user("alice", "alice-ng")

    async def after_rename(gh: GitHubClient) -> tuple[Any, ...]:
        return (await gh.user("alice-ng"), await gh.user("alice"), await gh.get_pull(pull),
                await gh.pull_commits(pull))  # fmt: skip

    renamed, freed, pr, commits = ask(sim.handle, fake_time, after_rename)
    assert renamed == GitHubUser(id=alice_id, login="alice-ng", type="User")
    assert freed is None  # nobody holds "alice" now
    assert (pr.author, pr.author_id) == ("alice-ng", alice_id)
    # her commit's ID-based noreply email still names "alice", and still links to her account
    assert commits[0].author_email == f"{alice_id}+alice@users.noreply.github.com"
    assert (commits[0].author_login, commits[0].author_id) == ("alice-ng", alice_id)

    sim.state.user("alice")  # someone else signs up as "alice"
    sim.review(pull, "alice")  # ... and approves: not the author, whatever the login says

    async def after_retake(gh: GitHubClient) -> tuple[Any, ...]:
        return await gh.user("alice"), await gh.reviews(pull)

    impostor, reviews = ask(sim.handle, fake_time, after_retake)
    assert impostor is not None and impostor.login == "alice" and impostor.id != alice_id
    assert [(r.user, r.user_id) for r in reviews] == [
        ("carol", sim.state.users["carol"]),
        ("alice", impostor.id),
    ]
    assert reviews[1].user_id != pr.author_id


def test_a_rename_cannot_take_a_login_in_use(sim: GitHubSimulator) -> None:
    sim.state.user("alice")
    sim.state.user("bob")
    with pytest.raises(ValueError, match="login 'BOB' is taken"):
        sim.rename_user("alice", "BOB")
    with pytest.raises(ValueError, match="no user 'zed'"):
        sim.rename_user("zed", "zed2")
    assert set(sim.state.users) >= {"alice", "bob"}


def test_get_a_user_by_login_in_any_case(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    sim.state.user("Carol")

    async def scenario(gh: GitHubClient) -> tuple[Any, ...]:
        return await gh.user("carol"), await gh.user("github-actions[bot]"), await gh.user("nobody")

    carol, bot, nobody = ask(sim.handle, fake_time, scenario)
    assert carol == GitHubUser(id=sim.state.users["Carol"], login="Carol", type="User")
    assert bot is not None and bot.type == "Bot"
    assert nobody is None
    raw = get(sim, "https://api.github.com/users/nobody")
    assert (raw.status_code, raw.json()["message"]) == (404, "Not Found")


# ---------------------------------------------------------------- repository activity


def test_activity_shows_who_pushed_to_the_branch(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    v1, v2, v3, merged = fake_sha("v1"), fake_sha("v2"), fake_sha("v3"), fake_sha("m")
    pull = sim.create_pull("alice", v1, head_ref="alice/vpn")
    base = sim.repo().pulls[pull].base_sha
    fake_time.now += 60
    sim.push(pull, v2, pusher="mallory")  # Mallory pushes to Alice's branch
    fake_time.now += 60
    sim.push(pull, v3, force=True)  # Alice rewrites it
    fake_time.now += 60
    sim.merge(pull, merged, merged_by="carol")
    sim.direct_push(fake_sha("hotfix"), author="dan")

    async def scenario(gh: GitHubClient) -> tuple[Any, ...]:
        return (
            await gh.activity("alice/vpn"),
            await gh.activity("refs/heads/alice/vpn"),
            await gh.activity("main"),
        )

    branch, same, main = ask(sim.handle, fake_time, scenario)
    assert [(a.activity_type, a.actor_login, a.before, a.after) for a in branch] == [
        ("branch_creation", "alice", ZERO, base),
        ("push", "alice", base, v1),
        ("push", "mallory", v1, v2),
        ("force_push", "alice", v2, v3),
    ]
    assert branch == same and {a.ref for a in branch} == {"refs/heads/alice/vpn"}
    assert branch[2].actor_id == sim.state.users["mallory"] != sim.state.users["alice"]
    assert branch[2].timestamp is not None and branch[3].timestamp is not None
    assert (branch[3].timestamp - branch[2].timestamp).total_seconds() == 60
    assert [(a.activity_type, a.actor_login, a.after) for a in main] == [
        ("pr_merge", "carol", merged),
        ("push", "dan", fake_sha("hotfix")),
    ]
    assert sim.repo().pulls[pull].commits == [v3]  # the force push replaced the branch's commits


def test_activity_is_read_across_cursor_pages(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    pull = sim.create_pull("alice", fake_sha("p0"), head_ref="busy")
    for i in range(1, 131):
        sim.push(pull, fake_sha(f"p{i}"), pusher="mallory" if i == 77 else None)
    sim.create_pull("bob", fake_sha("other"), head_ref="other")  # another ref: not listed
    sim.keep_log = True

    activity = ask(sim.handle, fake_time, lambda gh: gh.activity("busy"))
    assert len(activity) == 132  # creation, first push, 130 more pushes
    assert [a.after for a in activity[1:]] == [fake_sha(f"p{i}") for i in range(131)]
    assert [a.actor_login for a in activity if a.actor_login != "alice"] == ["mallory"]
    queries = [dict(r.url.params) for r in sim.log]
    assert len(queries) == 2 and "after" not in queries[0] and queries[1]["after"]
    assert all(q["per_page"] == "100" and q["direction"] == "asc" and q["ref"] == "busy" for q in queries)
    assert not any("page" in q for q in queries)  # cursors, not page numbers


def test_simulator_activity_pages_filters_and_cursors(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    pull = sim.create_pull("alice", fake_sha("q0"), head_ref="feature")
    for i in range(1, 40):
        fake_time.now += 1
        sim.push(pull, fake_sha(f"q{i}"), pusher="mallory" if i % 10 == 0 else "alice")
    url = f"{API}/activity"

    first = get(sim, url)  # default: newest first, 30 a page
    items = first.json()
    assert len(items) == 30 and items[0]["after"] == fake_sha("q39")
    assert set(items[0]) == {"id", "node_id", "before", "after", "ref", "timestamp", "activity_type", "actor"}
    assert items[0]["actor"]["login"] == "alice" and items[0]["ref"] == "refs/heads/feature"
    rels = links(first)
    assert set(rels) == {"next"} and rels["next"]["per_page"] == ["30"]

    second = get(sim, url, after=rels["next"]["after"][0])
    assert [i["after"] for i in second.json()[:1]] == [fake_sha("q9")] and len(second.json()) == 11
    back = links(second)
    assert set(back) == {"prev"}
    previous = get(sim, url, before=back["prev"]["before"][0])
    assert previous.json() == items

    pushes = get(sim, url, activity_type="push", actor="MALLORY", direction="asc").json()
    assert [p["after"] for p in pushes] == [fake_sha(f"q{i}") for i in (10, 20, 30)]
    assert len(get(sim, url, per_page="500").json()) == 41
    assert get(sim, url, ref="refs/heads/feature", per_page="5").json() == items[:5]
    assert get(sim, url, ref="main").json() == []
    fake_time.now += 2 * 86400
    assert get(sim, url, time_period="day").json() == []
    assert len(get(sim, url, time_period="week", per_page="100").json()) == 41
    for bad in ({"activity_type": "merge"}, {"direction": "up"}, {"after": "not-a-cursor"}):
        refused = get(sim, url, **bad)
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == next(iter(bad))


def test_pushed_branches_record_creation_push_and_force_push(
    sim: GitHubSimulator, fake_time: FakeTime
) -> None:
    a, b, c, main = fake_sha("b1"), fake_sha("b2"), fake_sha("b3"), fake_sha("main")
    sim.direct_push(main)
    sim.push_branch("topic", [a], pusher="bob")
    sim.push_branch("topic", [a, b], pusher="bob")
    sim.push_branch("topic", [c], pusher="mallory")  # history rewritten
    sim.push_branch("topic", [c])  # the same again: nothing moved
    sim.delete_branch("topic", pusher="bob")

    activity = ask(sim.handle, fake_time, lambda gh: gh.activity("topic"))
    assert [(x.activity_type, x.actor_login, x.before, x.after) for x in activity] == [
        ("branch_creation", "bob", ZERO, main),  # branched from main's head
        ("push", "bob", main, a),
        ("push", "bob", a, b),
        ("force_push", "mallory", b, c),
        ("branch_deletion", "bob", c, ZERO),
    ]


# ---------------------------------------------------------------- collaborator permissions


def test_permission_for_owner_writer_outsider_and_unknown(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    for login in ("bob", "dan", "erin", "nina"):
        sim.state.user(login)
    sim.set_permission("dan", "maintain")
    sim.set_permission("erin", "triage")
    sim.set_permission("nina", "none")
    sim.outsider("olga")
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        sim.set_permission("bob", "owner")
    logins = ("harborbuild", "bob", "dan", "erin", "olga", "nina", "github-actions[bot]", "nobody")

    async def scenario(gh: GitHubClient) -> list[str]:
        return [await gh.permission(login) for login in logins]

    assert ask(sim.handle, fake_time, scenario) == [
        "admin", "write", "maintain", "triage", "read", "none", "none", "none",
    ]  # fmt: skip
    base = f"{API}/collaborators"
    legacy = {x: get(sim, f"{base}/{x}/permission").json() for x in ("dan", "erin", "nina")}
    assert [(v["permission"], v["role_name"]) for v in legacy.values()] == [
        ("write", "maintain"),  # maintain reads as write,
        ("read", "triage"),  # triage as read,
        ("none", ""),  # and no access is none with no role name, as GitHub answers
    ]
    assert legacy["dan"]["user"]["permissions"] == {
        "admin": False, "maintain": True, "push": True, "triage": True, "pull": True,
    }  # fmt: skip
    assert get(sim, f"{base}/nobody/permission").status_code == 404


def test_a_role_stays_with_the_account_through_a_rename(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    sim.state.user("alice")
    sim.set_permission("alice", "maintain")
    sim.rename_user("alice", "alice-ng")
    sim.state.user("alice")  # a newcomer takes the old login

    async def scenario(gh: GitHubClient) -> tuple[str, str]:
        return await gh.permission("alice-ng"), await gh.permission("alice")

    assert ask(sim.handle, fake_time, scenario) == ("maintain", "write")


# ---------------------------------------------------------------- commits: authors and committers


def _commit(
    repo: git.Repo, name: str, message: str, author: tuple[str, str], committer: tuple[str, str]
) -> str:
    path = Path(repo.working_tree_dir or ".") / name
    path.write_text(message, encoding="utf-8")
    repo.index.add([name])
    made = repo.index.commit(
        message, author=git.Actor(*author), committer=git.Actor(*committer),
        author_date=f"{AUTHORED} +0200", commit_date=f"{AUTHORED + 5400} +0200",  # git's raw form
    )  # fmt: skip
    return str(made.hexsha)


@pytest.fixture
def people(sim: GitHubSimulator) -> dict[str, int]:
    for login in ("alice", "bob", "carol", "mallory", "oldtimer"):
        sim.state.user(login)
    sim.add_email("alice", "Alice.Ng@Harbor.example")
    sim.add_email("carol", "carol@harbor.example")
    return dict(sim.state.users)


def test_commits_carry_authors_committers_and_trailers(
    sim: GitHubSimulator, fake_time: FakeTime, people: dict[str, int], git_repo: Callable[..., git.Repo]
) -> None:
    repo = git_repo(with_example=False)
    bob_noreply = f"{people['bob']}+bob@users.noreply.github.com"
    shas = [
        _commit(repo, "a.txt", "Grant bob the VPN\n\nCo-authored-by: Carol <carol@harbor.example>\n",
                ("Alice Ng", "alice.ng@harbor.example"), ("Alice Ng", "alice.ng@harbor.example")),
        _commit(repo, "b.txt", "Fix typo", ("Bob", bob_noreply), ("Someone", "someone@elsewhere.example")),
        _commit(repo, "c.txt", "Old style", ("Old", "oldtimer@users.noreply.github.com"),
                ("Forged", f"{people['carol']}+not-carol@users.noreply.github.com")),
    ]  # fmt: skip
    sim.record_git_commits(Path(repo.working_tree_dir or "."), shas)
    pull = sim.create_pull("alice", shas[-1], commits=shas)

    commits: tuple[Commit, ...] = ask(sim.handle, fake_time, lambda gh: gh.pull_commits(pull))
    first, second, third = commits
    assert first.message == "Grant bob the VPN\n\nCo-authored-by: Carol <carol@harbor.example>"
    assert (first.author_name, first.author_email) == ("Alice Ng", "alice.ng@harbor.example")
    assert (first.author_login, first.author_id) == ("alice", people["alice"])  # verified, any case
    assert (first.committer_login, first.committer_id) == ("alice", people["alice"])
    assert (second.author_login, second.author_id) == ("bob", people["bob"])  # ID-based noreply
    assert (second.committer_name, second.committer_email) == ("Someone", "someone@elsewhere.example")
    assert (second.committer_login, second.committer_id) == (None, None)  # GitHub's null
    assert third.author_login == "oldtimer"  # legacy noreply: by login
    assert (third.committer_login, third.committer_id) == ("carol", people["carol"])  # by ID, not name
    assert [c.sha for c in commits] == shas and third.parents == (shas[1],)

    raw = get(sim, f"{API}/pulls/{pull}/commits").json()
    assert raw[1]["committer"] is None and raw[1]["author"]["id"] == people["bob"]
    assert raw[0]["commit"]["author"] == {
        "name": "Alice Ng", "email": "alice.ng@harbor.example", "date": "2026-03-01T08:00:00Z",
    }  # fmt: skip
    assert raw[0]["commit"]["committer"]["date"] == "2026-03-01T09:30:00Z"


def test_a_pushed_git_branch_brings_its_authors(
    sim: GitHubSimulator, fake_time: FakeTime, people: dict[str, int], git_repo: Callable[..., git.Repo]
) -> None:
    repo = git_repo(with_example=False)
    _commit(repo, "base.txt", "base", ("Ops", "ops@harbor.example"), ("Ops", "ops@harbor.example"))
    repo.git.checkout("-b", "mallory/tweak")
    head = _commit(repo, "t.txt", "Tweak\n\nSigned-off-by: Alice Ng <alice.ng@harbor.example>",
                   ("Alice Ng", "alice.ng@harbor.example"), ("Mallory", "m@evil.example"))  # fmt: skip
    sim.branch_source = git_branches(Path(repo.working_tree_dir or "."))
    sim.add_token("mallory-token", "mallory")
    env = {**ENV, "GITHUB_TOKEN": "mallory-token"}

    async def main() -> tuple[Any, tuple[Commit, ...]]:
        transport = SimulatorTransport(sim.handle)
        async with GitHubClient.from_env(
            env, writable=True, transport=transport, clock=fake_time.clock
        ) as gh:
            created = await gh.create_pull(title="Tweak", head="mallory/tweak", base="main", body="")
            return created, await gh.pull_commits(created.number)

    created, (commit,) = asyncio.run(main())
    assert created.author == "mallory"  # she opened it; git says Alice wrote the commit
    assert commit.sha == head and commit.message.endswith("Signed-off-by: Alice Ng <alice.ng@harbor.example>")
    assert (commit.author_login, commit.committer_login, commit.committer_email) == (
        "alice",
        None,
        "m@evil.example",
    )


def test_driver_commits_use_the_logins_noreply_email_and_merges_are_committed_by_github(
    sim: GitHubSimulator, fake_time: FakeTime
) -> None:
    pull = sim.create_pull("dan", fake_sha("d1"))
    sim.merge(pull, fake_sha("dm"), merged_by="carol", method="squash")
    raw = get(sim, f"{API}/pulls/{pull}/commits").json()[0]
    dan = sim.state.users["dan"]
    assert raw["commit"]["author"]["email"] == f"{dan}+dan@users.noreply.github.com"
    assert raw["author"]["id"] == raw["committer"]["id"] == dan
    squash = sim.repo().commits[fake_sha("dm")]
    assert (squash.committer_name, squash.committer_email) == ("GitHub", "noreply@github.com")
    assert sim.state.account_for_email("noreply@github.com") == "web-flow"


# ---------------------------------------------------------------- answers of the wrong shape


def test_wrong_types_in_an_answer_read_as_absent(fake_time: FakeTime) -> None:
    pull = {
        "number": 7, "title": "t", "body": 5, "state": "open", "head": {"sha": "h", "ref": "x"},
        "base": {"ref": "main"}, "user": {"login": "alice", "id": "12"}, "html_url": "u",
        "merged_at": "yesterday",
    }  # fmt: skip
    answers: dict[str, Any] = {
        "/users/alice": {"login": "alice", "id": "12", "type": "User"},
        "/users/bob": [1, 2],
        f"/repos/{REPO}/collaborators/alice/permission": {"permission": 3, "role_name": None},
        f"/repos/{REPO}/activity": [None, {"activity_type": "push", "actor": {"login": 5, "id": True},
                                           "after": "abc", "timestamp": "not a time"}],
        f"/repos/{REPO}/pulls/7/commits": [
            {"sha": "abc", "commit": {"author": {"name": 1, "email": "a@x"}, "message": None},
             "author": {"login": "a", "id": 3}, "committer": "ghost", "parents": [{"sha": 4}, "x"]},
            "garbage",
        ],
        f"/repos/{REPO}/pulls/7": pull,
        f"/repos/{REPO}/pulls/8": {**pull, "number": None},
        f"/repos/{REPO}/pulls/7/reviews": [{"id": 1, "state": "APPROVED", "html_url": "u",
                                            "user": {"login": "carol", "id": 2.5}}],
    }  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.path])

    async def scenario(gh: GitHubClient) -> tuple[Any, ...]:
        return (await gh.user("alice"), await gh.user("bob"), await gh.permission("alice"),
                await gh.activity("main"), await gh.pull_commits(7), await gh.get_pull(7),
                await gh.reviews(7))  # fmt: skip

    alice, bob, role, activity, commits, pr, reviews = ask(handler, fake_time, scenario)
    assert (alice, bob, role) == (None, None, "none")
    assert activity == (
        Activity("", None, None, "", "", "", None),
        Activity("push", None, None, "", "abc", "", None),
    )
    assert commits[0] == Commit(
        sha="abc", message="", author_name=None, author_email="a@x", author_login="a", author_id=3,
        committer_name=None, committer_email=None, committer_login=None, committer_id=None, parents=(),
    )  # fmt: skip
    assert commits[1].sha == "" and commits[1].author_id is None
    assert (pr.number, pr.body, pr.author, pr.author_id, pr.merged_at) == (7, "", "alice", None, None)
    assert (reviews[0].user, reviews[0].user_id) == ("carol", None)

    with pytest.raises(UnexpectedAnswer) as caught:
        ask(handler, fake_time, lambda gh: gh.get_pull(8))
    assert caught.value.message.startswith(
        "github: api.github.com (GITHUB_API_URL) answered HTTP 200 GET /repos/harborbuild/access/pulls/8 "
        "with JSON of another shape (number should be a valid integer; body: {"
    )


# ---------------------------------------------------------------- persistence and the oracle's shapes


def test_people_facts_survive_to_json(sim: GitHubSimulator, fake_time: FakeTime) -> None:
    pull = sim.create_pull("alice", fake_sha("s1"))
    sim.push(pull, fake_sha("s2"), pusher="mallory")
    sim.add_email("alice", "alice@harbor.example")
    sim.set_permission("mallory", "read")
    sim.rename_user("alice", "alice-ng")
    restored = GitHubSimulator.from_json(sim.to_json(), clock=fake_time.clock)
    assert restored.to_json() == sim.to_json()

    async def scenario(gh: GitHubClient) -> tuple[Any, ...]:
        return await gh.activity(sim.repo().pulls[pull].head_ref), await gh.permission("mallory")

    activity, role = ask(restored.handle, fake_time, scenario)
    assert [a.actor_login for a in activity] == ["alice-ng", "alice-ng", "mallory"] and role == "read"
    assert restored.state.account_for_email("ALICE@harbor.example") == "alice-ng"


@pytest.mark.oracle
def test_user_objects_match_githubs_simple_user_schema(sim: GitHubSimulator) -> None:
    """The trimmed OpenAPI description has no activity, permission or users operations; the user
    objects in their answers must still be GitHub's `simple-user`."""
    if not SPEC_PATH.exists():
        pytest.skip(f"GitHub OpenAPI oracle not found at {SPEC_PATH}")
    from openapi_schema_validator import OAS30Validator

    spec = json.loads(SPEC_PATH.read_text())
    schema = {**spec["components"]["schemas"]["simple-user"], "components": spec["components"]}
    validator = OAS30Validator(schema)
    pull = sim.create_pull("alice", fake_sha("o1"))
    sim.push(pull, fake_sha("o2"), pusher="mallory")
    users = [
        *(item["actor"] for item in get(sim, f"{API}/activity").json()),
        get(sim, f"{API}/collaborators/alice/permission").json()["user"],
        get(sim, "https://api.github.com/users/mallory").json(),
    ]
    errors = [str(e.message) for user in users for e in validator.iter_errors(user)]
    assert errors == [] and len(users) == 5
    assert validator.iter_errors({**users[0], "id": "not-an-id"})  # the check can fail


def test_a_next_link_that_goes_nowhere_is_an_error_not_a_loop(fake_time: FakeTime) -> None:
    stuck = f'<{API}/activity?per_page=100&after=same>; rel="next"'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"activity_type": "push"}], headers={"link": stuck})

    with pytest.raises(GitHubError, match=r"pagination of /repos/harborbuild/access/activity links back"):
        ask(handler, fake_time, lambda gh: gh.activity("main"))
