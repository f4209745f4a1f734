#!/usr/bin/python3
"""Test peers for telemail-agent, bound to 127.0.0.1 on free ports.

  servers.py sink DIR [smtp-sink options…]   Postfix smtp-sink; dumps to DIR/mail/
  servers.py tls DIR CERT KEY                aiosmtpd with STARTTLS required; DIR/mail/
                                             (CERT "-": plain SMTP, files numbered in arrival order)
  servers.py tls13 DIR CERT KEY              the same, TLS 1.3 only (minimum_version TLSv1_3)
  servers.py certs DIR PKIDIR                DIR/right.pem/.key (test CA, SAN 127.0.0.1),
                                             DIR/wrong.pem/.key (self-signed, same names)
  servers.py hostile DIR                     a relay sending an endless greeting
  servers.py snmpd DIR BODYFILE [PORT]       snmpd -f on a free UDP port (or PORT): agentAddress + BODYFILE
                                             (community, createUser, override … lines)
  servers.py slow DIR SECONDS [CODE]         a relay that waits SECONDS before answering the final
                                             dot: 451 (default), or 250 keeping the mail
  servers.py reject DIR REPLY                a relay answering DATA with the reply line REPLY
  servers.py auth DIR CERT KEY USER PASSWORD MECHS
                                             aiosmtpd, STARTTLS and AUTH required, offering
                                             MECHS (e.g. PLAIN or LOGIN,PLAIN); DIR/mail/
  servers.py stop DIR                        stop what was started in DIR

Each server writes DIR/port and DIR/pid and runs in its own session;
the command returns once the port accepts connections.
"""
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def snmpd(d, body, port=None):
    port = port or free_udp_port()
    conf = os.path.join(d, "snmpd.conf")
    persist = os.path.join(d, "persist")
    os.makedirs(persist, exist_ok=True)
    with open(conf, "w") as f:
        f.write("agentAddress udp:127.0.0.1:%d\n" % port)
        f.write(open(body).read())
        f.write("\n[snmp] persistentDir %s\n" % persist)
    env = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=persist, SNMPCONFPATH=d)
    log = open(os.path.join(d, "server.log"), "ab")
    # only the modules the tests need: no host printers, devices or disks of this machine
    p = subprocess.Popen(["/usr/sbin/snmpd", "-f", "-Lf", os.path.join(d, "snmpd.log"), "-C",
                          "-c", conf, "-p", os.path.join(d, "snmpd.pid"),
                          "-I", "-hr_print,hr_device,hr_other,hr_disk,hr_partition,hr_filesys"],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    with open(os.path.join(d, "pid"), "w") as f:
        f.write(str(p.pid))
    with open(os.path.join(d, "port"), "w") as f:
        f.write(str(port))
    end = time.time() + 20
    while time.time() < end:
        r = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0", "-On",
                            "127.0.0.1:%d" % port, ".1.3.6.1.2.1.1.5.0"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return 0
        if p.poll() is not None:
            return 1
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGKILL)
    return 1


def serve_slow(d, delay, code, port):
    """SMTP that waits `delay` seconds before answering the final dot of DATA
    (to be killed in the middle of a send), then answers 451 or, with code
    250, keeps the mail in DIR/mail/ and accepts it."""
    import asyncio
    from aiosmtpd.controller import Controller

    class Handler:
        n = 0

        async def handle_DATA(self, server, session, envelope):
            open(os.path.join(d, "in-data"), "w").close()
            await asyncio.sleep(delay)
            if code != 250:
                return "451 4.3.0 too slow, try again"
            Handler.n += 1
            with open(os.path.join(d, "mail", "%04d.eml" % Handler.n), "wb") as f:
                f.write(envelope.original_content or envelope.content)
            return "250 2.0.0 queued"

    c = Controller(Handler(), hostname="127.0.0.1", port=port)
    c.start()
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    c.stop()


def serve_reject(reply, port):
    """SMTP that answers DATA with `reply` (a whole reply line, e.g. 554 ...)."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return reply

    c = Controller(Handler(), hostname="127.0.0.1", port=port)
    c.start()
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    c.stop()


def serve_auth(d, cert, key, user, password, mechs, port):
    import ssl
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        n = 0

        async def handle_DATA(self, server, session, envelope):
            Handler.n += 1
            with open(os.path.join(d, "mail", "%04d.eml" % Handler.n), "wb") as f:
                f.write(envelope.original_content or envelope.content)
            return "250 2.0.0 queued"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        with open(os.path.join(d, "auth.log"), "a") as f:
            f.write("%s %s\n" % (mechanism, "ok" if ok else "refused"))
        return AuthResult(success=ok, handled=False)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    c = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx,
                   require_starttls=True, authenticator=authenticator, auth_required=True,
                   auth_require_tls=True,
                   auth_exclude_mechanism=[m for m in ("LOGIN", "PLAIN") if m not in mechs.split(",")])
    c.start()
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    c.stop()


def wait_port(port, pid, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return False


def start(d, argv, port):
    os.makedirs(os.path.join(d, "mail"), exist_ok=True)
    os.chmod(os.path.join(d, "mail"), 0o777)
    for up in (d, os.path.dirname(d)):      # smtp-sink writes as nobody: let it through
        os.chmod(up, os.stat(up).st_mode | 0o011)
    log = open(os.path.join(d, "server.log"), "ab")
    p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    with open(os.path.join(d, "pid"), "w") as f:
        f.write(str(p.pid))
    with open(os.path.join(d, "port"), "w") as f:
        f.write(str(port))
    return 0 if wait_port(port, p.pid) else 1


def serve_tls(d, cert, key, port, tls13=False):
    import asyncio
    import ssl
    from aiosmtpd.controller import Controller

    class Handler:
        n = 0

        async def handle_DATA(self, server, session, envelope):
            Handler.n += 1
            with open(os.path.join(d, "mail", "%04d.eml" % Handler.n), "wb") as f:
                f.write(envelope.original_content or envelope.content)
            return "250 2.0.0 queued"

    if cert == "-":
        c = Controller(Handler(), hostname="127.0.0.1", port=port)
        c.start()
        signal.sigwait([signal.SIGTERM, signal.SIGINT])
        c.stop()
        return
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    if tls13:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    c = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx,
                   require_starttls=True)
    c.start()
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    c.stop()


def serve_hostile(port):
    """A relay that never ends its greeting: endless 220- continuation lines."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4)
    while True:
        c, _ = ls.accept()
        try:
            line = b"220-" + b"x" * 60 + b"\r\n"
            while True:
                c.sendall(line * 64)
        except OSError:
            c.close()


def certs(d, pki):
    os.makedirs(d, exist_ok=True)
    ext = os.path.join(d, "san.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    def run(*a):
        subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in ("right", "wrong"):
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", os.path.join(d, name + ".key"))
        run("openssl", "req", "-new", "-key", os.path.join(d, name + ".key"), "-subj",
            "/CN=relay " + name, "-out", os.path.join(d, name + ".csr"))
    run("openssl", "x509", "-req", "-in", os.path.join(d, "right.csr"), "-CA",
        os.path.join(pki, "ca.pem"), "-CAkey", os.path.join(pki, "ca.key"), "-CAcreateserial",
        "-CAserial", os.path.join(d, "ca.srl"), "-days", "30", "-extfile", ext,
        "-out", os.path.join(d, "right.pem"))
    run("openssl", "x509", "-req", "-in", os.path.join(d, "wrong.csr"), "-signkey",
        os.path.join(d, "wrong.key"), "-days", "30", "-extfile", ext,
        "-out", os.path.join(d, "wrong.pem"))


def stop(d):
    try:
        pid = int(open(os.path.join(d, "pid")).read())
    except (OSError, ValueError):
        return 0
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.05)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.unlink(os.path.join(d, "pid"))
    return 0


def main():
    cmd, d = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(d, exist_ok=True)
    if cmd == "sink":
        port = free_port()
        argv = ["/usr/sbin/smtp-sink", "-u", "nobody", "-d", os.path.join(d, "mail", "%M.")]
        argv += sys.argv[3:] + ["127.0.0.1:%d" % port, "10"]
        return start(d, argv, port)
    if cmd == "tls":
        port = free_port()
        return start(d, [sys.executable, os.path.abspath(__file__), "_serve_tls", d,
                         sys.argv[3], sys.argv[4], str(port)], port)
    if cmd == "tls13":
        port = free_port()
        return start(d, [sys.executable, os.path.abspath(__file__), "_serve_tls13", d,
                         sys.argv[3], sys.argv[4], str(port)], port)
    if cmd in ("_serve_tls", "_serve_tls13"):
        serve_tls(d, sys.argv[3], sys.argv[4], int(sys.argv[5]), cmd == "_serve_tls13")
        return 0
    if cmd == "hostile":
        port = free_port()
        return start(d, [sys.executable, os.path.abspath(__file__), "_serve_hostile", d,
                         str(port)], port)
    if cmd == "_serve_hostile":
        serve_hostile(int(sys.argv[3]))
        return 0
    if cmd == "snmpd":
        return snmpd(d, sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else None)
    if cmd == "slow":
        port = free_port()
        code = sys.argv[4] if len(sys.argv) > 4 else "451"
        return start(d, [sys.executable, os.path.abspath(__file__), "_serve_slow", d,
                         sys.argv[3], code, str(port)], port)
    if cmd == "_serve_slow":
        serve_slow(d, float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return 0
    if cmd == "reject":
        port = free_port()
        return start(d, [sys.executable, os.path.abspath(__file__), "_serve_reject", d,
                         sys.argv[3], str(port)], port)
    if cmd == "_serve_reject":
        serve_reject(sys.argv[3], int(sys.argv[4]))
        return 0
    if cmd == "auth":
        port = free_port()
        return start(d, [sys.executable, os.path.abspath(__file__), "_serve_auth", d]
                     + sys.argv[3:8] + [str(port)], port)
    if cmd == "_serve_auth":
        serve_auth(d, sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7],
                   int(sys.argv[8]))
        return 0
    if cmd == "certs":
        certs(d, sys.argv[3])
        return 0
    if cmd == "stop":
        return stop(d)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
