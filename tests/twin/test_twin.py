# SPDX-License-Identifier: GPL-2.0
"""Tests for the userspace twin server (build/twin), run on the host:

    make build/twin && /usr/bin/python3 -m pytest tests/twin

Each server is started on a free loopback port with a temporary document
root and stopped (SIGTERM, which must exit 0) at the end. The client is a
small raw-socket one, so keep-alive, pipelining, dribbling and "closed
after the response" can be checked byte for byte.
"""

import gzip
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TWIN = os.environ.get("TWIN", os.path.join(REPO, "build", "twin"))
TIMEOUT = 20.0

SIZES = [0, 1, 100, 4095, 4096, 65535, 65536, 65537, 1 << 20,
         20 * (1 << 20) + 7]


# ---- client -----------------------------------------------------------------

class Closed(AssertionError):
    pass


class Response:
    def __init__(self, status, headers, body, raw_head):
        self.status = status
        self.headers = headers      # [(name, value)] in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(vals) <= 1, (name, vals)
        return vals[0] if vals else default

    def names(self):
        return [k for k, _ in self.headers]


class Client:
    def __init__(self, port, timeout=TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _more(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise Closed("connection closed")
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            self._more()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.split(b"\r\n")
        m = re.match(rb"^HTTP/1\.1 (\d{3}) ", lines[0])
        assert m, lines[0]
        status = int(m.group(1))
        headers = []
        for ln in lines[1:]:
            k, v = ln.split(b":", 1)
            headers.append((k.decode(), v.strip().decode()))
        r = Response(status, headers, b"", raw + b"\r\n\r\n")
        if head_request or status in (204, 304) or 100 <= status < 200:
            return r
        if r.header("Transfer-Encoding") == "chunked":
            body = b""
            while True:
                size = int(self._line(), 16)
                if size == 0:
                    assert self._line() == b""
                    break
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            r.body = body
        elif r.header("Content-Length") is not None:
            r.body = self._take(int(r.header("Content-Length")))
        else:
            while True:
                try:
                    self._more()
                except Closed:
                    break
            r.body, self.buf = self.buf, b""
        return r

    def request(self, path, method="GET", headers=(), version="1.1"):
        req = "%s %s HTTP/%s\r\nHost: t\r\n" % (method, path, version)
        for h in headers:
            req += h + "\r\n"
        self.send((req + "\r\n").encode())
        return self.response(head_request=(method == "HEAD"))

    def at_eof(self, wait=TIMEOUT):
        """True when the server closed its side (after any buffered bytes)."""
        self.sock.settimeout(wait)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def get(port, path, **kw):
    with Client(port) as c:
        return c.request(path, **kw)


# ---- server fixtures ------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Twin:
    def __init__(self, root, *args):
        self.root = root
        self.port = free_port()
        self.proc = subprocess.Popen(
            [TWIN, "-b", "127.0.0.1", "-p", str(self.port), "-r", root]
            + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.banner = self.proc.stdout.readline()
        assert "twin: serving" in self.banner, self.proc.stderr.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        assert rc == 0, rc


def mkfile(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def public_dir():
    """A directory the twin's user (65534 when the suite runs as root) can
    reach: pytest's own temporary directories are private to root."""
    d = tempfile.mkdtemp(prefix="twin-test-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="session")
def docroot():
    base = public_dir()
    yield from make_docroot(base)
    shutil.rmtree(base, ignore_errors=True)


def make_docroot(base):
    import pathlib
    base = pathlib.Path(base)
    root = str(base / "root")
    os.makedirs(root)
    mkfile(str(base / "secret.txt"), b"TOP SECRET\n")
    for n in SIZES:
        mkfile(os.path.join(root, "f%d.bin" % n), os.urandom(n))
    mkfile(os.path.join(root, "index.html"), b"<p>root index</p>\n")
    mkfile(os.path.join(root, "withindex", "index.html"), b"<p>sub</p>\n")
    mkfile(os.path.join(root, "list", "b.txt"), b"bbb")
    mkfile(os.path.join(root, "list", "a b&c.txt"), b"a")
    mkfile(os.path.join(root, "list", ".hidden"), b"h")
    os.makedirs(os.path.join(root, "list", "zdir"))
    os.makedirs(os.path.join(root, "list", "adir"))
    os.symlink("/etc/passwd", os.path.join(root, "list", "abs-out"))
    os.symlink("../../secret.txt", os.path.join(root, "list", "rel-out"))
    os.symlink("b.txt", os.path.join(root, "list", "link-in"))
    os.symlink("../secret.txt", os.path.join(root, "out"))
    os.symlink("/etc", os.path.join(root, "etc"))
    os.symlink("f100.bin", os.path.join(root, "in.bin"))
    mkfile(os.path.join(root, "private.txt"), b"p", mode=0o600)
    text = b"hello gzip " * 500
    mkfile(os.path.join(root, "g.txt"), text)
    mkfile(os.path.join(root, "g.txt.gz"), gzip.compress(text))
    mkfile(os.path.join(root, "big.txt"), b"x" * 300000)
    mkfile(os.path.join(root, "big.txt.gz"), gzip.compress(b"x" * 300000))
    mkfile(os.path.join(root, "style.css"), b"body{}")
    yield root


@pytest.fixture(scope="session")
def twin(docroot):
    t = Twin(docroot, "-t", "2", "--timeout", "10")
    yield t
    t.stop()


@pytest.fixture(scope="session")
def twin_nocache(docroot):
    t = Twin(docroot, "-t", "1", "--cache-file-max", "0")
    yield t
    t.stop()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def file_bytes(root, name):
    with open(os.path.join(root, name), "rb") as f:
        return f.read()


# ---- tests ----------------------------------------------------------------------

def test_banner(twin):
    assert twin.banner.strip() == (
        "twin: serving %s on port %d with 2 threads" % (twin.root, twin.port))


@pytest.mark.parametrize("size", SIZES)
def test_file_bytes(twin, docroot, size):
    name = "f%d.bin" % size
    r = get(twin.port, "/" + name)
    assert r.status == 200
    assert r.header("Content-Length") == str(size)
    assert r.header("Content-Type") == "application/octet-stream"
    assert sha(r.body) == sha(file_bytes(docroot, name))


def test_head_order_and_no_body(twin):
    with Client(twin.port) as c:
        g = c.request("/f100.bin")
        h = c.request("/f100.bin", method="HEAD")
        # Nothing follows a HEAD response: the next response starts cleanly.
        g2 = c.request("/f1.bin")
    assert g.names() == ["Server", "Date", "Content-Type", "Content-Length",
                         "Last-Modified", "ETag", "Accept-Ranges"]
    assert h.names() == g.names()
    assert h.header("Content-Length") == "100"
    assert h.header("ETag") == g.header("ETag")
    assert len(g2.body) == 1


def test_errors(twin):
    assert get(twin.port, "/nope").status == 404
    assert get(twin.port, "/f1.bin/").status == 404
    assert get(twin.port, "/private.txt").status == 403
    r = get(twin.port, "/", method="OPTIONS")
    assert (r.status, r.header("Allow")) == (200, "GET, HEAD, OPTIONS")
    r = get(twin.port, "/", method="POST", headers=["Content-Length: 0"])
    assert (r.status, r.header("Allow")) == (405, "GET, HEAD, OPTIONS")
    r = get(twin.port, "/", method="BREW")
    assert (r.status, r.header("Allow")) == (501, "GET, HEAD, OPTIONS")


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/a/../../secret.txt",
    "/..%2fsecret.txt", "/out", "/etc/passwd", "/list/abs-out",
    "/list/rel-out", "//../secret.txt", "/%2E%2E/%2E%2E/etc/passwd",
    "/list/../../secret.txt", "/.%2e/secret.txt",
])
def test_traversal(twin, path):
    r = get(twin.port, path)
    assert r.status in (400, 404), (path, r.status)
    assert b"SECRET" not in r.body and b"root:" not in r.body


def test_symlink_inside_root(twin, docroot):
    r = get(twin.port, "/in.bin")
    assert r.status == 200 and r.body == file_bytes(docroot, "f100.bin")


def test_keepalive_100(twin, docroot):
    want = file_bytes(docroot, "f4096.bin")
    with Client(twin.port) as c:
        for _ in range(100):
            r = c.request("/f4096.bin")
            assert r.status == 200 and r.body == want
            assert r.header("Connection") is None


def test_pipelined_10(twin, docroot):
    names = ["f%d.bin" % SIZES[i % 8] for i in range(9)] + ["nope"]
    with Client(twin.port) as c:
        c.send(b"".join(b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n" % n.encode()
                        for n in names))
        for n in names[:-1]:
            r = c.response()
            assert r.status == 200 and r.body == file_bytes(docroot, n)
        assert c.response().status == 404
        # Still open and usable.
        assert c.request("/f1.bin").status == 200


def test_dribbled_request(twin, docroot):
    req = b"GET /f100.bin HTTP/1.1\r\nHost: t\r\nUser-Agent: drip\r\n\r\n"
    with Client(twin.port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(req)):
            c.send(req[i:i + 1])
            time.sleep(0.002)
        r = c.response()
    assert r.status == 200 and r.body == file_bytes(docroot, "f100.bin")


def test_http10_close(twin, docroot):
    with Client(twin.port) as c:
        c.send(b"GET /f100.bin HTTP/1.0\r\n\r\n")
        r = c.response()
        assert r.status == 200 and r.header("Connection") == "close"
        assert r.body == file_bytes(docroot, "f100.bin")
        assert c.at_eof()


def test_http10_keepalive(twin):
    with Client(twin.port) as c:
        r = c.request("/f1.bin", version="1.0",
                      headers=["Connection: keep-alive"])
        assert r.header("Connection") == "keep-alive"
        assert c.request("/f1.bin", version="1.0").status == 200
        assert c.at_eof()


def test_http11_connection_close(twin):
    with Client(twin.port) as c:
        r = c.request("/f1.bin", headers=["Connection: close"])
        assert r.header("Connection") == "close"
        assert c.at_eof()


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET nope HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
])
def test_malformed_400_close(twin, raw):
    with Client(twin.port) as c:
        # A follow-up request in the same segment must not be answered.
        c.send(raw + b"GET /f1.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.response()
        assert r.status == 400 and r.header("Connection") == "close"
        assert c.at_eof()
        assert c.buf == b""


def test_overflow(twin):
    with Client(twin.port) as c:
        c.send(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
        r = c.response()
        assert r.status == 414 and c.at_eof()
    with Client(twin.port) as c:
        c.send(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
        r = c.response()
        assert r.status == 431 and c.at_eof()


def test_chunked_request_501_close(twin):
    with Client(twin.port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
               b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        r = c.response()
        assert r.status == 501 and c.at_eof()


def test_body_discarded(twin, docroot):
    with Client(twin.port) as c:
        c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n")
        assert c.response().status == 405
        c.send(b"z" * 20000 + b"GET /f100.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.response()
        assert r.status == 200 and r.body == file_bytes(docroot, "f100.bin")
    with Client(twin.port) as c:
        c.send(b"POST /x HTTP/1.1\r\nHost: t\r\n"
               b"Content-Length: 1000000\r\n\r\n")
        r = c.response()
        assert r.status == 405 and r.header("Connection") is None
        assert c.at_eof()


def test_directory_redirect(twin):
    r = get(twin.port, "/withindex?a=1&b")
    assert r.status == 301
    assert r.header("Location") == "/withindex/?a=1&b"
    r = get(twin.port, "/list")
    assert (r.status, r.header("Location")) == (301, "/list/")


def test_directory_index(twin):
    r = get(twin.port, "/withindex/")
    assert r.status == 200 and r.body == b"<p>sub</p>\n"
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert get(twin.port, "/").body == b"<p>root index</p>\n"


def test_listing(twin):
    r = get(twin.port, "/list/")
    assert r.status == 200
    assert r.header("Transfer-Encoding") == "chunked"
    assert r.header("Content-Length") is None
    body = r.body.decode()
    assert ".hidden" not in body
    assert "abs-out" not in body and "rel-out" not in body
    assert "a b&amp;c.txt" in body and "a%20b%26c.txt" in body
    order = [body.index(s) for s in ("adir/", "zdir/", "a b&amp;c.txt",
                                     "b.txt", "link-in")]
    assert order == sorted(order)
    # HTTP/1.0: the same page, delimited by close.
    with Client(twin.port) as c:
        c.send(b"GET /list/ HTTP/1.0\r\n\r\n")
        r10 = c.response()
        assert r10.header("Connection") == "close"
        assert r10.header("Transfer-Encoding") is None
        assert r10.body == r.body
    # HEAD: chunked head, no body, connection stays usable.
    with Client(twin.port) as c:
        h = c.request("/list/", method="HEAD")
        assert h.names() == r.names()
        assert c.request("/f1.bin").status == 200


def test_etag_304_412(twin):
    r = get(twin.port, "/f100.bin")
    etag, lm = r.header("ETag"), r.header("Last-Modified")
    n = get(twin.port, "/f100.bin", headers=["If-None-Match: " + etag])
    assert n.status == 304 and n.body == b""
    assert n.header("ETag") == etag and n.header("Content-Length") is None
    n = get(twin.port, "/f100.bin", headers=["If-Modified-Since: " + lm])
    assert n.status == 304
    n = get(twin.port, "/f100.bin", headers=['If-None-Match: "other"'])
    assert n.status == 200 and len(n.body) == 100
    n = get(twin.port, "/f100.bin", headers=['If-Match: "other"'])
    assert n.status == 412


def test_ranges(twin, docroot):
    data = file_bytes(docroot, "f65537.bin")
    r = get(twin.port, "/f65537.bin", headers=["Range: bytes=10-19"])
    assert r.status == 206 and r.body == data[10:20]
    assert r.header("Content-Range") == "bytes 10-19/65537"
    r = get(twin.port, "/f65537.bin", headers=["Range: bytes=-5"])
    assert r.status == 206 and r.body == data[-5:]
    r = get(twin.port, "/f65537.bin", headers=["Range: bytes=65000-"])
    assert r.status == 206 and r.body == data[65000:]
    r = get(twin.port, "/f65537.bin", headers=["Range: bytes=70000-"])
    assert r.status == 416
    assert r.header("Content-Range") == "bytes */65537"
    big = file_bytes(docroot, "f1048576.bin")
    r = get(twin.port, "/f1048576.bin",
            headers=["Range: bytes=100000-899999"])
    assert r.status == 206 and r.body == big[100000:900000]
    etag = get(twin.port, "/f100.bin").header("ETag")
    small = file_bytes(docroot, "f100.bin")
    r = get(twin.port, "/f100.bin",
            headers=["Range: bytes=0-9", "If-Range: " + etag])
    assert r.status == 206 and r.body == small[:10]
    r = get(twin.port, "/f100.bin",
            headers=["Range: bytes=0-9", 'If-Range: "stale"'])
    assert r.status == 200 and r.body == small


@pytest.mark.parametrize("name", ["g.txt", "big.txt"])
def test_gzip_variant(twin, docroot, name):
    r = get(twin.port, "/" + name, headers=["Accept-Encoding: gzip, br"])
    assert r.status == 200
    assert r.header("Content-Encoding") == "gzip"
    assert r.header("Vary") == "Accept-Encoding"
    assert r.header("Content-Type").startswith("text/plain")
    assert r.body == file_bytes(docroot, name + ".gz")
    assert gzip.decompress(r.body) == file_bytes(docroot, name)
    r = get(twin.port, "/" + name)
    assert r.header("Content-Encoding") is None
    assert r.body == file_bytes(docroot, name)


def test_concurrent_500(twin, docroot):
    want = file_bytes(docroot, "f4096.bin")
    socks = []
    try:
        for _ in range(500):
            socks.append(Client(twin.port))
        for c in socks:
            c.send(b"GET /f4096.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        for c in socks:
            r = c.response()
            assert r.status == 200 and r.body == want
    finally:
        for c in socks:
            c.close()


def test_threads_parallel(twin, docroot):
    want = file_bytes(docroot, "f65537.bin")
    errors = []

    def run():
        try:
            with Client(twin.port) as c:
                for _ in range(50):
                    assert c.request("/f65537.bin").body == want
        except Exception as e:      # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=run) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def strip_date(r):
    return [(k, v) for k, v in r.headers if k != "Date"]


@pytest.mark.parametrize("path,headers", [
    ("/f100.bin", []), ("/f0.bin", []), ("/f65536.bin", []),
    ("/f100.bin", ["Range: bytes=5-9"]), ("/g.txt", ["Accept-Encoding: gzip"]),
    ("/nope", []), ("/list", []), ("/list/", []), ("/withindex/", []),
    ("/f100.bin", ["Range: bytes=500-"]),
])
def test_cache_same_headers(twin, twin_nocache, path, headers):
    """Serving from memory or with sendfile shows nothing on the wire."""
    a = get(twin.port, path, headers=headers)
    b = get(twin_nocache.port, path, headers=headers)
    assert strip_date(a) == strip_date(b)
    assert a.body == b.body


def test_cache_revalidates(twin, docroot):
    path = os.path.join(docroot, "changing.txt")
    mkfile(path, b"one")
    assert get(twin.port, "/changing.txt").body == b"one"
    assert get(twin.port, "/changing.txt").body == b"one"
    mkfile(path, b"two")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert get(twin.port, "/changing.txt").body == b"two"
    os.unlink(path)
    assert get(twin.port, "/changing.txt").status == 404


def test_no_listing_and_timeout(docroot):
    t = Twin(docroot, "-t", "1", "--no-listing", "--timeout", "1")
    try:
        assert get(t.port, "/list/").status == 403
        assert get(t.port, "/withindex/").status == 200
        with Client(t.port) as c:
            assert c.request("/f1.bin").status == 200
            start = time.monotonic()
            assert c.at_eof(wait=5)
            assert time.monotonic() - start < 4
    finally:
        t.stop()


def test_start_errors(twin, tmp_path):
    p = subprocess.run([TWIN, "-p", str(twin.port), "-b", "127.0.0.1",
                        "-r", twin.root],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "cannot listen" in p.stderr
    p = subprocess.run([TWIN, "-p", str(free_port()), "-r",
                        str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "missing" in p.stderr
    p = subprocess.run([TWIN, "-p", "0"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1
