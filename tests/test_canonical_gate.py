"""The approval gate, when access/ or policies/ name a Procore project by its id.

The world of tests/test_gate.py: a real git repository, the GitHub simulator and the sandbox
vendors, `access apply --sandbox` as the apply job runs it. Harbor Tower's owner is carol
(`cokafor`); dwhitfield is a project manager who does not own it.
"""

from __future__ import annotations

from reconciler.sandbox_seed import PROCORE_COMPANY
from reconciler.simulators.procore_state import demo_state
from tests import test_gate
from tests.test_gate import World, add_line, held, replace_text

adopted = test_gate.adopted  # (the fixtures of that module, used here too)
world = test_gate.world

TOWER_ID = str(
    next(
        p.id
        for p in demo_state().companies[int(PROCORE_COMPANY)].projects.values()
        if p.name == "Harbor Tower"
    )
)
TOWER_BY_ID = replace_text("access/procore.yaml", "        Harbor Tower:\n", f'        "{TOWER_ID}":\n')
JUDY_UNDER_ID = add_line("access/procore.yaml", f'        "{TOWER_ID}":', "          judy: Project Engineer")
JUDY_HARBOR = test_gate.JUDY_HARBOR
OWNERS_BY_ID = replace_text(
    "policies/approvers.yaml", "      Harbor Tower: [carol]", f'      "{TOWER_ID}": [carol]'
)
JUDY_UPDATE = "~ Procore judy: project Harbor Tower: Project Manager → Project Engineer"


def test_a_line_under_the_project_id_still_needs_the_projects_owner(world: World) -> None:
    """The attack: name the project by id so that the owner rule (written by name) does not see
    the change, and let a project manager who does not own the project approve it."""
    number = world.open_pull("jalvarez", TOWER_BY_ID, JUDY_UNDER_ID)
    world.approve(number, "dwhitfield")
    world.merge(number)
    result = world.apply()
    held(world, result, JUDY_UPDATE, "procore-project-owners")
    assert "could approve: cokafor" in result.out
    assert TOWER_ID not in result.out


def test_the_owners_approval_lets_a_line_under_the_project_id_through(world: World) -> None:
    number = world.open_pull("jalvarez", TOWER_BY_ID, JUDY_UNDER_ID)
    world.approve(number, "cokafor")
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.out
    assert f"applied {JUDY_UPDATE}" in result.out
    assert "No changes." in world.pending()


def test_owners_named_by_project_id_are_the_owners_at_the_gate(world: World) -> None:
    # (with an access change, so that apply asks GitHub and moves the apply point past it)
    rules = world.open_pull("dwhitfield", OWNERS_BY_ID, test_gate.CAROL_VPN)
    world.approve(rules, "glin-sec")  # the policy owners
    world.merge(rules)
    assert world.apply().code == 0
    assert world.applied == world.head  # the owners by id are the rules in force from here
    ask = world.open_pull("jalvarez", JUDY_HARBOR, branch="ask")
    world.approve(ask, "dwhitfield")  # a project manager, but the rule (by id) names carol
    world.merge(ask, branch="ask")
    result = world.apply()
    held(world, result, JUDY_UPDATE, "procore-project-owners")
