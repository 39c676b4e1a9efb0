#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare khttpd (the module) with build/twin, request by request.

    header_diff.py [--setup ROOT] PORT_A PORT_B

Sends the same raw requests to 127.0.0.1:PORT_A and :PORT_B (each on a
fresh connection) and compares the status line, the header fields (names,
order and values; Date values are masked) and the body (byte for byte),
and whether the server closed the connection after the response. Prints
one line per request and a unified diff of any difference; exits 1 if
there was one.

With --setup ROOT it first adds to ROOT (a copy of www/) what the requests
below need: a directory without index.html, a precompressed variant, a
zero-length file, a 1 MiB file, a file only its owner may read and a
symlink leading out of the root.

Meant for the QEMU guest, where the module runs:

    scripts/vm.sh run -- /bin/sh -c 'mkdir -p /tmp/r && cp -r www/* /tmp/r &&
      chmod -R a+rX /tmp/r &&
      /usr/bin/python3 tests/twin/header_diff.py --setup /tmp/r &&
      insmod ./khttpd.ko root=/tmp/r || exit 1;
      build/twin -p 8082 -r /tmp/r -t 1 & tp=$!; sleep 1;
      /usr/bin/python3 tests/twin/header_diff.py 8081 8082; rc=$?;
      kill $tp; wait $tp; rmmod khttpd; exit $rc'

(Stop the twin before the command ends: the guest's init waits for every
writer of the command's output to go away before it powers off.)
"""

import difflib
import gzip
import os
import re
import socket
import sys


def setup(root):
    os.makedirs(os.path.join(root, "list", "sub"), exist_ok=True)
    with open(os.path.join(root, "list", "a b&c.txt"), "wb") as f:
        f.write(b"listed\n")
    with open(os.path.join(root, "list", ".hidden"), "wb") as f:
        f.write(b"h")
    for name in ("out", "list/out"):
        p = os.path.join(root, name)
        if not os.path.lexists(p):
            os.symlink("/etc/passwd", p)
    text = b"body { color: #333 }\n" * 200
    with open(os.path.join(root, "g.css"), "wb") as f:
        f.write(text)
    with open(os.path.join(root, "g.css.gz"), "wb") as f:
        f.write(gzip.compress(text, mtime=0))
    open(os.path.join(root, "empty.txt"), "wb").close()
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(bytes(range(256)) * 4096)
    p = os.path.join(root, "private.txt")
    with open(p, "wb") as f:
        f.write(b"secret\n")
    os.chmod(p, 0o600)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p) and n != "private.txt":
                os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)


def read_response(sock, head_only):
    """(head bytes, body bytes, closed after) of one response."""
    buf = b""

    def more():
        nonlocal buf
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            d = b""
        buf += d
        return bool(d)

    while b"\r\n\r\n" not in buf:
        if not more():
            return buf, b"", True
    head, buf = buf.split(b"\r\n\r\n", 1)
    head += b"\r\n\r\n"
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    status = int(head.split(b" ", 2)[1])
    if head_only or status == 304:
        body = b""
    elif re.search(rb"\r\ntransfer-encoding: *chunked", head, re.I):
        # Raw chunked body, framing included: the framing is compared too.
        while not buf.endswith(b"\r\n0\r\n\r\n") and buf != b"0\r\n\r\n":
            if not more():
                break
        body, buf = buf, b""
    elif m:
        n = int(m.group(1))
        while len(buf) < n and more():
            pass
        body, buf = buf[:n], buf[n:]
    else:
        while more():
            pass
        body, buf = buf, b""
    # Did the server close after it? Give it a moment.
    sock.settimeout(0.5)
    try:
        closed = not sock.recv(1)
    except (socket.timeout, BlockingIOError):
        closed = False
    except ConnectionResetError:
        closed = True
    return head, body, closed


def fetch(port, raw, head_only):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(raw)
        return read_response(s, head_only)
    finally:
        s.close()


def etag_of(port, path):
    head, _, _ = fetch(port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path,
                       False)
    m = re.search(rb"\r\nETag: *([^\r]+)", head)
    return m.group(1) if m else b'"none"'


def requests(port):
    etag = etag_of(port, b"/index.html")
    r = [
        ("200 GET /", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 GET file", b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 HEAD file", b"HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 big file", b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 zero-length", b"GET /empty.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 HTTP/1.0", b"GET /style.css HTTP/1.0\r\n\r\n"),
        ("200 1.0 keep-alive",
         b"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        ("200 Connection: close",
         b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ("200 gzip variant", b"GET /g.css HTTP/1.1\r\nHost: x\r\n"
         b"Accept-Encoding: gzip, deflate\r\n\r\n"),
        ("200 no gzip", b"GET /g.css HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("304 If-None-Match", b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
         b"If-None-Match: " + etag + b"\r\n\r\n"),
        ("412 If-Match", b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
         b"If-Match: \"nope\"\r\n\r\n"),
        ("206 range", b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
         b"Range: bytes=10-99\r\n\r\n"),
        ("206 big range", b"GET /big.bin HTTP/1.1\r\nHost: x\r\n"
         b"Range: bytes=1000-600000\r\n\r\n"),
        ("206 suffix", b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
         b"Range: bytes=-10\r\n\r\n"),
        ("416 range", b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
         b"Range: bytes=999999-\r\n\r\n"),
        ("404", b"GET /nope.html HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("404 HEAD", b"HEAD /nope.html HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("404 file/", b"GET /index.html/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("404 symlink out", b"GET /out HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("404 traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("403 private", b"GET /private.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("301 dir", b"GET /docs?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 dir index", b"GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 listing", b"GET /list/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 listing 1.0", b"GET /list/ HTTP/1.0\r\n\r\n"),
        ("200 listing HEAD", b"HEAD /list/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("200 OPTIONS", b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("405 POST", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3"
         b"\r\n\r\nabc"),
        ("501 method", b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("501 chunked", b"POST / HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("400 malformed", b"GET / HTTP/1.1\r\nBad header\r\n\r\n"),
        ("400 bad escape", b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("505 version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
        ("414 overflow", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"),
        ("431 overflow", b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"),
    ]
    return r


def mask(head):
    return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: <masked>", head)


def main(argv):
    if len(argv) == 3 and argv[1] == "--setup":
        setup(argv[2])
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = int(argv[1]), int(argv[2])
    reqs_a, reqs_b = requests(a), requests(b)
    bad = 0
    for (name, ra), (_, rb_) in zip(reqs_a, reqs_b):
        head_only = ra.startswith(b"HEAD ")
        ha, ba, ca = fetch(a, ra, head_only)
        hb, bb, cb = fetch(b, rb_, head_only)
        same = mask(ha) == mask(hb) and ba == bb and ca == cb
        status = ha.split(b"\r\n", 1)[0].decode(errors="replace")
        print("%-4s %-22s %s%s" % ("ok" if same else "DIFF", name, status,
                                   " (closed)" if ca else ""))
        if not same:
            bad += 1
            la = mask(ha).decode(errors="replace").splitlines()
            lb = mask(hb).decode(errors="replace").splitlines()
            for ln in difflib.unified_diff(la, lb, "port %d" % a,
                                           "port %d" % b, lineterm=""):
                print("     " + ln)
            if ba != bb:
                print("     body differs: %d vs %d bytes" % (len(ba), len(bb)))
            if ca != cb:
                print("     closed after: %s vs %s" % (ca, cb))
    print("%d requests, %d differences" % (len(reqs_a), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
