"""Sign-off after a deployment (user acceptance).

``signoff: {count, from: [names], allow_self}`` on an environment means a release may
leave that environment's stage only once ``count`` people signed it off there
(``trainmaster signoff VERSION --env ENV``). The rules are the approvals' rules: the
release's creator does not count unless ``allow_self``, only names in ``from`` count when
it is given, each person counts once, and whether a sign-off counts is decided by the
config in force (not the one at signing). A sign-off needs the release to have succeeded
in that environment, is recorded and audited, and can be revoked (``--revoke``); a
revoked sign-off no longer counts.

:func:`check_signoffs` is the train's order gate for it (see :func:`trainmaster.train.pending_gates`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.config.model import Signoff as SignoffRule
    from trainmaster.duty_records import Signoff
    from trainmaster.interfaces import RemoteLedger
    from trainmaster.ledger import SqliteLedger
    from trainmaster.model import Release


def signoff_counts(rule: SignoffRule, creator: str | None, actor: str) -> bool:
    """Whether ``actor``'s sign-off counts for a release created by ``creator``."""
    if actor == creator and not rule.allow_self:
        return False
    return not rule.from_ or actor in rule.from_


def count_signoffs(rule: SignoffRule, creator: str | None, signoffs: Iterable[Signoff]) -> int:
    """Distinct people whose unrevoked sign-off counts."""
    return len({s.actor for s in signoffs if s.revoked_at is None and signoff_counts(rule, creator, s.actor)})


def missing_signoff(env: Environment, release: Release, ledger: SqliteLedger) -> str | None:
    """Why ``release`` may not leave ``env`` yet (``None``: signed off, or no sign-off needed)."""
    rule = env.signoff
    if rule is None:
        return None
    from trainmaster.duty_records import signoffs

    have = count_signoffs(rule, release.created_by, signoffs(ledger, release.id, env.name))
    if have >= rule.count:
        return None
    who = f" from {', '.join(sorted(set(rule.from_)))}" if rule.from_ else ""
    return (f"{release.version} needs {rule.count} sign-off(s){who} in {env.name} before it may leave it, has {have}: "
            f"run `trainmaster signoff {release.version} --env {env.name}`")


def check_signoffs(config: Config, env: Environment, release: Release, view: RemoteLedger,
                   ledger: SqliteLedger) -> str | None:
    """The order gate: every environment of the previous stage that needs a sign-off has it.

    With ``require: any``, one environment where the release succeeded and needs no
    sign-off (or has it) is enough.
    """
    if env.stage_index == 0:
        return None
    stage = config.stages[env.stage_index - 1]
    if not any(e.signoff for e in stage.environments):
        return None
    reasons = [(e, missing_signoff(e, release, ledger)) for e in stage.environments
               if view.succeeded(release, e.name)]
    if stage.require == "any" and len(stage.environments) > 1:
        if not reasons or any(reason is None for _, reason in reasons):
            return None
        return reasons[0][1]
    missing = [reason for _, reason in reasons if reason]
    return "; ".join(missing) if missing else None
