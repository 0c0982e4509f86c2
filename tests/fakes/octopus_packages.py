"""Package and build-information handlers of the Octopus fake (mixed into OctopusFake).

Package upload (``/packages/raw``) streams the multipart body, computes the SHA1 ``Hash`` as Octopus reports it
and applies ``overwriteMode``; build information honours the same modes.
"""

from __future__ import annotations

import hashlib
import re

from .core import ApiError, Request, Response, operation
from .multipart import MultipartError, disposition, file_parts
from .octopus_state import OctopusState, _now

PACKAGE_NAME = re.compile(
    r"^(?P<id>.+?)\.(?P<version>\d+(?:\.\d+)*(?:[-+][0-9A-Za-z.\-+]*)?)"
    r"(?P<ext>\.zip|\.nupkg|\.tar\.gz|\.tgz|\.tar|\.tar\.bz2|\.jar|\.war)$",
    re.IGNORECASE,
)


class OctopusPackages(OctopusState):
    """``createPackageRepositoryUpload``, ``getPackageRepository*`` and ``*BuildInformation*`` operations."""

    store_packages: bool
    garbled = 0  # uploads still to alter on the way (garble_next_upload)

    def garble_next_upload(self) -> None:
        """Flip one bit of the next uploaded package, as a broken proxy would: Octopus keeps other bytes."""
        with self.lock:
            self.garbled += 1

    def seed_package(self, package_id: str, version: str, data: bytes = b"seeded", space_id: str = "Spaces-1") -> None:
        """Put a package in the built-in feed, as an earlier push would have."""
        with self.lock:
            sha1 = hashlib.sha1(data).hexdigest()
            pkg = self.package_resource(space_id, package_id, version, ".zip", sha1, len(data))
            self.packages[(space_id, package_id.lower(), version.lower())] = pkg
            self.package_bytes[pkg["Id"]] = data if self.store_packages else None

    @operation("createPackageRepositoryUpload_Spaces")
    def upload_package(self, req: Request) -> Response:
        mode = req.query.get("overwriteMode") or (
            "OverwriteExisting" if req.query.get("replace", "").lower() == "true" else "FailIfExists"
        )
        sid = self.sid(req)
        try:
            for headers, content in file_parts(req.body, req.headers.get("Content-Type", "")):
                disp = disposition(headers)
                if "filename" not in disp:
                    continue
                m = PACKAGE_NAME.match(disp["filename"])
                if not m:
                    raise ApiError(
                        400,
                        f"The package file name {disp['filename']!r} is not a valid package "
                        "file name (<PackageId>.<Version>.<extension>).",
                    )
                key = (sid, m.group("id").lower(), m.group("version").lower())
                with self.lock:
                    existing = self.packages.get(key)
                if existing and mode == "FailIfExists":
                    raise ApiError(
                        409,
                        f"A package with the same ID and version already exists ({m.group('id')} "
                        f"{m.group('version')}). To proceed anyway, specify an overwriteMode of "
                        "OverwriteExisting or IgnoreIfExists.",
                    )
                sha1, size, parts = hashlib.sha1(), 0, []  # Octopus reports the SHA1 of the package file
                with self.lock:
                    garble, self.garbled = self.garbled > 0, max(0, self.garbled - 1)
                for chunk in content:
                    if garble and chunk:
                        chunk, garble = bytes([chunk[0] ^ 1]) + bytes(chunk[1:]), False
                    sha1.update(chunk)
                    size += len(chunk)
                    if self.store_packages:
                        parts.append(chunk)
                if size == 0:
                    raise ApiError(
                        400,
                        "The uploaded package file had length equal to 0. Please upload a non-empty file.",
                    )
                with self.lock:
                    if existing and mode == "IgnoreIfExists":
                        return Response(200, existing)
                    pkg = self.package_resource(
                        sid, m.group("id"), m.group("version"), m.group("ext"), sha1.hexdigest(), size
                    )
                    self.packages[key] = pkg
                    self.package_bytes[pkg["Id"]] = b"".join(parts) if self.store_packages else None
                    return Response(200 if existing else 201, pkg)
        except MultipartError as e:
            raise ApiError(400, f"A package file must be provided: {e}") from e
        raise ApiError(400, "A package file must be provided")

    @operation("getPackageRepositoryList_Spaces")
    def list_packages(self, req: Request) -> Response:
        f = (req.query.get("filter") or "").lower()
        items = [p for (s, pid, _), p in self.packages.items() if s == self.sid(req) and (not f or f in pid)]
        items.sort(key=lambda p: (p["PackageId"], p["Published"]), reverse=True)
        return Response(200, self.collection(req, "Package", items, f"/api/{self.sid(req)}/packages"))

    @operation("getPackageRepository_Spaces")
    def get_package(self, req: Request) -> Response:
        for p in self.packages.values():
            if p["Id"].lower() == req.params["id"].lower() and p["SpaceId"] == self.sid(req):
                return Response(200, p)
        raise ApiError(404, f"The resource you requested was not found: package {req.params['id']}")

    @operation("deletePackageRepository_Spaces")
    def delete_package(self, req: Request) -> Response:
        with self.lock:
            for key, p in list(self.packages.items()):
                if p["Id"].lower() == req.params["id"].lower() and p["SpaceId"] == self.sid(req):
                    del self.packages[key]
                    self.package_bytes.pop(p["Id"], None)
                    return Response(204)
        raise ApiError(404, f"The resource you requested was not found: package {req.params['id']}")

    @operation("createBuildInformation_Spaces")
    def create_build_information(self, req: Request) -> Response:
        body = req.json
        mode = (
            body.get("OverwriteMode")
            or req.query.get("overwriteMode")
            or ("OverwriteExisting" if body.get("Replace") else "FailIfExists")
        )
        key = (self.sid(req), body["PackageId"].lower(), body["Version"].lower())
        existing = self.build_information.get(key)
        if existing and mode == "FailIfExists":
            raise ApiError(409, "Build information for this package ID and version already exists.")
        if existing and mode == "IgnoreIfExists":
            return Response(200, existing)
        info = body["OctopusBuildInformation"]
        bi = {
            "Id": existing["Id"] if existing else f"BuildInformation-{next(self._ids)}",
            "PackageId": body["PackageId"],
            "Version": body["Version"],
            "SpaceId": self.sid(req),
            "Created": _now(),
            "LastModifiedOn": _now(),
            "Branch": info.get("Branch"),
            "BuildNumber": info.get("BuildNumber"),
            "BuildUrl": info.get("BuildUrl"),
            "BuildEnvironment": info.get("BuildEnvironment"),
            "VcsType": info.get("VcsType"),
            "VcsRoot": info.get("VcsRoot"),
            "VcsCommitNumber": info.get("VcsCommitNumber"),
            "Commits": [{"Id": c.get("Id"), "Comment": c.get("Comment")} for c in info.get("Commits") or []],
            "WorkItems": [],
            "IncompleteDataWarning": None,
        }
        bi["Links"] = {"Self": f"/api/{self.sid(req)}/build-information/{bi['Id']}"}
        self.build_information[key] = bi
        return Response(200, bi)

    @operation("getBuildInformationList_Spaces")
    def list_build_information(self, req: Request) -> Response:
        pid = (req.query.get("packageId") or req.query.get("filter") or "").lower()
        items = [b for (s, p, _), b in self.build_information.items() if s == self.sid(req) and (not pid or pid in p)]
        return Response(
            200,
            self.collection(
                req, "OctopusPackageVersionBuildInformation", items, f"/api/{self.sid(req)}/build-information"
            ),
        )
