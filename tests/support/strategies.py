"""A project whose commands write what they do per instance, for the strategy tests.

``deploy.sh`` writes ``$DEST/<instance>[/<slot>]/VERSION`` and appends ``deploy <instance>
<slot> <version> batch=<n>`` to ``$DEST/events.log``; ``route.sh`` and ``switch.sh`` append
their own lines to the same log, so a test reads the order of everything that ran. A file
``$DEST/fail-<instance>`` makes that instance's smoke fail (for the version written in it, or
any when empty); ``$DEST/fail-check`` makes the check fail; ``$DEST/hang-<name>`` makes the
deploy of that instance (or the route to weight <name>) touch ``$DEST/started-<name>``
and wait, so that a test can kill the deployer.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.project import Project

DEPLOY = """\
set -eu
target="$DEST/$TRAINMASTER_INSTANCE${TRAINMASTER_SLOT:+/$TRAINMASTER_SLOT}"
mkdir -p "$target"
echo "deploy $TRAINMASTER_INSTANCE ${TRAINMASTER_SLOT:--} $TRAINMASTER_VERSION batch=${TRAINMASTER_BATCH:--}" \
  "previous=${TRAINMASTER_PREVIOUS_SLOT:--} port=${PORT:--}" >> "$DEST/events.log"
if [ -e "$DEST/hang-$TRAINMASTER_INSTANCE" ]; then touch "$DEST/started-$TRAINMASTER_INSTANCE"; sleep 30; fi
printf '%s\\n' "$TRAINMASTER_VERSION" > "$target/VERSION"
"""

SMOKE = """\
set -eu
marker="$DEST/fail-$TRAINMASTER_INSTANCE"
if [ -e "$marker" ]; then want=$(cat "$marker"); [ -n "$want" ] && [ "$want" != "$TRAINMASTER_VERSION" ]; fi
"""

SWITCH = """\
set -eu
echo "switch $TRAINMASTER_SLOT previous=${TRAINMASTER_PREVIOUS_SLOT:--}" >> "$DEST/events.log"
ln -sfn "$TRAINMASTER_SLOT" "$DEST/live.new" && mv -T "$DEST/live.new" "$DEST/live"
"""

ROUTE = """\
set -eu
echo "route $TRAINMASTER_VERSION $TRAINMASTER_WEIGHT ${TRAINMASTER_INSTANCES:--}" >> "$DEST/events.log"
if [ -e "$DEST/hang-$TRAINMASTER_WEIGHT" ]; then touch "$DEST/started-$TRAINMASTER_WEIGHT"; sleep 30; fi
printf '%s %s\\n' "$TRAINMASTER_VERSION" "$TRAINMASTER_WEIGHT" > "$DEST/routing"
"""

CHECK = """\
set -eu
echo "check $TRAINMASTER_VERSION" >> "$DEST/events.log"
[ ! -e "$DEST/fail-check" ]
"""

FOUR = "[web-1, web-2, web-3, web-4]"


def setup(p: Project, environment: str) -> Path:
    """Write the scripts and a config with ``environment`` (YAML of one train item); return $DEST."""
    for name, text in (("deploy.sh", DEPLOY), ("smoke.sh", SMOKE), ("switch.sh", SWITCH), ("route.sh", ROUTE),
                       ("check.sh", CHECK)):
        p.write(name, text)
    p.write("trainmaster.yaml", "project: demo\npackages: {app: app.bin}\n"
            "defaults: {deploy: sh deploy.sh, smoke: sh smoke.sh, pass_env: [DEST]}\n"
            "train:\n" + environment)
    p.write("app.bin", "1")
    dest = Path(p.env["DEST"])
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def release(p: Project, version: str) -> None:
    p.write("app.bin", version)
    p.ok("release", "create", version)


def versions(dest: Path, names: list[str], slot: str = "") -> dict[str, str | None]:
    """What each instance (or its ``slot``) holds."""
    found = {}
    for name in names:
        path = dest / name / slot / "VERSION" if slot else dest / name / "VERSION"
        found[name] = path.read_text().strip() if path.exists() else None
    return found


def events(dest: Path) -> list[str]:
    log = dest / "events.log"
    return log.read_text().splitlines() if log.exists() else []


def wait_for(path: Path, seconds: float = 30) -> None:
    """Wait until ``path`` exists (a marker a command writes), never longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)
