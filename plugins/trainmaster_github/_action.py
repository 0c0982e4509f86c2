"""The GitHub Action's entry point: validate inputs, run one trainmaster command, write the summary.

action.yml passes every input through ``env:`` (``TRAINMASTER_INPUT_*``) and runs
``python -m trainmaster_github._action``. Inputs are validated here, because the
runner does not enforce ``required: true``; each problem is one ``::error::``
line naming the input to fix, and exit code 2. The command itself runs as
``python -m trainmaster`` with an argument list (never a shell string), so its
exit code is the step's. action.yml ``exec``s this module, so when the runner
cancels the job its SIGINT/SIGTERM reach this process, which forwards them to
the CLI (the core turns them into a cancelled deployment) and waits for it.
The ``status`` output is always written: the deployment's status when the
command wrote one, else one word for the exit code (:data:`EXIT_STATUS`).
Afterwards the job summary gets a table of the environments and a Mermaid
diagram of the train (from ``status --json``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from trainmaster.status import EnvironmentStatus
from trainmaster.summary import render
from trainmaster_github.context import GitHubActionsContext

COMMANDS = ("release-create", "deploy", "promote", "approve", "rollback", "status")
_NEEDS: dict[str, tuple[str, ...]] = {
    "release-create": ("version",),
    "deploy": ("version", "environment"),
    "promote": ("from", "environment"),
    "approve": ("version", "environment"),
    "rollback": ("environment",),
    "status": (),
}
_SAFE = re.compile(r"^[^\x00-\x1f]*$")
EXIT_STATUS = {0: "done", 1: "failed", 2: "invalid", 3: "refused", 4: "conflict", 5: "unavailable", 130: "cancelled"}
"""The ``status`` output when the command wrote none (it did not get to deploy), by exit code."""


class InputError(Exception):
    """An invalid action input; the message names the input and the fix."""


def read_inputs(environ: Mapping[str, str]) -> dict[str, str]:
    """The action's inputs from ``TRAINMASTER_INPUT_*``, stripped."""
    names = ("command", "version", "environment", "from", "config", "working-directory")
    return {n: environ.get("TRAINMASTER_INPUT_" + n.upper().replace("-", "_"), "").strip() for n in names}


def build_argv(inputs: Mapping[str, str]) -> list[str]:
    """The trainmaster argument list for the inputs; raises :class:`InputError`."""
    command = inputs.get("command", "")
    if command not in COMMANDS:
        raise InputError(f"input 'command' is {command!r}; expected one of: {', '.join(COMMANDS)}")
    for name, value in inputs.items():
        if not _SAFE.match(value):
            raise InputError(f"input '{name}' holds a line break or control character; give a single line")
    missing = [n for n in _NEEDS[command] if not inputs.get(n)]
    if missing:
        raise InputError(f"command '{command}' needs the input(s) {', '.join(repr(m) for m in missing)}")
    for name in ("version", "environment", "from"):
        value = inputs.get(name, "")
        if value.startswith("-"):
            raise InputError(f"input '{name}' must not start with '-' (got {value!r})")
    argv = ["--config", inputs["config"]] if inputs.get("config") else []
    version, env, source = inputs.get("version", ""), inputs.get("environment", ""), inputs.get("from", "")
    if command == "release-create":
        argv += ["release", "create", version]
    elif command == "deploy":
        argv += ["deploy", version, "--to", env]
    elif command == "promote":
        argv += ["promote", "--from", source, "--to", env]
    elif command == "approve":
        argv += ["approve", version, "--env", env]
    elif command == "rollback":
        argv += ["rollback", "--env", env] + (["--to", version] if version else [])
    else:
        argv += ["status"]
    return argv


def read_outputs(path: str | None) -> dict[str, str]:
    """Parse what was written to ``$GITHUB_OUTPUT`` (``name<<DELIM`` blocks and ``name=value`` lines)."""
    if not path or not Path(path).is_file():
        return {}
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line:
            name, delim = line.split("<<", 1)
            j = i + 1
            while j < len(lines) and lines[j] != delim:
                j += 1
            out[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def run_forwarding_signals(cmd: list[str]) -> int:
    """Run ``cmd`` in its own process group, forward SIGINT/SIGTERM to it, return its exit code.

    The child has its own group so that a signal sent to this process's group does not reach it
    twice; it gets each signal exactly once, from here, and this process waits for it to finish.
    A signal that arrives before the child has started is delivered right after it starts.
    """
    procs: list[subprocess.Popen[bytes]] = []
    early: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if not procs:
            early.append(signum)
        elif procs[0].poll() is None:
            procs[0].send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        procs.append(subprocess.Popen(cmd, process_group=0) if os.name != "nt" else subprocess.Popen(cmd))
        for signum in early:
            procs[0].send_signal(signum)
        return procs[0].wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _trainmaster(argv: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "trainmaster", *argv]
    return subprocess.run(
        cmd,
        check=False,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )


def write_summary(ctx: GitHubActionsContext, inputs: Mapping[str, str], code: int) -> None:
    """Append the environments table and the train diagram to the job summary.

    After exit 2 (invalid input, bad token) or 5 (GitHub unavailable) the table is left out: asking
    again would fail the same way, after the same retries.
    """
    stdout, failed = "", True
    if code not in (2, 5):
        status = _trainmaster(
            (["--config", inputs["config"]] if inputs.get("config") else []) + ["status", "--json"],
            capture=True,
        )
        stdout, failed = status.stdout or "", status.returncode != 0
    # Workflow commands (::add-mask::, ::warning::) share stdout with the JSON document.
    text = "\n".join(line for line in stdout.splitlines() if not line.startswith("::"))
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {}
    rows = [EnvironmentStatus.from_json(e) for e in data.get("environments", []) if isinstance(e, dict)]
    outputs = read_outputs(ctx.environ.get("GITHUB_OUTPUT"))
    version = outputs.get("version") or inputs.get("version") or None
    result = outputs.get("status") or ("failed" if code else "done")
    env = inputs.get("environment") or None
    headline = f"{inputs['command']}" + (f" {version}" if version else "") + (f" to {env}" if env else "")
    headline += f": {result}" + (f" (exit {code})" if code else "")
    if not rows and failed:
        headline += " — the environment table is unavailable (`trainmaster status` failed)"
    project = str(data.get("project") or _project(inputs) or os.environ.get("GITHUB_REPOSITORY", "release"))
    ctx.summary(
        render(
            rows,
            project=project,
            version=version,
            release_id=outputs.get("release-id"),
            current=env if inputs["command"] != "status" else None,
            headline=headline,
            links=[("GitHub release", outputs.get("release-url")), ("workflow run", ctx.run_url())],
        )
    )


def _project(inputs: Mapping[str, str]) -> str | None:
    """The config's ``project`` (for the summary's title), or None."""
    import yaml

    path = Path(inputs.get("config") or os.environ.get("TRAINMASTER_CONFIG") or "trainmaster.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return str(data["project"]) if isinstance(data, dict) and data.get("project") else None


def _status_output(ctx: GitHubActionsContext, code: int) -> None:
    """Write ``status`` when the command did not (it was refused or failed before deploying)."""
    path = ctx.environ.get("GITHUB_OUTPUT")
    if path and "status" not in read_outputs(path):
        ctx.set_output("status", EXIT_STATUS.get(code, "failed"))


def _size(path: str | None) -> int:
    try:
        return Path(path).stat().st_size if path else 0
    except OSError:
        return 0


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    ctx = GitHubActionsContext(environ)
    inputs = read_inputs(environ)
    try:
        argv = build_argv(inputs)
        workdir = inputs.get("working-directory") or "."
        if not Path(workdir).is_dir():
            raise InputError(
                f"input 'working-directory' is {workdir!r}, which is not a directory "
                "(it is relative to the repository checkout)"
            )
        os.chdir(workdir)
        if inputs.get("config") and not Path(inputs["config"]).is_file():
            raise InputError(f"input 'config' is {inputs['config']!r}, which is not a file in {workdir!r}")
        if not environ.get("GITHUB_TOKEN", "").strip() and not environ.get("GH_TOKEN", "").strip():
            raise InputError("input 'github-token' is empty; pass a token (the default is github.token)")
    except InputError as exc:
        ctx.error(str(exc), title="trainmaster action input")
        _status_output(ctx, 2)
        return 2
    print(f"trainmaster {' '.join(argv)}", flush=True)
    before = _size(environ.get("GITHUB_STEP_SUMMARY"))
    code = run_forwarding_signals([sys.executable, "-m", "trainmaster", *argv])
    if code < 0:  # killed by a signal: report it as the shell would
        code = 128 - code
    _status_output(ctx, code)
    if code == 130 or _size(environ.get("GITHUB_STEP_SUMMARY")) > before:
        return code  # cancelled (the runner is about to stop the job), or the command wrote the summary
    try:
        write_summary(ctx, inputs, code)
    except Exception as exc:  # the summary must never hide the command's own outcome
        ctx.warning(f"could not write the job summary: {type(exc).__name__}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
