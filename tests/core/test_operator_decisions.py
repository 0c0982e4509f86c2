"""The decisions behind the operator's view: durations, window openings, who may approve, colour."""

from __future__ import annotations

import datetime as dt

import click

from trainmaster.cli.style import Painter, table, use_color
from trainmaster.config.model import Window
from trainmaster.gates import next_opening
from trainmaster.status import ago, duration

NOW = dt.datetime(2026, 3, 6, 18, 30, tzinfo=dt.UTC)  # a Friday


def test_durations_read_like_a_person_says_them() -> None:
    assert duration(45) == "45s"
    assert duration(25 * 60) == "25m"
    assert duration(2 * 3600 + 10 * 60) == "2h10m"
    assert duration(3 * 86400 + 4 * 3600 + 59) == "3d4h"
    assert ago("2026-03-06T16:30:00.000Z", NOW) == "2h ago"
    assert ago("2026-03-06T18:30:02.000Z", NOW) == "just now"
    assert ago("2026-03-06T18:55:00.000Z", NOW) == "in 25m"
    assert ago(None, NOW) == "-"


def test_the_next_window_opening_skips_the_weekend() -> None:
    weekdays = Window(days=(0, 1, 2, 3, 4), start_minute=9 * 60, end_minute=17 * 60)
    assert next_opening((weekdays,), NOW) == dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC)  # Monday
    morning = NOW.replace(hour=7)
    assert next_opening((weekdays,), morning) == dt.datetime(2026, 3, 6, 9, 0, tzinfo=dt.UTC)  # today
    saturday = Window(days=(5,), start_minute=0, end_minute=60)
    assert next_opening((weekdays, saturday), NOW) == dt.datetime(2026, 3, 7, 0, 0, tzinfo=dt.UTC)
    assert next_opening((), NOW) is None


def test_colour_only_when_asked_or_on_a_terminal_without_no_color(monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    ctx = click.Context(click.Command("x"), obj={"color": None})

    class Tty:
        def isatty(self) -> bool:
            return True

    try:
        mp.delenv("NO_COLOR", raising=False)
        mp.setenv("TERM", "xterm")
        assert use_color(ctx, None, Tty()) is True
        assert use_color(ctx, None, object()) is False  # piped
        assert use_color(ctx, "never", Tty()) is False
        assert use_color(ctx, "always", object()) is True
        mp.setenv("NO_COLOR", "1")
        assert use_color(ctx, None, Tty()) is False
        assert use_color(ctx, "always", object()) is True  # an explicit choice wins
        ctx.obj["color"] = "always"
        assert use_color(ctx, None, object()) is True  # the global option
    finally:
        mp.undo()


def test_table_aligns_coloured_cells_like_plain_ones() -> None:
    plain = table(["A", "B"], [["succeeded", "x"], ["no", "y"]], Painter(False))
    coloured = table(["A", "B"], [[Painter(True).status("succeeded"), "x"], ["no", "y"]], Painter(True))
    import re

    strip = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured]
    assert strip == plain == ["A          B", "succeeded  x", "no         y"]


def test_the_summary_renders_the_same_facts_as_status() -> None:
    from trainmaster.status import EnvironmentStatus
    from trainmaster.summary import render

    row = EnvironmentStatus(
        "dev", "dev", "1.1.0", "sha256:" + "1" * 64, "succeeded", deployment=4,
        current={"version": "1.1.0", "deployment": 4, "since": "2026-03-06T16:30:00.000Z"},
        packages=[{"name": "app", "version": "1.1.0", "deployment": 4},
                  {"name": "cfg", "version": "1.0.0", "deployment": 1}],
        last_failure={"deployment": 3, "version": "2.0.0", "status": "failed", "reason": "disk | full",
                      "at": "2026-03-06T16:31:00.000Z", "rolled_back_by": 4},
        active=[{"deployment": None, "version": "2.0.1", "actor": "bob", "since": "x", "state": "queued"}])
    md = render([row], project="demo")
    assert "- dev: ❌ 2.0.0 failed (deployment #3): disk \\| full; rolled back by #4" in md
    assert "- dev: cfg holds the bytes of 1.0.0 (deployment #1)" in md
    assert "- dev: app holds" not in md
    assert "- dev: queued 2.0.1 by bob" in md
