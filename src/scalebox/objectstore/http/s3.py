"""The S3 API as a plain ASGI application: addressing, authentication, dispatch, errors, CORS.

S3 chooses its operation by method, by whether a bucket and a key are named, and by query
sub-resources (?uploads, ?versioning, ...), which suits a small dispatcher better than a router of
path templates; it also keeps the per-request cost low on the small-object path.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from functools import partial

import structlog
from starlette.types import Receive, Scope, Send

from scalebox.core.clock import Clock
from scalebox.core.errors import DomainError, IntegrityError
from scalebox.objectstore import cors
from scalebox.objectstore.errors import AccessDeniedError, MethodNotAllowedError, NotModifiedError, S3Error
from scalebox.objectstore.http import buckets, objects, xml
from scalebox.objectstore.http.errors import code_of, status_of
from scalebox.objectstore.http.request import S3Request
from scalebox.objectstore.http.response import Response, empty
from scalebox.objectstore.service.keys import KeyService
from scalebox.objectstore.service.objects import ObjectService
from scalebox.objectstore.settings import ObjectStoreSettings

log = structlog.get_logger("objectstore.s3")
HEALTH_PATH = "/_health"


class S3Api:
    """ASGI app serving the S3 REST API."""

    def __init__(
        self, service: ObjectService, keys: KeyService, settings: ObjectStoreSettings, clock: Clock
    ) -> None:
        self.service = service
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self.requests = 0
        self._routes: dict[tuple[str, str], Callable[[S3Request], Awaitable[Response]]] = {
            ("service", "GET"): partial(buckets.list_buckets, service),
            ("bucket", "GET"): partial(buckets.get_bucket, service),
            ("bucket", "HEAD"): partial(buckets.head_bucket, service),
            ("bucket", "PUT"): partial(buckets.put_bucket, service, settings),
            ("bucket", "DELETE"): partial(buckets.delete_bucket, service),
            ("bucket", "POST"): partial(buckets.post_bucket, service, settings),
            ("object", "GET"): partial(objects.get_object, service),
            ("object", "HEAD"): partial(objects.get_object, service, head=True),
            ("object", "PUT"): partial(objects.put_object, service, settings),
            ("object", "DELETE"): partial(objects.delete_object, service),
            ("object", "POST"): partial(objects.post_object, service, settings),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        if scope["path"] == HEALTH_PATH:  # bucket names cannot hold '_', so no bucket is shadowed
            await self._send(send, Response(200, [("content-type", "text/plain")], b"ok\n"), "-", head=False)
            return
        request_id = secrets.token_hex(8).upper()
        request: S3Request | None = None
        started = False
        try:
            request = S3Request.parse(scope, receive, domain=self.settings.domain)
            if request.method == "OPTIONS":
                response = await self._preflight(request)
            else:
                await request.authenticate(
                    self.keys.lookup, self.clock.now(), skew_seconds_max=self.settings.skew_seconds_max
                )
                response = await self._dispatch(request)
                response.headers += await self._cors_headers(request)
            if request.body_pending():
                response.headers.append(("connection", "close"))
            started = True
            await self._send(send, response, request_id, head=request.method == "HEAD")
        except DomainError as exc:
            if started:
                raise
            await self._send_error(send, exc, request, request_id)
        except IntegrityError:
            log.exception("data could not be read back", request_id=request_id)
            if started:
                raise
            await self._send_error(
                send,
                S3Error("We encountered an internal error. Please try again."),
                request,
                request_id,
                status=500,
            )

    async def _dispatch(self, request: S3Request) -> Response:
        level = "object" if request.key else "bucket" if request.bucket else "service"
        handler = self._routes.get((level, request.method))
        if handler is None:
            raise MethodNotAllowedError(
                "The specified method is not allowed against this resource.",
                Method=request.method,
                ResourceType=level.upper(),
            )
        return await handler(request)

    async def _preflight(self, request: S3Request) -> Response:
        origin = request.headers.get("origin", "")
        method = request.headers.get("access-control-request-method", "")
        asked = [
            h.strip()
            for h in request.headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        rules = await self.service.cors_rules(request.bucket) if request.bucket else ()
        rule = cors.match_preflight(rules, origin, method, asked) if origin and method else None
        if rule is None:
            raise AccessDeniedError("CORSResponse: This CORS request is not allowed.", Method=method)
        return empty(200, cors.response_headers(rule, origin, preflight=True, request_headers=asked))

    async def _cors_headers(self, request: S3Request) -> list[tuple[str, str]]:
        origin = request.headers.get("origin")
        if not origin or not request.bucket:
            return []
        rules = await self.service.cors_rules(request.bucket)
        rule = cors.match_request(rules, origin, request.method) if rules else None
        return [] if rule is None else cors.response_headers(rule, origin, preflight=False)

    async def _send(self, send: Send, response: Response, request_id: str, *, head: bool) -> None:
        headers = [
            (name.encode("latin-1"), value.encode("utf-8", "surrogateescape"))
            for name, value in response.headers
        ]
        headers.append((b"x-amz-request-id", request_id.encode()))
        headers.append((b"server", b"scalebox"))
        length = response.length if response.length is not None else len(response.body)
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if head or response.status == 304:
            await send({"type": "http.response.body", "body": b""})
            return
        if response.stream is None:
            await send({"type": "http.response.body", "body": response.body})
            return
        async for piece in response.stream:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _send_error(
        self,
        send: Send,
        error: DomainError,
        request: S3Request | None,
        request_id: str,
        *,
        status: int | None = None,
    ) -> None:
        status = status or status_of(error)
        headers: list[tuple[str, str]] = []
        extra: dict[str, str] = {}
        resource = ""
        if isinstance(error, S3Error):
            extra = dict(error.extra)
            resource = error.resource
            marker = extra.pop("delete_marker", None)
            if marker is not None:
                headers += [("x-amz-delete-marker", "true"), ("x-amz-version-id", marker)]
        if request is not None and not resource:
            resource = request.raw_path
        if isinstance(error, NotModifiedError) or (request is not None and request.method == "HEAD"):
            body = b""
        else:
            message = str(error) if str(error) != error.code else type(error).__doc__ or error.code
            body = xml.error(code_of(error), message, resource, request_id, extra.items())
            headers.append(("content-type", "application/xml"))
        if status in (500, 503):
            headers.append(("retry-after", "1"))
        if request is not None and request.body_pending():
            headers.append(("connection", "close"))
        await self._send(send, Response(status, headers, body), request_id, head=False)
