"""`--format json`: exactly the plan file."""

from __future__ import annotations

from reconciler.changes import Plan


def render_json(plan: Plan) -> str:
    return plan.dumps()
