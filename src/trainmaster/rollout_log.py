"""The ledger's record of rollouts: one ``rollout_steps`` row per step of a strategy.

A step is an instance deployed (``deploy``, in a slot for blue-green), the live slot
switched (``switch``) or traffic routed (``route``, with its weight). A row is written
``in_progress`` before its command runs and finished after, each change one
transaction with its audit event (``rollout_step_started``, ``rollout_step_finished``)
binding the row to the chain (:mod:`trainmaster.audit`); every read checks the rows it
returns (exit 4 on an edited row). A row still ``in_progress`` whose deployment is no
longer running was cut short by a killed deployer: :meth:`Step.effective_status`
says ``interrupted``, and the instance counts as holding nothing known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainmaster.audit import select_sql

if TYPE_CHECKING:
    from trainmaster.interfaces import Deployment
    from trainmaster.ledger import SqliteLedger

__all__ = ["RolloutLog", "Step"]


@dataclass(frozen=True)
class Step:
    """One row of ``rollout_steps``."""

    id: int
    deployment_id: int
    environment: str
    strategy: str
    action: str  # deploy | switch | route
    instance: str
    slot: str
    batch: int
    weight: int | None
    release_id: str
    version: str
    state: str
    status: str  # in_progress | succeeded | failed
    started_at: str
    finished_at: str | None
    deployment_status: str = ""

    @property
    def effective_status(self) -> str:
        """``interrupted`` for a step left ``in_progress`` by a deployment that is not running any more."""
        if self.status == "in_progress" and self.deployment_status not in ("", "in_progress"):
            return "interrupted"
        return self.status

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "instance": self.instance or None, "slot": self.slot or None,
                "batch": self.batch or None, "weight": self.weight, "version": self.version,
                "release_id": self.release_id, "status": self.effective_status, "deployment": self.deployment_id}


class RolloutLog:
    """Reads and writes ``rollout_steps`` through a :class:`~trainmaster.ledger.SqliteLedger`."""

    def __init__(self, ledger: SqliteLedger) -> None:
        self.ledger = ledger

    def start(self, dep: Deployment, strategy: str, action: str, *, instance: str = "", slot: str = "",
              batch: int = 0, weight: int | None = None, state: str = "") -> Step:
        """Record a step ``in_progress`` (before its command runs)."""
        from trainmaster.ledger import now

        with self.ledger.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO rollout_steps (deployment_id, environment, strategy, action, instance, slot, batch, "
                "weight, release_id, version, state, status, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (dep.id, dep.environment, strategy, action, instance, slot, batch, weight, dep.release_id,
                 dep.version, state, "in_progress", now()))
            step_id = int(cur.lastrowid or 0)
            self.ledger._audit(conn, "rollout_step_started", dep.actor, dep.environment,
                               {"deployment": dep.id, "step": step_id, "action": action, "instance": instance,
                                "slot": slot, "batch": batch, "weight": weight, "version": dep.version},
                               bound=("rollout_steps", step_id))
        return self._one(step_id)

    def finish(self, step: Step, status: str, actor: str) -> Step:
        """Record the outcome (``succeeded`` or ``failed``) of a step."""
        from trainmaster.ledger import now

        with self.ledger.transaction() as conn:
            conn.execute("UPDATE rollout_steps SET status = ?, finished_at = ? WHERE id = ?", (status, now(), step.id))
            self.ledger._audit(conn, "rollout_step_finished", actor, step.environment,
                               {"deployment": step.deployment_id, "step": step.id, "status": status},
                               bound=("rollout_steps", step.id))
        return self._one(step.id)

    def _rows(self, where: str, args: tuple[Any, ...]) -> list[Step]:
        rows = self.ledger.conn.execute(select_sql("rollout_steps", where), args).fetchall()
        statuses: dict[int, str] = {}
        steps = []
        for row in self.ledger._checked("rollout_steps", rows):
            dep_id = row["deployment_id"]
            if dep_id not in statuses:
                dep = self.ledger.get_deployment(dep_id)
                statuses[dep_id] = dep.status if dep is not None else "missing"
            steps.append(Step(**row, deployment_status=statuses[dep_id]))
        return steps

    def _one(self, step_id: int) -> Step:
        return self._rows("WHERE id = ?", (step_id,))[0]

    def of_deployment(self, dep_id: int) -> list[Step]:
        """The steps of one deployment, in order."""
        return self._rows("WHERE deployment_id = ? ORDER BY id", (dep_id,))

    def instances(self, environment: str) -> dict[tuple[str, str], Step]:
        """The latest ``deploy`` step of each (instance, slot) of ``environment``."""
        found = self._rows("WHERE id IN (SELECT MAX(id) FROM rollout_steps WHERE environment = ? AND action = 'deploy' "
                           "GROUP BY instance, slot) ORDER BY id", (environment,))
        return {(s.instance, s.slot): s for s in found}

    def last(self, environment: str, action: str, *, succeeded: bool = False) -> Step | None:
        """The latest ``switch`` or ``route`` step of ``environment`` (only succeeded ones with ``succeeded``)."""
        extra = " AND status = 'succeeded'" if succeeded else ""
        found = self._rows(f"WHERE environment = ? AND action = ?{extra} ORDER BY id DESC LIMIT 1",
                           (environment, action))
        return found[0] if found else None
