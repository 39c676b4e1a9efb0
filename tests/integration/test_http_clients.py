# SPDX-License-Identifier: GPL-2.0
"""Real clients on the new features: curl -C - and wget -c resume with
ranges, wget -r mirrors a tree through the directory listings, and
Python's http.client copes with 304, 206 and 416 on one connection."""

import http.client
import os
import shutil

import pytest

from khttp_client import sha256

from conftest import run_cmd


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip("%s not installed" % tool)


@pytest.mark.parametrize("url,n", [("/b1m.bin", 300000),
                                   ("/b20m.bin", 20 * (1 << 20) - 777)])
def test_curl_resume(srv, tmp_path, url, n):
    need("curl")
    data = srv.expected(url)
    out = tmp_path / "out.bin"
    out.write_bytes(data[:n])
    rc, so, se = run_cmd(["curl", "-sS", "--http1.1", "--max-time", "120",
                          "-C", "-", "-o", str(out), "-w",
                          "%{http_code} %{size_download}",
                          srv.url(url)], 150)
    assert rc == 0, se
    assert so == "206 %d" % (len(data) - n), so
    got = out.read_bytes()
    assert len(got) == len(data)
    assert sha256(got) == sha256(data)


def test_curl_resume_complete_file(srv, tmp_path):
    """Resuming a file that is already complete asks for bytes=SIZE-:
    the server says 416 and curl treats that as done."""
    need("curl")
    data = srv.expected("/b1m.bin")
    out = tmp_path / "out.bin"
    out.write_bytes(data)
    rc, so, se = run_cmd(["curl", "-sS", "--http1.1", "--max-time", "60",
                          "-C", "-", "-o", str(out), "-w", "%{http_code}",
                          srv.url("/b1m.bin")], 90)
    assert so == "416", (rc, so, se)
    assert out.read_bytes() == data


def test_wget_continue(srv, tmp_path):
    need("wget")
    data = srv.expected("/b1m.bin")
    out = tmp_path / "b1m.bin"
    out.write_bytes(data[:123457])
    rc, so, se = run_cmd(["wget", "-c", "--no-verbose", "-S", "-T", "60",
                          "-t", "1", "-P", str(tmp_path),
                          srv.url("/b1m.bin")], 90)
    assert rc == 0, se
    assert "206" in se, se          # -S prints the response head
    got = out.read_bytes()
    assert len(got) == len(data)
    assert sha256(got) == sha256(data)


def tree_files(top):
    out = {}
    for d, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, top)
            out[rel] = open(p, "rb").read()
    return out


def test_wget_mirror_through_listings(srv, http_tree, tmp_path):
    need("wget")
    dest = tmp_path / "m"
    dest.mkdir()
    rc, so, se = run_cmd(["wget", "-r", "-np", "-nH", "--no-verbose",
                          "-e", "robots=off", "-T", "60", "-t", "1",
                          "-P", str(dest), srv.url("/mirror/")], 180)
    assert rc == 0, (rc, se[-3000:])
    got = tree_files(str(dest / "mirror"))
    # wget saves each listing page as <dir>/index.html; the source tree
    # has none, so those are the listings.
    listings = sorted(k for k in got if os.path.basename(k) == "index.html")
    assert "index.html" in listings and "docs/index.html" in listings \
        and "docs/img/index.html" in listings, listings
    for k in listings:
        del got[k]
    want = {url[len("/mirror/"):]: data for url, data in
            http_tree.files.items() if url.startswith("/mirror/")}
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k] == want[k], "%s differs" % k


def test_http_client_304_206_416(srv):
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        c.request("GET", "/hello.txt")
        r = c.getresponse()
        assert r.status == 200
        assert r.read() == srv.expected("/hello.txt")
        etag = r.getheader("ETag")
        lm = r.getheader("Last-Modified")
        assert etag and lm

        c.request("GET", "/hello.txt", headers={"If-None-Match": etag})
        r = c.getresponse()
        assert r.status == 304
        assert r.read() == b""
        assert r.getheader("ETag") == etag

        c.request("GET", "/hello.txt", headers={"If-Modified-Since": lm})
        r = c.getresponse()
        assert r.status == 304
        assert r.read() == b""

        data = srv.expected("/b1m.bin")
        c.request("GET", "/b1m.bin", headers={"Range": "bytes=10-1009"})
        r = c.getresponse()
        assert r.status == 206
        assert r.getheader("Content-Range") == "bytes 10-1009/%d" % len(data)
        assert r.getheader("Content-Length") == "1000"
        body = r.read()
        assert body == data[10:1010]

        c.request("GET", "/b1m.bin", headers={"Range": "bytes=-10"})
        r = c.getresponse()
        assert r.status == 206
        assert r.read() == data[-10:]

        c.request("GET", "/b1m.bin", headers={"Range": "bytes=9999999-"})
        r = c.getresponse()
        assert r.status == 416
        assert r.getheader("Content-Range") == "bytes */%d" % len(data)
        body = r.read()
        assert len(body) == int(r.getheader("Content-Length", "0"))
        if r.will_close:
            c.close()

        # framing held throughout: the same connection (or a new one if
        # the 416 closed it) still serves a file
        c.request("GET", "/b4k.bin")
        r = c.getresponse()
        assert r.status == 200
        assert r.read() == srv.expected("/b4k.bin")

        c.request("HEAD", "/b1m.bin", headers={"Range": "bytes=0-9"})
        r = c.getresponse()
        assert r.status in (200, 206)
        assert r.read() == b""
        c.request("GET", "/hello.txt")
        r = c.getresponse()
        assert r.read() == srv.expected("/hello.txt")
    finally:
        c.close()


def test_http_client_listing(srv, http_tree):
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        c.request("GET", "/ls/")
        r = c.getresponse()
        assert r.status == 200
        assert r.getheader("Transfer-Encoding", "").lower() == "chunked"
        body = r.read()
        assert b"a.txt" in body and body.rstrip().endswith(b"</html>")
        c.request("GET", "/ls/a.txt")
        r = c.getresponse()
        assert r.read() == http_tree.files["/ls/a.txt"]
    finally:
        c.close()
