#!/usr/bin/env python3
"""An HTTP proxy in front of the loopback S3 (moto) that injects the faults real S3 shows.

Per request, drawn from a seeded random generator: ``503 SlowDown`` (throttling), ``500
InternalError``, a connection reset before the request reaches S3, a connection reset *after*
S3 has done the request (the client cannot know whether a write happened), and a delay. One
request (method, path and query) gets at most ``max_per_request`` faults however often it is
retried, so a client that retries that often succeeds; ``max_per_request=0`` lifts the cap.
Standard library only.

    python scripts/s3_fault_proxy.py --upstream http://127.0.0.1:55050 --slowdown 0.1 --error 0.05 \\
        --reset 0.05 --delay 0.1 --delay-ms 300        # prints the proxy's endpoint, runs until killed

Point the clients at it: ``AWS_ENDPOINT_URL_S3`` (boto3, pyarrow via ``crisislake.fs``) or
``--set spark.s3_endpoint=...`` (s3a).
"""
from __future__ import annotations

import argparse
import http.client
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Tuple
from urllib.parse import urlparse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
S3_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            "<RequestId>fault-proxy</RequestId></Error>")


@dataclass
class Rates:
    """Probability per request of each fault (they are drawn in this order, at most one each)."""

    slowdown: float = 0.0
    error: float = 0.0
    reset: float = 0.0
    reset_after: float = 0.0
    delay: float = 0.0
    delay_ms: int = 200
    max_per_request: int = 1


class FaultProxy:
    """The proxy: ``start()`` serves on 127.0.0.1 in a thread; ``counts`` says what it injected."""

    def __init__(self, upstream: str, rates: Rates, seed: int = 0, port: int = 0):
        self.upstream = urlparse(upstream)
        self.rates = rates
        self.counts: Counter = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faulted: Dict[Tuple[str, str], int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def decide(self, method: str, path: str) -> str:
        """The fault for this request ("" for none), respecting the per-request cap."""
        key = (method, path)
        r = self.rates
        with self._lock:
            self.counts["requests"] += 1
            fault = ""
            if not r.max_per_request or self._faulted.get(key, 0) < r.max_per_request:
                roll = self._rng.random()
                for name, rate in (("slowdown", r.slowdown), ("error", r.error), ("reset", r.reset),
                                   ("reset_after", r.reset_after)):
                    if roll < rate:
                        fault = name
                        break
                    roll -= rate
            if fault:
                self._faulted[key] = self._faulted.get(key, 0) + 1
            if not fault and self._rng.random() < r.delay:
                fault = "delay"
            if fault:
                self.counts[fault] += 1
            return fault

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self) -> None:
                # SO_LINGER 0: close with a TCP RST, as a dropped connection looks to the client.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _send(self, status: int, headers, body: bytes) -> None:
                self.send_response(status)
                length = str(len(body))
                for name, value in headers:
                    if name.lower() == "content-length" and self.command == "HEAD":
                        length = value  # a HEAD answer has no body but the object's length
                    elif name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                self._send(status, [("Content-Type", "application/xml")],
                           S3_ERROR.format(code=code, message=message).encode())

            def _forward(self, body: bytes):
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                return response.status, response.getheaders(), data

            def _handle(self) -> None:
                body = self._body()
                fault = proxy.decide(self.command, self.path)
                if fault == "slowdown":
                    return self._error(503, "SlowDown", "Please reduce your request rate.")
                if fault == "error":
                    return self._error(500, "InternalError", "We encountered an internal error. Please try again.")
                if fault == "reset":
                    return self._reset()
                if fault == "delay":
                    time.sleep(proxy.rates.delay_ms / 1000)
                status, headers, data = self._forward(body)
                if fault == "reset_after":
                    return self._reset()
                self._send(status, headers, data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", default="http://127.0.0.1:55050")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    for name in ("slowdown", "error", "reset", "reset-after", "delay"):
        parser.add_argument(f"--{name}", type=float, default=0.0, help=f"probability of {name} per request")
    parser.add_argument("--delay-ms", type=int, default=200)
    parser.add_argument("--max-per-request", type=int, default=1, help="faults per request, retries included (0: no cap)")
    args = parser.parse_args(argv)
    rates = Rates(args.slowdown, args.error, args.reset, args.reset_after, args.delay, args.delay_ms,
                  args.max_per_request)
    proxy = FaultProxy(args.upstream, rates, args.seed, args.port).start()
    print(proxy.endpoint, flush=True)
    try:
        while True:
            time.sleep(5)
    except KeyboardInterrupt:
        pass
    print(dict(proxy.counts), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
