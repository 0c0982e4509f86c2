"""Shared part of the call-budget benchmarks (``bench_calls_<adapter>.py``, issue 11).

What each adapter's script does with it:

1. start its fake as a separate process (:class:`FakeProcess`, the ``python -m tests.fakes.<service>``
   mode; the call log is read over the ``/_fake/`` admin API);
2. seed a history of *h* releases through the real CLI (:meth:`Cli.run` for every step of
   :func:`seed`), e.g. each release created, deployed to dev and promoted to test;
3. run each user-level command once and count its requests from the fake's log (:func:`measure`);
4. print the table ``command | h=5 | h=200 | floor | budget | verdict`` with :func:`report`, which
   returns 1 when a command exceeds ``floor + 2`` (polls excluded), grows with history where its
   :class:`Budget` says the API has a filtered lookup (``flat=True``), or reads the same thing twice
   within one command with no write in between (not a poll).

The CLI runs in a child forked from a parent that imported trainmaster, the adapters and requests
once: each command is a fresh process as far as trainmaster is concerned (nothing is cached between
commands: the parent never runs one), without paying the interpreter's start and imports 600 times
for a history of 200. ``Cli(..., fork=False)`` runs ``python -m trainmaster`` instead. Linux/macOS.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT / "plugins"), str(ROOT / "src"), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from tests.support.call_log import repeated_reads  # noqa: E402

SLACK = 2  # the budget is floor + SLACK calls (issue 11)
SIZES = (5, 200)  # previous releases in the history


@dataclass(frozen=True)
class Budget:
    """One user-level command: the fewest calls the vendor API allows for its end state, and why."""

    command: str
    floor: int
    reason: str
    flat: bool = True  # the API has an indexed/filtered lookup: the count must not grow with history
    slack: int = SLACK
    per_hundred: int = 0  # the floor grows by this for every full 100 previous releases (one more page)

    @property
    def budget(self) -> int:
        return self.floor + self.slack

    def floor_at(self, h: int) -> int:
        return self.floor + self.per_hundred * (h // 100)

    def label(self, what: str = "floor") -> str:
        base = self.floor if what == "floor" else self.budget
        return f"{base} +{self.per_hundred}/100h" if self.per_hundred else str(base)


@dataclass
class Count:
    """The requests of one command, from the fake's call log."""

    calls: int  # polls excluded
    polls: int
    ops: dict[str, int]
    duplicates: dict[str, int] = field(default_factory=dict)  # "GET /path?q" -> read again (no write between)

    def breakdown(self) -> str:
        return ", ".join(f"{op} {n}" for op, n in sorted(self.ops.items(), key=lambda kv: (-kv[1], kv[0])))


def duplicates(calls: Iterable[Mapping[str, Any]], is_poll: Callable[[Mapping[str, Any]], bool] = lambda c: False
               ) -> dict[str, int]:
    """Reads sent again with no write in between (polls excluded): ``{"GET /path?q": extra times}``
    (tests/support/call_log.py, shared with the end-to-end tests)."""
    return repeated_reads(calls, is_poll)


def tally(calls: Sequence[Mapping[str, Any]], is_poll: Callable[[Mapping[str, Any]], bool] = lambda c: False
          ) -> Count:
    """Count ``calls`` (the fake's log of one command): polls apart, per operation, duplicates."""
    polls = [c for c in calls if is_poll(c)]
    rest = [c for c in calls if not is_poll(c)]
    ops = collections.Counter(c.get("operation_id") or f"{c['method']} {c['path']}" for c in rest)
    return Count(len(rest), len(polls), dict(ops), duplicates(calls, is_poll))


class FakeProcess:
    """A fake run as its own process (``python -m tests.fakes.<service> --port 0 ARGS``)."""

    def __init__(self, service: str, *args: str) -> None:
        self.service, self.args = service, args

    def __enter__(self) -> FakeProcess:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")])}
        self.proc = subprocess.Popen([sys.executable, "-m", f"tests.fakes.{self.service}", "--port", "0", *self.args],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().split()
        if not ready or ready[0] != "READY":
            self.proc.kill()
            raise SystemExit(f"the {self.service} fake did not start: {ready}")
        self.url = ready[2]
        self.origin = "http://127.0.0.1:" + ready[3].split("=", 1)[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def admin(self, method: str, name: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.origin}/_fake/{name}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def calls(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "calls"))

    def violations(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "violations"))

    def reset(self) -> None:
        """Clear the call log (after checking that nothing so far broke the contract)."""
        self.check()
        self.admin("POST", "reset")

    def check(self) -> None:
        bad = self.violations()
        if bad:
            raise SystemExit(f"contract violations on the {self.service} fake: {bad}")

    def drive(self, driver: str, **kwargs: Any) -> Any:
        return self.admin("POST", f"drive/{driver}", kwargs)


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """The real ``trainmaster`` command line in ``root`` with exactly ``env`` as its environment."""

    def __init__(self, root: Path, env: Mapping[str, str], *, fork: bool = True,
                 preload: Sequence[str] = ("trainmaster.cli", "requests")) -> None:
        self.root, self.env, self.fork = root, dict(env), fork and hasattr(os, "fork")
        if self.fork:
            for name in preload:
                importlib.import_module(name)

    def run(self, *argv: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            check: bool = True) -> Result:
        full_env = {**self.env, **(env or {})}
        where = cwd or self.root
        result = self._fork(argv, full_env, where) if self.fork else self._spawn(argv, full_env, where)
        if check and result.code != 0:
            raise SystemExit(f"trainmaster {' '.join(argv)} exited {result.code}\n{result.out}\n{result.err}")
        return result

    def _spawn(self, argv: Sequence[str], env: dict[str, str], cwd: Path) -> Result:
        proc = subprocess.run([sys.executable, "-m", "trainmaster", *argv], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def _fork(self, argv: Sequence[str], env: dict[str, str], cwd: Path) -> Result:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child: a fresh trainmaster process, minus the imports
                code = 70
                try:
                    os.dup2(out.fileno(), 1)
                    os.dup2(err.fileno(), 2)
                    os.chdir(cwd)
                    os.environ.clear()
                    os.environ.update(env)
                    from trainmaster.cli import main

                    try:
                        main(list(argv))
                        code = 0
                    except SystemExit as exc:
                        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            err.seek(0)
            return Result(os.waitstatus_to_exitcode(status), out.read().decode(errors="replace"),
                          err.read().decode(errors="replace"))


def seed(cli: Cli, h: int, steps: Callable[[int], Iterable[Sequence[str]]], *, progress: bool = True) -> None:
    """Build a history of ``h`` releases: for i in 0..h-1, run every argv of ``steps(i)`` (must succeed)."""
    for i in range(h):
        for argv in steps(i):
            cli.run(*argv)
        if progress and (i + 1) % 50 == 0:
            print(f"  seeded {i + 1}/{h}", file=sys.stderr, flush=True)


def measure(fake: FakeProcess, action: Callable[[], object],
            is_poll: Callable[[Mapping[str, Any]], bool] = lambda c: False) -> Count:
    """Run ``action`` (one user-level command) on a cleared call log and count its requests."""
    fake.reset()
    action()
    calls = fake.calls()
    fake.check()
    return tally(calls, is_poll)


def verdict(budget: Budget, counts: Mapping[int, Count]) -> tuple[bool, str]:
    """PASS/FAIL for one command measured at each history size."""
    problems = []
    over = [f"{c.calls} > {budget.floor_at(h) + budget.slack} at h={h}" for h, c in sorted(counts.items())
            if c.calls > budget.floor_at(h) + budget.slack]
    if over:
        problems.append(f"over budget ({'; '.join(over)})")
    sizes = sorted(counts)
    if budget.flat and counts[sizes[-1]].calls > counts[sizes[0]].calls:
        problems.append("grows with history")
    dups = sorted({k for c in counts.values() for k in c.duplicates})
    if dups:
        problems.append(f"{len(dups)} read(s) repeated")
    return (not problems, "PASS" if not problems else "FAIL: " + "; ".join(problems))


def report(title: str, budgets: Sequence[Budget], results: Mapping[int, Mapping[str, Count]],
           *, details: bool = True) -> int:
    """Print the table (and each command's operations and the floor's reason); 1 if any command fails."""
    sizes = sorted(results)
    print(f"== {title}")
    head = ["command", *(f"h={h}" for h in sizes), "floor", "budget", "verdict"]
    rows = []
    failed = False
    for b in budgets:
        counts = {h: results[h][b.command] for h in sizes if b.command in results[h]}
        ok, text = verdict(b, counts)
        failed |= not ok
        cells = [f"{counts[h].calls}" + (f" (+{counts[h].polls} polls)" if counts[h].polls else "")
                 if h in counts else "-" for h in sizes]
        rows.append([b.command, *cells, b.label("floor"), b.label("budget"), text])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    if details:
        print()
        for b in budgets:
            print(f"{b.command}: floor {b.label()}: {b.reason}")
            for h in sizes:
                c = results[h].get(b.command)
                if c is not None:
                    print(f"    h={h}: {c.breakdown()}")
                    for key, n in sorted(c.duplicates.items()):
                        print(f"      read again: {key} +{n}")
    print("PASS" if not failed else "FAIL")
    return 1 if failed else 0


def main_for(system: str, scenario: Callable[[int, Path], Mapping[str, Count]], budgets: Sequence[Budget],
             doc: str | None) -> None:
    """The command line of a per-adapter call benchmark: ``--history 5,200``, a scenario per size, the report."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--history", default="5,200")
    sizes = [int(x) for x in parser.parse_args().history.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        results = {h: scenario(h, Path(tmp)) for h in sizes}
    sys.exit(report(f"{system}: HTTP calls per command, h = {' / '.join(map(str, sizes))} previous releases",
                    budgets, results, details=True))
