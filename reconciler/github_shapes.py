"""What the GitHub client needs of GitHub's answers, checked at the boundary (`answers.conform`):
the fields a pull request, review, comment or issue cannot do without. Everything else (who wrote
it, when, the body) is read leniently by each type's `from_api`: a fact of the wrong type reads as
absent, so the approval gate refuses what it cannot establish."""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict

from reconciler.connectors.answers import Expected, answer


@answer
class Ref(TypedDict):
    ref: str


@answer
class Head(Ref):
    sha: str


@answer
class Pull(TypedDict):
    number: int
    title: str
    state: str
    head: Head
    base: Ref
    html_url: str


@answer
class Review(TypedDict):
    id: int
    state: str
    html_url: str


@answer
class Comment(TypedDict):
    id: int
    html_url: str


@answer
class Label(TypedDict):
    name: str


@answer
class Issue(TypedDict):
    number: int
    title: str
    state: str
    html_url: str
    labels: NotRequired[list[Label | str] | None]


PULL = Expected(Pull, "a pull request")
REVIEW = Expected(Review, "a review")
COMMENT = Expected(Comment, "a comment")
ISSUE = Expected(Issue, "an issue")
