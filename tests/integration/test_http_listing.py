# SPDX-License-Identifier: GPL-2.0
"""Directories: the trailing-slash redirect, index.html, and the HTML5
listing of a directory without one (chunked on HTTP/1.1, to EOF on 1.0),
its order, escaping, hidden names, symlinks leaving the root, a 10,000-entry
directory, HEAD, and the listing=0 parameter (a reload, run last)."""

import os
import time
import urllib.parse

import pytest

from khttp_client import parse_listing

from conftest import EVIL_NAME, ODD_NAMES, OUTSIDE_CONTENT

HTML = "text/html; charset=utf-8"
BIG_TIMEOUT = 120.0


def norm_ctype(v):
    return "; ".join(p.strip() for p in (v or "").lower().split(";"))


def location(r):
    loc = r.header("Location")
    assert loc is not None, "no Location in %r" % r.raw_head
    u = urllib.parse.urlsplit(loc)
    if u.scheme:
        assert u.hostname == "127.0.0.1", loc
    return u.path + ("?" + u.query if u.query else "")


def check_listing_head(r):
    assert r.status == 200, r
    assert norm_ctype(r.header("Content-Type")) == HTML, r.raw_head


def check_listing_html(body):
    """Valid-looking HTML5 listing; returns the parser."""
    assert body.lstrip()[:15].lower() == b"<!doctype html>", body[:100]
    p = parse_listing(body)
    assert p.decls and p.decls[0].lower() == "doctype html", p.decls
    assert not p.errors, p.errors
    for tag in ("html", "head", "title", "body", "table"):
        assert tag in p.start_tags, "no <%s> in the listing" % tag
    assert "script" not in p.start_tags
    assert p.table_links(), "no links in the listing's table"
    return p


def entries(p):
    """Names (link texts) of the table's entries, the parent link left
    out; asserts each href decodes to its text."""
    out = []
    for href, text in p.table_links():
        if href == "../":
            continue
        assert href is not None
        unq = urllib.parse.unquote(href)
        if unq.startswith("./"):
            unq = unq[2:]
        assert unq == text, "href %r does not name %r" % (href, text)
        out.append(text)
    return out


# ---------------------------------------------------------------------------
# redirect and index

@pytest.mark.parametrize("target,loc", [
    ("/ls", "/ls/"),
    ("/ls?x=1", "/ls/?x=1"),
    ("/ls?a=1&b=%20c", "/ls/?a=1&b=%20c"),
    ("/ls/adir", "/ls/adir/"),
])
def test_dir_without_slash_301_keeps_query(srv, http_tree, target, loc):
    r = srv.get(target)
    assert r.status == 301, r
    assert location(r) == loc
    assert int(r.header("Content-Length")) == len(r.body)


def test_long_redirect_goes_without_its_page(srv):
    """A directory whose Location leaves the redirect's page no room in the
    2 KiB response head: the 301 goes without the page, for GET and HEAD
    alike. GET got a 500 before, HEAD a 301 (found by fuzz_serve)."""
    rel = "/".join(["r" * 255] * 7)
    os.makedirs(srv.path("/" + rel), mode=0o755, exist_ok=True)
    want = "/" + rel + "/"
    # Too long for the page (head + page > 2048), short enough for the head.
    assert 1770 < len(want) < 1920
    for method in ("GET", "HEAD"):
        r = srv.get("/" + rel, method=method)
        assert r.status == 301, (method, r)
        assert location(r) == want
        assert r.header("Content-Length") == "0", r.raw_head
        assert r.header("Content-Type") is None, r.raw_head
        assert r.body == b""


def test_redirect_too_long_for_the_head_is_414(srv):
    """A Location longer than the response head can hold: 414 URI Too Long
    for GET and HEAD (it was a 500), and the connection goes on."""
    rel = "/".join(["q" * 255] * 8)
    os.makedirs(srv.path("/" + rel), mode=0o755, exist_ok=True)
    assert 2000 < len(rel) < 4000
    for method in ("GET", "HEAD"):
        r = srv.get("/" + rel, method=method)
        assert r.status == 414, (method, r)
        assert r.header("Location") is None, r.raw_head
    r = srv.get("/" + rel + "/")
    assert r.status == 200, r


def test_dir_with_index_serves_index(srv, http_tree):
    r = srv.get("/withindex/")
    assert r.status == 200, r
    assert r.body == http_tree.files["/withindex/index.html"]
    assert norm_ctype(r.header("Content-Type")) == HTML
    assert r.header("Content-Length") == str(len(r.body))


# ---------------------------------------------------------------------------
# the listing

def test_listing_http11_chunked_html5(srv, http_tree):
    with srv.conn() as c:
        c.request("GET", "/ls/")
        r = c.read_response()
        check_listing_head(r)
        assert r.header("Transfer-Encoding", "").lower() == "chunked", \
            r.raw_head
        assert r.header("Content-Length") is None
        check_listing_html(r.body)
        # The chunked body ended properly: the connection goes on.
        c.request("GET", "/hello.txt")
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == srv.expected("/hello.txt")


def test_listing_entries_sorted_dirs_first(srv, http_tree):
    r = srv.get("/ls/")
    check_listing_head(r)
    p = check_listing_html(r.body)
    assert entries(p) == http_tree.ls_entries


def test_listing_parent_link(srv, http_tree):
    p = check_listing_html(srv.get("/ls/").body)
    hrefs = [h for h, _ in p.table_links()]
    assert "../" in hrefs, hrefs
    assert hrefs.index("../") == 0, "parent link not first: %r" % hrefs[:3]


def test_listing_hidden_names_not_listed(srv, http_tree):
    r = srv.get("/ls/")
    p = check_listing_html(r.body)
    names = entries(p)
    assert ".hidden" not in names and ".hdir/" not in names
    assert b".hidden" not in r.body and b".hdir" not in r.body


def test_listing_outside_symlinks_not_listed(srv, http_tree):
    r = srv.get("/ls/")
    p = check_listing_html(r.body)
    for name in ("out-abs", "out-rel", "out-dir"):
        assert not any(n.startswith(name) for n in entries(p)), name
        assert name.encode() not in r.body, name
    # and they are not served either
    for name in ("out-abs", "out-rel", "out-dir/passwd"):
        r2 = srv.get("/ls/" + name)
        assert r2.status in (403, 404), (name, r2)
        assert OUTSIDE_CONTENT not in r2.body


def test_listing_size_and_mtime(srv, http_tree):
    p = check_listing_html(srv.get("/ls/").body)
    cells = p.row_for("b.bin")
    assert cells is not None, p.rows
    text = " ".join(cells)
    assert "12345" in text, "size 12345 of b.bin not in its row: %r" % cells
    # mtime 2001-02-03 04:05:06 UTC
    assert "2001" in text and "04:05" in text, \
        "mtime 2001-02-03 04:05:06 UTC not in the row: %r" % cells
    cells = p.row_for("adir/")
    assert cells is not None and "2001" in " ".join(cells), cells


def test_listing_escapes_names(srv, http_tree):
    r = srv.get("/ls/")
    p = check_listing_html(r.body)
    assert b"<script" not in r.body.lower()
    assert "script" not in p.start_tags
    hits = [(h, t) for h, t in p.table_links() if t == EVIL_NAME]
    assert len(hits) == 1, p.table_links()
    href = hits[0][0]
    assert not any(ch in href for ch in '<>" &'), \
        "href not percent-encoded: %r" % href
    url = urllib.parse.urljoin("/ls/", href)
    r2 = srv.get(url)
    assert r2.status == 200, (url, r2)
    assert r2.body == http_tree.files["/ls/" + EVIL_NAME]


def test_listing_every_link_works(srv, http_tree):
    p = check_listing_html(srv.get("/ls/").body)
    for href, text in p.table_links():
        url = urllib.parse.urljoin("/ls/", href)
        r = srv.get(url)
        assert r.status == 200, (href, url, r)
        if text.endswith("/"):
            assert b"<!DOCTYPE html>" in r.body[:100] or \
                b"<!doctype html>" in r.body[:100].lower()
        else:
            assert r.body == http_tree.files["/ls/" + text], href


def test_listing_odd_names_round_trip(srv, http_tree):
    """Names with ':', '%', '#', '?', ';', '+', quotes, backslash, control
    bytes and UTF-8: each href fetches exactly its file."""
    r = srv.get("/ls2/")
    check_listing_head(r)
    p = check_listing_html(r.body)
    links = [(h, t) for h, t in p.table_links() if h != "../"]
    got = {}
    for href, text in links:
        assert not any(ch in href for ch in '<>" #?\t\n'), href
        assert not href.lower().startswith(("javascript:", "a:")), href
        name = urllib.parse.unquote(href, errors="strict")
        if name.startswith("./"):
            name = name[2:]
        if not any(ord(ch) < 32 for ch in name):
            assert text == name, (href, text)
        got[name] = href
    # Names with control bytes may be left out of the listing (policy);
    # every other one must be there, and whatever is listed must work.
    plain = [n for n in ODD_NAMES if not any(ord(c) < 32 for c in n)]
    assert sorted(set(got) - (set(ODD_NAMES) - set(plain))) == sorted(plain)
    assert set(got) <= set(ODD_NAMES), sorted(set(got) - set(ODD_NAMES))
    assert len(links) == len(got)
    bad = []
    for name, href in sorted(got.items()):
        url = urllib.parse.urljoin("/ls2/", href)
        r2 = srv.get(url)
        if r2.status != 200 or r2.body != http_tree.files["/ls2/" + name]:
            bad.append("%r: GET %s -> %d" % (name, url, r2.status))
    assert not bad, "links from the listing that do not fetch their " \
        "file:\n" + "\n".join(bad)


def test_listing_subdir_and_empty_dir(srv, http_tree):
    p = check_listing_html(srv.get("/ls/adir/").body)
    assert entries(p) == ["inner.txt"]
    r = srv.get("/ls/empty/")
    check_listing_head(r)
    p = parse_listing(r.body)
    assert not p.errors, p.errors
    assert [h for h, _ in p.table_links()] == ["../"]


def test_listing_http10_not_chunked(srv, http_tree):
    r11 = srv.get("/ls/")
    with srv.conn() as c:
        c.request("GET", "/ls/", "HTTP/1.0")
        r = c.read_response()
        check_listing_head(r)
        assert not r.header_all("Transfer-Encoding"), r.raw_head
        if r.header("Content-Length") is None:
            assert r.body_to_eof
        else:
            assert int(r.header("Content-Length")) == len(r.body)
        assert b"\r\n0\r\n" not in r.body[-16:]
        check_listing_html(r.body)
        assert r.body == r11.body, "HTTP/1.0 listing differs from 1.1's"
        state, extra = c.wait_closed(10)
        assert state != "open" and extra == b""


def test_listing_http10_keepalive_request(srv, http_tree):
    """HTTP/1.0 cannot take chunks: even when the client asks to keep the
    connection, the listing is delimited by a length or by the close."""
    with srv.conn() as c:
        c.request("GET", "/ls/", "HTTP/1.0",
                  headers=[("Connection", "keep-alive")])
        r = c.read_response()
        check_listing_head(r)
        assert not r.header_all("Transfer-Encoding"), r.raw_head
        assert entries(check_listing_html(r.body)) == http_tree.ls_entries
        if r.header("Content-Length") is None:
            assert not r.has_token("Connection", "keep-alive"), r.raw_head
            assert r.body_to_eof
        else:
            c.request("GET", "/hello.txt", "HTTP/1.0")
            assert c.read_response().body == srv.expected("/hello.txt")


def test_listing_http10_keepalive_close_lingers(srv, http_tree):
    """An HTTP/1.0 client that asked to keep the connection may send its
    next request while the listing, delimited by the close, is still on
    its way. The server closed when the client did not ask it to, so it
    lingers: a closed socket would answer that request with a reset, and
    the reset would destroy the listing before the client reads it."""
    with srv.conn() as c:
        c.request("GET", "/ls/", "HTTP/1.0",
                  headers=[("Connection", "keep-alive")])
        time.sleep(0.5)
        # A closed socket resets the first; the second send then fails.
        nxt = b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        assert c.send(nxt)
        time.sleep(0.3)
        assert c.send(nxt), "the next request was reset"
        r = c.read_response()
        assert r.status == 200, r
        assert entries(check_listing_html(r.body)) == http_tree.ls_entries
        if r.header("Content-Length") is not None:
            assert c.read_response().body == srv.expected("/hello.txt")


def test_listing_head_same_headers_no_body(srv, http_tree):
    get = srv.get("/ls/")
    with srv.conn() as c:
        c.request("HEAD", "/ls/")
        head = c.read_response("HEAD")
        assert head.status == 200, head

        def fields(r):
            return sorted((n.lower(), v) for n, v in r.headers
                          if n.lower() != "date")
        assert fields(head) == fields(get)
        # No body bytes follow: the next response parses.
        c.request("GET", "/hello.txt")
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == srv.expected("/hello.txt")


def test_listing_pipelined_with_files(srv, http_tree):
    with srv.conn() as c:
        c.send(b"GET /ls/ HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
               b"HEAD /ls/zdir/ HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /ls/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        r1 = c.read_response()
        assert entries(check_listing_html(r1.body)) == http_tree.ls_entries
        r2 = c.read_response()
        assert r2.body == srv.expected("/hello.txt")
        r3 = c.read_response("HEAD")
        assert r3.status == 200 and r3.body == b""
        r4 = c.read_response()
        assert r4.body == http_tree.files["/ls/a.txt"]


def test_listing_10000_entries(srv, big_dir):
    with srv.conn(timeout=BIG_TIMEOUT) as c:
        c.request("GET", "/big/")
        r = c.read_response()
        check_listing_head(r)
        p = check_listing_html(r.body)
        names = entries(p)
        assert len(names) == len(big_dir), \
            "%d entries listed, %d exist" % (len(names), len(big_dir))
        missing = set(big_dir) - set(names)
        assert not missing, "%d missing, e.g. %r" % (len(missing),
                                                     sorted(missing)[:5])
        assert len(set(names)) == len(names), "duplicates in the listing"
        assert names == big_dir, "not sorted"
        # keep-alive still fine after a long chunked body
        c.request("GET", "/hello.txt")
        assert c.read_response().body == srv.expected("/hello.txt")


# ---------------------------------------------------------------------------
# restarts (run after all ordinary tests)

@pytest.mark.lifecycle
def test_listing_disabled_403(srv, http_tree):
    try:
        srv.restart(listing=0)
        if srv.kind == "module":
            with open("/sys/module/khttpd/parameters/listing") as f:
                assert f.read().strip() in ("N", "0")
        r = srv.get("/ls/")
        assert r.status == 403, r
        assert b"a.txt" not in r.body
        r = srv.get("/ls/adir/", method="HEAD")
        assert r.status == 403, r
        # index.html and files are still served
        assert srv.get("/withindex/").body == \
            http_tree.files["/withindex/index.html"]
        assert srv.get("/ls/a.txt").body == http_tree.files["/ls/a.txt"]
    finally:
        srv.restore()
    r = srv.get("/ls/")
    assert r.status == 200, r


@pytest.mark.lifecycle
def test_root_listing_has_no_parent_link(srv, http_tree):
    try:
        srv.restart(root=srv.path("/ls"))
        r = srv.get("/")
        check_listing_head(r)
        p = check_listing_html(r.body)
        hrefs = [h for h, _ in p.table_links()]
        assert "../" not in hrefs, hrefs
        assert entries(p) == http_tree.ls_entries
        # and climbing does not escape
        r = srv.get("/../")
        assert r.status in (200, 400, 404), r
        if r.status == 200:
            assert "../" not in [h for h, _ in
                                 parse_listing(r.body).table_links()]
    finally:
        srv.restore()


def test_listing_title_too_long_is_shortened_not_a_livelock(srv):
    """Three nested directories named with 250 '"' each: the escaped
    heading cannot fit the listing buffer (it once made the listing hand
    out empty pieces for ever). The title is shown by its end after
    "...", for HTTP/1.1 and 1.0 alike, the page is complete, and nothing
    keeps running afterwards."""
    name = '"' * 250
    d = srv.path("/%s/%s/%s" % (name, name, name))
    os.makedirs(d, exist_ok=True)
    url = "/" + "/".join(["%22" * 250] * 3) + "/"
    try:
        for version in ("HTTP/1.1", "HTTP/1.0"):
            t0 = time.monotonic()
            r = srv.get(url, version=version, timeout=20)
            assert r.status == 200, (version, r.status)
            assert b"<title>Index of ...&quot;" in r.body, r.body[:300]
            assert r.body.endswith(b"</html>\n"), r.body[-100:]
            assert time.monotonic() - t0 < 10
        opened = srv.open_connections()
        time.sleep(1)
        assert srv.open_connections() <= opened
        srv.assert_alive()
    finally:
        import shutil
        shutil.rmtree(srv.path("/" + name), ignore_errors=True)
