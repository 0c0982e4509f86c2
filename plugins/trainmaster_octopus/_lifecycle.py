"""Does the trainmaster train fit the Octopus lifecycle? (``trainmaster validate``)

Octopus deploys a release to an environment only when that environment is in a
phase of the channel's lifecycle (the project's when the channel has none) and
every earlier required phase is complete (``MinimumEnvironmentsBeforePromotion``
environments, or all of them when that is 0). The train must therefore reach
each phase's environments in an order Octopus accepts; anything else fails with
exit 2 before anything is deployed. A phase that deploys automatically is also
refused: trainmaster drives deployments, and Octopus must not deploy behind the
train's back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainmaster.errors import InvalidInput
from trainmaster_octopus._settings import Settings

if TYPE_CHECKING:
    from trainmaster.config.model import Config
    from trainmaster_octopus._resources import Octopus

__all__ = ["check_train", "lifecycle_of"]


def lifecycle_of(octo: Octopus, project: dict[str, Any], channel: str | None) -> dict[str, Any]:
    """The lifecycle that governs new releases of ``project`` in ``channel`` (or its default channel)."""
    client = octo.client
    page = client.get(client.space_path(f"projects/{project['Id']}/channels"), {"skip": 0, "take": 1000})
    channels = (page or {}).get("Items") or []
    chosen = None
    for item in channels:
        if (channel and item.get("Name") == channel) or (not channel and item.get("IsDefault")):
            chosen = item
    if channel and chosen is None:
        names = ", ".join(sorted(str(c.get("Name")) for c in channels)) or "none"
        raise InvalidInput(
            f"Octopus project {project.get('Name')!r} has no channel {channel!r} "
            f"(it has: {names}): fix octopus.channel"
        )
    lifecycle_id = (chosen or {}).get("LifecycleId") or project.get("LifecycleId")
    if not lifecycle_id:
        raise InvalidInput(f"Octopus project {project.get('Name')!r} has no lifecycle: assign one in Octopus")
    return dict(client.get(client.space_path(f"lifecycles/{lifecycle_id}")) or {})


def check_train(octo: Octopus, config: Config, project_name: str, channel: str | None) -> None:
    """Raise :class:`InvalidInput` (exit 2) when the train would deploy in an order Octopus refuses."""
    project = octo.project(project_name)
    lifecycle = lifecycle_of(octo, project, channel)
    phases = lifecycle.get("Phases") or []
    env_page = octo.client.get(octo.client.space_path("environments/all"))
    env_items = env_page if isinstance(env_page, list) else (env_page or {}).get("Items") or []
    by_name = {str(e.get("Name")): str(e.get("Id")) for e in env_items}
    lname = lifecycle.get("Name") or lifecycle.get("Id")
    train: list[tuple[int, str, str, str]] = []  # (stage index, trainmaster env, octopus env, octopus env id)
    for env in config.environments:
        if env.target != "octopus":
            continue
        settings = Settings.resolve(config, env)
        if project_name not in {settings.project, *(settings.get("projects", {}) or {}).values()}:
            continue
        octo_name = settings.environment_name(env.name)
        if octo_name not in by_name:
            raise InvalidInput(
                f"environment {env.name!r}: Octopus has no environment {octo_name!r}: create it, "
                f"or map it with octopus.environments.{env.name}"
            )
        train.append((env.stage_index, env.name, octo_name, by_name[octo_name]))
    if not phases:
        return  # a lifecycle without phases allows every environment in any order

    def members(phase: dict[str, Any]) -> set[str]:
        return {
            *map(str, phase.get("AutomaticDeploymentTargets") or []),
            *map(str, phase.get("OptionalDeploymentTargets") or []),
        }

    phase_of: dict[str, int] = {}
    for index, phase in enumerate(phases):
        for env_id in members(phase):
            phase_of.setdefault(env_id, index)
    for stage, env_name, octo_name, env_id in train:
        if env_id not in phase_of:
            raise InvalidInput(
                f"environment {env_name!r} (Octopus {octo_name!r}) is missing from lifecycle "
                f"{lname!r} of project {project_name!r}: add it to a phase of that lifecycle, or "
                f"map octopus.environments.{env_name} to an environment that is in it"
            )
        phase = phases[phase_of[env_id]]
        if env_id in {str(x) for x in phase.get("AutomaticDeploymentTargets") or []}:
            raise InvalidInput(
                f"lifecycle {lname!r} deploys automatically to {octo_name!r} (phase "
                f"{phase.get('Name')!r}): trainmaster drives deployments, so make it a manual "
                "(optional) deployment target of that phase"
            )
        for j in range(phase_of[env_id]):
            earlier = phases[j]
            if earlier.get("IsOptionalPhase"):
                continue
            needed_ids = members(earlier)
            minimum = int(earlier.get("MinimumEnvironmentsBeforePromotion") or 0) or len(needed_ids)
            before = {eid for s, _, _, eid in train if s < stage and eid in needed_ids}
            if len(before) < minimum:
                names = sorted(n for n, i in by_name.items() if i in needed_ids)
                raise InvalidInput(
                    f"environment {env_name!r} (Octopus {octo_name!r}, phase {phase.get('Name')!r}) "
                    f"comes before phase {earlier.get('Name')!r} of lifecycle {lname!r} is complete in "
                    f"the train (it needs {minimum} of {', '.join(names)} earlier, the train has "
                    f"{len(before)}): Octopus would refuse the deployment; reorder the train or make "
                    "that phase optional in Octopus"
                )
