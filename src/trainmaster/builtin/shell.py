"""The fallback CI context: a plain shell (or an unknown CI), with the OS user as actor."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Mapping
from typing import Any

from trainmaster.hookspecs import hookimpl


class ShellContext:
    """No CI system recognised; ``CI=true`` still counts as "inside CI" for ``--by``."""

    name = "shell"
    writes_summary = False  # summary() is a no-op: nothing reads the train's status for it

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.in_ci = environ.get("CI", "").lower() in ("1", "true", "yes")

    def actor(self) -> str:
        try:
            return getpass.getuser()
        except Exception:  # no user database entry (containers)
            return self.environ.get("USER") or f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"

    def source(self) -> dict[str, Any]:
        return {"ci": "ci" if self.in_ci else "none"}

    def set_output(self, name: str, value: str) -> None:
        return None

    def mask(self, value: str) -> None:
        return None

    def summary(self, markdown: str) -> None:
        return None

    def error(self, message: str, *, file: str | None = None, line: int | None = None,
              column: int | None = None) -> None:
        return None

    def warning(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    def complete(self, exit_code: int, message: str) -> None:
        return None


@hookimpl(trylast=True)
def ci_context(environ: Mapping[str, str]) -> ShellContext:
    return ShellContext(environ)
