"""``cancel``, ``gc`` and ``init``: operating a train."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    for command in ():
        cli.add_command(command)
