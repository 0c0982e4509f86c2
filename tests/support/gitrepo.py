"""A real git repository in a test project, and the environment of a GitHub Actions job that built a commit."""

from __future__ import annotations

import subprocess

from tests.support.project import Project


def git(p: Project, *args: str) -> str:
    """Run ``git ARGS`` in the project's folder with a fixed identity; its stripped stdout."""
    env = dict(p.env, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@x")
    done = subprocess.run(["git", *args], cwd=p.root, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def in_ci(sha: str) -> dict[str, str]:
    """The environment of a GitHub Actions run of commit ``sha`` (the release records it as ``source.commit``)."""
    return {"TRAINMASTER_LOAD_PLUGINS": "github", "GITHUB_ACTIONS": "true", "GITHUB_SHA": sha, "GITHUB_ACTOR": "ci",
            "GITHUB_REPOSITORY": "o/demo", "GITHUB_RUN_ID": "7"}


def many_commits(p: Project, parent: str, count: int) -> str:
    """``count`` empty commits ``c0`` … on top of ``parent`` (one ``git fast-import``); the last one's id."""
    stream = "".join(f"commit refs/heads/many\ncommitter a <a@x> {1700000000 + n} +0000\ndata {len(f'c{n}')}\nc{n}\n"
                     + (f"from {parent}\n" if n == 0 else "") + "\n" for n in range(count))
    subprocess.run(["git", "fast-import", "--quiet"], input=stream, text=True, cwd=p.root, env=p.env, check=True)
    return git(p, "rev-parse", "refs/heads/many")
