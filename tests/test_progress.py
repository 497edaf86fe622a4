"""The progress shown while the vendors are read (`reconciler.commands.progress`)."""

from __future__ import annotations

import pytest

from reconciler.commands.progress import interval, seconds
from reconciler.errors import ConfigError


def test_the_interval_is_ten_seconds_unless_set_to_a_positive_number() -> None:
    assert interval({}) == 10.0
    assert interval({"ACCESS_PROGRESS_INTERVAL": " 2.5 "}) == 2.5
    for wrong in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(ConfigError) as caught:
            interval({"ACCESS_PROGRESS_INTERVAL": wrong})
        assert caught.value.message == (
            f"ACCESS_PROGRESS_INTERVAL must be a number of seconds above 0, got {wrong!r}"
        )


def test_elapsed_time_reads_naturally() -> None:
    assert [seconds(s) for s in (0.26, 9.94, 42.4, 725.2)] == ["0.3 s", "9.9 s", "42 s", "12 min 5 s"]
