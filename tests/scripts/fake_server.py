"""Stand-ins for a server process, for the tests of the kit's process runner (ServerProcess).

Usage: python fake_server.py MODE PORT

* ``exit``: print a line and exit 3 before listening (a server that rejects its configuration);
* ``http``: answer every GET with ``{"path": ...}`` on 127.0.0.1:PORT; exit 5 on SIGTERM;
* ``listen``: listen on 127.0.0.1:PORT and answer nothing; exit 7 on SIGINT.
"""

from __future__ import annotations

import http.server
import json
import signal
import socket
import sys
import time
from typing import Any, NoReturn


def _exit_with(status: int) -> Any:
    def handler(*args: Any) -> NoReturn:
        sys.exit(status)

    return handler


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main(mode: str, port: int) -> None:
    if mode == "exit":
        print("bad config")
        raise SystemExit(3)
    if mode == "http":
        signal.signal(signal.SIGTERM, _exit_with(5))
        http.server.HTTPServer(("127.0.0.1", port), _Echo).serve_forever()
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    signal.signal(signal.SIGINT, _exit_with(7))
    print("listening", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
