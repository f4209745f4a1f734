#!/usr/bin/python3
"""A local HTTP receiver for the webhook tests, bound to 127.0.0.1 on a free port.

  receiver.py start DIR [FAIL]   serve in the background; the first FAIL POSTs get 503;
                                 writes DIR/port and DIR/pid, returns once it listens
  receiver.py stop DIR           stop it

Each POST is kept as DIR/req-NNNN.json: {"status", "headers": {...}, "body": "..."}
(NNNN counts every request, answered 2xx or not).
"""
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import time


def serve(d, fail):
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode("utf-8", "replace")
            count[0] += 1
            status = 503 if count[0] <= fail else 200
            rec = {"status": status, "path": self.path,
                   "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            tmp = os.path.join(d, ".req.tmp")
            with open(tmp, "w") as f:
                json.dump(rec, f)
            os.replace(tmp, os.path.join(d, "req-%04d.json" % count[0]))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(os.path.join(d, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    srv.serve_forever()


def main():
    cmd, d = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(d, exist_ok=True)
    if cmd == "start":
        fail = sys.argv[3] if len(sys.argv) > 3 else "0"
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_serve", d, fail],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(d, "receiver.log"), "ab"),
                             start_new_session=True)
        with open(os.path.join(d, "pid"), "w") as f:
            f.write(str(p.pid))
        end = time.time() + 10
        while time.time() < end:
            try:
                port = int(open(os.path.join(d, "port")).read())
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return 0
            except (OSError, ValueError):
                time.sleep(0.05)
        p.kill()
        return 1
    if cmd == "_serve":
        serve(d, int(sys.argv[3]))
        return 0
    if cmd == "stop":
        try:
            pid = int(open(os.path.join(d, "pid")).read())
            os.killpg(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
