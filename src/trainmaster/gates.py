"""The gates of one release in one environment, as data: met or pending, and what is left.

:func:`trainmaster.train.pending_gates` decides (a deploy refuses while any reason is
left); this module describes the same gates for people: who may still approve, when
the next window opens, how long a soak has left, and, once a deployment passed them,
the gates it met (kept on its ledger row for ``deployment show``). It reads only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainmaster.model import parse_time, timestamp
from trainmaster.train import (
    DAY_NAMES,
    _human,
    _zone,
    approval_counts,
    check_freeze,
    check_windows,
    previous_stage_passed_at,
)

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment, Window
    from trainmaster.interfaces import RemoteLedger
    from trainmaster.ledger import SqliteLedger
    from trainmaster.model import Release

__all__ = ["Gate", "describe_gates", "gates_met", "next_opening"]


@dataclass(frozen=True)
class Gate:
    """One gate: ``kind`` is ``order``, ``approvals``, ``soak``, ``window`` or ``freeze``.

    ``detail`` is one line for people. ``may_approve`` (approvals) lists who may still
    give an approval that counts (empty with no ``from`` list: anyone but the release's
    creator). ``until`` is when the gate opens by itself (a window opens, a soak or a freeze
    ends); ``left`` the seconds until then.
    """

    kind: str
    met: bool
    detail: str
    may_approve: tuple[str, ...] = ()
    until: str | None = None
    left: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "met": self.met, "detail": self.detail, "may_approve": list(self.may_approve),
                "until": self.until, "left_seconds": None if self.left is None else round(self.left)}


def next_opening(windows: tuple[Window, ...], now: dt.datetime) -> dt.datetime | None:
    """The next time one of ``windows`` opens after ``now`` (None when there are none)."""
    best: dt.datetime | None = None
    for w in windows:
        local = now.astimezone(_zone(w.timezone))
        for offset in range(8):
            day = (local + dt.timedelta(days=offset)).date()
            if day.weekday() not in w.days:
                continue
            start = dt.datetime.combine(day, dt.time(w.start_minute // 60, w.start_minute % 60), local.tzinfo)
            if start > now and (best is None or start < best):
                best = start
                break
    return best.astimezone(dt.UTC) if best else None


def _approvals(env: Environment, release: Release, ledger: SqliteLedger) -> Gate | None:
    """The approvals gate of the current round: revocations and rejections applied, as the deploy decides."""
    from trainmaster.rounds import current_round, may_still_approve, required

    rnd = current_round(ledger, release.id, env.name)
    need = required(env, rnd)
    if need <= 0:
        return None
    counted = [a.actor for a in rnd.current if approval_counts(env, release, a.actor)]
    if len(counted) >= need:
        return Gate("approvals", True, f"{len(counted)}/{need} approval(s): {', '.join(counted)}")
    creator = release.created_by if not env.allow_self_approval else ""
    allowed = may_still_approve(env, release, rnd)
    if allowed is not None:
        who = tuple(allowed)
        names = ", ".join(who) or "nobody left"
    else:
        who, names = (), f"anyone but {creator}" if creator else "anyone"
    rejected = f"; rejected by {rnd.rejection.actor}, a new round" if rnd.rejection is not None else ""
    return Gate("approvals", False, f"{len(counted)}/{need} approval(s){rejected}; may approve: {names}",
                may_approve=who)


def describe_gates(config: Config, env: Environment, release: Release, view: RemoteLedger,
                   ledger: SqliteLedger, now: dt.datetime | None = None) -> list[Gate]:
    """Every gate configured for ``env``, met or not, for ``release`` at ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    gates: list[Gate] = []
    passed: str | None = None
    if env.stage_index > 0:
        stage = config.stages[env.stage_index - 1]
        passed, missing = previous_stage_passed_at(config, env, release, view)
        gates.append(Gate("order", True, f"succeeded in stage {stage.name!r} at {passed}") if passed
                     else Gate("order", False, f"not yet succeeded in {', '.join(missing)}"))
    enforced = getattr(view, "approvals_enforced_remotely", None)
    approvals = None if enforced is not None and enforced(env) else _approvals(env, release, ledger)
    if approvals:
        gates.append(approvals)
    if env.soak and env.stage_index > 0:
        if passed is None:
            gates.append(Gate("soak", False, f"soak {_human(env.soak)} after the previous stage"))
        else:
            soaked = parse_time(passed) + dt.timedelta(seconds=env.soak)
            left = (soaked - now).total_seconds()
            gates.append(Gate("soak", True, f"soaked {_human(env.soak)}") if left <= 0 else
                         Gate("soak", False, f"soak {_human(left)} left", until=timestamp(soaked), left=left))
    if env.windows:
        outside = check_windows(env, now)
        opens = next_opening(env.windows, now) if outside else None
        spans = "; ".join(f"{','.join(DAY_NAMES[d] for d in w.days)} {w.start_minute // 60:02d}:"
                          f"{w.start_minute % 60:02d}-{w.end_minute // 60:02d}:{w.end_minute % 60:02d} "
                          f"{w.timezone}" for w in env.windows)
        gates.append(Gate("window", True, f"inside its window ({spans})") if not outside else
                     Gate("window", False, f"window opens {timestamp(opens) if opens else 'never'} ({spans})",
                          until=timestamp(opens) if opens else None,
                          left=(opens - now).total_seconds() if opens else None))
    if env.freeze:
        frozen = check_freeze(env, now)
        end: dt.datetime | None = next((f.end for f in env.freeze if f.start <= now < f.end), None)
        gates.append(Gate("freeze", True, "not frozen") if not frozen else
                     Gate("freeze", False, f"frozen until {timestamp(end)}", until=timestamp(end) if end else None,
                          left=(end - now).total_seconds() if end else None))
    return gates


def gates_met(config: Config, env: Environment, release: Release, view: RemoteLedger, ledger: SqliteLedger,
              now: dt.datetime | None = None) -> list[str]:
    """The gates a deployment passes, one line each (``order: …``), kept on its ledger row."""
    return [f"{g.kind}: {g.detail}" for g in describe_gates(config, env, release, view, ledger, now) if g.met]
