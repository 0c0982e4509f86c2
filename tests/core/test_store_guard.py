"""Commands cannot change the store: a blob a command changed through its read-only link fails the
deployment (exit 4), goes to quarantine, stops every later use, and `release create` restores it.

``TRAINMASTER_REFLINK=0`` forces the read-only link even on a file system with reflinks."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support.project import DEPLOY_SH, Project

TAMPER_SH = """\
set -eu
mkdir -p "$DEST/$TRAINMASTER_ENVIRONMENT"
cp "$TRAINMASTER_PACKAGE_APP" "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin"
if [ "$TRAINMASTER_VERSION" = "{version}" ]; then
  chmod u+w "$TRAINMASTER_PACKAGE_APP" && echo x >> "$TRAINMASTER_PACKAGE_APP"
fi
"""


def _linked(project: Project, tamper_version: str) -> Project:
    project.env["TRAINMASTER_REFLINK"] = "0"
    project.write("deploy.sh", TAMPER_SH.format(version=tamper_version))
    return project


def _stored(project: Project, digest: str) -> Path:
    hexd = digest.split(":")[1]
    return project.state / "store" / "sha256" / hexd[:2] / hexd


def _deployments(project: Project) -> list[dict]:  # type: ignore[type-arg]
    return list(project.json("history")["deployments"])


def test_a_blob_changed_through_its_link_fails_the_deploy_is_quarantined_and_create_restores_it(
        project: Project) -> None:
    _linked(project, "1.0.0")
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    stored = _stored(project, digest)
    result = project.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 4, result.stderr
    assert "changed the stored blob of package 'app'" in result.stderr and "Traceback" not in result.stderr
    quarantine = project.state / "store" / "quarantine"
    kept = quarantine / f"{digest.split(':')[1]}.deployment-1"
    assert [p.name for p in quarantine.iterdir()] == [kept.name]
    assert kept.read_text().endswith("x\n") and str(kept) in result.stderr  # kept for inspection, and said where
    assert not stored.exists()  # the store no longer claims it
    (dep,) = _deployments(project)
    assert dep["status"] == "failed" and dep["packages"] == {"app": "failed"}
    shown = project.json("deployment", "show", "1")["deployment"]
    assert "changed the stored blob of package 'app'" in shown["reason"]

    project.write("deploy.sh", "true\n")
    again = project.run("deploy", "1.0.0", "--to", "dev")  # nothing deploys a quarantined blob
    assert again.returncode == 4 and "quarantined" in again.stderr
    assert len(_deployments(project)) == 1
    assert project.run("release", "verify", "1.0.0").returncode == 4

    restored = project.ok("release", "create", "1.0.0")  # from the build's file, and it says so
    assert f"restored package 'app' ({digest})" in restored.stdout
    assert stored.is_file() and not stored.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    project.ok("release", "verify", "1.0.0")
    assert kept.is_file()  # still there for inspection
    project.write("deploy.sh", DEPLOY_SH)
    project.ok("deploy", "1.0.0", "--to", "dev")


def test_the_rollback_never_deploys_the_changed_blob(project: Project) -> None:
    _linked(project, "1.1.0")
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.ok("release", "create", "1.1.0", "--package", f"app={digest}")  # the same blob as 1.0.0
    result = project.run("deploy", "1.1.0", "--to", "dev", "--force")
    assert result.returncode == 4, result.stderr
    assert "not rolled back to 1.0.0" in result.stderr and "package 'app'" in result.stderr
    assert [(d["kind"], d["version"], d["status"]) for d in _deployments(project)] == [
        ("deploy", "1.0.0", "succeeded"), ("deploy", "1.1.0", "failed")]  # no rollback row: nothing ran


def test_the_rollback_to_an_intact_release_runs_and_the_exit_is_still_4(project: Project) -> None:
    _linked(project, "1.1.0")
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.build("healthy v2")
    project.ok("release", "create", "1.1.0")
    result = project.run("deploy", "1.1.0", "--to", "dev")
    assert result.returncode == 4, result.stderr
    assert "rolled back to 1.0.0: rollback succeeded" in result.stderr
    assert [(d["kind"], d["version"], d["status"]) for d in _deployments(project)] == [
        ("deploy", "1.0.0", "succeeded"), ("deploy", "1.1.0", "failed"), ("rollback", "1.0.0", "succeeded")]
    assert "healthy v2" not in (project.root.parent / "servers" / "dev" / "app.bin").read_text()


def test_a_link_made_writable_but_not_changed_is_read_only_again(project: Project) -> None:
    project.env["TRAINMASTER_REFLINK"] = "0"
    project.write("deploy.sh", 'chmod u+w "$TRAINMASTER_PACKAGE_APP"\n')
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    project.write("smoke.sh", "true\n")
    project.ok("deploy", "1.0.0", "--to", "dev")
    assert not _stored(project, digest).stat().st_mode & stat.S_IWUSR


def test_a_bad_reflink_setting_is_refused_before_anything_is_written(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    before = project.snapshot()
    result = project.run("deploy", "1.0.0", "--to", "dev", env={"TRAINMASTER_REFLINK": "yes"})
    assert result.returncode == 2 and "TRAINMASTER_REFLINK must be 0 or 1" in result.stderr
    assert project.snapshot() == before


FOLDER_PUBLISHER = '''
import json
import os
import shutil
from pathlib import Path

from trainmaster import hookimpl
from trainmaster.interfaces import PublishResult
from trainmaster.model import Release


class Folder:
    """A remote that is a folder: release.json and the package files under FOLDER_REMOTE/VERSION."""

    def __init__(self, config):
        self.root = Path(os.environ["FOLDER_REMOTE"])

    def ensure(self, release, files, config):
        folder = self.root / release.version
        if (folder / "release.json").exists():
            return PublishResult("exists")
        folder.mkdir(parents=True)
        for name, path in files.items():
            shutil.copyfile(path, folder / name)
        (folder / "release.json").write_bytes(release.to_json())
        return PublishResult("created")

    def check(self, release, config):
        return PublishResult("exists" if (self.root / release.version).is_dir() else "missing")

    def fetch(self, version, dest, config):
        folder = self.root / version
        if not folder.is_dir():
            return None
        release = Release.from_record(json.loads((folder / "release.json").read_text()), "the folder")
        files = {}
        for pkg in release.packages:
            files[pkg.name] = dest / pkg.name
            shutil.copyfile(folder / pkg.name, files[pkg.name])
        return release, files


@hookimpl
def register_publishers(register):
    register("folder", Folder)
'''


def test_release_fetch_restores_a_quarantined_blob_from_the_remote(project: Project, tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "folder_publisher-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: folder-publisher\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[trainmaster]\nfolder = folder_publisher\n")
    (site / "folder_publisher.py").write_text(FOLDER_PUBLISHER)
    project.env.update(PYTHONPATH=str(site), TRAINMASTER_LOAD_PLUGINS="folder", FOLDER_REMOTE=str(tmp_path / "remote"))
    project.write("trainmaster.yaml", (project.root / "trainmaster.yaml").read_text() + "publish: [folder]\n")
    _linked(project, "1.0.0")
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    assert project.run("deploy", "1.0.0", "--to", "dev").returncode == 4
    assert not _stored(project, digest).exists()
    (project.root / "build" / "app.bin").unlink()  # the build is gone: only the remote has the bytes
    fetched = project.ok("release", "fetch", "1.0.0")
    assert f"restored package 'app' ({digest}) to the store from folder" in fetched.stderr
    project.ok("release", "verify", "1.0.0")


def test_a_runbook_that_changes_a_blob_fails_with_exit_4_and_quarantines_it(project: Project) -> None:
    project.env["TRAINMASTER_REFLINK"] = "0"
    project.write("trainmaster.yaml", (project.root / "trainmaster.yaml").read_text() + """\
runbooks:
  poke:
    command: 'chmod u+w "$TRAINMASTER_PACKAGE_APP" && echo x >> "$TRAINMASTER_PACKAGE_APP"'
    environments: [dev]
""")
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    project.ok("deploy", "1.0.0", "--to", "dev")
    result = project.run("run", "poke", "--env", "dev")
    assert result.returncode == 4 and "changed the stored blob of package 'app'" in result.stderr
    assert not _stored(project, digest).exists()
    assert [r["status"] for r in project.json("runs")["runs"]] == ["failed"]


GITHUB_CONFIG = """\
project: demo
packages:
  app: build/app.bin
publish: [github]
ledger: github
github:
  repository: acme/app
defaults:
  deploy: sh deploy.sh
  pass_env: [DEST]
train:
  - name: dev
"""


def test_with_a_github_ledger_release_fetch_restores_the_blob_from_the_release_assets(
        project: Project, github_fake: object) -> None:
    project.env.update(GITHUB_TOKEN=github_fake.token, GITHUB_API_URL=github_fake.url,  # type: ignore[attr-defined]
                       GITHUB_REPOSITORY="acme/app", TRAINMASTER_LOAD_PLUGINS="github")
    project.write("trainmaster.yaml", GITHUB_CONFIG)
    _linked(project, "1.0.0")
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    result = project.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 4 and "package 'app'" in result.stderr, result.stderr
    assert project.json("deployment", "show", "1")["deployment"]["status"] == "failed"
    assert not _stored(project, digest).exists()
    (project.root / "build" / "app.bin").unlink()  # only the GitHub release holds the bytes now
    fetched = project.ok("release", "fetch", "1.0.0")
    assert f"restored package 'app' ({digest}) to the store from github" in fetched.stderr
    project.ok("release", "verify", "1.0.0")


def test_a_command_that_removes_its_work_folder_does_not_break_the_deployment(project: Project) -> None:
    project.write("deploy.sh", DEPLOY_SH + 'rm -rf "$(dirname "$(dirname "$TRAINMASTER_PACKAGE_APP")")"\n')
    project.ok("release", "create", "1.0.0")
    result = project.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert [d["status"] for d in _deployments(project)] == ["succeeded"]


def test_a_work_folder_replaced_by_a_link_leaves_what_it_points_at_alone(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine\n")
    elsewhere.chmod(0o755)
    project.write("deploy.sh", DEPLOY_SH + f'W="$(dirname "$(dirname "$TRAINMASTER_PACKAGE_APP")")"\n'
                                           f'rm -rf "$W" && ln -s "{elsewhere}" "$W"\n')
    project.ok("release", "create", "1.0.0")
    result = project.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755  # not made 0600 by the clean-up
    assert (elsewhere / "keep.txt").read_text() == "mine\n"
    assert not list((project.state / "work").iterdir())  # the link itself is gone


MOVE_SH = """\
set -eu
mkdir -p "$DEST/$TRAINMASTER_ENVIRONMENT"
mv "$TRAINMASTER_PACKAGE_APP" "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin"
"""


def test_a_package_moved_into_place_is_not_the_stored_blob_afterwards(project: Project) -> None:
    """`mv` keeps the read-only link's inode: the installed file must not be the store's blob, or a
    later write to it in place (the next deploy's `cp` as root, the app itself) changes the store."""
    _linked(project, "none")
    project.write("deploy.sh", MOVE_SH)
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    installed = project.root.parent / "servers" / "dev" / "app.bin"
    assert "healthy" in installed.read_text()
    installed.chmod(0o644)
    with installed.open("r+b") as fh:  # what `cp new.bin app.bin` does: the same inode, written in place
        fh.write(b"HEALTHY v2")
    project.ok("release", "verify", "1.0.0")  # the store still holds the pinned bytes: a rollback can use them
