# SPDX-License-Identifier: GPL-2.0
"""Parity: the module and the twin answer every request below with the
same status line, the same header fields in the same order with the same
values (Date and ETag values aside: the time, and inode numbers), the same
body (in the same chunks, when chunked), and close the connection after
the same ones. The answers are
recorded in parity.json, beside this file, and whichever server is under
test must give exactly those; a request where the two differ fails under
one of them.

Each request goes on a fresh connection; whether the server closed it
after the response is seen by sending one more request on it (answered,
or EOF/reset). Everything requested lives in /parity/, made here with
fixed times, so Last-Modified values and listings are recorded as they
are.

parity.json holds the module's answers. To record it again (after a
change to what the servers send, made to both), run this file in the guest
with KHTTPD_PARITY_RECORD naming the file to write instead of comparing:

    KVER=<version> KHTTPD_KO=$PWD/build/kernels/<version>/khttpd.ko \\
    scripts/vm.sh run -- sh -c 'KHTTPD_REQUIRE=1 \\
        KHTTPD_PARITY_RECORD=$VM_RESULTS/parity.json \\
        /usr/bin/python3 -m pytest -q tests/integration/test_parity.py'
    cp build/vm/out/parity.json tests/integration/parity.json

then check the difference (git diff) and run the twin against it.
"""

import functools
import gzip
import hashlib
import json
import os
import shutil

import pytest

from khttp_client import ConnectionClosed, Conn

from conftest import LISTING_MTIME, RFC_EXAMPLE_MTIME, SERVER, make_png

RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "parity.json")
MASKED = ("date", "etag")
H = b"Host: 127.0.0.1\r\n"
PROBE = b"GET /parity/a.txt HTTP/1.1\r\n" + H + b"\r\n"


def req(line, *fields, body=b""):
    """Request bytes: the request line, Host unless fields say otherwise
    (None leaves it out), the fields, the body."""
    head = line.encode() + b"\r\n"
    if fields[:1] == (None,):
        fields = fields[1:]
    else:
        head += H
    for f in fields:
        head += f.encode("latin-1") + b"\r\n"
    return head + b"\r\n" + body


def etag_req(line, field):
    """A request needing the current ETag of /parity/a.txt (it holds the
    inode number, so it is found at run time): field has %s for it."""
    return lambda etag: req(line, field % etag)


A = "GET /parity/a.txt HTTP/1.1"
BIG = "GET /parity/big.bin HTTP/1.1"
IMS_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"      # /parity/a.txt's mtime

# name -> request bytes (or a function of the ETag of /parity/a.txt).
REQUESTS = {
    # files
    "get-text": req(A),
    "head-text": req("HEAD /parity/a.txt HTTP/1.1"),
    "get-html": req("GET /parity/index.html HTTP/1.1"),
    "get-empty": req("GET /parity/empty.txt HTTP/1.1"),
    "head-empty": req("HEAD /parity/empty.txt HTTP/1.1"),
    "get-1mib": req(BIG),
    "head-1mib": req("HEAD /parity/big.bin HTTP/1.1"),
    "get-uncached": req("GET /parity/mid.bin HTTP/1.1"),
    "get-noext": req("GET /parity/noext HTTP/1.1"),
    "get-png": req("GET /parity/x.png HTTP/1.1"),
    "get-unknown-ext": req("GET /parity/x.qqq HTTP/1.1"),
    "get-css": req("GET /parity/g.css HTTP/1.1"),
    "symlink-inside": req("GET /parity/link-in HTTP/1.1"),
    # versions and persistence
    "http10": req("GET /parity/a.txt HTTP/1.0", None),
    "http10-keepalive": req("GET /parity/a.txt HTTP/1.0", None,
                            "Connection: keep-alive"),
    "http10-head": req("HEAD /parity/a.txt HTTP/1.0", None),
    "http10-host": req("GET /parity/a.txt HTTP/1.0"),
    "connection-close": req(A, "Connection: close"),
    "connection-close-case": req(A, "connection: Close"),
    "connection-keepalive-11": req(A, "Connection: keep-alive"),
    # precompressed variants
    "gzip": req("GET /parity/g.css HTTP/1.1", "Accept-Encoding: gzip"),
    "gzip-list": req("GET /parity/g.css HTTP/1.1",
                     "Accept-Encoding: br;q=1.0, gzip;q=0.8"),
    "gzip-q0": req("GET /parity/g.css HTTP/1.1", "Accept-Encoding: gzip;q=0"),
    "gzip-head": req("HEAD /parity/g.css HTTP/1.1", "Accept-Encoding: gzip"),
    "gzip-range": req("GET /parity/g.css HTTP/1.1", "Accept-Encoding: gzip",
                      "Range: bytes=0-9"),
    "gzip-no-variant": req(A, "Accept-Encoding: gzip"),
    # conditionals
    "inm-current": etag_req(A, "If-None-Match: %s"),
    "inm-weak-current": etag_req(A, "If-None-Match: W/%s"),
    "inm-list": etag_req(A, 'If-None-Match: "x", %s'),
    "inm-star": req(A, "If-None-Match: *"),
    "inm-other": req(A, 'If-None-Match: "other"'),
    "inm-current-head": etag_req("HEAD /parity/a.txt HTTP/1.1",
                                 "If-None-Match: %s"),
    "ims-equal": req(A, "If-Modified-Since: " + IMS_DATE),
    "ims-earlier": req(A, "If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT"),
    "ims-rfc850": req(A, "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT"),
    "ims-asctime": req(A, "If-Modified-Since: Sun Nov  6 08:49:37 1994"),
    "ims-invalid": req(A, "If-Modified-Since: yesterday"),
    "im-other": req(A, 'If-Match: "other"'),
    "im-star": req(A, "If-Match: *"),
    "im-current": etag_req(A, "If-Match: %s"),
    "ius-earlier": req(A, "If-Unmodified-Since: "
                       "Sun, 06 Nov 1994 08:49:36 GMT"),
    "ius-equal": req(A, "If-Unmodified-Since: " + IMS_DATE),
    "inm-star-404": req("GET /parity/nope HTTP/1.1", "If-None-Match: *"),
    # ranges
    "range": req(BIG, "Range: bytes=0-99"),
    "range-open": req(BIG, "Range: bytes=1000-"),
    "range-suffix": req(BIG, "Range: bytes=-10"),
    "range-clamped": req(BIG, "Range: bytes=1048000-2000000"),
    "range-big": req(BIG, "Range: bytes=1000-600000"),
    "range-416": req(BIG, "Range: bytes=2000000-"),
    "range-416-empty": req("GET /parity/empty.txt HTTP/1.1",
                           "Range: bytes=0-"),
    "range-multi": req(BIG, "Range: bytes=0-1,5-6"),
    "range-invalid": req(BIG, "Range: bytes=5-1"),
    "range-other-unit": req(BIG, "Range: items=0-5"),
    "range-head": req("HEAD /parity/big.bin HTTP/1.1", "Range: bytes=0-99"),
    "if-range-current": etag_req(A, "Range: bytes=2-5\r\nIf-Range: %s"),
    "if-range-stale": req(A, "Range: bytes=2-5", 'If-Range: "stale"'),
    "if-range-date": req(A, "Range: bytes=2-5", "If-Range: " + IMS_DATE),
    "if-range-other-date": req(A, "Range: bytes=2-5",
                               "If-Range: Sat, 03 Feb 2001 04:05:06 GMT"),
    # directories
    "dir-index": req("GET /parity/ HTTP/1.1"),
    "dir-redirect": req("GET /parity/dir HTTP/1.1"),
    "dir-redirect-query": req("GET /parity/dir?x=1&y HTTP/1.1"),
    "dir-redirect-head": req("HEAD /parity/dir HTTP/1.1"),
    "dir-with-index": req("GET /parity/dir/ HTTP/1.1"),
    "listing": req("GET /parity/list/ HTTP/1.1"),
    "listing-http10": req("GET /parity/list/ HTTP/1.0", None),
    "listing-http10-keepalive": req("GET /parity/list/ HTTP/1.0", None,
                                    "Connection: keep-alive"),
    "listing-head": req("HEAD /parity/list/ HTTP/1.1"),
    "listing-empty": req("GET /parity/list/sub/ HTTP/1.1"),
    "listing-redirect": req("GET /parity/list HTTP/1.1"),
    # not found, refused
    "missing": req("GET /parity/nope.html HTTP/1.1"),
    "missing-head": req("HEAD /parity/nope.html HTTP/1.1"),
    "file-slash": req("GET /parity/a.txt/ HTTP/1.1"),
    "symlink-out": req("GET /parity/out HTTP/1.1"),
    "symlink-out-listed-dir": req("GET /parity/list/out HTTP/1.1"),
    "traversal": req("GET /../../etc/passwd HTTP/1.1"),
    "traversal-encoded": req("GET /parity/%2e%2e/%2e%2e/etc/passwd HTTP/1.1"),
    "private": req("GET /parity/private.txt HTTP/1.1"),
    "fifo": req("GET /parity/fifo HTTP/1.1"),
    # target forms
    "absolute-form": req("GET http://127.0.0.1/parity/a.txt HTTP/1.1"),
    "query": req("GET /parity/a.txt?x=1 HTTP/1.1"),
    "percent": req("GET /parity/%61.txt HTTP/1.1"),
    "dot-segments": req("GET /parity/./dir/../a.txt HTTP/1.1"),
    "double-slash": req("GET //parity//a.txt HTTP/1.1"),
    "percent-2f": req("GET /parity%2fa.txt HTTP/1.1"),
    # methods
    "options-star": req("OPTIONS * HTTP/1.1"),
    "options-file": req("OPTIONS /parity/a.txt HTTP/1.1"),
    "post": req("POST /parity/a.txt HTTP/1.1", "Content-Length: 3",
                body=b"abc"),
    "post-20000": req("POST /parity/a.txt HTTP/1.1", "Content-Length: 20000",
                      body=b"z" * 20000),
    "post-1000000": req("POST /parity/a.txt HTTP/1.1",
                        "Content-Length: 1000000"),
    "put": req("PUT /parity/a.txt HTTP/1.1", "Content-Length: 0"),
    "delete": req("DELETE /parity/a.txt HTTP/1.1"),
    "unknown-method": req("BREW /parity/a.txt HTTP/1.1"),
    "chunked-body": req("POST /parity/a.txt HTTP/1.1",
                        "Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    "get-with-body": req(A, "Content-Length: 5", body=b"hello"),
    "expect-100-with-body": req(A, "Content-Length: 5",
                                "Expect: 100-continue", body=b"hello"),
    # malformed
    "garbage": b"GARBAGE\r\n\r\n",
    "binary": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "no-version": b"GET /parity/a.txt\r\n\r\n",
    "bad-header": req(A, "Bad header"),
    "space-before-colon": req(A, "X-Test : 1"),
    "obs-fold": req(A, "X-Folded: a", " b"),
    "bare-lf": b"GET /parity/a.txt HTTP/1.1\nHost: 127.0.0.1\n\n",
    "no-host": req(A, None),
    "two-hosts": req(A, "Host: example.com"),
    "cl-and-te": req(A, "Content-Length: 5", "Transfer-Encoding: chunked",
                     body=b"0\r\n\r\n"),
    "two-cl": req(A, "Content-Length: 1", "Content-Length: 2", body=b"ab"),
    "cl-not-a-number": req(A, "Content-Length: x"),
    "target-no-slash": req("GET parity/a.txt HTTP/1.1"),
    "bad-escape": req("GET /%zz HTTP/1.1"),
    "escaped-nul": req("GET /parity/a.txt%00.html HTTP/1.1"),
    "http2": req("GET /parity/a.txt HTTP/2.0"),
    "http12": req("GET /parity/a.txt HTTP/1.2"),
    "target-too-long": req("GET /" + "a" * 9000 + " HTTP/1.1"),
    "field-too-long": req(A, "X: " + "a" * 9000),
    "too-many-fields": req(A, *["X-F%d: 1" % i for i in range(99)]),
}


def build_tree(srv):
    """/parity/ under the served root, every time fixed."""
    top = srv.path("/parity")
    shutil.rmtree(top, ignore_errors=True)

    def put(rel, data, mode=0o644):
        p = os.path.join(top, rel)
        os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        os.utime(p, (RFC_EXAMPLE_MTIME, RFC_EXAMPLE_MTIME))

    put("a.txt", b"parity a.txt: some text\n")
    put("index.html", b"<!DOCTYPE html>\n<title>parity</title><p>index</p>\n")
    put("empty.txt", b"")
    put("big.bin", bytes(range(256)) * 4096)
    put("mid.bin", bytes(range(251)) * 400)         # over the cache's limit
    put("noext", b"no extension\n")
    put("x.png", make_png(8, 8))
    put("x.qqq", b"unknown extension\n")
    text = b"body { color: #333 }\n" * 200
    put("g.css", text)
    put("g.css.gz", gzip.compress(text, 9, mtime=0))
    put("dir/index.html", b"<!DOCTYPE html>\n<title>dir</title>\n")
    put("list/a b&c.txt", b"listed\n")
    put("list/z.txt", b"z" * 1234)
    put("list/.hidden", b"h")
    put("private.txt", b"private\n", 0o600)
    os.makedirs(os.path.join(top, "list", "sub"), 0o755)
    os.symlink("/etc/passwd", os.path.join(top, "out"))
    os.symlink("../../outside.txt", os.path.join(top, "list", "out"))
    os.symlink("a.txt", os.path.join(top, "link-in"))
    os.mkfifo(os.path.join(top, "fifo"), 0o644)
    for d in ("list/sub", "list", "dir", ""):
        p = os.path.join(top, d)
        os.utime(p, (LISTING_MTIME, LISTING_MTIME))


def answer(srv, raw):
    """What the server answered to raw: a dict for the record."""
    with Conn(srv.host, srv.port, timeout=30) as c:
        c.send(raw)
        method = raw.split(b" ", 1)[0].decode("latin-1")
        responses = []
        while True:
            try:
                r = c.read_response(method)
            except ConnectionClosed:
                responses.append(None)          # closed, no answer
                return {"responses": responses, "closed": True}
            got = {
                "status": "%s %d %s" % (r.version, r.status, r.reason),
                "headers": [[n, "<masked>" if n.lower() in MASKED else v]
                            for n, v in r.headers],
                "body": "%d %s" % (len(r.body),
                                   hashlib.sha256(r.body).hexdigest()),
            }
            if r.chunks is not None:
                got["chunks"] = r.chunks        # the framing, too
            responses.append(got)
            if not 100 <= r.status < 200:
                break
        # Closed after the response? One more request says.
        c.send(PROBE)
        try:
            probe = c.read_response()
        except ConnectionClosed as e:
            if e.partial:
                raise AssertionError("part of a response, then the close: "
                                     "%r" % e.partial[:200]) from None
            return {"responses": responses, "closed": True}
        assert probe.status == 200, probe
        return {"responses": responses, "closed": False}


@pytest.fixture(scope="module")
def answers(khttpd):
    if not khttpd.running or khttpd.params:
        khttpd.restart()
    build_tree(khttpd)
    try:
        etag = khttpd.get("/parity/a.txt").header("ETag")
        got = {}
        for name, raw in REQUESTS.items():
            got[name] = answer(khttpd, raw(etag) if callable(raw) else raw)
    finally:
        shutil.rmtree(khttpd.path("/parity"), ignore_errors=True)
    out = os.environ.get("KHTTPD_PARITY_RECORD")
    if out:
        write_record(out, got)
    return got


def write_record(path, got):
    """JSON, one request a line (a change shows as that line in a diff)."""
    lines = ["%s: %s" % (json.dumps(k), json.dumps(got[k], sort_keys=True))
             for k in sorted(got)]
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


@functools.lru_cache(maxsize=None)
def recorded():
    try:
        with open(RECORD) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


# Requests the twin answers differently from the module (parity bugs):
# name -> what differs.
TWIN_DIFFERS = {
}

# The twin reads files as 65534 only when started as root.
NEEDS_ROOT = ("private",)


def params():
    for name in REQUESTS:
        marks = []
        if name in TWIN_DIFFERS:
            marks.append(pytest.mark.xfail(SERVER == "twin", strict=True,
                                           reason=TWIN_DIFFERS[name]))
        if name in NEEDS_ROOT:
            marks.append(pytest.mark.needs_root("a file of the suite's "
                                                "own user"))
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", params())
def test_same_answer_as_recorded(answers, name):
    if os.environ.get("KHTTPD_PARITY_RECORD"):
        pytest.skip("recording to %s" % os.environ["KHTTPD_PARITY_RECORD"])
    want = recorded().get(name)
    assert want is not None, "%s: not in %s (record it: see the docstring)" \
        % (name, RECORD)
    assert answers[name] == want


@pytest.mark.parametrize("name", params())
def test_close_is_announced(answers, name):
    """A server that closes after an answer it sent says so in that
    answer's head (Connection: close), so that an HTTP/1.1 client does
    not send its next request into a closing connection."""
    got = answers[name]
    last = got["responses"][-1]
    if not got["closed"] or last is None:
        return
    close = [v for n, v in last["headers"]
             if n.lower() == "connection" and "close" in v.lower()]
    assert close, "%s: closed after %s without Connection: close" \
        % (name, last["status"])


def test_record_has_no_stale_entries():
    """Every recorded request is still sent (a renamed one would otherwise
    leave its old answer behind unchecked)."""
    if os.environ.get("KHTTPD_PARITY_RECORD"):
        pytest.skip("recording")
    assert sorted(set(recorded()) - set(REQUESTS)) == []
