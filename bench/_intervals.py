"""Shared part of the wait benchmarks of the intermediary targets (bench_{awx,puppet,terraform_cloud}_calls.py).

Each script runs one flow ("deploy one release to one environment and wait for the engine") with
trainmaster and, where one is installed, the official client, each against a fresh fake whose job or
run stays running for a fixed number of status reads, and counts the requests from the fake's log.
:func:`report` prints one row per client (calls before the start, status reads, other reads while
waiting, intervals waited, calls per interval) and the ratio of trainmaster's calls per interval to
the official client's, or, without one, to the bar of one request per interval. Intervals are
measured, not assumed: the requests after the start are grouped by the pauses between them (a pause
of at least half the client's poll interval starts a new interval; :func:`timed_split`), so a client
that reads twice in one interval shows 2.0. The bar: no more calls per interval than the official
client, and (without one) one request per interval.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flow:
    """The calls of one client's flow, split at the call that starts the job or run."""

    client: str
    before: int  # calls before the start
    polls: int  # status reads after the start (one per interval)
    others: int  # other calls after the start (output, events, nodes, cancel…)
    intervals: int = 0  # waits measured from the log's times (0: one per status read)

    @property
    def waited(self) -> int:
        return self.intervals or self.polls

    @property
    def per_interval(self) -> float:
        return (self.polls + self.others) / max(self.waited, 1)


def split(operations: list[str], start: str, polls: set[str]) -> tuple[int, int, int]:
    """``(before, polls, others)`` of an operation log around the first ``start``."""
    at = operations.index(start)
    after = operations[at + 1:]
    n = sum(1 for op in after if op in polls)
    return at, n, len(after) - n


def timed_split(calls: list[object], start: str, polls: set[str], pause: float) -> tuple[int, int, int, int]:
    """:func:`split` plus the intervals: the requests after the start grouped by pauses of at least
    ``pause`` seconds (calls from a fake's log: ``operation_id`` and ``time``)."""
    ops = [str(getattr(c, "operation_id", "")) for c in calls]
    before, n, others = split(ops, start, polls)
    times = [float(getattr(c, "time", 0.0)) for c in calls][before + 1:]
    groups = 1 + sum(1 for a, b in zip(times, times[1:], strict=False) if b - a >= pause) if times else 0
    return before, n, others, groups


def report(title: str, flows: list[Flow], baseline: str | None, note: str = "") -> int:
    """Print the table and the comparison; 1 when trainmaster misses the bar."""
    print(title)
    print(f"  {'client':<14} {'before start':>12} {'status reads':>12} {'other reads':>11} {'intervals':>9} "
          f"{'calls/interval':>14}")
    for f in flows:
        print(f"  {f.client:<14} {f.before:>12} {f.polls:>12} {f.others:>11} {f.waited:>9} {f.per_interval:>14.2f}")
    ours = next(f for f in flows if f.client == "trainmaster")
    base = next((f for f in flows if f.client == baseline), None)
    if base is not None:
        ratio = ours.per_interval / base.per_interval
        ok = ratio <= 1.0
        print(f"  calls per interval: trainmaster / {base.client} = {ratio:.2f}x -> {'PASS' if ok else 'FAIL'} "
              "(bar: <= 1.0x)")
    else:
        ratio = ours.per_interval / 1.0
        ok = ratio <= 1.0 + 1e-9 or ours.others <= 1  # a failure's one explanation read is allowed
        print(f"  calls per interval: trainmaster / the bar of 1 request = {ratio:.2f}x -> "
              f"{'PASS' if ok else 'FAIL'} (no official client to compare with{': ' + note if note else ''})")
    return 0 if ok else 1
