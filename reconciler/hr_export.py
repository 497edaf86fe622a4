"""The HR export (pure): who HR says leaves when. A CSV with a header: `person` (the key in
people.yaml) or `email`, and `end_date` (the last day worked, `YYYY-MM-DD`); other columns are
ignored, names of columns ignore case, and every bad row is an error at its line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from reconciler.errors import LocatedError
from reconciler.location import Location


@dataclass(frozen=True, slots=True)
class HrRow:
    person: str  # key, as HR writes it ("" when only the email is given)
    email: str  # casefolded ("" when only the key is given)
    end_date: dt.date
    where: Location

    def left_at(self) -> str:
        """The end date is the last day worked: gone from the start of the next day (UTC)."""
        start = dt.datetime.combine(self.end_date + dt.timedelta(days=1), dt.time(), dt.UTC)
        return start.isoformat().replace("+00:00", "Z")


_PERSON = ("person", "key")
_EMAIL = ("email", "mail", "work_email")
_END = ("end_date", "last_day", "termination_date")


def parse_hr_export(text: str, file: str) -> tuple[list[HrRow], list[LocatedError]]:
    """The rows of an HR export (CSV with a header: `person` or `email`, and `end_date`, a date;
    other columns are ignored), and every problem at its line. Names of columns ignore case."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows: list[HrRow] = []
    errors: list[LocatedError] = []
    header = next(reader, None)
    if header is None:
        return rows, [
            LocatedError(Location(file, 1), "empty: expected a header with person or email, and end_date")
        ]
    names = [h.strip().casefold() for h in header]

    def column(options: tuple[str, ...]) -> int | None:
        return next((names.index(o) for o in options if o in names), None)

    person_at, email_at, end_at = column(_PERSON), column(_EMAIL), column(_END)
    if end_at is None or (person_at is None and email_at is None):
        return rows, [
            LocatedError(
                Location(file, 1),
                f"the header {', '.join(header)!r} needs a person (or email) column and an end_date column",
            )
        ]
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        where = Location(file, line)

        def cell(at: int | None, cells: list[str] = cells) -> str:
            return cells[at].strip() if at is not None and at < len(cells) else ""

        person, email, end = cell(person_at), cell(email_at).casefold(), cell(end_at)
        if not person and not email:
            errors.append(LocatedError(where, "no person and no email"))
            continue
        try:
            day = dt.date.fromisoformat(end[:10])
        except ValueError:
            errors.append(LocatedError(where, f"end_date {end!r} is not a date (YYYY-MM-DD)"))
            continue
        rows.append(HrRow(person, email, day, where))
    return rows, errors
