"""Tables and colour for human output.

Colour is used on a terminal only: ``--color auto`` (the default) colours when stdout is
a terminal and ``NO_COLOR`` is not set (https://no-color.org), ``always`` and ``never``
decide regardless. The choice is the command's own ``--color``, else the global one
(``trainmaster --color never status``). Piped output is plain text.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
CHOICES = ("auto", "always", "never")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CODES = {"green": "32", "red": "31", "yellow": "33", "blue": "34", "dim": "2", "bold": "1", "cyan": "36"}
STATUS_COLOURS = {"succeeded": "green", "failed": "red", "interrupted": "red", "cancelled": "yellow",
                  "in_progress": "cyan", "pending": "yellow", "running": "cyan", "queued": "yellow"}


def color_option(fn: F) -> F:
    """``--color auto|always|never`` on a command (overrides the global option)."""
    return click.option("--color", "color", type=click.Choice(CHOICES), default=None,
                        help="Colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.")(fn)


def use_color(ctx: click.Context, choice: str | None = None, stream: Any = None) -> bool:
    """Whether to colour: the command's choice, else the global ``--color``, else ``auto``."""
    choice = choice or (ctx.find_root().obj or {}).get("color") or "auto"
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


class Painter:
    """Colours text when enabled, else returns it unchanged."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, colour: str | None) -> str:
        if not self.enabled or not colour or not text:
            return text
        return f"\x1b[{_CODES[colour]}m{text}\x1b[0m"

    def status(self, text: str) -> str:
        return self(text, STATUS_COLOURS.get(text))


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], paint: Painter) -> list[str]:
    """Aligned columns with a header row (colour codes do not count toward widths)."""
    widths = [max([len(h)] + [visible_len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(paint(h.ljust(w), "bold") for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        cells = [cell + " " * (w - visible_len(cell)) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines
