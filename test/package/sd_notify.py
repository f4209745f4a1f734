#!/usr/bin/env python3
"""telemail-mailgw serve speaks systemd's notify protocol (Type=notify).

The test plays the service manager: it binds a datagram socket, starts the
real daemon with NOTIFY_SOCKET naming it (once as a path, once as an abstract
name), and checks the datagrams: READY=1 once the listener accepts
connections; RELOADING=1 then READY=1 for a SIGHUP; STOPPING=1 after SIGTERM,
and a clean exit. Without NOTIFY_SOCKET the daemon runs as before (the rest
of the suite starts it that way).
  sd_notify.py BUILD_DIR PKI_DIR
"""
import os, signal, socket, subprocess, sys, tempfile, time

build, pki = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
mailgw = os.path.join(build, "mailgw", "telemail-mailgw")


def expect(sock, want, proc):
    sock.settimeout(20)
    try:
        data = sock.recv(4096).decode()
    except socket.timeout:
        proc.kill()
        sys.exit(f"FAIL: no datagram within 20 s, expected {want!r}")
    if data != want:
        proc.kill()
        sys.exit(f"FAIL: got {data!r}, expected {want!r}")
    print(f"ok: {data}")


def run(tmp, address, env_value):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    port_probe = socket.socket()
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()
    cfg = os.path.join(tmp, "mailgw.yaml")
    with open(cfg, "w") as f:
        f.write(f"""state_dir: {tmp}/state
gateway:
  mailboxes: [telemail@gw.test]
  keys:
    - {{cert: {pki}/gw-ec.pem, key: {pki}/gw-ec.key}}
trust:
  ca_file: {pki}/ca.pem
listen:
  smtp: 127.0.0.1:{port}
""")
    env = dict(os.environ, NOTIFY_SOCKET=env_value)
    proc = subprocess.Popen([mailgw, "-c", cfg, "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    expect(sock, "READY=1", proc)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        greeting = c.recv(512)
        if not greeting.startswith(b"220"):
            proc.kill()
            sys.exit(f"FAIL: READY=1 sent but the greeting is {greeting!r}")
    proc.send_signal(signal.SIGHUP)
    expect(sock, "RELOADING=1", proc)
    expect(sock, "READY=1", proc)
    proc.send_signal(signal.SIGTERM)
    expect(sock, "STOPPING=1", proc)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit("FAIL: serve did not exit within 60 s of SIGTERM")
    err = proc.stderr.read().decode()
    if rc != 0:
        sys.exit(f"FAIL: serve exited {rc}\n{err}")
    if "event=reload\n" not in err or "reload_failed" in err:
        sys.exit(f"FAIL: the reload is not logged, or it failed\n{err}")
    sock.close()


with tempfile.TemporaryDirectory(prefix="tm-sdnotify-") as tmp:
    path = os.path.join(tmp, "notify.sock")
    run(tmp, path, path)
with tempfile.TemporaryDirectory(prefix="tm-sdnotify-") as tmp:
    name = f"telemail-test-{os.getpid()}-{time.monotonic_ns()}"
    run(tmp, "\0" + name, "@" + name)
print("sd_notify: ok")
