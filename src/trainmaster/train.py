"""The train's rules: order between stages and the pre-deployment gates.

Each check returns ``None`` when it passes or a one-line reason when it does
not. :func:`pending_gates` collects every unmet reason; a deploy refuses with
exit 3 when the list is not empty, and ``status`` shows it as ``pending``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from trainmaster.model import parse_time

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import RemoteLedger
    from trainmaster.ledger import SqliteLedger
    from trainmaster.model import Release

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def previous_stage_passed_at(config: Config, env: Environment, release: Release,
                             view: RemoteLedger) -> tuple[str | None, list[str]]:
    """When ``release`` passed the stage before ``env``'s, and the environments it still misses."""
    if env.stage_index == 0:
        return None, []
    stage = config.stages[env.stage_index - 1]
    times = {e.name: view.succeeded(release, e.name) for e in stage.environments}
    done = sorted(t for t in times.values() if t)
    missing = [name for name, t in times.items() if not t]
    if stage.require == "any":
        return (done[0] if done else None), ([] if done else missing)
    return (done[-1] if not missing else None), missing


def check_order(config: Config, env: Environment, release: Release, view: RemoteLedger) -> str | None:
    if env.stage_index == 0:
        return None
    stage = config.stages[env.stage_index - 1]
    passed, missing = previous_stage_passed_at(config, env, release, view)
    if passed:
        return None
    need = "any one of" if stage.require == "any" else "all of"
    names = ", ".join(missing) if len(stage.environments) > 1 else missing[0]
    if len(stage.environments) == 1:
        return f"{release.version} has not succeeded in {names} (the previous stage) yet"
    return f"{release.version} must first succeed in {need} {names} (stage {stage.name!r})"


def approval_counts(env: Environment, release: Release, actor: str) -> bool:
    """Whether ``actor``'s approval counts for ``release`` in ``env`` (:func:`trainmaster.rounds.approval_counts`)."""
    from trainmaster.rounds import approval_counts as counts

    return counts(env, release, actor)[0]


def counted_approvals(env: Environment, release: Release, ledger: SqliteLedger) -> int:
    """The counted approvals of the current round (rejections and revocations applied: :mod:`trainmaster.rounds`)."""
    from trainmaster.rounds import counted, current_round

    return counted(env, release, current_round(ledger, release.id, env.name))


def check_approvals(env: Environment, release: Release, ledger: SqliteLedger) -> str | None:
    from trainmaster.rounds import counted, current_round, required

    rnd = current_round(ledger, release.id, env.name)
    need = required(env, rnd)
    if need <= 0:
        return None
    have = counted(env, release, rnd)
    if have >= need:
        return None
    allowed = set(env.approvals.from_) if env.approvals else set()
    who = f" from {', '.join(sorted(allowed))}" if allowed else ""
    run = f"run `trainmaster approve {release.version} --env {env.name}`"
    if rnd.rejection is not None:
        why = f": {rnd.rejection.comment}" if rnd.rejection.comment else ""
        return (f"{release.version} was rejected in {env.name} by {rnd.rejection.actor} at {rnd.rejection.at}{why}; "
                f"a new round needs {need} approval(s){who} given after the rejection, has {have}: {run}")
    return f"needs {need} approval(s){who} for {release.version} in {env.name}, has {have}: {run}"


def _zone(tz: str) -> dt.tzinfo:
    """UTC needs no time-zone database (minimal containers and Windows runners have none)."""
    if tz.upper() in ("UTC", "Z", "ETC/UTC"):
        return dt.UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except ZoneInfoNotFoundError:
        from trainmaster.errors import InvalidInput

        raise InvalidInput(f"time zone {tz!r} is unknown on this machine (install the tzdata package)") from None


def _in_window(now: dt.datetime, days: tuple[int, ...], start: int, end: int, tz: str) -> bool:
    local = now.astimezone(_zone(tz))
    minute = local.hour * 60 + local.minute
    return local.weekday() in days and start <= minute < end


def check_windows(env: Environment, now: dt.datetime) -> str | None:
    if env.windows and not any(_in_window(now, w.days, w.start_minute, w.end_minute, w.timezone)
                               for w in env.windows):
        spans = "; ".join(
            f"{','.join(DAY_NAMES[d] for d in w.days)} {w.start_minute // 60:02d}:{w.start_minute % 60:02d}-"
            f"{w.end_minute // 60:02d}:{w.end_minute % 60:02d} {w.timezone}" for w in env.windows)
        return f"{env.name} is outside its deployment windows ({spans})"
    return None


def check_freeze(env: Environment, now: dt.datetime) -> str | None:
    for freeze in env.freeze:
        if freeze.start <= now < freeze.end:
            return f"{env.name} is frozen from {freeze.start.isoformat()} to {freeze.end.isoformat()}"
    return None


def check_soak(config: Config, env: Environment, release: Release, view: RemoteLedger,
               now: dt.datetime) -> str | None:
    if not env.soak or env.stage_index == 0:
        return None
    passed, _ = previous_stage_passed_at(config, env, release, view)
    if not passed:
        return None  # the order check reports this
    soaked = (now - parse_time(passed)).total_seconds()
    if soaked >= env.soak:
        return None
    left = env.soak - soaked
    return (f"{release.version} must soak {_human(env.soak)} in the previous stage before {env.name}; "
            f"{_human(left)} to go")


def _human(seconds: float) -> str:
    seconds = int(round(seconds))
    parts: list[str] = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def pending_gates(config: Config, env: Environment, release: Release, view: RemoteLedger,
                  ledger: SqliteLedger, now: dt.datetime | None = None) -> list[str]:
    """Every pre-deployment gate ``release`` does not yet meet for ``env``."""
    now = now or dt.datetime.now(dt.UTC)
    enforced = getattr(view, "approvals_enforced_remotely", None)
    from trainmaster.signoff import check_signoffs

    checks = (
        check_order(config, env, release, view),
        check_signoffs(config, env, release, view, ledger),
        None if enforced is not None and enforced(env) else check_approvals(env, release, ledger),
        check_soak(config, env, release, view, now),
        check_windows(env, now),
        check_freeze(env, now),
    )
    return [reason for reason in checks if reason]
