#!/usr/bin/env python3
"""Send one .eml file N times over S concurrent SMTP sessions (persistent
connections, one message after the other per session). Prints the number of
250 replies and the seconds taken. Used by bench_smtp.sh for the end-to-end
figure (real S/MIME messages, first byte to stored record)."""
import smtplib
import sys
import threading
import time


def main():
    host, port, path, n, sessions = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    with open(path, 'rb') as f:
        msg = f.read()
    lock = threading.Lock()
    state = {'left': n, 'ok': 0}

    def worker():
        s = smtplib.SMTP(host, port, timeout=60)
        s.ehlo('bench.example')
        while True:
            with lock:
                if state['left'] == 0:
                    break
                state['left'] -= 1
            try:
                s.sendmail('dev@devices.example', ['telemail@gateway.example'], msg)
                with lock:
                    state['ok'] += 1
            except smtplib.SMTPException:
                pass
        s.quit()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(state['ok'], '%.3f' % (time.monotonic() - t0))


if __name__ == '__main__':
    main()
