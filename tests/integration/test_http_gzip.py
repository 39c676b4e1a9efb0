# SPDX-License-Identifier: GPL-2.0
"""Precompressed variants: name.gz beside name is served, with
Content-Encoding: gzip, to clients that accept gzip."""

import gzip
import shutil

import pytest

from conftest import run_cmd


def ctype(r):
    return r.header("Content-Type", "").split(";")[0].strip().lower()


def vary_has(r, token):
    return any(token.lower() == t.strip().lower()
               for v in r.header_all("Vary") for t in v.split(","))


@pytest.mark.parametrize("name,mtype", [
    ("style.css", ("text/css",)),
    ("app.js", ("text/javascript", "application/javascript")),
    ("data.json", ("application/json",)),
])
@pytest.mark.parametrize("ae", ["gzip", "gzip, deflate, br",
                                "br;q=1.0, gzip;q=0.8, *;q=0.1", "GZIP"])
def test_gzip_variant_served(srv, http_tree, name, mtype, ae):
    url = "/gz/" + name
    r = srv.get(url, headers={"Accept-Encoding": ae})
    assert r.status == 200, r
    assert r.header("Content-Encoding") == "gzip", (ae, r.raw_head)
    assert ctype(r) in mtype, r.header("Content-Type")
    assert vary_has(r, "Accept-Encoding"), r.raw_head
    assert r.content_length == len(r.body)
    assert r.body == http_tree.files[url + ".gz"]
    assert gzip.decompress(r.body) == http_tree.files[url]


@pytest.mark.parametrize("headers", [
    {},
    {"Accept-Encoding": "gzip;q=0"},
    {"Accept-Encoding": "gzip;q=0.000"},
    {"Accept-Encoding": "identity"},
    {"Accept-Encoding": "br, deflate"},
    {"Accept-Encoding": "gzipx"},
    {"Accept-Encoding": "x-gzip2"},
], ids=["none", "q0", "q0.000", "identity", "br-deflate", "gzipx",
        "x-gzip2"])
def test_plain_without_gzip(srv, http_tree, headers):
    url = "/gz/style.css"
    r = srv.get(url, headers=headers)
    assert r.status == 200, r
    assert r.header("Content-Encoding") is None, (headers, r.raw_head)
    assert ctype(r) == "text/css"
    assert r.body == http_tree.files[url]


def test_gzip_variant_of_a_large_file(srv, http_tree):
    url = "/gz/big.txt"
    r = srv.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert r.status == 200, r
    assert r.header("Content-Encoding") == "gzip", r.raw_head
    assert ctype(r) == "text/plain"
    assert r.body == http_tree.files[url + ".gz"]
    r = srv.get(url)
    assert r.header("Content-Encoding") is None, r.raw_head
    assert r.body == http_tree.files[url]


def test_no_variant_plain(srv, http_tree):
    url = "/gz/plain-only.txt"
    r = srv.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status == 200, r
    assert r.header("Content-Encoding") is None
    assert r.body == http_tree.files[url]


def test_gzip_head_and_keepalive(srv, http_tree):
    url = "/gz/style.css"
    with srv.conn() as c:
        c.request("HEAD", url, headers={"Accept-Encoding": "gzip"})
        h = c.read_response("HEAD")
        assert h.status == 200 and h.body == b""
        assert h.header("Content-Encoding") == "gzip"
        assert h.content_length == len(http_tree.files[url + ".gz"])
        c.request("GET", url, headers={"Accept-Encoding": "gzip"})
        g = c.read_response()
        assert g.body == http_tree.files[url + ".gz"]
        c.request("GET", url)
        p = c.read_response()
        assert p.body == http_tree.files[url]


def test_gzip_variant_has_its_own_etag(srv, http_tree):
    """A strong ETag names one representation: the gzip bytes and the plain
    bytes must not share it (else If-None-Match / If-Range mix them up)."""
    url = "/gz/style.css"
    g = srv.get(url, headers={"Accept-Encoding": "gzip"})
    p = srv.get(url)
    assert g.header("Content-Encoding") == "gzip"
    if g.header("ETag") is None or p.header("ETag") is None:
        pytest.fail("no ETag: %r / %r" % (g.raw_head, p.raw_head))
    assert g.header("ETag") != p.header("ETag")
    # Each one's own tag revalidates it.
    r = srv.get(url, headers={"Accept-Encoding": "gzip",
                              "If-None-Match": g.header("ETag")})
    assert r.status == 304, r
    r = srv.get(url, headers={"If-None-Match": p.header("ETag")})
    assert r.status == 304, r


def test_curl_compressed(srv, http_tree, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    out = tmp_path / "style.css"
    hdr = tmp_path / "headers"
    rc, so, se = run_cmd(["curl", "-sS", "--http1.1", "--compressed",
                          "--max-time", "60", "-D", str(hdr),
                          "-o", str(out), srv.url("/gz/style.css")], 90)
    assert rc == 0, se
    assert out.read_bytes() == http_tree.files["/gz/style.css"]
    assert "content-encoding: gzip" in hdr.read_text().lower(), \
        hdr.read_text()


def test_gzip_etags_do_not_cross(srv, http_tree):
    """The plain file's ETag does not validate the gzip variant and vice
    versa (If-None-Match must answer 200 with the right bytes)."""
    url = "/gz/app.js"
    g = srv.get(url, headers={"Accept-Encoding": "gzip"})
    p = srv.get(url)
    r = srv.get(url, headers={"Accept-Encoding": "gzip",
                              "If-None-Match": p.header("ETag")})
    assert r.status == 200, r
    assert r.body == http_tree.files[url + ".gz"]
    r = srv.get(url, headers={"If-None-Match": g.header("ETag")})
    assert r.status == 200, r
    assert r.body == http_tree.files[url]


def test_gzip_with_range(srv, http_tree):
    """A range on the gzip variant is a range of the gzip bytes (or the
    range is ignored): never plain bytes labelled gzip, never a
    Content-Range of the plain file's size."""
    url = "/gz/style.css"
    gz = http_tree.files[url + ".gz"]
    r = srv.get(url, headers={"Accept-Encoding": "gzip",
                              "Range": "bytes=0-9"})
    assert r.status in (200, 206), r
    if r.status == 200:
        assert r.header("Content-Encoding") == "gzip"
        assert r.body == gz
    elif r.header("Content-Encoding") == "gzip":
        assert r.header("Content-Range") == "bytes 0-9/%d" % len(gz)
        assert r.body == gz[:10]
    else:
        plain = http_tree.files[url]
        assert r.header("Content-Range") == "bytes 0-9/%d" % len(plain)
        assert r.body == plain[:10]
