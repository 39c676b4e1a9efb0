# SPDX-License-Identifier: GPL-2.0
"""GET/HEAD of regular files: exact bodies, headers, content types,
directories, 404s and path normalisation that stays inside the root."""

import calendar
import email.utils
import os
import time
import urllib.parse

import pytest

from khttp_client import IMF_FIXDATE, sha256

BIG_TIMEOUT = 120.0     # per network op for the 20 MiB body in a TCG guest

OCTET = "application/octet-stream"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def norm_ctype(v):
    return "; ".join(p.strip() for p in v.lower().split(";"))


def check_common_headers(r, expected_len=None):
    """Date, Server and Content-Length as the brief specifies."""
    date = r.header("Date")
    assert date is not None, "no Date header: %r" % r.raw_head
    assert IMF_FIXDATE.match(date), "Date not an IMF-fixdate: %r" % date
    t = calendar.timegm(email.utils.parsedate(date))
    assert abs(t - time.time()) < 300, "Date %r is far from now" % date
    server = r.header("Server")
    assert server is not None and server.lower().startswith("khttpd"), \
        "Server header %r" % server
    cl = r.header("Content-Length")
    assert cl is not None and cl.isdigit(), "Content-Length %r" % cl
    if expected_len is not None:
        assert int(cl) == expected_len
    assert not r.header_all("Transfer-Encoding")


# ---------------------------------------------------------------------------
# bodies

@pytest.mark.parametrize("path", ["/b0.bin", "/b1.bin", "/b100.bin",
                                  "/b4095.bin", "/b4k.bin", "/b65535.bin",
                                  "/b65536.bin", "/b65537.bin", "/b1m.bin",
                                  "/b20m.bin", "/b20m7.bin"])
def test_get_body_exact(srv, path):
    expected = srv.expected(path)
    with srv.conn(timeout=BIG_TIMEOUT) as c:
        c.request("GET", path)
        r = c.read_response()
    assert r.status == 200, r
    check_common_headers(r, len(expected))
    assert norm_ctype(r.header("Content-Type")) == OCTET
    assert len(r.body) == len(expected)
    assert sha256(r.body) == sha256(expected), "body differs from the file"


@pytest.mark.parametrize("path,ctype", [
    ("/index.html", HTML),
    ("/sub/index.html", HTML),
    ("/hello.txt", TEXT),
    ("/sub/page.txt", TEXT),
    ("/noext", OCTET),
    ("/blob.qqq", OCTET),
    ("/b4k.bin", OCTET),
])
def test_content_type(srv, path, ctype):
    r = srv.get(path)
    assert r.status == 200, r
    assert norm_ctype(r.header("Content-Type", "")) == ctype
    assert r.body == srv.expected(path)
    check_common_headers(r, len(r.body))


@pytest.mark.parametrize("path,ctype", [
    ("/style.css", "text/css"),
    ("/image.png", "image/png"),
])
def test_content_type_sample_site(srv, path, ctype):
    """Not in the brief, but www/ needs them: browsers refuse a stylesheet
    served as application/octet-stream from an HTML5 (standards mode)
    page. A charset parameter is allowed on text types."""
    r = srv.get(path)
    assert r.status == 200, r
    assert norm_ctype(r.header("Content-Type", "")).split(";")[0] == ctype
    assert r.body == srv.expected(path)


def test_last_modified_if_sent(srv):
    """Last-Modified is optional; if sent it must be the file's mtime."""
    r = srv.get("/hello.txt")
    assert r.status == 200
    lm = r.header("Last-Modified")
    if lm is None:
        pytest.skip("server sends no Last-Modified")
    assert IMF_FIXDATE.match(lm), lm
    t = calendar.timegm(email.utils.parsedate(lm))
    assert t == int(os.stat(srv.path("/hello.txt")).st_mtime)


# ---------------------------------------------------------------------------
# HEAD

@pytest.mark.parametrize("path", ["/b0.bin", "/b4k.bin", "/b20m.bin",
                                  "/hello.txt", "/index.html"])
def test_head_same_headers_no_body(srv, path):
    get = srv.get(path, timeout=BIG_TIMEOUT)
    assert get.status == 200
    with srv.conn() as c:
        c.request("HEAD", path)
        head = c.read_response("HEAD")
        assert head.status == 200, head
        assert head.body == b""

        def fields(r):
            return sorted((n.lower(), v) for n, v in r.headers
                          if n.lower() != "date")
        assert fields(head) == fields(get)
        assert head.content_length == len(srv.expected(path))
        check_common_headers(head)
        # If any body bytes followed the HEAD response they would be read as
        # the start of this next response and fail to parse.
        c.request("GET", "/hello.txt")
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == srv.expected("/hello.txt")


def test_head_404_has_no_body(srv):
    with srv.conn() as c:
        c.request("HEAD", "/no-such-file")
        r = c.read_response("HEAD")
        assert r.status == 404
        assert r.body == b""
        if r.has_token("Connection", "close"):
            return
        c.request("GET", "/hello.txt")
        r2 = c.read_response()
        assert r2.status == 200, r2
        assert r2.body == srv.expected("/hello.txt")


# ---------------------------------------------------------------------------
# 404 and directories

@pytest.mark.parametrize("path", ["/missing.html", "/sub/missing.txt",
                                  "/no/such/dir/file", "/b4k.bin.orig"])
def test_missing_is_404(srv, path):
    r = srv.get(path)
    assert r.status == 404, r
    assert int(r.header("Content-Length")) == len(r.body)


def test_404_keeps_connection_usable(srv):
    """After a 404 the connection either goes on serving or the 404 said
    Connection: close."""
    with srv.conn() as c:
        c.request("GET", "/missing")
        r = c.read_response()
        assert r.status == 404
        if r.has_token("Connection", "close"):
            state, extra = c.wait_closed()
            assert state != "open" and extra == b""
            return
        c.request("GET", "/b1.bin")
        r = c.read_response()
        assert r.status == 200 and r.body == srv.expected("/b1.bin")


def test_file_with_trailing_slash_not_served_as_dir(srv):
    r = srv.get("/hello.txt/")
    assert r.status in (301, 400, 403, 404), r
    if r.status == 301:
        assert r.header("Location", "").endswith("/hello.txt")


def location_path(r):
    loc = r.header("Location")
    assert loc is not None, "no Location in %r" % r.raw_head
    u = urllib.parse.urlsplit(loc)
    if u.scheme:
        assert u.hostname == "127.0.0.1", loc
    return u.path


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_directory_without_slash_redirects(srv, method):
    r = srv.get("/sub", method=method)
    assert r.status == 301, r
    assert location_path(r) == "/sub/"
    if method == "GET":
        assert int(r.header("Content-Length")) == len(r.body)


def test_empty_directory_without_slash_redirects(srv):
    r = srv.get("/emptydir")
    assert r.status == 301, r
    assert location_path(r) == "/emptydir/"


def test_directory_with_slash_serves_index(srv):
    r = srv.get("/sub/")
    assert r.status == 200, r
    assert r.body == srv.expected("/sub/index.html")
    assert norm_ctype(r.header("Content-Type")) == HTML
    check_common_headers(r, len(r.body))


def test_root_serves_index(srv):
    r = srv.get("/")
    assert r.status == 200, r
    assert r.body == srv.expected("/index.html")
    assert norm_ctype(r.header("Content-Type")) == HTML


def test_directory_without_index(srv):
    """No index.html: 403/404, or 200 if the server lists directories (in
    which case the listing must name the file)."""
    r = srv.get("/noindex/")
    assert r.status in (200, 403, 404), r
    if r.status == 200:
        assert b"file.txt" in r.body


# ---------------------------------------------------------------------------
# targets that normalise to files inside the root

@pytest.mark.parametrize("target,path", [
    ("/hello.txt?x=1&y=2", "/hello.txt"),
    ("/hello.txt?", "/hello.txt"),
    ("/with%20space.txt", "/with space.txt"),
    ("/hello%2etxt", "/hello.txt"),
    ("/%68%65llo.txt", "/hello.txt"),
    ("/./hello.txt", "/hello.txt"),
    ("/sub/../hello.txt", "/hello.txt"),
    ("/sub/./page.txt", "/sub/page.txt"),
    ("/sub//page.txt", "/sub/page.txt"),
    ("//hello.txt", "/hello.txt"),
])
def test_target_normalisation_inside_root(srv, target, path):
    r = srv.get(target)
    assert r.status == 200, r
    assert r.body == srv.expected(path)
