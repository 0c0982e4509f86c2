"""Writing human output that survives a closed pipe (``trainmaster deploy … | head``).

A deployment must never fail because its reader went away: after the first
broken pipe, stdout is pointed at the null device and later output is dropped.
"""

from __future__ import annotations

import os
import sys

_dead = False


def write(text: str, *, err: bool = False) -> None:
    """Write ``text`` to stdout (or stderr) and flush; never raises for a closed reader."""
    global _dead
    stream = sys.stderr if err else sys.stdout
    if _dead and not err:
        return
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        if not err:
            _dead = True
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass


def echo(message: object = "", *, nl: bool = True, err: bool = False) -> None:
    """``click.echo`` for the CLI's own output, through :func:`write`."""
    write(f"{message}\n" if nl else str(message), err=err)


_json_mode = False


def set_json_mode() -> None:
    """A command prints JSON on stdout: CI logging commands go to stderr from now on."""
    global _json_mode
    _json_mode = True


def ci_command(text: str) -> None:
    """Write a CI logging command (``::add-mask::``, ``##vso[...]``).

    Runners read these on stdout and on stderr. With ``--json`` they go to stderr,
    so that stdout stays parseable and a redirected ``--json`` file never holds a
    ``##vso[task.setsecret]`` line with a secret in it.
    """
    write(text, err=_json_mode or _dead)  # after a closed stdout, masks still reach the runner


def reset() -> None:
    """Forget the JSON mode and a broken pipe (each CLI invocation starts afresh)."""
    global _json_mode, _dead
    _json_mode = False
    _dead = False
