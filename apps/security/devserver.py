"""Chunked request bodies for `manage.py runserver` (`make run`), limited as under gunicorn.

Django's development server (wsgiref) does not decode `Transfer-Encoding: chunked`: its
handler reads a body without `Content-Length` as empty, and the chunks left on the
connection are then parsed as the next request; and it answers a 500 to any response
with `Connection: close` (the body limit's 413). `ChunkedBodyRequestHandler` decodes
the chunks before the request reaches Django, at most `DATA_UPLOAD_MAX_MEMORY_SIZE`
plus one byte of them, and hands them on with their length: the body limit
(`RequestBodyLimitMiddleware`) then answers 413 over the limit exactly as for a
declared length, and broken framing is a 400 problem, as under gunicorn.
"""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO

from django.conf import settings
from django.core.servers.basehttp import ServerHandler, WSGIRequestHandler, WSGIServer

from apps.core.api.problems import PROBLEM_CONTENT_TYPE, problem

__all__ = ["ChunkedBodyRequestHandler", "ChunkedBodyWSGIServer"]

MAX_SIZE_LINE = 1024


class MalformedChunks(ValueError):
    pass


def read_chunked(stream: BinaryIO, limit: int) -> tuple[bytes, bool]:
    """The decoded body, up to `limit` bytes, and whether it was all of it (the last chunk was read)."""
    body = bytearray()
    while True:
        line = stream.readline(MAX_SIZE_LINE + 1)
        if not line.endswith(b"\r\n") or len(line) > MAX_SIZE_LINE:
            raise MalformedChunks("chunk size line")
        size_text = line[:-2].split(b";", 1)[0].strip()
        if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise MalformedChunks("chunk size")
        size = int(size_text, 16)
        if size == 0:
            while (trailer := stream.readline(MAX_SIZE_LINE + 1)) not in (b"\r\n", b"\n"):
                if not trailer or len(trailer) > MAX_SIZE_LINE:
                    raise MalformedChunks("trailer")
            return bytes(body), True
        wanted = min(size, limit - len(body))
        data = stream.read(wanted)
        if len(data) < wanted:
            raise MalformedChunks("chunk data")
        body += data
        if len(body) >= limit:
            return bytes(body), False
        if stream.read(2) != b"\r\n":
            raise MalformedChunks("chunk terminator")


class _Prefixed:
    """`prefix` first, then the connection: what the request handler reads the next request from."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self.prefix = io.BytesIO(prefix)
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        return self.prefix.read(size) or self.rest.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self.prefix.readline(size) or self.rest.readline(size)

    def __getattr__(self, name: str) -> Any:  # close(), fileno()... are the connection's
        return getattr(self.rest, name)


class _ServerHandler(ServerHandler):
    """Django's, minus its refusal of `Connection: close` from the application.

    PEP 3333 keeps hop-by-hop headers to the server, and wsgiref asserts it (a 500), but
    gunicorn acts on the header, and the body limit sends it so that the unread rest of a
    refused body is never parsed as a request: here it closes the connection the same way.
    """

    request_handler: WSGIRequestHandler

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        kept = [(name, value) for name, value in headers if name.lower() != "connection"]
        if len(kept) < len(headers):
            self.request_handler.close_connection = True
        return super().start_response(status, kept, exc_info)


class ChunkedBodyRequestHandler(WSGIRequestHandler):
    rfile: Any

    def parse_request(self) -> bool:
        if isinstance(self.rfile, _Prefixed):
            self.rfile = self.rfile.rest  # the previous request's body is consumed
        if not super().parse_request():
            return False
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return True
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            body, whole = read_chunked(self.rfile, (limit if limit is not None else 2**62) + 1)
        except MalformedChunks:
            self._refuse_malformed()
            return False
        if not whole:
            self.close_connection = True  # the rest of the chunks is never read
        del self.headers["Transfer-Encoding"]
        del self.headers["Content-Length"]
        self.headers["Content-Length"] = str(len(body))
        self.rfile = _Prefixed(body, self.rfile)
        return True

    def handle_one_request(self) -> None:
        """Django's own (`basehttp.WSGIRequestHandler.handle_one_request`), with `_ServerHandler`."""
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # an error has been sent
            return
        handler = _ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ())
        handler.request_handler = self
        handler.run(self.server.get_app())  # type: ignore[attr-defined]  # a WSGIServer

    def _refuse_malformed(self) -> None:
        detail = "The chunked request body is malformed (bad chunk size or framing)."
        payload = json.dumps(problem(400, detail, code="malformed_request")).encode()
        self.close_connection = True
        self.send_response(400)
        self.send_header("Content-Type", PROBLEM_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


class ChunkedBodyWSGIServer(WSGIServer):
    """Django's development server, with `ChunkedBodyRequestHandler` for every connection."""

    def __init__(self, server_address: Any, handler_class: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server_address, ChunkedBodyRequestHandler, *args, **kwargs)
