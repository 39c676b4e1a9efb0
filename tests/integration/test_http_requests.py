# SPDX-License-Identifier: GPL-2.0
"""Request handling: size limits (414/431), versions (505), methods
(501, OPTIONS), bodies on GET, request-smuggling defences, target forms
and percent-decoding, and Expect: 100-continue."""

import socket
import time

import pytest

from khttp_client import ConnectionClosed, exchange

from conftest import OUTSIDE_CONTENT

HELLO = "/hello.txt"


def raw_exchange(srv, raw, method="GET", timeout=30.0):
    """(response, conn) for raw request bytes; the caller closes conn."""
    return exchange(srv.host, srv.port, raw, method, timeout)


def assert_closed(c, what):
    state, extra = c.wait_closed(10)
    assert state in ("eof", "reset"), "%s: connection left open" % what
    assert extra == b"", "%s: bytes after the response: %r" % (what,
                                                                extra[:200])


def expect_status_close(srv, raw, status, what):
    r, c = raw_exchange(srv, raw)
    with c:
        assert r.status == status, (what, r, r.raw_head)
        assert r.content_length == len(r.body)
        assert_closed(c, what)
    return r


# ---------------------------------------------------------------------------
# limits, versions, methods

def test_request_line_too_long_414(srv):
    raw = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    r, c = raw_exchange(srv, raw)
    with c:
        assert r.status == 414, r
    srv.assert_alive()


@pytest.mark.parametrize("case", ["one-9000", "three-3000", "65-fields",
                                  "100-fields"])
def test_header_section_too_large_431(srv, case):
    head = [b"GET /hello.txt HTTP/1.1", b"Host: x"]
    if case == "one-9000":
        head.append(b"X-Big: " + b"v" * 9000)
    elif case == "three-3000":
        head += [b"X-B%d: %s" % (i, b"v" * 3000) for i in range(3)]
    elif case == "65-fields":
        head += [b"X-F%d: 1" % i for i in range(64)]      # 65 with Host
    else:
        head += [b"X-F%d: 1" % i for i in range(99)]
    raw = b"\r\n".join(head) + b"\r\n\r\n"
    r, c = raw_exchange(srv, raw)
    with c:
        assert r.status == 431, (case, r)
        assert srv.expected(HELLO) not in r.body
    srv.assert_alive()


def test_64_header_fields_ok(srv):
    head = [b"GET /hello.txt HTTP/1.1", b"Host: x"]
    head += [b"X-F%d: 1" % i for i in range(63)]          # 64 with Host
    r, c = raw_exchange(srv, b"\r\n".join(head) + b"\r\n\r\n")
    with c:
        assert r.status == 200, r
        assert r.body == srv.expected(HELLO)


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/3.0", "HTTP/2"])
def test_http_version_505(srv, version):
    raw = ("GET /hello.txt %s\r\nHost: x\r\n\r\n" % version).encode()
    r, c = raw_exchange(srv, raw)
    with c:
        if version == "HTTP/2":
            # not even HTTP-version syntax: 400 is right too
            assert r.status in (400, 505), r
        else:
            assert r.status == 505, r
        assert srv.expected(HELLO) not in r.body


@pytest.mark.parametrize("method", ["FOO", "BREW", "PROPFINDX"])
def test_unknown_method_501(srv, method):
    raw = ("%s /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n" % method).encode()
    r, c = raw_exchange(srv, raw)
    with c:
        assert r.status == 501, r
        assert srv.expected(HELLO) not in r.body


@pytest.mark.parametrize("target", ["*", "/hello.txt", "/ls/"])
def test_options_allow(srv, http_tree, target):
    with srv.conn() as c:
        c.request("OPTIONS", target)
        r = c.read_response()
        assert r.status in (200, 204), r
        allow = [t.strip().upper() for t in r.header("Allow", "").split(",")]
        assert "GET" in allow and "HEAD" in allow, r.raw_head
        assert r.body == b""
        c.request("GET", HELLO)
        r = c.read_response()
        assert r.status == 200 and r.body == srv.expected(HELLO)


@pytest.mark.parametrize("split", [False, True])
def test_get_with_body_discarded_pipelined(srv, split):
    first = (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
             b"Content-Length: 10\r\n\r\n")
    body = b"GET /b1.bi"       # looks like a request: must be discarded
    nxt = b"GET /b4k.bin HTTP/1.1\r\nHost: x\r\n\r\n"
    with srv.conn() as c:
        if split:
            c.send(first)
            time.sleep(0.2)
            c.send(body)
            time.sleep(0.2)
            c.send(nxt)
        else:
            c.send(first + body + nxt)
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == srv.expected(HELLO)
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == srv.expected("/b4k.bin")
        assert c.is_open_after(0.5)


# ---------------------------------------------------------------------------
# smuggling

SMUGGLE = {
    "cl-and-te": (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\nGET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"),
    "te-and-cl": (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                  b"0\r\n\r\nGET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"),
    "two-cl": (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 0\r\nContent-Length: 36\r\n\r\n"
               b"GET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"),
    "cl-list": (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 0, 36\r\n\r\n"
                b"GET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"),
    "obs-fold": (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                 b"X-A: 1\r\n Content-Length: 36\r\n\r\n"
                 b"GET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"),
    "obs-fold-tab": (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                     b"X-A: 1\r\n\tmore\r\n\r\n"),
    "bare-lf": (b"GET /hello.txt HTTP/1.1\nHost: x\n\n"
                b"GET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"),
    "bare-lf-in-header": (b"GET /hello.txt HTTP/1.1\r\nHost: x\nX-A: 1"
                          b"\r\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(SMUGGLE))
def test_smuggling_400_close(srv, name):
    r = expect_status_close(srv, SMUGGLE[name], 400, name)
    assert srv.expected("/b1.bin") not in r.body or len(r.body) == 0
    srv.assert_alive()


def test_same_duplicate_content_length_not_smuggled(srv):
    """Identical duplicates may be accepted (RFC 9112 6.3) or refused; if
    accepted the body is discarded and the next request answered."""
    raw = (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
           b"GET /b4k.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    r, c = raw_exchange(srv, raw)
    with c:
        assert r.status in (200, 400), r
        if r.status == 400:
            assert_closed(c, "duplicate equal CL")
        else:
            r2 = c.read_response()
            assert r2.body == srv.expected("/b4k.bin")


# ---------------------------------------------------------------------------
# targets

@pytest.mark.parametrize("target,path", [
    ("http://localhost/hello.txt", HELLO),
    ("http://127.0.0.1/hello.txt", HELLO),
    ("http://localhost:8081/hello.txt?x=1", HELLO),
    ("/hello.txt?x=1", HELLO),
    ("/hello.txt?x=/../../etc/passwd", HELLO),
    ("/with%20space.txt", "/with space.txt"),
    ("/a/./b/../../hello.txt", HELLO),
    ("/sub/./../sub/page.txt", "/sub/page.txt"),
])
def test_target_forms(srv, target, path):
    r, c = raw_exchange(srv, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                              % target).encode())
    with c:
        assert r.status == 200, (target, r)
        assert r.body == srv.expected(path)


def test_percent_decoded_once(srv, http_tree):
    r = srv.get("/%2568ello.txt")
    assert r.status == 200, r
    assert r.body == http_tree.files["/%68ello.txt"]
    assert r.body != srv.expected(HELLO)
    # and without the literal file it would be a 404, never hello.txt
    r = srv.get("/sub/%2568ello.txt")
    assert r.status == 404, r


@pytest.mark.parametrize("target", ["/hello.txt%00", "/hello.txt%00.png",
                                    "/%00/hello.txt"])
def test_percent_00_400(srv, target):
    r, c = raw_exchange(srv, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                              % target).encode())
    with c:
        assert r.status == 400, (target, r)
        assert srv.expected(HELLO) not in r.body


@pytest.mark.parametrize("target", ["/sub%2Fpage.txt", "/sub%2fpage.txt",
                                    "/%2Fhello.txt", "/sub%2F..%2Fhello.txt"])
def test_percent_2f_never_serves(srv, target):
    r, c = raw_exchange(srv, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                              % target).encode())
    with c:
        assert r.status in (400, 404), (target, r)
        assert srv.expected("/sub/page.txt") not in r.body
        assert srv.expected(HELLO) not in r.body


@pytest.mark.parametrize("target", ["/../hello.txt", "/../../hello.txt",
                                    "/%2e%2e/hello.txt",
                                    "/sub/../../hello.txt"])
def test_dotdot_clamped_or_refused(srv, target):
    r, c = raw_exchange(srv, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                              % target).encode())
    with c:
        assert r.status in (200, 400, 404), (target, r)
        if r.status == 200:
            assert r.body == srv.expected(HELLO)
    for t in ("/../outside.txt", "/sub/../../outside.txt"):
        r = srv.get(t)
        assert r.status in (400, 403, 404), (t, r)
        assert OUTSIDE_CONTENT not in r.body


# ---------------------------------------------------------------------------
# Expect: 100-continue

def read_final(c, timeout):
    """Read responses, skipping 1xx; returns (interims, final)."""
    interims = []
    while True:
        r = c.read_response(timeout=timeout, deadline=timeout)
        if 100 <= r.status < 200:
            interims.append(r)
            continue
        return interims, r


@pytest.mark.parametrize("version", ["HTTP/1.1"])
def test_expect_100_continue_get(srv, version):
    with srv.conn() as c:
        c.send(("GET /hello.txt %s\r\nHost: x\r\nContent-Length: 5\r\n"
                "Expect: 100-continue\r\n\r\n" % version).encode())
        t0 = time.monotonic()
        try:
            interims, r = read_final(c, 5.0)
        except socket.timeout:
            pytest.fail("no final response within 5 s without the body "
                        "(the server waits for the body it did not ask "
                        "for)")
        took = time.monotonic() - t0
        assert r.status == 200, r
        assert r.body == srv.expected(HELLO)
        assert all(i.status == 100 for i in interims), interims
        assert took < 5.0
        if r.has_token("Connection", "close"):
            assert_closed(c, "close after 100-continue GET")
            return
        # The client sends the body anyway, then the next request.
        c.send(b"hello")
        c.send(b"GET /b4k.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            r2 = c.read_response(timeout=10)
        except ConnectionClosed as e:
            pytest.fail("connection broke after sending the body: %s" % e)
        assert r2.status == 200, r2
        assert r2.body == srv.expected("/b4k.bin")


def test_expect_100_continue_body_sent_before_answer(srv):
    """Client that does not wait: head and body in one send."""
    with srv.conn() as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\nhello"
               b"GET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        interims, r = read_final(c, 10.0)
        assert r.status == 200 and r.body == srv.expected(HELLO)
        _, r2 = read_final(c, 10.0)
        assert r2.status == 200 and r2.body == srv.expected("/b1.bin")


def test_expect_unknown_417_or_ignored(srv):
    r, c = raw_exchange(srv, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
                             b"Expect: something-else\r\n\r\n")
    with c:
        assert r.status in (200, 417), r
