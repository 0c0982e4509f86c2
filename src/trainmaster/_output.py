"""Writing human output: it survives a closed pipe, and a CI runner never obeys it.

A deployment must never fail because its reader went away: after the first
broken pipe, stdout is pointed at the null device and later output is dropped.

CI runners act on lines of their log: GitHub on ``::name::data`` at the start of a
line (and the legacy ``##[name]data`` anywhere in it), Azure Pipelines on
``##vso[area.action]data`` anywhere in a line (and formats ``##[group]`` and the like).
Text that did not come from the config or from the user's own commands (release
notes, versions and actors read back from a remote, arguments echoed in errors)
must never become such a command. There is one mechanism for it: everything the
CLI prints with :func:`echo` (and :func:`write_json`) passes through the CI
context's :meth:`~trainmaster.interfaces.CIContext.data`, which makes it inert for
that runner (the primitives are :func:`defuse` and :func:`obeyable` below). Raw
:func:`write` is kept for the output of the user's own commands, which may speak
to the runner on purpose, and :func:`ci_command` for trainmaster's own commands.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainmaster.interfaces import CIContext

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
    """``click.echo`` for the CLI's own output: made inert for the CI log (:func:`data`), then written."""
    text = data(str(message))
    write(f"{text}\n" if nl else text, err=err)


def write_json(text: str) -> None:
    """Write a JSON document: inside CI every ``#`` becomes ``\\u0023`` (the same JSON, no ``##[``)."""
    ci = _ci()
    if ci is not None and ci.in_ci:
        text = text.replace("#", "\\u0023")  # '#' only occurs inside JSON strings: lossless
    global _json_written
    _json_written = True
    write(text)


_json_mode = False
_json_written = False


def json_pending(argv: list[str]) -> bool:
    """With ``--json``, a failure still owes stdout its one JSON object (none was written yet)."""
    return (_json_mode or "--json" in argv) and not _json_written


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
    global _json_mode, _dead, _json_written
    _json_mode = False
    _json_written = False
    _dead = False


# -- data in CI logs ---------------------------------------------------------------------------

_context: Callable[[], CIContext | None] | None = None

# Unicode's default-ignorable code points: .NET's culture-sensitive IndexOf/StartsWith (both
# runners are .NET) skip them, so "#\u200b#vso[" can be found as "##vso[". They count as nothing.
_IGNORABLE = ("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
              "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
              "\U000e0000-\U000e0fff")
_I = f"[{_IGNORABLE}]*"


@functools.cache
def _commands() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The would-be ``##[``/``##vso[`` and ``::`` patterns (compiled on first use: ~3 ms)."""
    return (re.compile(f"#({_I})#(?={_I}(?:v{_I}s{_I}o{_I})?\\[)", re.IGNORECASE),
            re.compile(f"^([\\s{_IGNORABLE}]*):(?={_I}:)"))


LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""How both runners split their log into lines (.NET ``ReadLine``)."""
FULLWIDTH_HASH = "\uff03"
FULLWIDTH_COLON = "\uff1a"


def use_context(resolver: Callable[[], CIContext | None]) -> None:
    """Where :func:`data` finds the CI context (the CLI registers the invocation's)."""
    global _context
    _context = resolver


def _ci() -> CIContext | _Fallback | None:
    if _context is None:
        return None
    try:
        return _context()
    except Exception:  # no plugins, no config: still never print data raw
        return _Fallback()


def data(text: str) -> str:
    """``text`` made inert for the CI log this process writes to (unchanged outside CI)."""
    ci = _ci()
    if ci is None:
        return text
    neutralise = getattr(ci, "data", None)  # a third-party context written before data() existed
    return neutralise(text) if neutralise is not None else defuse(text)


def obeyable(text: str) -> bool:
    """True when a runner could read a line of ``text`` as a command (GitHub's or Azure's)."""
    hashes, colons = _commands()
    return any(colons.match(line) or hashes.search(line) for line in LINE_BREAK.split(text))


def defuse(text: str, *, colons: bool = True, hashes: bool = True) -> str:
    """``text`` with every would-be command broken, still readable.

    ``hashes``: the second ``#`` of ``##[`` and ``##vso[`` (anywhere) becomes a full-width
    ``＃``; ``colons``: the first ``:`` of a line starting with ``::`` becomes a full-width
    ``：``. Visible characters, not zero-width ones, which .NET's comparisons may skip.
    """
    hash_re, colon_re = _commands()
    if hashes:
        text = hash_re.sub(lambda m: "#" + m.group(1) + FULLWIDTH_HASH, text)
    if colons:
        parts = LINE_BREAK.split(text)
        if any(colon_re.match(line) for line in parts):
            breaks = LINE_BREAK.findall(text) + [""]
            text = "".join(colon_re.sub(lambda m: m.group(1) + FULLWIDTH_COLON, line) + brk
                           for line, brk in zip(parts, breaks, strict=True))
    return text


class _Fallback:
    """Used when the CI context cannot be built: defuse for every runner."""

    in_ci = True

    def data(self, text: str) -> str:
        return defuse(text)
