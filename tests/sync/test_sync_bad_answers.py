"""Sync against servers and installs that are wrong in ways found on the second attack pass (issue 22).

The server here is a real HTTP server answering HTML to everything, as a captive portal,
a proxy's login page or a misconfigured URL does.
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fake_supabase import service_key
from sync_records import make_record

from evalkit.cli import main as evalkit_main
from evalkit.sync.api import sync_pending
from evalkit.sync.outbox import pending
from evalkit.sync.settings import KEY_VAR, URL_VAR
from evalkit.store.store import ScoreStore

RUN = "20261125T100000Z-bbbb"


class HtmlEverywhere(BaseHTTPRequestHandler):
    def _answer(self):
        body = b"<html><body>Please log in to the network</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def html_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), HtmlEverywhere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def queued(tmp_path):
    reports = tmp_path / "reports"
    store = ScoreStore.default(reports)
    store.add_run(make_record(reports, RUN))
    return reports, store


def test_a_server_answering_non_json_is_one_line_and_keeps_the_queue(html_server, tmp_path, monkeypatch, capsys):
    """Before: TypeError: string indices must be integers (backend_supabase.py)."""
    reports, store = queued(tmp_path)
    monkeypatch.setenv(URL_VAR, html_server)
    monkeypatch.setenv(KEY_VAR, service_key())
    assert evalkit_main(["sync", "--reports-dir", str(reports)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{URL_VAR}: {html_server} does not answer like a Supabase project" in err, err
    assert pending(store) == [RUN]


def test_a_configured_sync_without_the_sync_extra_names_the_extra(tmp_path, monkeypatch):
    """Before: ModuleNotFoundError: httpx. ``sys.modules[name] = None`` makes the import fail as an
    uninstalled package does (the extra is installed in this venv, so this is a stand-in, said so)."""
    reports, store = queued(tmp_path)
    monkeypatch.setenv(URL_VAR, "http://127.0.0.1:9")
    monkeypatch.setenv(KEY_VAR, service_key())
    for name in ("httpx", "supabase"):
        monkeypatch.setitem(sys.modules, name, None)
    lines = sync_pending(reports)
    assert lines[0] == ("sync failed: evalkit sync: needs the `sync` extra (missing module httpx): "
                        "pip install 'evalkit[sync]'"), lines
    assert pending(store) == [RUN]
