"""Real local HTTP servers that answer a sync badly, one way each (http.server in a thread).

`evalkit sync` talks to them as it would to Supabase: same client, same requests. None is a
mock of Supabase; each is what a wrong URL, a proxy, an outage or a broken network answers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _json(status, obj, headers=()):
    return status, json.dumps(obj).encode(), [("Content-Type", "application/json"), *headers]


ANSWERS = {
    "http_500": lambda path: (500, b"Internal Server Error", [("Content-Type", "text/plain")]),
    "http_503_json": lambda path: _json(503, {"message": "upstream down"}),
    "plain_text": lambda path: (200, b"OK", [("Content-Type", "text/plain")]),
    "html_login": lambda path: (200, b"<html><body><form>Log in to the Wi-Fi</form></body></html>",
                                [("Content-Type", "text/html")]),
    "json_string": lambda path: _json(200, "ok"),
    "json_number": lambda path: _json(201, 42),
    "json_object": lambda path: _json(201, {"unexpected": True}),
    "json_list_of_strings": lambda path: _json(201, ["a", "b"]),
    "json_null": lambda path: _json(201, None),
    "escape_in_error": lambda path: _json(401, {"message": "\x1b[2J\x1b[31mJWT expired\x07", "code": "PGRST301"}),
    "missing_table": lambda path: _json(404, {"code": "42P01", "message": 'relation "public.training_runs" does not exist'}),
    "rate_limited": lambda path: (429, b"slow down", [("Content-Type", "text/plain"), ("Retry-After", "0")]),
    "empty_200": lambda path: (200, b"", [("Content-Type", "application/json")]),
    "invalid_json": lambda path: (201, b'{"truncated": [1, 2', [("Content-Type", "application/json")]),
    "redirect_loop": lambda path: (302, b"", [("Location", path)]),
    "huge_body": lambda path: (200, b"x" * (8 << 20), [("Content-Type", "text/plain")]),
}
SLOW = {"slow_503": 2.0}  # seconds before a 503: slow, but inside the client's 30 s timeout
CLOSE = {"close_no_answer"}  # read the request, close the socket without a word


class _Handler(BaseHTTPRequestHandler):
    behaviour = "http_500"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.behaviour in CLOSE:
            self.close_connection = True
            self.connection.close()
            return
        if self.behaviour in SLOW:
            time.sleep(SLOW[self.behaviour])
            status, body, headers = 503, b"Service Unavailable", [("Content-Type", "text/plain")]
        else:
            status, body, headers = ANSWERS[self.behaviour](self.path)
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up on a huge body: its right
                pass

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, *args):
        pass


class BadServers:
    """One server per behaviour, started on first use, stopped together."""

    def __init__(self):
        self._servers: dict[str, ThreadingHTTPServer] = {}

    def url(self, behaviour: str) -> str:
        if behaviour not in self._servers:
            handler = type(f"Handler_{behaviour}", (_Handler,), {"behaviour": behaviour})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers[behaviour] = server
        return f"http://127.0.0.1:{self._servers[behaviour].server_address[1]}"

    def close(self):
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()


def service_key(role: str = "service_role") -> str:
    """A JWT-shaped key (header.payload.signature), as Supabase's legacy service-role keys are."""
    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'iss': 'supabase', 'role': role})}.{uuid.uuid4().hex}"


BEHAVIOURS = [*ANSWERS, *SLOW, *CLOSE]
SERVERS = BadServers()
