#!/usr/bin/env python3
"""A stand-in for an IRI node: answers every request with JSON naming itself.

Usage: fake-node.py NAME ADDRESS PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME, ADDRESS, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            command = json.loads(raw or b"{}").get("command", "")
        except ValueError:
            command = ""
        body = json.dumps({
            "appName": "fake-iri",
            "appVersion": "0.0.1",
            "node": NAME,
            "command": command,
            "latestMilestoneIndex": 1000,
            "latestSolidSubtangleMilestoneIndex": 1000,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


class Server(ThreadingHTTPServer):
    # The listen backlog: http.server's default of 5 overflows when HAProxy
    # opens connections for wrk's load and its health checks at once on a
    # busy machine, and a dropped SYN waits a second or more for its retry.
    request_queue_size = 256


Server((ADDRESS, PORT), Handler).serve_forever()
