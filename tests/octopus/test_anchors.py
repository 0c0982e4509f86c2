"""Octopus release notes anchor the local audit chain (issue 10, item 3): ``audit verify --against octopus``.

Each deployment writes the chain's head after its first ledger event into the notes of the Octopus release
it deployed, one line per environment, the user's notes untouched. A local chain rewritten consistently (every
hash recomputed, so ``audit verify`` alone passes) no longer matches them: exit 4 naming the first mismatch.
A forged line in the notes is refused as data. The real CLI runs in subprocesses against the Octopus fake.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.chain import rewrite_from
from tests.support.octopus_cli import cli_project
from trainmaster_octopus._anchor import with_anchor

NOTES = "Fixes the *login* bug.\n\n| not | a table of ours |\n|---|---|"


class Runner:
    def __init__(self, tmp_path: Path, fake: Any) -> None:
        self.run, self.root, self.fake = cli_project(tmp_path, fake)

    def ok(self, *argv: str) -> subprocess.CompletedProcess[str]:
        done = self.run(*argv)
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
        return done

    def notes(self) -> str:
        (release,) = self.fake.releases.values()
        return str(release["ReleaseNotes"])


def chain(root: Path) -> dict[int, str]:
    conn = sqlite3.connect(root / ".trainmaster" / "ledger.db")
    try:
        return dict(conn.execute("SELECT seq, hash FROM audit ORDER BY seq").fetchall())
    finally:
        conn.close()


def anchors(notes: str) -> dict[str, tuple[int, str]]:
    """environment -> (seq, hash) of each anchor line of the notes."""
    out = {}
    for line in notes.splitlines():
        if line.startswith("trainmaster-audit v1 "):
            fields = dict(part.split("=", 1) for part in line.split()[2:])
            out[fields["environment"]] = (int(fields["seq"]), fields["hash"])
    return out


@pytest.fixture
def deployed(tmp_path: Path, octopus_fake: Any) -> Runner:
    runner = Runner(tmp_path, octopus_fake)
    runner.ok("release", "create", "1.0.0", "--notes", NOTES)
    runner.ok("deploy", "1.0.0", "--to", "dev")
    runner.ok("promote", "--from", "dev", "--to", "test")
    return runner


def test_each_deployment_keeps_the_head_in_the_release_notes_and_verify_against_octopus_checks_them(
    deployed: Runner,
) -> None:
    notes, events = deployed.notes(), chain(deployed.root)
    kept = anchors(notes)
    assert sorted(kept) == ["dev", "test"]
    for seq, digest in kept.values():
        assert events[seq] == digest  # the head right after that deployment's first ledger event
    assert notes.startswith(NOTES + "\n\ntrainmaster release id: sha256:")  # the user's notes untouched
    table_end = notes.index("trainmaster-audit v1 ") - 2
    assert notes[table_end - 2:table_end + 2] == " |\n\n"  # after a blank line: no row of the digests table
    assert deployed.fake.count("updateRelease_Spaces") == 2  # one PUT per deployment

    data = json.loads(deployed.ok("audit", "verify", "--against", "octopus", "--json").stdout)
    assert data["anchors"]["checked"] == 2 and data["anchors"]["other_ledgers"] == {}
    assert "2 anchor(s) on octopus match this ledger" in deployed.ok("audit", "verify", "--against", "octopus").stdout


def test_a_redeployment_replaces_its_environments_line_and_keeps_the_rest(deployed: Runner) -> None:
    before = deployed.notes()
    deployed.ok("deploy", "1.0.0", "--to", "dev", "--force")

    after = deployed.notes()
    assert anchors(after)["test"] == anchors(before)["test"] and anchors(after)["dev"] != anchors(before)["dev"]
    assert after.count("trainmaster-audit") == 2
    assert [line for line in after.splitlines() if "environment=dev" not in line] == [
        line for line in before.splitlines() if "environment=dev" not in line]
    assert anchors(after)["dev"][0] > anchors(before)["test"][0]
    deployed.ok("audit", "verify", "--against", "octopus")


def test_a_chain_rewritten_after_an_anchor_is_exit_4_naming_the_first_mismatch(deployed: Runner) -> None:
    first = min(seq for seq, _ in anchors(deployed.notes()).values())
    rewrite_from(deployed.root, 2)  # before both anchors
    deployed.ok("audit", "verify")  # the chain alone is consistent: only the anchors can tell

    bad = deployed.run("audit", "verify", "--against", "octopus")

    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert f"audit event #{first} is sha256:" in bad.stderr and "rewritten after that anchor" in bad.stderr
    assert "the notes of Octopus release 1.0.0 of MyApp (dev)" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_removed_newest_events_are_exit_4(deployed: Runner) -> None:
    newest = max(seq for seq, _ in anchors(deployed.notes()).values())
    conn = sqlite3.connect(deployed.root / ".trainmaster" / "ledger.db")
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")]
    triggers = [conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (n,)).fetchone()[0] for n in names]
    with conn:
        for name in names:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DELETE FROM audit WHERE seq >= ?", (newest,))
        for sql in triggers:
            conn.execute(sql)
    conn.close()

    bad = deployed.run("audit", "verify", "--against", "octopus")

    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_forged_anchor_in_the_notes_is_refused_as_data(deployed: Runner) -> None:
    (release,) = deployed.fake.releases.values()
    release["ReleaseNotes"] += "\ntrainmaster-audit v1 ledger=../../etc seq=1e9 hash=\n::error::x environment=test"

    bad = deployed.run("audit", "verify", "--against", "octopus")

    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "the audit anchor of the notes of Octopus release 1.0.0 of MyApp is malformed" in bad.stderr
    assert "::error::" not in bad.stderr and "Traceback" not in bad.stderr


def test_with_anchor_replaces_only_its_environments_line() -> None:
    a1 = "trainmaster-audit v1 ledger=" + "a" * 16 + " seq=3 hash=sha256:" + "1" * 64
    a2 = a1.replace("seq=3", "seq=9")
    notes = with_anchor("user text\n", "dev", a1)
    assert notes == f"user text\n\n{a1} environment=dev\n"
    both = with_anchor(notes, "test", a1)
    assert with_anchor(both, "dev", a2) == both.replace(f"{a1} environment=dev", f"{a2} environment=dev")
    assert with_anchor("", "dev", a1) == f"{a1} environment=dev\n"
    windows = f"user text\r\n\r\n{a1} environment=dev\r\n"  # notes edited in a browser on Windows
    assert with_anchor(windows, "dev", a2) == windows.replace("seq=3", "seq=9")  # replaced, not piled up
    from trainmaster_octopus._anchor import _lines

    assert [line for _, line in _lines("MyApp", {"Version": "1.0.0", "ReleaseNotes": windows}, {"dev"})] \
        == [f"{a1} environment=dev"]  # read back without the CR, so the anchor parses


def test_a_key_that_may_not_edit_releases_deploys_with_a_warning_and_no_anchor(
    tmp_path: Path, octopus_fake: Any
) -> None:
    runner = Runner(tmp_path, octopus_fake)
    runner.ok("release", "create", "1.0.0", "--notes", NOTES)
    before = runner.notes()
    octopus_fake.fail(403, operation_id="updateRelease_Spaces")

    done = runner.ok("deploy", "1.0.0", "--to", "dev")

    assert "warning: octopus: the audit anchor was not kept in the notes of release" in done.stdout + done.stderr
    assert runner.notes() == before and len(octopus_fake.deployments) == 1
    assert "Traceback" not in done.stderr


def test_verify_reads_every_page_of_the_projects_releases(deployed: Runner) -> None:
    fake = deployed.fake
    (ours,) = fake.releases.values()
    for i in range(150):  # newer releases without anchors: the anchored one is listed on the second page
        rid = f"Releases-{9000 + i}"
        fake.releases[rid] = {**ours, "Id": rid, "Version": f"2.0.{i}", "ReleaseNotes": "no anchors here"}
    mark = len(fake.calls)

    data = json.loads(deployed.ok("audit", "verify", "--against", "octopus", "--json").stdout)

    assert data["anchors"]["checked"] == 2
    assert [c.query.get("skip") for c in fake.calls[mark:] if c.operation_id == "indexProjectReleases_Spaces"] == [
        "0", "100"]


def test_notes_that_would_outgrow_what_verify_reads_get_no_anchor_and_a_warning(
    tmp_path: Path, octopus_fake: Any
) -> None:
    runner = Runner(tmp_path, octopus_fake)
    runner.ok("release", "create", "1.0.0", "--notes", "x" * 65400)  # within the 64 KiB of notes
    before = runner.notes()

    done = runner.ok("deploy", "1.0.0", "--to", "dev")

    assert "would exceed 65536 characters: the audit anchor was not kept there" in done.stdout + done.stderr
    assert runner.notes() == before and octopus_fake.count("updateRelease_Spaces") == 0
