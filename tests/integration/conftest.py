# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the khttpd integration suite.

Run as root, from the repository root:

    KHTTPD_KO=./khttpd.ko /usr/bin/python3 -m pytest -v tests/integration

Environment:
    KHTTPD_KO             path of the module (default ./khttpd.ko)
    KHTTPD_PORT           port to load it on (default 8081, or the next free
                          one up to 8099 when 8081 is taken)
    KHTTPD_REQUIRE=1      a missing module or not being root is a failure,
                          not a skip (the QEMU guest runner sets this)
    KHTTPD_RMMOD_TIMEOUT  seconds rmmod may take under load (default 10)

The session fixture builds a document root on tmpfs, loads the module on it
and unloads it at the end; tests that unload/reload the module (marked
`lifecycle`) run after all others, and the kernel log is checked for
warnings, BUGs and oopses at the very end.
"""

import errno
import os
import random
import resource
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khttp_client import Conn, get  # noqa: E402

MODULE = "khttpd"
HOST = "127.0.0.1"
MiB = 1 << 20

# Kernel log lines that must never appear while the suite runs.
BAD_KMSG = ("WARNING:", "BUG:", "Oops", "general protection fault",
            "kernel BUG", "UBSAN:", "KASAN:", "KFENCE:", "Call Trace:",
            "blocked for more than", "rcu: INFO:", "stack-protector",
            "refcount_t:", "list_add corruption", "list_del corruption")


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "no", "false")


def ko_path():
    return os.path.abspath(os.environ.get("KHTTPD_KO", "./khttpd.ko"))


def suite_precondition_problem():
    """Why the suite cannot run here, or None."""
    if os.geteuid() != 0:
        return "khttpd integration tests need root (insmod/rmmod)"
    ko = ko_path()
    if not os.path.isfile(ko):
        return ("khttpd module not found at %s (build it with 'make module' "
                "or set KHTTPD_KO)" % ko)
    return None


# --------------------------------------------------------------------------
# pytest hooks: markers, ordering, skip-or-fail policy

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "lifecycle: unloads/reloads the module; runs after the "
        "ordinary tests")
    config.addinivalue_line(
        "markers", "final: runs last of all (kernel log check)")


def pytest_collection_modifyitems(session, config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    mine = [it for it in items if str(it.fspath).startswith(here)]

    def rank(item):
        if item.get_closest_marker("final"):
            return 2
        if item.get_closest_marker("lifecycle"):
            return 1
        return 0
    # Stable sort: file/definition order is kept within each rank.
    items.sort(key=rank)

    problem = suite_precondition_problem()
    if problem and not env_flag("KHTTPD_REQUIRE"):
        mark = pytest.mark.skip(reason=problem)
        for it in mine:
            it.add_marker(mark)
    # With KHTTPD_REQUIRE=1 the tests are left alone and the session fixture
    # fails each of them with the reason instead.


# --------------------------------------------------------------------------
# helpers

class CommandTimeout(AssertionError):
    pass


def run_cmd(args, timeout=60.0):
    """Run a command with a hard bound. Returns (rc, stdout, stderr)."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass    # stuck in the kernel (D state); nothing more to do
        raise CommandTimeout("%r did not finish within %.0f s"
                             % (args, timeout)) from None
    return (p.returncode, out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"))


class Kmsg:
    """Reads the kernel log from /dev/kmsg, starting at the moment it was
    opened, so only messages from this session are ever seen."""

    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.lines = []         # everything read this session

    def note(self, text):
        """Write a marker line into the kernel log (helps humans reading
        dmesg of a failed run). Never mentions the module name."""
        try:
            with open("/dev/kmsg", "w") as f:
                f.write("pytest: %s\n" % text)
        except OSError:
            pass

    def read_new(self):
        new = []
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:      # ring buffer overran us
                    new.append("<kmsg: some messages were lost>")
                    continue
                raise
            if not rec:
                break
            text = rec.decode("utf-8", "replace")
            _, _, msg = text.partition(";")
            new.append(msg.split("\n", 1)[0])
        self.lines.extend(new)
        return new

    def bad_lines(self):
        self.read_new()
        return [ln for ln in self.lines if any(b in ln for b in BAD_KMSG)]

    def close(self):
        os.close(self.fd)


def port_is_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def module_loaded(name=MODULE):
    try:
        with open("/proc/modules") as f:
            return any(line.split(" ", 1)[0] == name for line in f)
    except OSError:
        return os.path.isdir("/sys/module/%s/sections" % name)


def make_png(width=32, height=32):
    """A small valid RGB PNG (a 'k' on a dark square), built by hand."""
    rows = []
    for y in range(height):
        row = bytearray([0])            # filter type 0
        for x in range(width):
            on = (x in (8, 9) and 6 <= y <= 25) or \
                 (abs((x - 10) - abs(y - 16)) <= 1 and 10 <= x <= 22)
            row += bytes((240, 240, 240) if on else (30, 50, 90))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                       0, 0)) +
            chunk(b"IDAT", raw) + chunk(b"IEND", b""))


# Regular files served from the test root: URL path -> content.
def build_files():
    files = {
        "/b0.bin": b"",
        "/b1.bin": random.Random(1).randbytes(1),
        "/b4k.bin": random.Random(4096).randbytes(4096),
        "/b1m.bin": random.Random(MiB).randbytes(MiB),
        "/b20m.bin": random.Random(20 * MiB).randbytes(20 * MiB),
        "/index.html": (b"<!DOCTYPE html>\n<html lang=\"en\"><head>"
                        b"<meta charset=\"utf-8\"><title>root</title></head>"
                        b"<body><h1>khttpd test root</h1>"
                        b"<a href=\"/sub/\">sub</a></body></html>\n"),
        "/hello.txt": b"Hello, khttpd!\n",
        "/noext": b"a file without an extension\n" * 3,
        "/blob.qqq": b"unknown extension \x00\x01\x02\xff\n",
        "/style.css": b"body { font-family: sans-serif; }\n",
        "/image.png": make_png(),
        "/with space.txt": b"a name with a space\n",
        "/sub/index.html": (b"<!DOCTYPE html>\n<html lang=\"en\"><head>"
                            b"<meta charset=\"utf-8\"><title>sub</title>"
                            b"</head><body><p>sub index</p></body></html>\n"),
        "/sub/page.txt": b"sub/page.txt contents\n" * 10,
        "/noindex/file.txt": b"in a directory without index.html\n",
    }
    return files


OUTSIDE_CONTENT = b"OUTSIDE-ROOT-SECRET 7f3a9c: must never be served\n"
SECRET_CONTENT = b"mode 0600: must never be served\n"


class Server:
    """The module under test, loaded on `root`. Tests use host/port/root,
    files (URL path -> expected bytes) and the helper methods."""

    host = HOST

    def __init__(self, ko, port, base, kmsg):
        self.ko = ko
        self.port = port
        self.base = base                        # tmp dir holding root
        self.root = os.path.join(base, "www")
        self.outside = os.path.join(base, "outside.txt")
        self.kmsg = kmsg
        self.files = build_files()
        self.loaded = False
        self.rmmod_timeout = float(os.environ.get("KHTTPD_RMMOD_TIMEOUT",
                                                  "10"))

    # -- document root ----------------------------------------------------
    def build_root(self):
        os.chmod(self.base, 0o755)
        os.mkdir(self.root, 0o755)
        for d in ("sub", "noindex", "emptydir"):
            os.mkdir(os.path.join(self.root, d), 0o755)
        for url, data in self.files.items():
            p = self.path(url)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o644)
        with open(self.outside, "wb") as f:
            f.write(OUTSIDE_CONTENT)
        os.chmod(self.outside, 0o644)
        secret = self.path("/secret.txt")
        with open(secret, "wb") as f:
            f.write(SECRET_CONTENT)
        os.chmod(secret, 0o600)
        r = self.root
        # Symlinks that stay inside the root: served.
        os.symlink("b4k.bin", os.path.join(r, "link-inside.bin"))
        os.symlink("../hello.txt", os.path.join(r, "sub", "up-link.txt"))
        # Symlinks leaving the root: never served.
        os.symlink("/etc/passwd", os.path.join(r, "passwd-link"))
        os.symlink("../outside.txt", os.path.join(r, "escape-link.txt"))
        os.symlink("/etc", os.path.join(r, "etc-link"))
        os.symlink("..", os.path.join(r, "up"))
        os.symlink(self.outside, os.path.join(r, "abs-outside-link.txt"))
        # Not regular files: a FIFO (opening it for read would block) and,
        # when the filesystem allows device nodes, /dev/zero's twin (an
        # endless body if it were ever served).
        os.mkfifo(os.path.join(r, "fifo"), 0o644)
        try:
            os.mknod(os.path.join(r, "zero"), 0o644 | stat.S_IFCHR,
                     os.makedev(1, 5))
            self.have_zero_dev = True
        except OSError:
            self.have_zero_dev = False

    def path(self, url):
        return os.path.join(self.root, url.lstrip("/"))

    def expected(self, url):
        return self.files[url]

    # -- module control -------------------------------------------------------
    def insmod_args(self, port=None, root=None, extra=()):
        port = self.port if port is None else port
        root = self.root if root is None else root
        return ["insmod", self.ko, "port=%s" % port, "root=%s" % root] + \
            list(extra)

    def insmod_raw(self, args, timeout=60.0):
        """Run insmod with exactly these arguments; (rc, stdout, stderr)."""
        rc, out, err = run_cmd(args, timeout)
        if rc == 0:
            self.loaded = True
        return rc, out, err

    def insmod(self, port=None, root=None, extra=(), wait=True):
        """Load the module (default: test port and root); asserts success
        and that it accepts connections."""
        self.kmsg.note("insmod %s" % " ".join(self.insmod_args(port, root,
                                                              extra)[2:]))
        rc, out, err = self.insmod_raw(self.insmod_args(port, root, extra))
        if rc != 0:
            raise AssertionError(
                "insmod failed (rc %d): %s%s\nkernel log:\n%s"
                % (rc, out, err, "\n".join(self.kmsg.read_new()[-20:])))
        if wait:
            self.wait_ready(self.port if port is None else port)

    def rmmod(self, timeout=None):
        """Unload; returns the seconds it took. Asserts success."""
        timeout = self.rmmod_timeout if timeout is None else timeout
        self.kmsg.note("rmmod")
        t0 = time.monotonic()
        rc, out, err = run_cmd(["rmmod", MODULE], timeout)
        took = time.monotonic() - t0
        if rc != 0:
            raise AssertionError("rmmod failed (rc %d): %s%s" % (rc, out,
                                                                 err))
        self.loaded = False
        return took

    def wait_ready(self, port=None, timeout=30.0):
        port = self.port if port is None else port
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            s = socket.socket()
            s.settimeout(5)
            try:
                s.connect((self.host, port))
                return
            except OSError as e:
                last = e
                time.sleep(0.1)
            finally:
                s.close()
        raise AssertionError("khttpd not accepting on port %d after %.0f s: "
                             "%s" % (port, timeout, last))

    # -- HTTP helpers ---------------------------------------------------------
    def conn(self, **kw):
        return Conn(self.host, self.port, **kw)

    def get(self, path, method="GET", version="HTTP/1.1", headers=None,
            timeout=30.0):
        return get(self.host, self.port, path, method, version, headers,
                   timeout)

    def url(self, path):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def assert_alive(self):
        """A fresh connection gets a correct answer."""
        r = self.get("/hello.txt")
        assert r.status == 200, r
        assert r.body == self.files["/hello.txt"]


def raise_nofile(want=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        if hard < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pick_port():
    if os.environ.get("KHTTPD_PORT"):
        port = int(os.environ["KHTTPD_PORT"])
        if not port_is_free(port):
            pytest.fail("KHTTPD_PORT=%d is already in use" % port)
        return port
    for port in range(8081, 8100):
        if port_is_free(port):
            return port
    pytest.fail("no free port in 8081..8099 (set KHTTPD_PORT)")


@pytest.fixture(scope="session")
def khttpd():
    """The loaded module serving the test document root."""
    problem = suite_precondition_problem()
    if problem:
        if env_flag("KHTTPD_REQUIRE"):
            # One clear failure (exit status 1) instead of an error per test.
            pytest.exit("KHTTPD_REQUIRE=1 but: " + problem, returncode=1)
        pytest.skip(problem)

    raise_nofile()
    kmsg = Kmsg()
    kmsg.note("integration session start")
    if module_loaded():
        rc, out, err = run_cmd(["rmmod", MODULE], 30)
        if rc != 0:
            pytest.fail("module already loaded and rmmod failed: %s%s"
                        % (out, err), pytrace=False)

    base = tempfile.mkdtemp(prefix="khttpd-itest-", dir="/tmp")
    srv = Server(ko_path(), pick_port(), base, kmsg)
    try:
        srv.build_root()
        srv.insmod()
        srv.assert_alive()
    except BaseException as e:
        if srv.loaded or module_loaded():
            run_cmd(["rmmod", MODULE], 30)
        shutil.rmtree(base, ignore_errors=True)
        if isinstance(e, Exception):
            # Nothing can run without the module: stop with one failure.
            pytest.exit("could not start khttpd for the suite: %s" % e,
                        returncode=1)
        raise

    yield srv

    problems = []
    if srv.loaded or module_loaded():
        try:
            srv.rmmod(timeout=max(30.0, srv.rmmod_timeout))
        except AssertionError as e:
            problems.append("teardown: %s" % e)
    shutil.rmtree(base, ignore_errors=True)
    bad = kmsg.bad_lines()
    kmsg.close()
    if bad:
        problems.append("kernel log has warnings/oopses:\n" + "\n".join(bad))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def srv(khttpd):
    """Per-test handle; makes sure the module is loaded (a failed lifecycle
    test must not take every later test down with it)."""
    if not khttpd.loaded:
        khttpd.insmod()
    return khttpd


# --------------------------------------------------------------------------
# Extra trees for the test_http_*.py files (listings, MIME, validators,
# precompressed variants, mirroring). Built on demand, once per session,
# inside the already served root (the module looks files up per request).

LISTING_MTIME = 981173106           # 2001-02-03 04:05:06 UTC
RFC_EXAMPLE_MTIME = 784111777       # Sun, 06 Nov 1994 08:49:37 GMT
EVIL_NAME = '<script>&"x y.txt'
ODD_NAMES = ["a:b.txt", "\u00fcber.txt", "100%.txt", "#hash.txt", "q?.txt",
             "semi;colon.txt", "plus+.txt", "it's.txt", "back\\slash.txt",
             "tab\there.txt", "new\nline.txt", "~tilde.txt", "\u65e5.txt"]

# extension -> acceptable media types (without parameters); text/* must
# carry charset=utf-8.
MIME_EXPECTED = {
    "html": ("text/html",),
    "css": ("text/css",),
    "js": ("text/javascript", "application/javascript"),
    "json": ("application/json",),
    "txt": ("text/plain",),
    "svg": ("image/svg+xml",),
    "png": ("image/png",),
    "jpg": ("image/jpeg",),
    "gif": ("image/gif",),
    "webp": ("image/webp",),
    "ico": ("image/vnd.microsoft.icon", "image/x-icon"),
    "mp3": ("audio/mpeg",),
    "mp4": ("video/mp4",),
    "webm": ("video/webm",),
    "woff2": ("font/woff2",),
    "pdf": ("application/pdf",),
    "zip": ("application/zip",),
    "gz": ("application/gzip", "application/x-gzip"),
    "wasm": ("application/wasm",),
    "xml": ("application/xml", "text/xml"),
    "csv": ("text/csv",),
    "md": ("text/markdown",),
}


class HttpTree:
    """Paths (URL -> bytes) of the extra trees; see http_tree()."""

    def __init__(self, srv):
        self.srv = srv
        self.files = {}                 # URL path -> content
        # /ls/: the listing test directory, its expected visible entries
        # (in listing order: directories first, then files, by name).
        self.ls_entries = []
        self.big_names = None           # names in /big/ (10,000)

    def put(self, url, data, mtime=None, mode=0o644):
        p = self.srv.path(url)
        os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        if mtime is not None:
            os.utime(p, (mtime, mtime))
        self.files[url] = data
        return p

    def mkdir(self, url, mtime=None):
        p = self.srv.path(url)
        os.makedirs(p, 0o755, exist_ok=True)
        if mtime is not None:
            os.utime(p, (mtime, mtime))
        return p


def build_http_tree(srv):
    import gzip
    t = HttpTree(srv)
    rnd = random.Random(20240601)

    # /ls/ -- a directory without index.html, listed.
    t.put("/ls/a.txt", b"file a\n", LISTING_MTIME)
    t.put("/ls/b.bin", rnd.randbytes(12345), LISTING_MTIME)
    t.put("/ls/m.txt", b"file m\n", LISTING_MTIME)
    t.put("/ls/" + EVIL_NAME, b"evil name content\n", LISTING_MTIME)
    t.put("/ls/.hidden", b"hidden file\n")
    t.put("/ls/.hdir/x.txt", b"in a hidden dir\n")
    t.put("/ls/adir/inner.txt", b"inner\n")
    t.mkdir("/ls/adir", LISTING_MTIME)
    t.mkdir("/ls/zdir", LISTING_MTIME)
    t.mkdir("/ls/empty", LISTING_MTIME)
    ls = srv.path("/ls")
    os.symlink("/etc/passwd", os.path.join(ls, "out-abs"))
    os.symlink("../../outside.txt", os.path.join(ls, "out-rel"))
    os.symlink("/etc", os.path.join(ls, "out-dir"))
    os.utime(ls, (LISTING_MTIME, LISTING_MTIME))
    t.ls_entries = ["adir/", "empty/", "zdir/", EVIL_NAME, "a.txt", "b.bin",
                    "m.txt"]

    # /withindex/ -- index.html next to other files: the index is served.
    t.put("/withindex/index.html",
          b"<!DOCTYPE html>\n<title>withindex</title><p>the index</p>\n")
    t.put("/withindex/other.txt", b"other\n")

    # /mime/ -- one small file per extension, plus upper/mixed case.
    for ext in MIME_EXPECTED:
        t.put("/mime/f.%s" % ext, ("content of f.%s\n" % ext).encode())
    for name in ("F.PNG", "photo.JPG", "Page.Html", "x.Css", "y.JSON",
                 "a.tar.gz", "unknown.qqqz", "noext", "dots.v1.2"):
        t.put("/mime/" + name, ("content of %s\n" % name).encode())

    # /gz/ -- precompressed variants beside their originals.
    for name, data in (("style.css", b"body { color: #123456; }\n" * 40),
                       ("app.js", b"console.log('khttpd');\n" * 50),
                       ("data.json", b'{"k": [1, 2, 3]}\n' * 30)):
        t.put("/gz/" + name, data)
        t.put("/gz/%s.gz" % name, gzip.compress(data, 9, mtime=0))
    t.put("/gz/plain-only.txt", b"no .gz beside me\n" * 20)

    # /cond/ -- files for validator tests (old mtimes, one mutable).
    t.put("/cond/rfc.txt", b"mtime is the RFC 9110 example date\n",
          RFC_EXAMPLE_MTIME)
    t.put("/cond/mutable.txt", b"version 1\n", LISTING_MTIME)

    # /ls2/ -- names that need care in URLs and HTML.
    for i, name in enumerate(ODD_NAMES):
        t.put("/ls2/" + name, ("odd name %d\n" % i).encode())

    # A file with an old mtime for If-Range by date.
    t.put("/cond/range.bin", rnd.randbytes(65536), LISTING_MTIME)

    # /mirror/ -- a small www-like tree without index.html files.
    t.put("/mirror/readme.txt", b"mirror me\n" * 5)
    t.put("/mirror/data.bin", rnd.randbytes(150000))
    t.put("/mirror/empty.bin", b"")
    t.put("/mirror/with space.txt", b"spaced name\n")
    t.put("/mirror/docs/guide.md", b"# Guide\n\nText.\n" * 20)
    t.put("/mirror/docs/style.css", b"p { margin: 0; }\n")
    t.put("/mirror/docs/img/pic.png", make_png(16, 16))
    t.put("/mirror/docs/img/raw.bin", rnd.randbytes(70000))
    t.put("/mirror/src/main.c", b"int main(void) { return 0; }\n")
    t.mkdir("/mirror/emptydir")

    # The literal name "%68ello.txt" (what "/%2568ello.txt" decodes to).
    t.put("/%68ello.txt", b"literal percent-68 file, not hello.txt\n")
    return t


@pytest.fixture(scope="session")
def http_tree(khttpd):
    """The extra trees used by test_http_*.py, built once."""
    return build_http_tree(khttpd)


@pytest.fixture(scope="session")
def big_dir(khttpd):
    """/big/: 10,000 empty files, created in a shuffled order so the
    directory's own order is not the sorted one. Returns the names."""
    d = khttpd.path("/big")
    os.mkdir(d, 0o755)
    rnd = random.Random(10000)
    names = ["e%05d-%s.txt" % (i, "x" * rnd.randrange(1, 12))
             for i in range(10000)]
    order = names[:]
    rnd.shuffle(order)
    for n in order:
        fd = os.open(os.path.join(d, n), os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
    return sorted(names)
