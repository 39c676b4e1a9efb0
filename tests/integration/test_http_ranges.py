# SPDX-License-Identifier: GPL-2.0
"""Byte ranges (RFC 9110 section 14) on the 1 MiB and 20 MiB files:
single ranges, suffixes, clamping, 416, If-Range, and the documented policy
of answering a multi-range request with the whole file."""

import os

import pytest

from khttp_client import sha256

M1 = "/b1m.bin"
SIZE = 1 << 20
BIG_TIMEOUT = 120.0


def rng(srv, spec, url=M1, extra=None, method="GET"):
    headers = [("Range", spec)] + list(extra or [])
    return srv.get(url, method=method, headers=headers)


def check_206(r, data, first, last):
    assert r.status == 206, r
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (
        first, last, len(data)), r.raw_head
    assert r.content_length == last - first + 1
    assert len(r.body) == last - first + 1
    assert r.body == data[first:last + 1]
    assert not r.header_all("Transfer-Encoding")


def check_full(r, data):
    assert r.status == 200, r
    assert r.header("Content-Range") is None, r.raw_head
    assert r.content_length == len(data)
    assert sha256(r.body) == sha256(data)


@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-99", 0, 99),
    ("bytes=0-0", 0, 0),
    ("bytes=1000-", 1000, SIZE - 1),
    ("bytes=-500", SIZE - 500, SIZE - 1),
    ("bytes=1048000-2000000", 1048000, SIZE - 1),
    ("bytes=1048575-", SIZE - 1, SIZE - 1),
    ("bytes=-2000000", 0, SIZE - 1),
    ("bytes=4096-8191", 4096, 8191),
])
def test_single_range(srv, spec, first, last):
    r = rng(srv, spec)
    check_206(r, srv.expected(M1), first, last)
    ctype = r.header("Content-Type", "").lower()
    assert ctype.startswith("application/octet-stream"), ctype


def test_range_with_spaces_lenient_or_ignored(srv):
    """"bytes = 10-19" is not valid ABNF (no whitespace around '='): either
    ignored (200, whole file) or read as 10-19; never a wrong 206."""
    r = rng(srv, "bytes = 10-19")
    if r.status == 200:
        check_full(r, srv.expected(M1))
    else:
        check_206(r, srv.expected(M1), 10, 19)


def test_range_keepalive(srv):
    data = srv.expected(M1)
    with srv.conn() as c:
        for first, last in ((0, 99), (500000, 500999), (SIZE - 10, SIZE - 1)):
            c.request("GET", M1, headers={"Range": "bytes=%d-%d"
                                          % (first, last)})
            check_206(c.read_response(), data, first, last)
        c.request("GET", M1, headers={"Range": "bytes=2000000-"})
        r = c.read_response()
        assert r.status == 416
        c.request("GET", "/hello.txt")
        r = c.read_response()
        assert r.status == 200 and r.body == srv.expected("/hello.txt")


@pytest.mark.parametrize("spec", ["bytes=2000000-", "bytes=1048576-",
                                  "bytes=1048576-1048600"])
def test_unsatisfiable_416(srv, spec):
    with srv.conn() as c:
        c.request("GET", M1, headers={"Range": spec})
        r = c.read_response()
        assert r.status == 416, (spec, r)
        assert r.header("Content-Range") == "bytes */%d" % SIZE, r.raw_head
        assert r.content_length == len(r.body)
        assert len(r.body) < 1000
        if not r.has_token("Connection", "close"):
            c.request("GET", "/b1.bin")
            r = c.read_response()
            assert r.status == 200 and r.body == srv.expected("/b1.bin")


def test_range_on_empty_file_416_or_200(srv):
    r = rng(srv, "bytes=0-", url="/b0.bin")
    assert r.status in (200, 416), r
    if r.status == 416:
        assert r.header("Content-Range") == "bytes */0"
    else:
        assert r.body == b""


def test_accept_ranges_on_200(srv):
    for url in (M1, "/hello.txt", "/b0.bin"):
        r = srv.get(url, method="HEAD")
        assert r.status == 200
        assert r.header("Accept-Ranges") == "bytes", (url, r.raw_head)
    r = srv.get(M1)
    assert r.header("Accept-Ranges") == "bytes"


def test_head_with_range(srv):
    r = rng(srv, "bytes=0-99", method="HEAD")
    assert r.status in (200, 206), r
    assert r.body == b""
    if r.status == 206:
        assert r.header("Content-Range") == "bytes 0-99/%d" % SIZE
        assert r.content_length == 100


def validators(srv):
    r = srv.get(M1, method="HEAD")
    return r.header("ETag"), r.header("Last-Modified")


def test_if_range_current_etag_206(srv):
    etag, _ = validators(srv)
    assert etag
    r = rng(srv, "bytes=100-199", extra=[("If-Range", etag)])
    check_206(r, srv.expected(M1), 100, 199)


@pytest.mark.parametrize("tag", ['"not-the-etag"', "old"])
def test_if_range_other_etag_200_full(srv, tag):
    etag, _ = validators(srv)
    if tag == "old":
        # a plausible stale tag: the current one with a character changed
        inner = etag[1:-1]
        tag = '"%s"' % (inner[:-1] + ("0" if inner[-1:] != "0" else "1"))
    r = rng(srv, "bytes=100-199", extra=[("If-Range", tag)])
    check_full(r, srv.expected(M1))


def test_if_range_weak_etag_200_full(srv):
    """If-Range uses the strong comparison: a weak tag never matches."""
    etag, _ = validators(srv)
    r = rng(srv, "bytes=100-199", extra=[("If-Range", "W/" + etag)])
    check_full(r, srv.expected(M1))


def test_if_range_last_modified_206(srv, http_tree):
    """A file modified long ago (so its Last-Modified is a strong
    validator by any rule): its date -> 206, another date -> 200."""
    url = "/cond/range.bin"
    data = http_tree.files[url]
    lm = srv.get(url, method="HEAD").header("Last-Modified")
    assert lm == "Sat, 03 Feb 2001 04:05:06 GMT", lm
    r = rng(srv, "bytes=100-199", url=url, extra=[("If-Range", lm)])
    check_206(r, data, 100, 199)
    for other in ("Sun, 06 Nov 1994 08:49:37 GMT",
                  "Sat, 03 Feb 2001 04:05:07 GMT"):
        r = rng(srv, "bytes=100-199", url=url, extra=[("If-Range", other)])
        check_full(r, data)


def test_if_range_weak_date_200_full(srv):
    """A Last-Modified of the current second is not a strong validator
    (RFC 9110 8.8.2.2: the file can change again within that second), so
    If-Range with it must not select a range (13.1.5). A file modified in
    the future is sent with the Date as its Last-Modified: the same second
    as the Date every time, however slow the run."""
    url = "/future-range.bin"
    data = bytes(range(256)) * 4
    p = srv.path(url)
    with open(p, "wb") as f:
        f.write(data)
    os.utime(p, (4102444800, 4102444800))      # 2100-01-01
    try:
        for _ in range(5):
            r = srv.get(url, method="HEAD")
            lm, date = r.header("Last-Modified"), r.header("Date")
            assert lm is not None and lm == date, r.raw_head
            r = rng(srv, "bytes=100-199", url=url, extra=[("If-Range", lm)])
            if r.header("Date") == lm:      # not a second later
                break
        assert r.header("Last-Modified") == lm, r.raw_head
        check_full(r, data)
        # the ETag is strong whenever the file was written
        r = rng(srv, "bytes=100-199", url=url,
                extra=[("If-Range", r.header("ETag"))])
        check_206(r, data, 100, 199)
    finally:
        os.unlink(p)


def test_multiple_ranges_whole_file(srv):
    r = rng(srv, "bytes=0-1,5-6")
    check_full(r, srv.expected(M1))
    assert not r.header("Content-Type", "").lower().startswith("multipart")


@pytest.mark.parametrize("spec", ["bytes=5-1", "bytes=abc", "bytes=-",
                                  "bytes=", "items=0-5", "bytes=1-2-3",
                                  "bytes=--5", "bytes=0x10-0x20"])
def test_invalid_range_ignored_200(srv, spec):
    r = rng(srv, spec)
    check_full(r, srv.expected(M1))


def test_range_20mib_near_end(srv):
    data = srv.expected("/b20m.bin")
    n = len(data)
    with srv.conn(timeout=BIG_TIMEOUT) as c:
        for first, last in ((n - 12345, n - 1), (n - 1000000, n - 999000),
                            (n - 1, n - 1)):
            c.request("GET", "/b20m.bin",
                      headers={"Range": "bytes=%d-%d" % (first, last)})
            check_206(c.read_response(), data, first, last)
        c.request("GET", "/b20m.bin", headers={"Range": "bytes=-4097"})
        check_206(c.read_response(), data, n - 4097, n - 1)
