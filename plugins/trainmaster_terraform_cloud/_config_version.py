"""Build once, deploy many: the release's Terraform package as ONE configuration version.

The configuration version lives in the configuration workspace (``configuration_workspace``,
default the first environment's). It is found again by its content: a configuration version
there whose archive hashes to the package's sha256 digest is reused, so the upload is
idempotent on the digest, and every environment's run uses that same configuration version
(HCP Terraform allows a run to use a configuration version of another workspace).
A create whose answer was lost is recovered by the one new ``pending`` version that appeared.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from trainmaster.errors import IntegrityError, Unavailable
from trainmaster.http import UNKNOWN
from trainmaster_terraform_cloud.client import TfcClient

__all__ = ["ensure_configuration_version", "find_configuration_version", "workspace"]

_LOOKBACK = 20  # configuration versions examined when looking for the digest


def workspace(client: TfcClient, organization: str, name: str) -> dict[str, Any] | None:
    """The workspace resource (``data``) named ``name``, or None."""
    doc = client.get(f"organizations/{organization}/workspaces/{name}", what=f"read the workspace {name}",
                     missing_ok=True)
    return None if doc is None else doc["data"]


def _digest_of(client: TfcClient, cv_id: str) -> str:
    sha = hashlib.sha256()
    for chunk in client.download(f"configuration-versions/{cv_id}/download",
                                 what=f"download configuration version {cv_id}"):
        sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def find_configuration_version(client: TfcClient, ws_id: str, digest: str, cache: dict[str, str],
                               seen: set[str] | None = None) -> str | None:
    """The id of an uploaded configuration version of ``ws_id`` whose archive has ``digest``;
    ``seen`` collects the ids listed on the way."""
    for item in client.pages(f"workspaces/{ws_id}/configuration-versions", limit=_LOOKBACK):
        if seen is not None:
            seen.add(str(item["id"]))
        attrs = item.get("attributes") or {}
        if attrs.get("status") != "uploaded" or attrs.get("speculative"):
            continue
        if item["id"] not in cache:
            cache[item["id"]] = _digest_of(client, item["id"])
        if cache[item["id"]] == digest:
            return str(item["id"])
    return None


def ensure_configuration_version(client: TfcClient, ws_id: str, path: Path, digest: str,
                                 cache: dict[str, str], out: Any = None) -> tuple[str, bool]:
    """(configuration version id, created) for the package at ``path`` with ``digest``."""
    before: set[str] = set()  # what exists before the create (a lost answer is the one new pending version)
    found = find_configuration_version(client, ws_id, digest, cache, before)
    if found:
        return found, False

    def recover() -> Any:
        fresh = [i for i in client.pages(f"workspaces/{ws_id}/configuration-versions", limit=_LOOKBACK)
                 if i["id"] not in before and (i.get("attributes") or {}).get("status") == "pending"]
        if len(fresh) > 1:
            return UNKNOWN
        return {"data": fresh[0]} if fresh else None

    body = {"data": {"type": "configuration-versions",
                     "attributes": {"auto-queue-runs": False, "speculative": False}}}
    doc = client.post(f"workspaces/{ws_id}/configuration-versions", body, recover=recover,
                      what="create a configuration version")
    cv = doc["data"]
    upload = (cv.get("attributes") or {}).get("upload-url")
    if not upload:
        cv = client.get(f"configuration-versions/{cv['id']}")["data"]
        upload = cv["attributes"].get("upload-url")
    if _file_digest(path) != digest:
        raise IntegrityError(f"{path} no longer has the release's digest {digest}: not uploaded")
    client.put_archive(upload, lambda: path.open("rb"), what=f"upload {path.name} to {cv['id']}")
    for _ in range(30):
        status = client.get(f"configuration-versions/{cv['id']}")["data"]["attributes"]["status"]
        if status == "uploaded":
            cache[str(cv["id"])] = digest
            return str(cv["id"]), True
        if status == "errored":
            raise Unavailable(f"HCP Terraform could not ingest {path.name} (configuration version {cv['id']} "
                              "errored); a re-run uploads it again")
        client.sleep(1.0)
    raise Unavailable(f"configuration version {cv['id']} is still not uploaded; a re-run resumes")


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()
