#!/usr/bin/python3
"""An SMTP relay for the notifier's tests (aiosmtpd), on 127.0.0.1 at a port the test chooses,
so that it can be down for a while and come back on the same port.

  relay.py port                              print a free port
  relay.py start DIR PORT [CERT KEY [tls1.3]]
                                             serve in the background: plain SMTP, or STARTTLS
                                             required with CERT/KEY (tls1.3: TLS 1.3 only, a
                                             TLS 1.2 client fails the handshake); returns once
                                             the port accepts connections
  relay.py stop DIR                          stop it

Each mail is kept as DIR/mail/NNNN.eml, with DIR/mail/NNNN.tls holding the TLS version it
came over ("-" for none); DIR/mail persists across a stop and a start.
"""
import os
import signal
import socket
import subprocess
import sys
import time


def serve(d, port, cert, key, tls13):
    import ssl
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            n = len([f for f in os.listdir(os.path.join(d, "mail")) if f.endswith(".eml")]) + 1
            sslobj = server.transport.get_extra_info("ssl_object")
            base = os.path.join(d, "mail", "%04d" % n)
            with open(base + ".tls", "w") as f:
                f.write(sslobj.version() if sslobj is not None else "-")
            with open(base + ".eml", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            return "250 2.0.0 queued"

    kw = {}
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        if tls13:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        kw = {"tls_context": ctx, "require_starttls": True}
    c = Controller(Handler(), hostname="127.0.0.1", port=port, **kw)
    c.start()
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    c.stop()


def main():
    if sys.argv[1] == "port":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        s.close()
        return 0
    cmd, d = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(os.path.join(d, "mail"), exist_ok=True)
    if cmd == "start":
        port = int(sys.argv[3])
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_serve", d]
                             + sys.argv[3:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(d, "relay.log"), "ab"),
                             start_new_session=True)
        with open(os.path.join(d, "pid"), "w") as f:
            f.write(str(p.pid))
        end = time.time() + 10
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return 0
            except OSError:
                time.sleep(0.05)
        p.kill()
        return 1
    if cmd == "_serve":
        a = sys.argv[3:]
        serve(d, int(a[0]), a[1] if len(a) > 1 else None, a[2] if len(a) > 2 else None,
              len(a) > 3 and a[3] == "tls1.3")
        return 0
    if cmd == "stop":
        try:
            pid = int(open(os.path.join(d, "pid")).read())
            os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        try:
            os.unlink(os.path.join(d, "pid"))
        except OSError:
            pass
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
