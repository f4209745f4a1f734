#!/usr/bin/python3
"""A local HTTPS receiver for the forwarding tests, bound to 127.0.0.1 on a free port.

  receiver.py start DIR CERT KEY   serve in the background (TLS with CERT/KEY); writes
                                   DIR/port and DIR/pid, returns once it listens
  receiver.py stop DIR             stop it

How to answer: DIR/plan, read at each request, is a JSON list; the n-th request
(counting from 1) takes the n-th entry, requests past its end get 200. An entry:
  {"status": 503}                       answer that status
  {"status": 429, "retry_after": "2"}   with a Retry-After header
  {"status": 400, "body": "bad batch"}  with a body
  {"sleep": 5}                          wait that many seconds, then 200
  {"reset": true}                       read half the body, then reset the connection
  {"stall": 5}                          read the body, mark its arrival, wait, then 200
What came: DIR/arrived-NNNN once a request's body is read (before any wait: a
test kills the sender while the request is in flight), DIR/req-NNNN.json for
every request {"status", "headers", "events", "checked"}, and, for each request
answered 2xx, its events appended to DIR/events.ndjson.

What it checks: DIR/expect, read at each request, a JSON object:
  {"token_file": PATH}      Authorization must be "Bearer <PATH's first line>"
  {"hmac_key_file": PATH}   X-Telemail-Signature must be "sha256=" + the hex
                            HMAC-SHA256 under PATH's bytes (a trailing newline cut)
                            of the body exactly as received (before gunzip)
  {"format": "ndjson"|"batch"}  the Content-Type that must come
A failed check is answered 401 ("bad token", "bad signature") or 415 ("want
<type>"); "checked" in req-NNNN.json lists what was checked and held
("token", "hmac", "gzip", "format"). Every request body must be JSON (a
batch: an array; ndjson: an object per line) or it is answered 400.
"""
import gzip
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time


def serve(d, cert, key):
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            count[0] += 1
            n = count[0]
            try:
                with open(os.path.join(d, "plan")) as f:
                    plan = json.load(f)
            except FileNotFoundError:
                plan = []
            act = plan[n - 1] if n - 1 < len(plan) else {}
            length = int(self.headers.get("Content-Length", "0"))
            if act.get("reset"):
                self.rfile.read(length // 2)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                # the files hold the socket open: close them first, so that this
                # close is the real one (an RST), and the rest of the body is never
                # read as another request
                self.rfile.close()
                self.wfile.close()
                self.connection.close()
                self.close_connection = True
                self.record(n, 0, [])
                return
            raw = self.rfile.read(length)
            with open(os.path.join(d, "arrived-%04d" % n), "w"):
                pass
            if act.get("stall"):
                time.sleep(act["stall"])
            try:
                with open(os.path.join(d, "expect")) as f:
                    expect = json.load(f)
            except FileNotFoundError:
                expect = {}
            checked, refusal = self.check(expect, raw)
            if refusal is not None:
                self.record(n, refusal[0], [], checked)
                self.answer(refusal[0], refusal[1], {})
                return
            body = raw
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(raw)
                checked.append("gzip")
            try:
                text = body.decode("utf-8")
                if self.headers.get("Content-Type", "").startswith("application/x-ndjson"):
                    events = [json.loads(l) for l in text.splitlines() if l]
                else:
                    events = json.loads(text)
                    if not isinstance(events, list):
                        raise ValueError("not an array")
            except ValueError as e:
                self.record(n, 400, [], checked)
                self.answer(400, "not JSON: %s" % e, {})
                return
            if act.get("sleep"):
                time.sleep(act["sleep"])
            status = act.get("status", 200)
            self.record(n, status, events, checked)
            if 200 <= status < 300:
                with open(os.path.join(d, "events.ndjson"), "a") as f:
                    for e in events:
                        f.write(json.dumps(e) + "\n")
            extra = {"Retry-After": act["retry_after"]} if "retry_after" in act else {}
            self.answer(status, act.get("body", ""), extra)

        def answer(self, status, text, extra):
            reply = text.encode()
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def check(self, expect, raw):
            """What DIR/expect asks of this request: (checked, None) or (checked, (status, text))."""
            checked = []
            if "token_file" in expect:
                with open(expect["token_file"]) as f:
                    token = f.readline().rstrip("\r\n")
                if self.headers.get("Authorization") != "Bearer " + token:
                    return checked, (401, "bad token")
                checked.append("token")
            if "hmac_key_file" in expect:
                with open(expect["hmac_key_file"], "rb") as f:
                    key = f.read().rstrip(b"\r\n")
                want = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get("X-Telemail-Signature", ""), want):
                    return checked, (401, "bad signature")
                checked.append("hmac")
            if "format" in expect:
                want = {"ndjson": "application/x-ndjson",
                        "batch": "application/cloudevents-batch+json"}[expect["format"]]
                if self.headers.get("Content-Type") != want:
                    return checked, (415, "want " + want)
                checked.append("format")
            return checked, None

        def record(self, n, status, events, checked=()):
            rec = {"status": status, "path": self.path,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "events": events, "checked": list(checked)}
            tmp = os.path.join(d, ".req.tmp")
            with open(tmp, "w") as f:
                json.dump(rec, f)
            os.replace(tmp, os.path.join(d, "req-%04d.json" % n))

        def log_message(self, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

    srv = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(os.path.join(d, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    srv.serve_forever()


def main():
    cmd, d = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(d, exist_ok=True)
    if cmd == "start":
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_serve", d,
                              sys.argv[3], sys.argv[4]],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(d, "receiver.log"), "ab"),
                             start_new_session=True)
        with open(os.path.join(d, "pid"), "w") as f:
            f.write(str(p.pid))
        for _ in range(200):
            if os.path.exists(os.path.join(d, "port")):
                return 0
            if p.poll() is not None:
                return 1
            time.sleep(0.05)
        return 1
    if cmd == "_serve":
        serve(d, sys.argv[3], sys.argv[4])
        return 0
    if cmd == "stop":
        try:
            with open(os.path.join(d, "pid")) as f:
                os.kill(int(f.read()), signal.SIGTERM)
        except (FileNotFoundError, ProcessLookupError):
            pass
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
