"""The web UI's HTTP server: JSON endpoints and the pages in `static/`.

It runs on the standard library's ThreadingHTTPServer (no dependency, no
hand-written HTTP parsing) in threads of its own. In a master it must never
slow the event loop or share the loop's mutable state, so the loop only
hands it things (`LiveSource`): each event goes into a thread-safe queue as
it happens, and every half second the loop publishes a fresh status
snapshot (the dict `minibig status --json` prints), which is never mutated
afterwards. The HTTP threads fold the queued events into their own
`RunState` under their own lock when a request comes. `minibig history`
serves the same pages from event logs (`HistorySource`).

    GET /                      the single-page UI (index.html, app.js, style.css)
    GET /api/overview          workers, applications, jobs, graph runs and streams
    GET /api/graph?app=A&run=R a graph run: its supersteps, messages and active vertices
    GET /api/job?app=A&job=N   a job: stages with parents, task attempts, timeline
    GET /api/stage?app=A&stage=S&attempt=K   one stage attempt and its tasks
    GET /api/status            the master's status snapshot, as `minibig status --json`
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import queue
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from minibig.ui.events import log_files, read_events
from minibig.ui.graphs import graph_runs, graph_view
from minibig.ui.state import RunState

log = logging.getLogger("minibig.ui")

STATIC = resources.files("minibig.ui") / "static"
STATIC_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js",
                "/style.css": "style.css"}


class LiveSource:
    """What a running master shows: its events as they happen, its status twice a second."""

    mode = "live"

    def __init__(self):
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.status: dict = {}
        self.lock = threading.Lock()
        self.state = RunState()

    def post(self, ev: dict) -> None:
        """Called by the master's loop for every event."""
        self.events.put(ev)

    def publish(self, status: dict) -> None:
        """Called by the master's loop: a fresh snapshot, never mutated afterwards."""
        self.status = status

    def read(self, view):
        """`view(state, status)` with every event so far folded in."""
        with self.lock:
            while True:
                try:
                    self.state.apply(self.events.get_nowait())
                except queue.Empty:
                    break
            return view(self.state, self.status)


class HistorySource:
    """What `minibig history DIR` shows: the event logs in DIR, re-read when they change."""

    mode = "history"

    def __init__(self, directory: str):
        self.directory = directory
        self.lock = threading.Lock()
        self.state = RunState(max_jobs=10 ** 9)
        self.seen = None

    def _signature(self) -> list:
        return [(p, os.stat(p).st_size) for p in log_files(self.directory) if os.path.exists(p)]

    def read(self, view):
        """`view(state, {})` over every log in the folder."""
        with self.lock:
            signature = self._signature()
            if signature != self.seen:
                state = RunState(max_jobs=10 ** 9)
                for path, _ in signature:
                    for ev in read_events(path):
                        state.apply(ev)
                self.state, self.seen = state, signature
            return view(self.state, {})


def workers_view(state: RunState, status: dict) -> list[dict]:
    """Workers as the master sees them now, then those the events saw leave.

    A live worker's CPU and memory are in the master's status: each worker's
    heartbeat carries its own process's, whatever host it runs on.
    """
    live = {w["id"]: w for w in status.get("workers", [])}
    rows = []
    for wid, w in state.workers.items():
        # A log says when a worker left, not whether one still runs: None ("-") there.
        alive = w["removed"] is None if status or w["removed"] else None
        rows.append({**w, **live.get(wid, {}), "alive": alive})
    for wid, w in live.items():             # registered before the UI started
        if wid not in state.workers:
            rows.append({**w, "alive": True})
    return rows


def overview(mode: str):
    def view(state: RunState, status: dict) -> dict:
        master = {k: status.get(k) for k in ("url", "uptime", "ui", "excluded")}
        return {"mode": mode, "master": master, "workers": workers_view(state, status),
                **{k: v for k, v in state.overview().items() if k != "workers"},
                "graphs": graph_runs(state), "streams": status.get("streams", [])}
    return view


class Handler(BaseHTTPRequestHandler):
    """GET only: static files and JSON views of the server's source."""

    server_version = "minibig-ui"

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        source = self.server.source
        try:
            if url.path in STATIC_FILES:
                return self.send_static(STATIC_FILES[url.path])
            if url.path == "/api/overview":
                return self.send_json(source.read(overview(source.mode)))
            if url.path == "/api/status":
                return self.send_json(source.read(lambda state, status: status))
            if url.path == "/api/job":
                app, job = query["app"], int(query["job"])
                return self.send_json(source.read(lambda state, *_: state.job_view(app, job)))
            if url.path == "/api/graph":
                app, run = query["app"], query["run"]
                return self.send_json(source.read(lambda state, *_: graph_view(state, app, run)))
            if url.path == "/api/stage":
                app, stage, attempt = query["app"], int(query["stage"]), int(query.get("attempt", 0))
                return self.send_json(source.read(
                    lambda state, *_: state.stage_view(app, stage, attempt)))
        except (KeyError, ValueError) as exc:
            return self.send_error(400, f"bad query: {exc}")
        self.send_error(404)

    def send_json(self, value) -> None:
        if value is None:
            return self.send_error(404)
        self.send_body(json.dumps(value).encode(), "application/json")

    def send_static(self, name: str) -> None:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.send_body((STATIC / name).read_bytes(), kind + "; charset=utf-8")

    def send_body(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:      # noqa: A002 (the stdlib's name)
        log.debug("%s " + format, self.address_string(), *args)


def serve(source, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server of `source` on host:port (0: any free port), not yet serving."""
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.source = source
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    """The address a browser reaches the server at."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve_in_thread(source, host: str, port: int) -> tuple[ThreadingHTTPServer, str]:
    """Start serving `source` on a daemon thread; (server, its URL). Stop it with `stop_serving`."""
    server = serve(source, host, port)
    # stop_serving wakes the loop at once where the listening socket can be shut down;
    # elsewhere shutdown() waits for the loop's next poll, so keep it short there
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     name="web-ui", daemon=True).start()
    return server, url_of(server)


def stop_serving(server: ThreadingHTTPServer) -> None:
    """Stop serving and close, at once: `shutdown()` alone waits for the serving loop's next
    poll, on every embedded cluster's stop. A listening socket shut down stays readable, so
    the loop wakes (its accept fails, which it ignores) until it sees the request to stop;
    where it cannot be shut down, the loop's short poll (serve_in_thread) bounds the wait."""
    try:
        server.socket.shutdown(socket.SHUT_RDWR)
    except OSError:                    # not where a listening socket can be shut down: poll
        pass
    server.shutdown()
    server.server_close()
