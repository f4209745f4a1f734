#!/usr/bin/python3
"""demo-cleanup: tools/demo leaves nothing running behind it.

usage: demo_cleanup.py BUILD_ROOT [RUN...]   (env: TM_SRCDIR = source root)

tools/demo starts `telemail-mailgw serve` in the background (step 5) and runs
telemail-agent in the foreground. Whatever way the demo ends, no process it
started may be left, and the gateway's port must be closed. Three runs, each
with a state directory of its own (TM_DEMO_DIR) and the binaries of
BUILD_ROOT as they are (TM_DEMO_BUILD: no install, no compile):

  done    the demo runs to "demo: done" and exits 0;
  ctrl-c  once the gateway listens, SIGINT to the demo's whole process group
          (what Ctrl-C in a terminal does): the demo exits 130;
  term    once the gateway listens, SIGTERM to the demo's shell alone (a
          supervisor or a timeout stopping it): the demo exits 143.

(With the gateway started as `gw serve &`, a shell function, $! was a
subshell's: the done and term runs found telemail-mailgw serve still
listening. The ctrl-c run passed even then, since the daemon gets the
terminal's SIGINT itself and stops.)

After each, every process under /proc is checked: none may have the run's
state directory in its command line (the gateway is started with
-c STATE/mailgw.yaml) or as its working directory (the agents run there with
relative paths); and a connection to the port the gateway logged must be
refused. A process found is reported and then killed, so that a failing run
leaves nothing either.

Prints one line per run, then "demo-cleanup: N passed, M failed"; exits 1 on
any failure.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

LISTENING = re.compile(r'event=listening proto=smtp.* port=(\d+)')


def processes_under(state):
    """(pid, command line) of every process but this one tied to STATE."""
    found = []
    key = state.encode()
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f'/proc/{name}/cmdline', 'rb') as f:
                cmd = f.read()
            try:
                cwd = os.readlink(f'/proc/{name}/cwd')
            except OSError:
                cwd = ''
        except OSError:
            continue  # gone meanwhile
        if key in cmd or cwd == state or cwd.startswith(state + '/'):
            found.append((int(name), cmd.replace(b'\0', b' ').decode(errors='replace').strip()))
    return found


def gateway_port(state):
    try:
        with open(os.path.join(state, 'gateway.log'), errors='replace') as f:
            m = LISTENING.findall(f.read())
    except OSError:
        return None
    return int(m[-1]) if m else None


def port_open(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(('127.0.0.1', port))
        return True
    except OSError:  # refused: nothing listens
        return False
    finally:
        s.close()


def start_demo(src, build, state, log):
    env = dict(os.environ, TM_DEMO_BUILD=build, TM_DEMO_DIR=state)
    return subprocess.Popen(['bash', os.path.join(src, 'tools', 'demo')], cwd=src, env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group, as a terminal job


def wait_listening(proc, state, limit=300):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if gateway_port(state) is not None:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def run(name, src, build, top):
    """One demo run; returns a list of failures (empty: passed)."""
    state = os.path.join(top, name)
    logpath = os.path.join(top, name + '.log')
    errors = []
    with open(logpath, 'wb') as log:
        proc = start_demo(src, build, state, log)
        try:
            if name == 'done':
                rc, want = proc.wait(timeout=900), 0
            else:
                if not wait_listening(proc, state):
                    errors.append('the gateway never listened (see %s)' % logpath)
                    proc.kill()
                    proc.wait()
                    return errors
                if name == 'ctrl-c':
                    os.killpg(proc.pid, signal.SIGINT)
                    want = 130
                else:
                    os.kill(proc.pid, signal.SIGTERM)
                    want = 143
                rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            errors.append('the demo did not end')
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc, want = None, 0
    with open(logpath, errors='replace') as f:
        out = f.read()
    if rc != want:
        errors.append(f'exit status {rc}, want {want}')
    if name == 'done' and 'demo: done' not in out:
        errors.append('no "demo: done" line')
    left = processes_under(state)
    for pid, cmd in left:
        errors.append(f'left running: pid {pid}: {cmd}')
    port = gateway_port(state)
    if port is None:
        errors.append('no listening line in gateway.log')
    elif port_open(port):
        errors.append(f'127.0.0.1:{port} still accepts connections')
    for pid, _ in left:  # ours (they run in our state directory): stop them
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if errors:
        sys.stdout.write(out[-3000:])
    return errors


def main():
    runs = sys.argv[2:] or ['ctrl-c', 'term', 'done']
    if len(sys.argv) < 2 or not set(runs) <= {'ctrl-c', 'term', 'done'}:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    src = os.environ.get('TM_SRCDIR') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    top = tempfile.mkdtemp(prefix='tm-demo-cleanup.')
    passed = failed = 0
    for name in runs:
        t0 = time.monotonic()
        errors = run(name, src, build, top)
        took = time.monotonic() - t0
        if errors:
            failed += 1
            print(f'FAIL {name} ({took:.0f}s): ' + '; '.join(errors))
        else:
            passed += 1
            print(f'ok   {name} ({took:.0f}s): nothing left running, gateway port closed')
    if failed:
        print(f'(the runs are kept in {top})')
    else:
        shutil.rmtree(top, ignore_errors=True)
    print(f'demo-cleanup: {passed} passed, {failed} failed')
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
