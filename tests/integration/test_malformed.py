# SPDX-License-Identifier: GPL-2.0
"""Malformed and unsupported requests get the right status; after a request
whose end cannot be known the server closes the connection; the server
keeps serving fresh connections afterwards."""

import pytest

from khttp_client import ConnectionClosed, exchange

H = b"Host: 127.0.0.1\r\n"

# name -> raw request; every one must get 400 and a closed connection.
BAD_400 = {
    "garbage_line": b"GARBAGE\r\n\r\n",
    "words_not_http": b"hello there, this is not http\r\n\r\n",
    "binary_garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "missing_version": b"GET /hello.txt\r\n\r\n",
    "missing_target": b"GET HTTP/1.1\r\n" + H + b"\r\n",
    "bad_version_token": b"GET /hello.txt HTTX/1.1\r\n" + H + b"\r\n",
    "bare_lf": b"GET /hello.txt HTTP/1.1\nHost: 127.0.0.1\n\n",
    "bare_lf_in_headers": b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\n\r\n",
    "header_without_colon": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                             b"NoColonHere\r\n\r\n"),
    "space_before_colon": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                           b"X-Test : 1\r\n\r\n"),
    "obs_fold": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                 b"X-Folded: a\r\n b\r\n\r\n"),
    "bad_header_name": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                        b"Bad[Name]: x\r\n\r\n"),
    "nul_in_header_value": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                            b"X-Nul: a\x00b\r\n\r\n"),
    "http11_without_host": b"GET /hello.txt HTTP/1.1\r\n\r\n",
    "two_host_headers": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                         b"Host: example.com\r\n\r\n"),
    "content_length_and_transfer_encoding": (
        b"GET /hello.txt HTTP/1.1\r\n" + H +
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "conflicting_content_lengths": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                                    b"Content-Length: 1\r\n"
                                    b"Content-Length: 2\r\n\r\nab"),
    "negative_content_length": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                                b"Content-Length: -1\r\n\r\n"),
    "non_numeric_content_length": (b"GET /hello.txt HTTP/1.1\r\n" + H +
                                   b"Content-Length: 12abc\r\n\r\n"),
    # Targets the normaliser rejects (include/khttpd/core.h).
    "target_not_starting_with_slash": (b"GET hello.txt HTTP/1.1\r\n" + H +
                                       b"\r\n"),
    "bad_percent_escape": b"GET /hello%2.txt HTTP/1.1\r\n" + H + b"\r\n",
    "bad_percent_hex": b"GET /%zzhello.txt HTTP/1.1\r\n" + H + b"\r\n",
    "encoded_nul": b"GET /hello.txt%00.html HTTP/1.1\r\n" + H + b"\r\n",
    "control_byte_in_target": b"GET /hel\x01lo.txt HTTP/1.1\r\n" + H + b"\r\n",
}


def assert_closed(c, what):
    state, extra = c.wait_closed(10)
    assert state in ("eof", "reset"), "connection left open after %s" % what
    assert extra == b"", "bytes after the %s response: %r" % (what, extra)


def answer(srv, raw, method="GET"):
    try:
        return exchange(srv.host, srv.port, raw, method)
    except ConnectionClosed as e:
        pytest.fail("server closed without answering: %s" % e)


@pytest.mark.parametrize("name", sorted(BAD_400))
def test_malformed_400_and_close(srv, name):
    r, c = answer(srv, BAD_400[name])
    with c:
        assert r.status == 400, r
        assert int(r.header("Content-Length", "-1")) == len(r.body)
        assert_closed(c, "400")
    srv.assert_alive()


@pytest.mark.parametrize("name", ["garbage_line", "header_without_colon",
                                  "target_not_starting_with_slash",
                                  "non_numeric_content_length"])
def test_malformed_then_request_in_same_segment_not_answered(srv, name):
    """A valid request right behind the malformed one, in the same send:
    400, then the close, and nothing for the second request."""
    r, c = answer(srv, BAD_400[name] + b"GET /b1.bin HTTP/1.1\r\n" + H +
                  b"\r\n")
    with c:
        assert r.status == 400, r
        assert r.has_token("Connection", "close"), r.raw_head
        assert_closed(c, "400")


def test_malformed_after_good_request_on_same_connection(srv):
    """A good response first, then garbage on the same connection: 400 and
    close (the state from the first request must not leak)."""
    with srv.conn() as c:
        c.request("GET", "/hello.txt")
        assert c.read_response().body == srv.expected("/hello.txt")
        c.send(b"NOT A REQUEST\r\n\r\n")
        r = c.read_response()
        assert r.status == 400, r
        assert_closed(c, "400")


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0"])
def test_http2_version_505(srv, version):
    r, c = answer(srv, b"GET /hello.txt " + version + b"\r\n" + H + b"\r\n")
    c.close()
    assert r.status == 505, r
    srv.assert_alive()


def test_unknown_method_501(srv):
    r, c = answer(srv, b"FOO /hello.txt HTTP/1.1\r\n" + H + b"\r\n")
    c.close()
    assert r.status == 501, r
    assert b"Hello, khttpd" not in r.body
    srv.assert_alive()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_unsupported_method_405_or_501(srv, method):
    raw = (method.encode() + b" /hello.txt HTTP/1.1\r\n" + H +
           b"Content-Length: 0\r\n\r\n")
    r, c = answer(srv, raw)
    c.close()
    assert r.status in (405, 501), r
    if r.status == 405:
        allow = r.header("Allow", "")
        assert "GET" in allow and "HEAD" in allow, \
            "405 without an Allow listing GET, HEAD: %r" % allow
    srv.assert_alive()


@pytest.mark.parametrize("body_kind", ["content-length", "chunked"])
def test_post_body_does_not_desync(srv, body_kind):
    """A refused POST's body must not be parsed as the next request: either
    the server closes, or the following GET is answered correctly."""
    if body_kind == "content-length":
        body = b"GET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"   # smuggling bait
        raw = (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Content-Length: %d"
               b"\r\n\r\n" % len(body) + body)
    else:
        body = b"GET /b1.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        raw = (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: "
               b"chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    raw += b"GET /b4k.bin HTTP/1.1\r\n" + H + b"\r\n"
    r, c = answer(srv, raw)
    with c:
        assert r.status in (400, 405, 411, 501), r
        state, extra = c.wait_closed(2)
        if state != "open" and not extra:
            return      # closed after the refusal: fine
        c.buf[:0] = extra
        r2 = c.read_response()
        assert r2.status == 200, r2
        assert r2.body == srv.expected("/b4k.bin"), \
            "POST body was parsed as a request (desync)"


def test_chunked_request_body_501_and_close(srv):
    """A body in chunked coding is not supported (its end cannot be found
    without decoding it): 501, then the close."""
    r, c = answer(srv, b"POST /hello.txt HTTP/1.1\r\n" + H +
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                  b"0\r\n\r\n")
    with c:
        assert r.status == 501, r
        assert r.has_token("Connection", "close"), r.raw_head
        assert_closed(c, "501")


def test_refused_body_discarded_then_next_request(srv):
    """A POST with a 20000-byte body: 405, the body is read and dropped,
    and the request after it on the same connection is answered."""
    with srv.conn() as c:
        c.send(b"POST /x HTTP/1.1\r\n" + H + b"Content-Length: 20000"
               b"\r\n\r\n")
        r = c.read_response()
        assert r.status == 405, r
        assert not r.has_token("Connection", "close"), r.raw_head
        c.send(b"z" * 20000 + b"GET /b4k.bin HTTP/1.1\r\n" + H + b"\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == srv.expected("/b4k.bin")


def test_refused_body_too_large_to_discard_closes(srv):
    """A POST announcing 1,000,000 bytes: more than is worth reading to
    keep the connection, so 405 and the close."""
    with srv.conn() as c:
        c.send(b"POST /x HTTP/1.1\r\n" + H + b"Content-Length: 1000000"
               b"\r\n\r\n")
        r = c.read_response()
        assert r.status == 405, r
        # The client must be told before the close, not find out by it.
        assert r.has_token("Connection", "close"), r.raw_head
        assert_closed(c, "405")


def test_long_target_414(srv):
    target = b"/" + b"a" * 9999
    assert len(target) == 10000
    r, c = answer(srv, b"GET " + target + b" HTTP/1.1\r\n" + H + b"\r\n")
    with c:
        assert r.status == 414, r
        assert_closed(c, "414")
    srv.assert_alive()


def test_100_headers_431(srv):
    hdrs = b"".join(b"X-Header-%03d: value-%03d\r\n" % (i, i)
                    for i in range(100))
    r, c = answer(srv, b"GET /hello.txt HTTP/1.1\r\n" + H + hdrs + b"\r\n")
    with c:
        assert r.status == 431, r
        assert_closed(c, "431")
    srv.assert_alive()


def test_huge_header_431(srv):
    big = b"X-Big: " + b"b" * 65536 + b"\r\n"
    r, c = answer(srv, b"GET /hello.txt HTTP/1.1\r\n" + H + big + b"\r\n")
    with c:
        assert r.status == 431, r
        assert_closed(c, "431")
    srv.assert_alive()


def test_endless_request_line_without_newline(srv):
    """Bytes that never form a line: the server must give up (414) rather
    than buffer forever."""
    r, c = answer(srv, b"GET /" + b"x" * 70000)
    with c:
        assert r.status in (400, 414), r
        assert_closed(c, str(r.status))
    srv.assert_alive()


def test_many_headers_just_under_limit_ok(srv):
    """A realistic browser-sized request (20 headers) is fine."""
    hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(20))
    r, c = answer(srv, b"GET /hello.txt HTTP/1.1\r\n" + H + hdrs + b"\r\n")
    c.close()
    assert r.status == 200 and r.body == srv.expected("/hello.txt")
