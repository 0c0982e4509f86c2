"""The one HTTP choke point of the HCP Terraform adapter, on :mod:`trainmaster.http`.

Only what is HCP Terraform's own lives here: the bearer token, JSON:API bodies
(``Content-Type: application/vnd.api+json``), its error shape (``{"errors": [{"title", "detail"}]}``)
mapped to the core's typed errors, and paging. Retries, ``Retry-After`` and lost answers are
:class:`trainmaster.http.HttpClient`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from trainmaster.errors import ApiError, ConfigError
from trainmaster.http import Call, HttpClient, RetryPolicy, Rules, new_session

if TYPE_CHECKING:
    import requests

__all__ = ["JSONAPI", "TfcClient"]

JSONAPI = "application/vnd.api+json"


class TfcRules(Rules):
    """HCP Terraform's error shape; 401 names the token variables."""

    def error(self, response: requests.Response, call: Call) -> Exception:
        if response.status_code == 401:
            return ConfigError(f"{self.service} refused the token (401) to {call.what}: check {self.credential}",
                               key="TF_API_TOKEN")
        detail = ""
        try:
            errors = response.json().get("errors") or []
            detail = "; ".join(str(e.get("detail") or e.get("title") or "") for e in errors if isinstance(e, dict))
        except Exception:  # not JSON
            detail = self.excerpt(response)
        return ApiError(f"{self.service} refused to {call.what}" + (f": {self.scrub(detail)}" if detail else ""),
                        **self.details(response, call))


class TfcClient:
    """JSON:API calls against ``{address}/api/v2``; ``sleep`` is injectable for the wait loop."""

    def __init__(self, address: str, token: str, *, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, token_source: str = "TF_API_TOKEN (or TFE_TOKEN)"
                 ) -> None:
        self.address = address.rstrip("/")
        self.api = f"{self.address}/api/v2"
        self.sleep = sleep
        session = new_session(headers={"Authorization": f"Bearer {token}", "Accept": JSONAPI})
        self.http = HttpClient(session=session, policy=policy or RetryPolicy(sleep=sleep),
                               rules=TfcRules(f"HCP Terraform at {self.address}", secrets=[token],
                                              credential=token_source))

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.api}/{path.lstrip('/')}"

    def get(self, path: str, params: dict[str, Any] | None = None, *, what: str | None = None,
            missing_ok: bool = False) -> Any:
        """The JSON document at ``path``; None for a 404 when ``missing_ok``."""
        ok = set(range(200, 300)) | ({404} if missing_ok else set())
        response = self.http.send("GET", self.url(path), params=params, what=what, ok=ok)
        return None if response.status_code == 404 else response.json()

    def post(self, path: str, body: Any | None, *, what: str, recover: Callable[[], Any] | None = None,
             idempotent: bool | None = None) -> Any:
        """POST a JSON:API document; the answer's JSON (or what ``recover()`` found), None when empty."""
        result = self.http.send("POST", self.url(path), what=what, recover=recover, idempotent=idempotent,
                                data=None if body is None else _dumps(body),
                                headers={"Content-Type": JSONAPI})
        if not hasattr(result, "status_code"):
            return result
        return result.json() if result.content else None

    def put_archive(self, url: str, read: Callable[[], Any], *, what: str) -> None:
        """PUT the archive to a configuration version's signed upload URL (idempotent: same bytes)."""
        # The signed URL carries its own authorisation: the token is not sent to the archive host.
        headers = cast("dict[str, str]", {"Content-Type": "application/octet-stream", "Authorization": None})
        self.http.send("PUT", url, data=read, what=what, headers=headers)

    def download(self, path: str, *, what: str) -> Iterator[bytes]:
        """Stream the body at ``path`` (redirects followed)."""
        response = self.http.send("GET", self.url(path), what=what, stream=True)
        try:
            yield from response.iter_content(1 << 16)
        finally:
            response.close()

    def pages(self, path: str, params: dict[str, Any] | None = None, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        """Items of a paged list, newest first as the API returns them, at most ``limit``."""
        number, seen = 1, 0
        while True:
            doc = self.get(path, {**(params or {}), "page[number]": number, "page[size]": 20}) or {}
            for item in doc.get("data") or []:
                yield item
                seen += 1
                if seen >= limit:
                    return
            total = ((doc.get("meta") or {}).get("pagination") or {}).get("total-pages") or 1
            if number >= int(total):
                return
            number += 1


def _dumps(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()
