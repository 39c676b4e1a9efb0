# SPDX-License-Identifier: GPL-2.0
"""Raw-socket HTTP/1.1 client for the khttpd integration tests.

Deliberately minimal and strict: it sends exactly the bytes a test gives it
and reads exactly one response at a time (status line, header fields, then
Content-Length bytes of body, or everything up to EOF when the response has
no length), so keep-alive, pipelining and "no body after HEAD" can be
checked byte for byte. Bytes after a response stay buffered for the next
read_response(), which is what pipelining needs.
"""

import errno
import os
import hashlib
import re
import socket
import time

DEFAULT_TIMEOUT = 30.0      # seconds of silence tolerated per network op
MAX_HEAD = 64 * 1024        # a response head larger than this is a bug

IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d\d:\d\d:\d\d GMT$")


class ProtocolError(AssertionError):
    """The server sent something that is not a well-formed HTTP response."""


class ConnectionClosed(ProtocolError):
    """EOF or reset before a complete response arrived."""

    def __init__(self, msg, partial=b""):
        super().__init__(msg)
        self.partial = partial


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version          # "HTTP/1.1"
        self.status = status            # int
        self.reason = reason            # str
        self.headers = headers          # list of (name, value), as sent
        self.body = body                # bytes (b"" for HEAD)
        self.raw_head = raw_head        # bytes, including the empty line
        self.body_to_eof = False        # body was delimited by EOF
        self.chunks = None              # chunk sizes, if chunked

    def header(self, name, default=None):
        """Value of the (single) header field `name`, case-insensitively."""
        vals = self.header_all(name)
        if not vals:
            return default
        if len(vals) > 1:
            raise ProtocolError("header %r sent %d times: %r"
                                % (name, len(vals), vals))
        return vals[0]

    def header_all(self, name):
        lname = name.lower()
        return [v for (n, v) in self.headers if n.lower() == lname]

    def has_token(self, name, token):
        """True if a comma-separated header (e.g. Connection) has token."""
        token = token.lower()
        for v in self.header_all(name):
            if token in (t.strip().lower() for t in v.split(",")):
                return True
        return False

    @property
    def content_length(self):
        v = self.header("Content-Length")
        return None if v is None else int(v)

    def sha256(self):
        return hashlib.sha256(self.body).hexdigest()

    def __repr__(self):
        return "<Response %s %d %s, %d header fields, %d body bytes>" % (
            self.version, self.status, self.reason, len(self.headers),
            len(self.body))


def abort(sock):
    """Close a socket with a reset (SO_LINGER 0), as a client that crashes
    or gives up mid-download does: the server's end goes at once. A plain
    close of a client that has stopped reading leaves the server's socket
    an orphan holding its unsent bytes (megabytes per download) until TCP
    gives up on the zero window, minutes later."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _is_reset(exc):
    return isinstance(exc, (ConnectionResetError, ConnectionAbortedError,
                            BrokenPipeError)) or \
        getattr(exc, "errno", None) in (errno.ECONNRESET, errno.EPIPE,
                                        errno.ECONNABORTED)


class Conn:
    """One TCP connection to the server with a receive buffer. host is an
    IPv4 or IPv6 literal."""

    def __init__(self, host, port, timeout=DEFAULT_TIMEOUT, rcvbuf=None,
                 nodelay=True, connect=True):
        self.host, self.port, self.timeout = host, port, timeout
        self.buf = bytearray()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Must be set before connect() to limit the advertised window.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        if connect:
            self.sock.connect((host, port))

    @classmethod
    def from_socket(cls, sock, timeout=DEFAULT_TIMEOUT):
        """Wrap an already connected socket (e.g. from connect_many)."""
        c = cls.__new__(cls)
        c.host, c.port = sock.getpeername()
        c.timeout = timeout
        c.buf = bytearray()
        c.sock = sock
        sock.settimeout(timeout)
        return c

    # -- context manager -------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with RST (SO_LINGER 0), as a crashing client would."""
        abort(self.sock)

    # -- sending ----------------------------------------------------------
    def send(self, data):
        """sendall(); returns False instead of raising on EPIPE/RST (the
        server may legitimately close early on a bad request)."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        try:
            self.sock.sendall(data)
            return True
        except OSError as e:
            if _is_reset(e):
                return False
            raise

    def request(self, method, path, version="HTTP/1.1", headers=None,
                host=True, body=b""):
        self.send(build_request(method, path, version, headers, host, body))

    # -- receiving --------------------------------------------------------
    def _recv_more(self, deadline, want=65536):
        """Append at least one byte to buf; raise ConnectionClosed on EOF or
        reset and socket.timeout on silence/deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("overall deadline expired")
        self.sock.settimeout(min(self.timeout, remaining))
        try:
            chunk = self.sock.recv(want)
        except OSError as e:
            if _is_reset(e):
                raise ConnectionClosed("connection reset by peer (%s)" % e,
                                       bytes(self.buf)) from e
            raise
        if not chunk:
            raise ConnectionClosed("EOF", bytes(self.buf))
        self.buf += chunk

    def read_response(self, method="GET", timeout=None, deadline=300.0):
        """Read one complete response. `method` is the request's method
        (HEAD responses have no body). `timeout` overrides the per-recv
        inactivity timeout, `deadline` bounds the whole read (seconds)."""
        if timeout is not None:
            self.timeout = timeout
        end = time.monotonic() + deadline
        # Head.
        while True:
            idx = self.buf.find(b"\r\n\r\n")
            if idx >= 0:
                break
            if len(self.buf) > MAX_HEAD:
                raise ProtocolError("response head exceeds %d bytes: %r..."
                                    % (MAX_HEAD, bytes(self.buf[:200])))
            try:
                self._recv_more(end)
            except ConnectionClosed as e:
                raise ConnectionClosed(
                    "connection closed before a complete response head "
                    "(%s); got %r" % (e, bytes(self.buf[:300])),
                    bytes(self.buf)) from None
        raw_head = bytes(self.buf[:idx + 4])
        del self.buf[:idx + 4]
        version, status, reason, headers = parse_head(raw_head)
        resp = Response(version, status, reason, headers, b"", raw_head)

        # Body (RFC 9112 section 6.3).
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            return resp
        te = resp.header_all("Transfer-Encoding")
        cl = resp.header_all("Content-Length")
        if te:
            if cl:
                raise ProtocolError("response has both Transfer-Encoding "
                                    "and Content-Length")
            resp.body, resp.chunks = self._read_chunked(end)
            return resp
        if cl:
            if len(set(cl)) != 1 or not cl[0].isdigit():
                raise ProtocolError("bad Content-Length %r" % (cl,))
            n = int(cl[0])
            while len(self.buf) < n:
                try:
                    self._recv_more(end, min(max(n - len(self.buf),
                                                 4096), 256 * 1024))
                except ConnectionClosed:
                    raise ConnectionClosed(
                        "connection closed after %d of %d body bytes"
                        % (len(self.buf), n), bytes(self.buf)) from None
            resp.body = bytes(self.buf[:n])
            del self.buf[:n]
            return resp
        # No length: the body runs to EOF.
        resp.body_to_eof = True
        while True:
            try:
                self._recv_more(end)
            except ConnectionClosed:
                break
        resp.body = bytes(self.buf)
        self.buf.clear()
        return resp

    def _read_chunked(self, end):
        """(body, [chunk sizes]): the framing is compared between servers
        too."""
        body = bytearray()
        sizes = []
        while True:
            while b"\r\n" not in self.buf:
                self._recv_more(end)
            line, _, rest = bytes(self.buf).partition(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            sizes.append(size)
            self.buf[:] = rest
            if size == 0:
                while True:         # trailers up to the empty line
                    while b"\r\n" not in self.buf:
                        self._recv_more(end)
                    line, _, rest = bytes(self.buf).partition(b"\r\n")
                    self.buf[:] = rest
                    if line == b"":
                        return bytes(body), sizes
            while len(self.buf) < size + 2:
                self._recv_more(end)
            body += self.buf[:size]
            if self.buf[size:size + 2] != b"\r\n":
                raise ProtocolError("bad chunk terminator")
            del self.buf[:size + 2]

    def wait_closed(self, timeout=10.0):
        """Wait for the server to close. Returns (state, extra) where state
        is 'eof', 'reset' or 'open' (nothing happened within timeout) and
        extra is any bytes that arrived (buffered ones included) before
        that. A test usually wants ('eof'|'reset', b'')."""
        end = time.monotonic() + timeout
        extra = bytearray(self.buf)
        self.buf.clear()
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return "open", bytes(extra)
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return "open", bytes(extra)
            except OSError as e:
                if _is_reset(e):
                    return "reset", bytes(extra)
                raise
            if not chunk:
                return "eof", bytes(extra)
            extra += chunk

    def is_open_after(self, seconds):
        """True if the server neither closed nor sent anything within
        `seconds` (keep-alive connection idle as expected)."""
        state, extra = self.wait_closed(seconds)
        if extra:
            raise ProtocolError("unexpected bytes on idle connection: %r"
                                % extra[:200])
        return state == "open"


def build_request(method, path, version="HTTP/1.1", headers=None, host=True,
                  body=b""):
    """Bytes of a request. headers: list of (name, value) or dict.
    host=True adds 'Host: 127.0.0.1' first."""
    lines = ["%s %s %s" % (method, path, version)]
    if host:
        lines.append("Host: 127.0.0.1")
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        for n, v in items:
            lines.append("%s: %s" % (n, v))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body


_STATUS_LINE = re.compile(rb"^(HTTP/1\.[01]) ([1-5]\d\d) ?([^\r\n]*)$")
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def parse_head(raw):
    """Parse a response head strictly (CRLF only, valid field names, no
    obs-fold). Returns (version, status, reason, [(name, value)])."""
    assert raw.endswith(b"\r\n\r\n")
    lines = raw[:-4].split(b"\r\n")
    for ln in lines:
        if b"\n" in ln or b"\r" in ln:
            raise ProtocolError("bare CR or LF in response head: %r" % raw)
    m = _STATUS_LINE.match(lines[0])
    if not m:
        raise ProtocolError("bad status line %r" % lines[0])
    headers = []
    for ln in lines[1:]:
        name, sep, value = ln.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise ProtocolError("bad header line %r" % ln)
        headers.append((name.decode("ascii"),
                        value.strip(b" \t").decode("latin-1")))
    return (m.group(1).decode(), int(m.group(2)),
            m.group(3).decode("latin-1"), headers)


def get(host, port, path, method="GET", version="HTTP/1.1", headers=None,
        timeout=DEFAULT_TIMEOUT):
    """One request on a fresh connection (which is then closed)."""
    with Conn(host, port, timeout=timeout) as c:
        c.request(method, path, version, headers)
        return c.read_response(method)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def exchange(host, port, raw, method="GET", timeout=DEFAULT_TIMEOUT):
    """Send raw request bytes on a fresh connection and read one response.
    Returns (response, conn); the caller closes conn (use `with`)."""
    c = Conn(host, port, timeout=timeout)
    c.send(raw)
    try:
        return c.read_response(method), c
    except BaseException:
        c.close()
        raise


def connect_many(host, port, n, timeout=120.0, rcvbuf=None):
    """Open n TCP connections concurrently (non-blocking connect, so SYNs
    dropped on a full accept queue are retried by TCP in the background).
    Returns the connected, blocking-mode-off sockets."""
    import selectors
    sel = selectors.DefaultSelector()
    socks, pending = [], set()
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.setblocking(False)
            err = s.connect_ex((host, port))
            if err == errno.EINPROGRESS:
                sel.register(s, selectors.EVENT_WRITE)
                pending.add(s)
            elif err:
                raise OSError(err, "connect: " + errno.errorcode.get(err, ""))
        end = time.monotonic() + timeout
        while pending:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError("%d of %d connects still pending after "
                                     "%.0f s" % (len(pending), n, timeout))
            for key, _ in sel.select(min(remaining, 1.0)):
                s = key.fileobj
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise AssertionError("connect failed: %s"
                                         % os.strerror(err))
                sel.unregister(s)
                pending.discard(s)
        return socks
    except BaseException:
        for s in socks:
            s.close()
        raise
    finally:
        sel.close()


# --------------------------------------------------------------------------
# Directory listings (test_http_*.py)

class ListingParser:
    """Parses a listing page with html.parser: start tags seen (in order),
    links (href, text) with the text the browser would show (character
    references decoded), table rows as lists of cell texts, and whether
    every opened element in a simple set was closed."""

    CHECKED = ("html", "head", "body", "title", "table", "tr", "td", "th",
               "a", "thead", "tbody", "h1")

    def __init__(self, body):
        import html.parser

        outer = self

        class P(html.parser.HTMLParser):
            def __init__(self):
                super().__init__(convert_charrefs=True)

            def handle_decl(self, decl):
                outer.decls.append(decl)

            def handle_starttag(self, tag, attrs):
                outer.start_tags.append(tag)
                if tag in outer.CHECKED:
                    outer.stack.append(tag)
                if tag == "a":
                    outer._href = dict(attrs).get("href")
                    outer._atext = []
                    outer._in_table_a = "table" in outer.stack
                elif tag == "tr":
                    outer._row = []
                elif tag in ("td", "th"):
                    outer._cell = []

            def handle_endtag(self, tag):
                if tag in outer.CHECKED:
                    # td/th/tr may be closed implicitly in HTML; we want
                    # them explicit, so a mismatch is a structure error.
                    if not outer.stack or outer.stack[-1] != tag:
                        outer.errors.append("unexpected </%s> (open: %r)"
                                            % (tag, outer.stack[-4:]))
                    else:
                        outer.stack.pop()
                if tag == "a" and outer._atext is not None:
                    outer.links.append((outer._href, "".join(outer._atext),
                                        outer._in_table_a))
                    if outer._cell is not None:
                        outer._cell_links.append(outer._href)
                    outer._atext = None
                elif tag in ("td", "th") and outer._cell is not None:
                    if outer._row is not None:
                        outer._row.append("".join(outer._cell))
                    outer._cell = None
                elif tag == "tr" and outer._row is not None:
                    outer.rows.append((outer._row, outer._cell_links))
                    outer._row = None
                    outer._cell_links = []

            def handle_data(self, data):
                if outer._atext is not None:
                    outer._atext.append(data)
                if outer._cell is not None:
                    outer._cell.append(data)
                if outer.stack and outer.stack[-1] == "title":
                    outer.title += data

        self.decls, self.start_tags, self.stack, self.errors = [], [], [], []
        self.links, self.rows, self.title = [], [], ""
        self._href = self._atext = self._row = self._cell = None
        self._cell_links = []
        self._in_table_a = False
        p = P()
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        p.feed(text)
        p.close()
        if self.stack:
            self.errors.append("unclosed elements at the end: %r"
                               % self.stack)

    def table_links(self):
        """(href, text) of the links inside the table, in order."""
        return [(h, t) for (h, t, in_table) in self.links if in_table]

    def row_for(self, href):
        """Cell texts of the table row whose link is `href`."""
        for cells, hrefs in self.rows:
            if href in hrefs:
                return cells
        return None


def parse_listing(body):
    return ListingParser(body)
