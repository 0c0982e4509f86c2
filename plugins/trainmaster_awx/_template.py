"""Find the template and refuse one that would silently ignore what trainmaster sends.

AWX drops ``extra_vars`` on launch unless the template asks for variables on launch (or a survey
declares them), and drops ``inventory``/``limit`` unless it prompts for them: the launch answer only
lists them under ``ignored_fields``. So the launch settings are read first (``GET …/launch/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainmaster.errors import InvalidInput
from trainmaster_awx._settings import Settings
from trainmaster_awx.client import AwxClient

__all__ = ["Template", "find_template"]


@dataclass(frozen=True)
class Template:
    kind: str  # job_template | workflow_job_template
    id: int
    name: str

    @property
    def path(self) -> str:
        return f"{self.kind}s/{self.id}/"


def find_template(client: AwxClient, settings: Settings) -> Template:
    """The configured template, by id or by exact name (exit 2 when it does not exist)."""
    kind, ref = settings.template
    label = kind.replace("_", " ")
    if ref.isdigit():
        body = client.get(f"{kind}s/{ref}/", what=f"read the {label} {ref}")
        return Template(kind, int(body["id"]), str(body.get("name") or ref))
    rows = client.first_page(f"{kind}s/", {"name": ref, "page_size": 2}, what=f"find the {label} {ref!r}")
    if not rows:
        raise InvalidInput(f"the AWX controller at {client.server} has no {label} named {ref!r}: check "
                           f"awx.{kind} (a name or an id), and that the token's user can see it")
    return Template(kind, int(rows[0]["id"]), ref)


def check_launch(client: AwxClient, settings: Settings, template: Template, variables: list[str]) -> None:
    """Exit 2 when the template would ignore the manifest, the variables, the inventory or the limit."""
    info: dict[str, Any] = client.get(template.path + "launch/", what=f"read the launch settings of {template.name}")
    label = f"the {template.kind.replace('_', ' ')} {template.name!r} (id {template.id})"
    if not info.get("ask_variables_on_launch"):
        wanted = ["trainmaster", *variables]
        declared = _survey_variables(client, template) if info.get("survey_enabled") else set()
        missing = [v for v in wanted if v not in declared]
        if missing:
            raise InvalidInput(f"{label} does not accept variables on launch, so AWX would silently ignore the "
                               f"release manifest (extra_vars {', '.join(missing)}): enable 'Prompt on launch' "
                               f"for Variables (ask_variables_on_launch) on the template")
    for key, ask in (("inventory", "ask_inventory_on_launch"), ("limit", "ask_limit_on_launch")):
        if settings.get(key) is not None and not info.get(ask):
            raise InvalidInput(f"{label} does not prompt for {key} on launch, so AWX would ignore awx.{key}: "
                               f"enable 'Prompt on launch' for {key.capitalize()} ({ask}) or remove awx.{key}")
    if info.get("variables_needed_to_start") or info.get("passwords_needed_to_start"):
        needed = [*(info.get("variables_needed_to_start") or []), *(info.get("passwords_needed_to_start") or [])]
        raise InvalidInput(f"{label} needs input no deployment can give ({', '.join(map(str, needed))}): "
                           "give the survey answers defaults and store passwords in credentials")


def _survey_variables(client: AwxClient, template: Template) -> set[str]:
    spec = client.get(template.path + "survey_spec/", what=f"read the survey of {template.name}") or {}
    return {str(q.get("variable")) for q in spec.get("spec") or [] if q.get("variable")}
