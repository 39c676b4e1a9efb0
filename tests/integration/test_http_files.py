# SPDX-License-Identifier: GPL-2.0
"""Files: Content-Type by extension, and the validators (ETag,
Last-Modified) with the conditional requests that use them (If-None-Match,
If-Modified-Since, If-Match, If-Unmodified-Since)."""

import calendar
import email.utils
import os
import re
import time

import pytest

from conftest import MIME_EXPECTED, RFC_EXAMPLE_MTIME, LISTING_MTIME
from khttp_client import IMF_FIXDATE

OCTET = "application/octet-stream"
STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')


def split_ctype(v):
    parts = [p.strip() for p in (v or "").split(";")]
    params = {}
    for p in parts[1:]:
        k, _, val = p.partition("=")
        params[k.strip().lower()] = val.strip().strip('"').lower()
    return parts[0].lower(), params


def check_type(v, acceptable):
    mtype, params = split_ctype(v)
    assert mtype in acceptable, "Content-Type %r, want one of %r" % (
        v, acceptable)
    if mtype.startswith("text/"):
        assert params.get("charset") == "utf-8", \
            "text type without charset=utf-8: %r" % v
    elif "charset" in params:
        assert params["charset"] == "utf-8", v


# ---------------------------------------------------------------------------
# MIME

@pytest.mark.parametrize("ext", sorted(MIME_EXPECTED))
def test_mime_by_extension(srv, http_tree, ext):
    url = "/mime/f.%s" % ext
    r = srv.get(url)
    assert r.status == 200, r
    check_type(r.header("Content-Type"), MIME_EXPECTED[ext])
    assert r.body == http_tree.files[url]


@pytest.mark.parametrize("name,acceptable", [
    ("F.PNG", ("image/png",)),
    ("photo.JPG", ("image/jpeg",)),
    ("Page.Html", ("text/html",)),
    ("x.Css", ("text/css",)),
    ("y.JSON", ("application/json",)),
    ("a.tar.gz", ("application/gzip", "application/x-gzip")),
    ("unknown.qqqz", (OCTET,)),
    ("noext", (OCTET,)),
    ("dots.v1.2", (OCTET,)),
])
def test_mime_case_and_unknown(srv, http_tree, name, acceptable):
    r = srv.get("/mime/" + name)
    assert r.status == 200, r
    check_type(r.header("Content-Type"), acceptable)
    if acceptable == (OCTET,):
        assert split_ctype(r.header("Content-Type"))[1] == {}, \
            "octet-stream with parameters: %r" % r.header("Content-Type")


def test_mime_head_matches_get(srv, http_tree):
    for ext in ("svg", "wasm", "md"):
        g = srv.get("/mime/f." + ext)
        h = srv.get("/mime/f." + ext, method="HEAD")
        assert h.header("Content-Type") == g.header("Content-Type")


# ---------------------------------------------------------------------------
# validators

def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def parse_date(v):
    return calendar.timegm(email.utils.parsedate(v))


def validators(srv, url):
    r = srv.get(url)
    assert r.status == 200, r
    return r.header("ETag"), r.header("Last-Modified")


def cond(srv, url, headers, method="GET"):
    return srv.get(url, method=method, headers=headers)


def test_etag_strong_and_last_modified(srv, http_tree):
    r = srv.get("/cond/rfc.txt")
    assert r.status == 200, r
    etag = r.header("ETag")
    assert etag is not None, r.raw_head
    assert STRONG_ETAG.match(etag), "not a strong quoted ETag: %r" % etag
    lm = r.header("Last-Modified")
    assert lm == "Sun, 06 Nov 1994 08:49:37 GMT", lm
    assert IMF_FIXDATE.match(lm)
    r2 = srv.get("/hello.txt")
    assert parse_date(r2.header("Last-Modified")) == \
        int(os.stat(srv.path("/hello.txt")).st_mtime)
    # stable across requests, present on HEAD too, differs between files
    assert srv.get("/cond/rfc.txt").header("ETag") == etag
    assert srv.get("/cond/rfc.txt", method="HEAD").header("ETag") == etag
    assert r2.header("ETag") != etag


def test_future_mtime_is_sent_as_the_date(srv):
    """A file modified "later" than now (a clock ahead, touch -d) is sent
    with the Date as its Last-Modified (RFC 9110 8.8.2.1: never later
    than the Date), and revalidating with that value gets a 304."""
    url = "/future-mtime.txt"
    p = srv.path(url)
    with open(p, "wb") as f:
        f.write(b"from the future\n")
    os.utime(p, (4102444800, 4102444800))      # 2100-01-01
    try:
        r = srv.get(url)
        assert r.status == 200, r
        lm, date = r.header("Last-Modified"), r.header("Date")
        assert lm is not None and date is not None, r.raw_head
        assert parse_date(lm) <= parse_date(date), (lm, date)
        assert parse_date(lm) > time.time() - 3600, lm
        r = cond(srv, url, {"If-Modified-Since": lm})
        assert r.status == 304, r
    finally:
        os.unlink(p)


def test_etag_changes_when_file_changes(srv, http_tree):
    url = "/cond/mutable.txt"
    p = srv.path(url)
    old_etag, old_lm = validators(srv, url)
    assert old_etag and old_lm
    try:
        with open(p, "wb") as f:
            f.write(b"version 2, longer than before\n")
        os.utime(p, (LISTING_MTIME + 86400, LISTING_MTIME + 86400))
        r = srv.get(url)
        assert r.status == 200
        assert r.body == b"version 2, longer than before\n"
        new_etag = r.header("ETag")
        assert new_etag and new_etag != old_etag, (old_etag, new_etag)
        assert parse_date(r.header("Last-Modified")) == LISTING_MTIME + 86400
        r = cond(srv, url, {"If-None-Match": old_etag})
        assert r.status == 200, "stale ETag matched: %r" % r
        assert r.body == b"version 2, longer than before\n"
        r = cond(srv, url, {"If-None-Match": new_etag})
        assert r.status == 304, r
    finally:
        with open(p, "wb") as f:
            f.write(b"version 1\n")
        os.utime(p, (LISTING_MTIME, LISTING_MTIME))


def test_if_none_match_304(srv, http_tree):
    etag, lm = validators(srv, "/hello.txt")
    with srv.conn() as c:
        c.request("GET", "/hello.txt", headers={"If-None-Match": etag})
        r = c.read_response()
        assert r.status == 304, r
        assert r.body == b""
        assert r.header("ETag") == etag
        assert not r.header_all("Transfer-Encoding")
        cl = r.header("Content-Length")
        assert cl is None or int(cl) in (0, len(srv.expected("/hello.txt")))
        # the connection stays usable (no stray body bytes)
        c.request("GET", "/b4k.bin")
        r = c.read_response()
        assert r.status == 200 and r.body == srv.expected("/b4k.bin")
        c.request("HEAD", "/hello.txt", headers={"If-None-Match": etag})
        r = c.read_response("HEAD")
        assert r.status == 304, r
        c.request("GET", "/hello.txt")
        r = c.read_response()
        assert r.status == 200 and r.body == srv.expected("/hello.txt")


@pytest.mark.parametrize("form", ["list", "list-nospace", "star", "weak",
                                  "weak-in-list"])
def test_if_none_match_forms_304(srv, form):
    etag, _ = validators(srv, "/hello.txt")
    value = {
        "list": '"a", %s' % etag,
        "list-nospace": '"a",%s,"b"' % etag,
        "star": "*",
        "weak": "W/" + etag,
        "weak-in-list": '"zz", W/%s' % etag,
    }[form]
    r = cond(srv, "/hello.txt", {"If-None-Match": value})
    assert r.status == 304, (value, r)
    assert r.body == b""


@pytest.mark.parametrize("value", ['"nope"', '"a", "b"', 'W/"nope"'])
def test_if_none_match_no_match_200(srv, value):
    r = cond(srv, "/hello.txt", {"If-None-Match": value})
    assert r.status == 200, r
    assert r.body == srv.expected("/hello.txt")


def test_if_modified_since(srv, http_tree):
    url = "/cond/rfc.txt"
    body = http_tree.files[url]
    for t, status in ((RFC_EXAMPLE_MTIME, 304),
                      (RFC_EXAMPLE_MTIME + 3600, 304),
                      (RFC_EXAMPLE_MTIME + 86400 * 365 * 10, 304),
                      (RFC_EXAMPLE_MTIME - 1, 200),
                      (RFC_EXAMPLE_MTIME - 86400, 200)):
        r = cond(srv, url, {"If-Modified-Since": http_date(t)})
        assert r.status == status, (http_date(t), r)
        assert r.body == (body if status == 200 else b"")


@pytest.mark.parametrize("date", [
    "Sun, 06 Nov 1994 08:49:37 GMT",        # IMF-fixdate
    "Sunday, 06-Nov-94 08:49:37 GMT",       # RFC 850
    "Sun Nov  6 08:49:37 1994",             # asctime
])
def test_if_modified_since_date_formats(srv, http_tree, date):
    r = cond(srv, "/cond/rfc.txt", {"If-Modified-Since": date})
    assert r.status == 304, (date, r)
    # one second earlier, same format: modified since -> 200
    earlier = date.replace("08:49:37", "08:49:36")
    r = cond(srv, "/cond/rfc.txt", {"If-Modified-Since": earlier})
    assert r.status == 200, (earlier, r)


def test_if_modified_since_invalid_ignored(srv, http_tree):
    for v in ("garbage", "Sun, 06 Nov 1994 25:49:37 GMT", ""):
        r = cond(srv, "/cond/rfc.txt", {"If-Modified-Since": v})
        assert r.status == 200, (v, r)


def test_if_none_match_takes_precedence(srv, http_tree):
    future = http_date(time.time() + 86400)
    r = cond(srv, "/hello.txt", [("If-None-Match", '"nope"'),
                                 ("If-Modified-Since", future)])
    assert r.status == 200, r
    assert r.body == srv.expected("/hello.txt")
    # and a matching INM with an old IMS is still 304
    etag, _ = validators(srv, "/hello.txt")
    r = cond(srv, "/hello.txt", [("If-None-Match", etag),
                                 ("If-Modified-Since",
                                  "Sun, 06 Nov 1994 08:49:37 GMT")])
    assert r.status == 304, r


def test_if_match(srv):
    etag, _ = validators(srv, "/hello.txt")
    with srv.conn() as c:
        c.request("GET", "/hello.txt", headers={"If-Match": '"nope"'})
        r = c.read_response()
        assert r.status == 412, r
        assert int(r.header("Content-Length", "0")) == len(r.body)
        assert srv.expected("/hello.txt") not in r.body
        if not r.has_token("Connection", "close"):
            c.request("GET", "/hello.txt", headers={"If-Match": etag})
            r = c.read_response()
            assert r.status == 200, r
            assert r.body == srv.expected("/hello.txt")
    for v in ("*", '"x", %s' % etag):
        r = cond(srv, "/hello.txt", {"If-Match": v})
        assert r.status == 200, (v, r)
    # If-Match uses the strong comparison: a weak tag never matches
    r = cond(srv, "/hello.txt", {"If-Match": "W/" + etag})
    assert r.status == 412, r


def test_if_unmodified_since(srv, http_tree):
    r = cond(srv, "/hello.txt",
             {"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"})
    assert r.status == 412, r
    r = cond(srv, "/cond/rfc.txt",
             {"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"})
    assert r.status == 200, r
    r = cond(srv, "/cond/rfc.txt",
             {"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:36 GMT"})
    assert r.status == 412, r
    # If-Match present: If-Unmodified-Since is ignored
    etag, _ = validators(srv, "/hello.txt")
    r = cond(srv, "/hello.txt", [("If-Match", etag),
                                 ("If-Unmodified-Since",
                                  "Sun, 06 Nov 1994 08:49:37 GMT")])
    assert r.status == 200, r


def test_conditional_404_stays_404(srv, http_tree):
    """A 404 stays a 404 whatever the preconditions say."""
    r = cond(srv, "/no-such-file", {"If-None-Match": "*"})
    assert r.status == 404, r
