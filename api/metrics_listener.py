"""The keyless /metrics listener of LEAKSENTINEL_METRICS_LISTEN: Prometheus text on an address of
its own, for a scraper on a private network, so the API's port never serves metrics without a key."""

import logging
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from service import metrics
from service.runtime import Runtime

log = logging.getLogger(__name__)

PATH = "/metrics"


class _Server(ThreadingHTTPServer):
    # Each worker process of `serve --workers N` binds the same address and the kernel shares the
    # scrapes out; any worker's answer is the sum over all of them, as on the API's port.
    allow_reuse_port = True
    daemon_threads = True


def start(runtime: Runtime, host: str, port: int) -> Callable[[], None]:
    """Serves `GET /metrics` on host:port from a thread of its own, off the API's event loop;
    returns the function that stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != PATH:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            body = metrics.exposition(runtime)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # http.server writes each request to stderr; the service's logs are JSON lines.
            log.debug("metrics listener: " + format, *args)

    server_class = _Server
    if ":" in host:

        class _Server6(_Server):
            address_family = socket.AF_INET6

        server_class = _Server6
    server = server_class((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-listener", daemon=True)
    thread.start()
    log.info("serving /metrics without a key on %s:%d", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop
