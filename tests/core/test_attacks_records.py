"""Attacks through release records: a fetched ``release.json`` or a ``releases`` row is data.

Each row of the tables below is one hostile record. The expected outcome is the same for
all of them: exit 4 naming where the record came from, nothing written outside the
project (no file created or overwritten by a path built from the record), no command of
the record run, and no traceback. The GitHub rows go through the real CLI on a "fresh
runner" (a folder with only the config) against the contract-checked GitHub fake, whose
``release.json`` asset was replaced the way an attacker with write access to the
repository's releases would replace it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import Project, base_env
from trainmaster.model import canonical_json
from trainmaster.record import check_record, inside, release_schema

CONFIG = """\
project: demo
packages:
  app: build/app.bin
publish: [github]
ledger: github
github:
  repository: acme/app
defaults:
  deploy: mkdir -p "$DEST" && echo deployed > "$DEST/deployed"
  pass_env: [DEST]
train:
  - name: dev
"""

PWNED = 'touch "$DEST/pwned"'


def _with_id(record: dict[str, Any]) -> dict[str, Any]:
    """Give a forged record a consistent id, as an attacker would (the id is only a hash)."""
    try:
        body = {"project": record["project"], "version": record["version"],
                "packages": [{k: p[k] for k in ("name", "file_name", "size", "digest", "media_type")}
                             for p in record["packages"]]}
        record["id"] = "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()
    except (KeyError, TypeError):
        pass
    return record


def _edit_package(**changes: Any) -> Any:
    def edit(record: dict[str, Any]) -> bytes:
        record["packages"][0].update(changes)
        return json.dumps(_with_id(record)).encode()
    return edit


def _replace(data: Any) -> Any:
    return lambda record: data if isinstance(data, bytes) else json.dumps(data).encode()


# (id, how the genuine record is turned into the hostile bytes, what the message must name)
HOSTILE: list[tuple[str, Any, str]] = [
    ("file-name-climbs-out", _edit_package(file_name="../../../../outside.txt"), "packages[0].file_name"),
    ("name-climbs-out", _edit_package(name="../../../outside"), "packages[0].name"),
    ("absolute-file-name", _edit_package(file_name="/tmp/outside.txt"), "packages[0].file_name"),
    ("backslash-file-name", _edit_package(file_name="..\\..\\outside.txt"), "packages[0].file_name"),
    ("added-deploy-command", _edit_package(deploy=PWNED), "packages[0]"),
    ("added-smoke-command", _edit_package(smoke=PWNED), "packages[0]"),
    ("negative-size", _edit_package(size=-1), "packages[0].size"),
    ("huge-float-size", _edit_package(size=1e308), "packages[0].size"),
    ("size-as-text", _edit_package(size="12"), "packages[0].size"),
    ("name-with-newline", _edit_package(name="app\n"), "packages[0].name"),
    ("name-with-nul", _edit_package(name="app\x00x"), "packages[0].name"),
    ("leading-dash", _edit_package(file_name="-rf"), "packages[0].file_name"),
    ("bad-digest", _edit_package(digest="sha256:xyz"), "packages[0].digest"),
    ("no-packages", lambda r: json.dumps(_with_id({**r, "packages": []})).encode(), "packages"),
    ("duplicate-names", lambda r: json.dumps(_with_id({**r, "packages": r["packages"] * 2})).encode(), "name"),
    ("unknown-top-level-field", lambda r: json.dumps({**r, "hooks": {"pre": PWNED}}).encode(), "hooks"),
    ("not-an-object", _replace([1, 2, 3]), "the top level"),
    ("deep-nesting", _replace(b'{"project": ' + b"[" * 100000 + b"]" * 100000 + b"}"), "nest"),
    ("not-json", _replace(b"\xff\xfe not json"), "not valid JSON"),
    ("nan-size", _replace(b'{"schema": "trainmaster/release@1", "size": NaN}'), "not valid JSON"),
    ("leading-zero-version", lambda r: json.dumps(_with_id({**r, "version": "01.0.0"})).encode(), "version"),
]


@pytest.fixture
def published(tmp_path: Path, github_fake: Any) -> tuple[Project, dict[str, str]]:
    """Release 1.0.0 created and published to the GitHub fake by a first job."""
    remote = {"GITHUB_TOKEN": github_fake.token, "GITHUB_API_URL": github_fake.url,
              "GITHUB_REPOSITORY": "acme/app", "TRAINMASTER_LOAD_PLUGINS": "github"}
    first = Project(tmp_path / "job1", base_env(tmp_path))
    first.root.mkdir()
    first.write("trainmaster.yaml", CONFIG)
    first.build()
    first.ok("release", "create", "1.0.0", env=remote)
    return first, remote


def _forge(fake: Any, forge: Any) -> None:
    repo = fake.repos[("acme", "app")]
    (aid,) = [aid for aid, asset in repo.assets.items() if asset["name"] == "release.json"]
    genuine = json.loads(repo.blobs[aid])
    hostile = forge(genuine)
    repo.blobs[aid] = hostile
    repo.assets[aid]["size"] = len(hostile)
    if repo.assets[aid].get("digest"):
        repo.assets[aid]["digest"] = "sha256:" + hashlib.sha256(hostile).hexdigest()


@pytest.mark.parametrize(("case", "forge", "names"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_hostile_fetched_record_is_refused_and_writes_nothing(
    case: str, forge: Any, names: str, tmp_path: Path, github_fake: Any,
    published: tuple[Project, dict[str, str]],
) -> None:
    _, remote = published
    _forge(github_fake, forge)
    fresh = Project(tmp_path / "runner" / "a" / "b" / "job2", base_env(tmp_path))
    fresh.root.mkdir(parents=True)
    fresh.write("trainmaster.yaml", CONFIG)
    before = sorted(p for p in tmp_path.rglob("*") if "job2" not in p.parts)

    result = fresh.run("deploy", "1.0.0", "--to", "dev", env=remote)

    assert result.returncode == 4, (case, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "GitHub release" in result.stderr and names in result.stderr, result.stderr
    after = sorted(p for p in tmp_path.rglob("*") if "job2" not in p.parts)
    assert after == before, "a file appeared outside the fresh runner's folder"
    servers = tmp_path / "servers"
    assert not (servers / "pwned").exists() and not (servers / "deployed").exists()
    assert not list(fresh.root.rglob("outside*"))


def test_a_genuine_record_still_deploys_on_a_fresh_runner(
    tmp_path: Path, published: tuple[Project, dict[str, str]]
) -> None:
    """The control case of the table: the same flow with the record untouched deploys."""
    _, remote = published
    fresh = Project(tmp_path / "job2", base_env(tmp_path))
    fresh.root.mkdir()
    fresh.write("trainmaster.yaml", CONFIG)
    fresh.ok("deploy", "1.0.0", "--to", "dev", env=remote)
    assert (tmp_path / "servers" / "deployed").read_text() == "deployed\n"


LEDGER_EDITS: list[tuple[str, Any]] = [
    ("added-deploy-command", lambda r: r["packages"][0].update(deploy=PWNED)),
    ("file-name-climbs-out", lambda r: r["packages"][0].update(file_name="../../../outside.bin")),
    ("size-made-negative", lambda r: r["packages"][0].update(size=-5)),
]


@pytest.mark.parametrize(("case", "edit"), LEDGER_EDITS, ids=[c[0] for c in LEDGER_EDITS])
def test_an_edited_ledger_record_is_refused(case: str, edit: Any, project: Project, tmp_path: Path) -> None:
    project.ok("release", "create", "1.0.0")
    db = sqlite3.connect(project.state / "ledger.db")
    (text,) = db.execute("SELECT record FROM releases").fetchone()
    record = json.loads(text)
    edit(record)
    with db:
        db.execute("UPDATE releases SET record = ?", (json.dumps(record),))
    db.close()
    before = project.snapshot()

    result = project.run("deploy", "1.0.0", "--to", "dev")

    assert result.returncode == 4, (case, result.stdout, result.stderr)
    assert "releases" in result.stderr and "Traceback" not in result.stderr  # the row hash or the record check
    assert project.snapshot() == before
    assert not (tmp_path / "servers").exists(), "a command ran"
    assert not (tmp_path / "outside.bin").exists()


def test_package_commands_come_from_the_config_and_are_not_recorded(project: Project, tmp_path: Path) -> None:
    """A package's own ``deploy`` is read from the config at deploy time; the release record holds none."""
    project.write("trainmaster.yaml", project.root.joinpath("trainmaster.yaml").read_text().replace(
        "  app: build/app.bin", "  app:\n    path: build/app.bin\n"
        '    deploy: sh deploy.sh && echo from-config > "$DEST/from-config"'))
    project.ok("release", "create", "1.0.0")
    record = json.loads(project.ok("release", "show", "1.0.0", "--json").stdout)
    assert "deploy" not in json.dumps(record)
    project.ok("deploy", "1.0.0", "--to", "dev")
    assert (tmp_path / "servers" / "from-config").read_text() == "from-config\n"


def test_the_shipped_schema_agrees_with_the_checker(project: Project) -> None:
    """Every hostile record above is refused by the published JSON Schema too, and a genuine one passes."""
    import jsonschema

    project.ok("release", "create", "1.0.0")
    with sqlite3.connect(project.state / "ledger.db") as db:
        genuine = json.loads(db.execute("SELECT record FROM releases").fetchone()[0])
    validator = jsonschema.Draft202012Validator(release_schema())
    jsonschema.Draft202012Validator.check_schema(release_schema())
    assert list(validator.iter_errors(genuine)) == []
    assert check_record(genuine, "test") == genuine
    for case, forge, _ in HOSTILE:
        try:
            data = json.loads(forge(json.loads(json.dumps(genuine))))
        except (ValueError, RecursionError):
            continue  # not JSON at all: refused before any schema
        if case in ("duplicate-names", "huge-float-size"):
            continue  # JSON Schema cannot say "unique by name" or "an integer written as one"
        assert list(validator.iter_errors(data)), case


def test_inside_refuses_paths_that_leave_their_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    assert inside(tmp_path / "root", "a", "b.bin") == tmp_path / "root" / "a" / "b.bin"
    for parts in (("..", "x"), ("/etc/passwd",), ("link", "x")):
        with pytest.raises(Exception, match="leaves"):
            inside(tmp_path / "root", *parts)
