#!/usr/bin/python3
"""A fake SNMP v2c printer on 127.0.0.1 (a free UDP port), honest or hostile.

  fake_snmp.py DIR MODE [SERIAL [LIFECOUNT [PORT]]]

It serves a small printer (sysName "INJECTED-BY-TRAP", serial SERIAL, default
FAKE0001, prtMarkerLifeCount LIFECOUNT, default 1000) to GETBULK requests, and
answers each request the way MODE says:

  good       a Response from the port asked, with the request's id and community
  trap       an SNMPv2-Trap carrying the answer, from another port, community "evil"
  wrongport  a correct Response, but sent from another UDP port
  community  a Response from the right port with community "evil"
  echo       the request itself, sent back unchanged
  reqid      a Response from the right port with request-id + 1
  all        every hostile answer above, for each request

It writes DIR/port and DIR/pid, runs in its own session (servers.py stop DIR
stops it) and counts the requests it saw in DIR/requests.
"""
import os
import socket
import sys

SYSNAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SERIAL = (1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17, 1)
UNIT = (1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 3, 1, 1)
LIFE = (1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 4, 1, 1)


def tlv(tag, body):
    n = len(body)
    if n < 128:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body


def integer(v, tag=0x02):
    return tlv(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def counter(v):
    b = v.to_bytes((v.bit_length() + 8) // 8 or 1, "big")
    return tlv(0x41, b)


def octets(s):
    return tlv(0x04, s if isinstance(s, bytes) else s.encode())


def enc_oid(o):
    out = bytes([40 * o[0] + o[1]])
    for x in o[2:]:
        chunk = [x & 0x7F]
        x >>= 7
        while x:
            chunk.append(0x80 | (x & 0x7F))
            x >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


def parse(buf, pos=0):
    """One TLV at pos: (tag, body, next position)."""
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    return tag, buf[pos:pos + n], pos + n


def dec_oid(b):
    o = [b[0] // 40, b[0] % 40]
    x = 0
    for c in b[1:]:
        x = (x << 7) | (c & 0x7F)
        if not c & 0x80:
            o.append(x)
            x = 0
    return tuple(o)


def request(buf):
    """(community, pdu tag, request-id, max-repetitions, first oid)."""
    _, msg, _ = parse(buf)
    _, _, p = parse(msg)                       # version
    _, community, p = parse(msg, p)
    tag, pdu, _ = parse(msg, p)
    _, rid, q = parse(pdu)
    _, _, q = parse(pdu, q)                    # non-repeaters / error-status
    _, maxrep, q = parse(pdu, q)
    _, vbl, _ = parse(pdu, q)
    _, vb, _ = parse(vbl)
    _, name, _ = parse(vb)
    return (community, tag, int.from_bytes(rid, "big", signed=True),
            int.from_bytes(maxrep, "big"), dec_oid(name))


def message(community, tag, rid, varbinds):
    vbl = b"".join(tlv(0x30, enc_oid(o) + v) for o, v in varbinds)
    pdu = tlv(tag, integer(rid) + integer(0) + integer(0) + tlv(0x30, vbl))
    return tlv(0x30, integer(1) + octets(community) + pdu)


def main():
    d, mode = os.path.abspath(sys.argv[1]), sys.argv[2]
    serial = sys.argv[3] if len(sys.argv) > 3 else "FAKE0001"
    life = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    want = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    os.makedirs(d, exist_ok=True)
    table = sorted([(SYSNAME, octets("INJECTED-BY-TRAP")), (SERIAL, octets(serial)),
                    (UNIT, integer(7)), (LIFE, counter(life))])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", want))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    pid = os.fork()
    if pid:
        with open(os.path.join(d, "pid"), "w") as f:
            f.write(str(pid))
        with open(os.path.join(d, "port"), "w") as f:
            f.write(str(port))
        return 0
    os.setsid()
    seen = 0
    while True:
        buf, peer = s.recvfrom(65536)
        try:
            community, tag, rid, maxrep, start = request(buf)
        except (IndexError, ValueError):
            continue
        seen += 1
        with open(os.path.join(d, "requests"), "w") as f:
            f.write("%d\n" % seen)
        after = [(o, v) for o, v in table if o > start][:max(1, maxrep)]
        if not after:
            after = [(start, b"\x82\x00")]     # endOfMibView
        answers = []
        if mode in ("good",):
            answers.append((s, message(community, 0xA2, rid, after)))
        if mode in ("trap", "all"):
            answers.append((other, message(b"evil", 0xA7, rid, after)))
        if mode in ("wrongport", "all"):
            answers.append((other, message(community, 0xA2, rid, after)))
        if mode in ("community", "all"):
            answers.append((s, message(b"evil", 0xA2, rid, after)))
        if mode in ("echo", "all"):
            answers.append((s, buf))
        if mode in ("reqid", "all"):
            answers.append((s, message(community, 0xA2, rid + 1, after)))
        for sock, data in answers:
            sock.sendto(data, peer)


if __name__ == "__main__":
    sys.exit(main())
