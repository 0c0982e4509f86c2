"""The GitHub Actions runner protocol, behind :class:`trainmaster.interfaces.CIContext`.

* outputs are appended to ``$GITHUB_OUTPUT`` as ``name<<DELIMITER`` blocks with a
  random delimiter, so a value holding newlines (or ``EOF``) is safe;
* ``::add-mask::`` is written for a secret, and for each line of a multi-line one;
* ``::error file=…,line=…,col=…::`` annotations, escaped like ``@actions/core``
  (``%``, CR, LF in data; also ``:`` and ``,`` in properties);
* Markdown is appended to ``$GITHUB_STEP_SUMMARY``.

Reference: github/docs ``workflow-commands.md`` and actions/toolkit ``command.ts``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["GitHubActionsContext", "escape_data", "escape_property", "is_github_actions"]


def is_github_actions(environ: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job (``GITHUB_ACTIONS=true``)."""
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(value: str) -> str:
    """Escape a workflow command's message (``%``, CR, LF)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (also ``:`` and ``,``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, message: str, properties: Mapping[str, Any] | None = None) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in (properties or {}).items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


class GitHubActionsContext:
    """The GitHub Actions job this process runs in.

    :param environ: the process environment (``GITHUB_*`` variables).
    :param write: where workflow commands go; the runner reads them from stdout.
    """

    name = "github-actions"
    in_ci = True

    def __init__(self, environ: Mapping[str, str], write: Callable[[str], None] | None = None) -> None:
        self.environ = dict(environ)
        self._write = write or _stdout

    def __repr__(self) -> str:
        return f"GitHubActionsContext(repository={self.environ.get('GITHUB_REPOSITORY')!r})"

    # -- identity ------------------------------------------------------------------------------
    def actor(self) -> str:
        """``GITHUB_ACTOR``: the user who triggered the run."""
        return self.environ.get("GITHUB_ACTOR") or "github-actions"

    def run_url(self) -> str | None:
        """The URL of this workflow run (with the attempt when it is a re-run), or None."""
        server = self.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo, run_id = self.environ.get("GITHUB_REPOSITORY"), self.environ.get("GITHUB_RUN_ID")
        if not repo or not run_id:
            return None
        url = f"{server}/{repo}/actions/runs/{run_id}"
        attempt = self.environ.get("GITHUB_RUN_ATTEMPT")
        if attempt and attempt != "1":
            url += f"/attempts/{attempt}"
        return url

    def source(self) -> dict[str, Any]:
        """Release metadata: commit, branch, build id and URL, workflow, CI system."""
        data = {
            "ci": "github-actions",
            "commit": self.environ.get("GITHUB_SHA"),
            "branch": self.environ.get("GITHUB_REF_NAME"),
            "ref": self.environ.get("GITHUB_REF"),
            "build_id": self.environ.get("GITHUB_RUN_ID"),
            "build_url": self.run_url(),
            "repository": self.environ.get("GITHUB_REPOSITORY"),
            "workflow": self.environ.get("GITHUB_WORKFLOW"),
        }
        return {k: v for k, v in data.items() if v}

    @property
    def writes_summary(self) -> bool:
        """True when the job has a summary file (``$GITHUB_STEP_SUMMARY``) to write to."""
        return bool(self.environ.get("GITHUB_STEP_SUMMARY"))

    # -- runner protocol -------------------------------------------------------------------------
    def set_output(self, name: str, value: str) -> None:
        """Append ``name`` to ``$GITHUB_OUTPUT`` with a random delimiter (multi-line safe)."""
        self._append_file("GITHUB_OUTPUT", _file_command(name, value))

    def mask(self, value: str) -> None:
        """Write ``::add-mask::`` for ``value`` and for each of its lines."""
        if not value:
            return
        lines = [line.strip("\r") for line in value.splitlines()]
        parts = [value] if len(lines) <= 1 else [line for line in lines if line.strip()]
        for part in parts:
            self._write(_command("add-mask", part) + "\n")

    def summary(self, markdown: str) -> None:
        """Append Markdown to the job summary (``$GITHUB_STEP_SUMMARY``)."""
        self._append_file("GITHUB_STEP_SUMMARY", markdown if markdown.endswith("\n") else markdown + "\n")

    def error(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        title: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        """An error annotation, placed on ``file:line:column`` when given.

        GitHub places an annotation only when ``file`` is relative to the workspace, with forward
        slashes: ``file`` (as the user gave it, relative to the current directory) is rewritten so.
        A "did you mean" hint is appended from ``suggestion``.
        """
        if suggestion and "did you mean" not in message:
            message += f" — did you mean '{suggestion}'?"
        props = {"file": self.workspace_path(file) if file else None, "line": line, "col": column, "title": title}
        self._write(_command("error", message, props) + "\n")

    def workspace_path(self, file: str) -> str:
        """``file`` relative to ``$GITHUB_WORKSPACE`` in POSIX form (as is when outside it)."""
        path = Path(file)
        absolute = path if path.is_absolute() else Path.cwd() / path
        workspace = self.environ.get("GITHUB_WORKSPACE")
        if workspace:
            try:
                rel = os.path.relpath(os.path.realpath(absolute), os.path.realpath(workspace))
            except ValueError:  # another drive on Windows
                rel = ""
            if rel and rel != os.curdir and not rel.startswith(os.pardir):
                return Path(rel).as_posix()
        return path.as_posix()

    def warning(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        """A warning annotation."""
        self._write(_command("warning", message, {"file": file, "line": line}) + "\n")

    def complete(self, exit_code: int, message: str) -> None:
        """GitHub reads the step's exit code itself; nothing to announce."""
        return None

    def data(self, text: str) -> str:
        """``text`` that the runner will not obey (the runner's documented ``stop-commands``).

        Several lines, one of them a would-be command: wrapped in ``::stop-commands::TOKEN``
        … ``::TOKEN::`` with a fresh random token. One line: a leading ``::`` and any ``##[``
        are broken with a full-width character. Anything else is returned as it is.
        """
        from trainmaster._output import LINE_BREAK, defuse, obeyable

        if not obeyable(text):
            return text
        if not LINE_BREAK.search(text):
            return defuse(text)
        import secrets  # here, as in _file_command: not imported by every command outside GitHub Actions

        token = secrets.token_hex(16)
        while token in text.lower():  # pragma: no cover - 128 random bits
            token = secrets.token_hex(16)
        end = "\n" if text.endswith("\n") else ""
        return f"::stop-commands::{token}\n{text[:len(text) - len(end)]}\n::{token}::{end}"

    def _append_file(self, variable: str, text: str) -> None:
        path = self.environ.get(variable)
        if not path:
            print(f"warning: {variable} is not set; cannot write to it", file=sys.stderr)
            return
        with Path(path).open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(text)


def _file_command(name: str, value: str) -> str:
    import secrets

    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    if delimiter in name or delimiter in value or "\n" in name or "\r" in name:
        raise ValueError(f"unusable output name {name!r}")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _stdout(text: str) -> None:
    from trainmaster._output import ci_command

    ci_command(text)
