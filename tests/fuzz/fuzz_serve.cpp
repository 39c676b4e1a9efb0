// SPDX-License-Identifier: GPL-2.0
// libFuzzer target: khttpd_serve_next(), the decision the module and the
// twin both act on, over a fake file system whose shape the input chooses,
// then the directory listing it may plan, streamed to the end.
//
// Input: one byte of flags (bit 0: list directories; bit 1: the receive
// buffer is full, cap == len), four bytes of seed, a count of directory
// entry names and each name (a length byte, then the bytes), then the
// received bytes, which may hold several pipelined requests.
//
// What a transport relies on and is checked here:
//  - every path the core looks up is relative and normalised: no leading
//    '/', no empty, "." or ".." component (the kernel's LOOKUP_BENEATH is
//    the second line, not the first);
//  - every looked-up slot is released on every path, none used twice;
//  - the head fits its buffer, its status line says plan.status, and the
//    bytes after it are exactly what Content-Length says (an error page),
//    or none when a body follows or the method is HEAD;
//  - a file body's range lies within the file and matches Content-Length;
//  - "Connection: close" in the head and close_after agree;
//  - a listing ends, in pieces that fit the buffer, framed as chunks when
//    chunked, and no byte of a name or of the path becomes markup;
//  - HEAD gets the head GET gets; a file's 200 revalidates to a 304 with
//    its own ETag or Last-Modified, and bytes=0-0 of it is a 206 of one
//    byte, also under If-Range with its ETag, or with its Last-Modified
//    when that is a second before the Date (a whole 200 otherwise); a 405
//    says Allow, a 301 Location, a 206 or 416 Content-Range;
//  - no buffer is read or written past its end (each is heap-allocated to
//    its exact size, under ASan).
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <strings.h>
#include <vector>

#include "khttpd/serve.h"
#include "check.h"

namespace {

uint32_t seed;

uint64_t Hash(const char *s, size_t n, uint64_t salt)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed ^ (salt << 32);
	for (size_t i = 0; i < n; i++)
		h = (h ^ static_cast<unsigned char>(s[i])) * 0x100000001b3ull;
	// MurmurHash3's finaliser: every bit of the name reaches the low ones.
	h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;
	h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

// What a path is, decided by its hash: the same answer every time it is
// asked within one input. 0 or a negative errno.
int NodeFor(const char *rel, khttpd_node *node)
{
	const size_t n = std::strlen(rel);
	const uint64_t h = Hash(rel, n, 1);
	static const int errors[] = {
		-KHTTPD_EACCES, -KHTTPD_EXDEV, -KHTTPD_ELOOP, -KHTTPD_ENOTDIR,
		-KHTTPD_ENAMETOOLONG, -KHTTPD_ENOMEM, -5 /* EIO: a 500 */,
	};
	static const uint64_t sizes[] = {
		0, 1, 1023, 1024, 16384, 1 << 20, (1ull << 63) - 1,
	};
	static const int64_t mtimes[] = {
		784111777, 784111776, 0, -1, 4102444800, (1ll << 40),
	};

	*node = khttpd_node{};
	// Of 16: 4 missing, 7 files, 2 directories, 1 FIFO or the like, 2
	// errors. The root is a directory.
	int kind = n ? static_cast<int>(h % 16) : 11;
	if (kind < 4)
		return -KHTTPD_ENOENT;
	if (kind >= 14)
		return errors[(h >> 4) % (sizeof(errors) / sizeof(errors[0]))];
	node->type = kind >= 11 && kind < 13 ? KHTTPD_NODE_DIR :
		     kind == 13 ? KHTTPD_NODE_OTHER : KHTTPD_NODE_FILE;
	node->readable = (h >> 8) % 8 != 0;
	node->fs_magic = (h >> 11) % 6 == 0 ? 0x9fa0 /* procfs */ : 0xef53;
	node->ino = h >> 40;
	node->size = sizes[(h >> 14) % (sizeof(sizes) / sizeof(sizes[0]))];
	node->mtime_sec = mtimes[(h >> 18) % (sizeof(mtimes) / sizeof(mtimes[0]))];
	node->mtime_nsec = static_cast<uint32_t>((h >> 21) % 1000000000);
	return 0;
}

void CheckRelative(const char *rel)
{
	const size_t n = std::strlen(rel);
	Check(n < KHTTPD_PATH_MAX, "looked-up path too long");
	if (n == 0)
		return;
	Check(rel[0] != '/', "looked-up path is absolute");
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && rel[i] != '/')
			continue;
		const size_t len = i - start;
		Check(len != 0, "looked-up path has an empty component");
		Check(!(len == 1 && rel[start] == '.'), "looked-up path has .");
		Check(!(len == 2 && rel[start] == '.' && rel[start + 1] == '.'),
		      "looked-up path has ..");
		start = i + 1;
	}
}

} // namespace

struct khttpd_fs {
	int held[KHTTPD_FS_SLOTS];
	bool opened;
	khttpd_node node;	// what was opened, and the range asked for
	khttpd_range range;
};

struct khttpd_fs_dir {
	std::vector<std::string> names;
	size_t cursor;
	std::string name;	// the entry peek handed out last
};

extern "C" int khttpd_fs_lookup(struct khttpd_fs *fs, int slot,
				const char *rel, struct khttpd_node *node)
{
	Check(slot >= 0 && slot < KHTTPD_FS_SLOTS, "slot out of range");
	Check(fs->held[slot] == 0, "lookup into a held slot");
	CheckRelative(rel);
	int err = NodeFor(rel, node);
	if (!err)
		fs->held[slot] = 1;
	return err;
}

extern "C" void khttpd_fs_put(struct khttpd_fs *fs, int slot)
{
	Check(slot >= 0 && slot < KHTTPD_FS_SLOTS, "slot out of range");
	Check(fs->held[slot] == 1, "put of an empty slot");
	fs->held[slot] = 0;
}

extern "C" int khttpd_fs_open(struct khttpd_fs *fs, int slot, const char *key,
			      size_t key_len, const struct khttpd_node *node,
			      const struct khttpd_range *range)
{
	khttpd_fs_put(fs, slot);
	Check(std::strlen(key) == key_len, "cache key length");
	Check(node->type == KHTTPD_NODE_FILE && node->readable,
	      "opened what may not be served");
	Check(range->first <= range->last && range->last < node->size,
	      "range outside the file");
	fs->opened = true;
	fs->node = *node;
	fs->range = *range;
	// Sometimes the open itself fails, as a real one can.
	if (Hash(key, key_len, 2) % 16 == 0)
		return -KHTTPD_ENOMEM;
	return Hash(key, key_len, 3) % 2 ? KHTTPD_BODY_CACHED : KHTTPD_BODY_FILE;
}

extern "C" int khttpd_fs_opendir(struct khttpd_fs *fs, int slot,
				 const char *rel)
{
	khttpd_fs_put(fs, slot);
	CheckRelative(rel);
	return Hash(rel, std::strlen(rel), 4) % 16 == 0 ? -KHTTPD_ENOMEM : 0;
}

extern "C" int khttpd_fs_dir_peek(struct khttpd_fs_dir *dir,
				  struct khttpd_listing_entry *entry)
{
	if (dir->cursor == dir->names.size())
		return 0;
	dir->name = dir->names[dir->cursor];
	const uint64_t h = Hash(dir->name.data(), dir->name.size(), 5);
	*entry = {};
	entry->name = khttpd_str{ dir->name.data(), dir->name.size() };
	entry->is_dir = h % 3 == 0;
	entry->size = h >> 20;
	entry->mtime = static_cast<int64_t>(h >> 30) - (1ll << 32);
	return 1;
}

extern "C" void khttpd_fs_dir_advance(struct khttpd_fs_dir *dir)
{
	Check(dir->cursor < dir->names.size(), "advance past the end");
	dir->cursor++;
}

extern "C" int khttpd_fs_dir_lookup(struct khttpd_fs_dir *, const char *rel,
				    struct khttpd_node *node)
{
	CheckRelative(rel);
	return NodeFor(rel, node);
}

namespace {

// Where the value of "\r\n<name>: " (name in the case the core writes)
// starts in head, or npos.
size_t HeaderAt(const std::string &head, const char *name)
{
	const std::string key = std::string("\r\n") + name + ": ";
	size_t at = head.find(key);
	return at == std::string::npos ? at : at + key.size();
}

// The value of a header field the core wrote, or "".
std::string HeaderValue(const std::string &head, const char *name)
{
	size_t at = HeaderAt(head, name);
	if (at == std::string::npos)
		return "";
	return head.substr(at, head.find("\r\n", at) - at);
}

// The digits a header field's value starts with, or -1 when absent.
long long HeaderNumber(const std::string &head, const char *name)
{
	size_t at = HeaderAt(head, name);
	if (at == std::string::npos)
		return -1;
	long long v = 0;
	for (size_t i = at; i < head.size() && head[i] >= '0' && head[i] <= '9';
	     i++)
		v = v * 10 + (head[i] - '0');
	return v;
}

/*
 * bytes, a whole request, served on its own (in an exact-size buffer, as
 * full as the transport's could be): every slot released, every byte used.
 * Returns the head written.
 */
std::string ServeAlone(const khttpd_serve_env &env, const std::string &bytes,
		       khttpd_request *req, khttpd_plan *plan)
{
	std::unique_ptr<char[]> rx(new char[bytes.size()]);
	std::memcpy(rx.get(), bytes.data(), bytes.size());
	*env.fs = khttpd_fs{};
	size_t n = khttpd_serve_next(&env, rx.get(), bytes.size(), bytes.size(),
				     req, plan);
	for (int s = 0; s < KHTTPD_FS_SLOTS; s++)
		Check(env.fs->held[s] == 0, "a slot still held, served again");
	Check(n == bytes.size(), "a request served again did not parse whole");
	return std::string(env.head, plan->head_len);
}

/*
 * A listing's page carries names and a path that clients chose: no byte of
 * them may become markup. Every '<' opens one of the page's own tags, every
 * '&' one of the five entities the escaping writes, no '>' stands alone,
 * and a link's target holds only unreserved bytes, '/' and %XX.
 */
void CheckHtml(const std::string &page)
{
	static const char *const tags[] = {
		"!DOCTYPE html", "html lang=\"en\"", "/html", "head", "/head",
		"meta charset=\"utf-8\"",
		"meta name=\"viewport\" content=\"width=device-width\"",
		"title", "/title", "body", "/body", "h1", "/h1", "table",
		"/table", "thead", "/thead", "tbody", "/tbody", "tr", "/tr",
		"th", "/th", "td", "/td", "/a",
	};
	static const char *const entities[] = {
		"&amp;", "&lt;", "&gt;", "&quot;", "&#39;",
	};
	for (size_t i = 0; i < page.size(); i++) {
		const char c = page[i];
		Check(c != '>', "a '>' outside a tag in a listing");
		if (c == '&') {
			bool known = false;
			for (const char *e : entities)
				known |= page.compare(i, std::strlen(e), e) == 0;
			Check(known, "a bare '&' in a listing");
			continue;
		}
		if (c != '<')
			continue;
		const size_t end = page.find('>', i);
		Check(end != std::string::npos, "an unclosed tag in a listing");
		const std::string tag = page.substr(i + 1, end - i - 1);
		bool known = false;
		for (const char *t : tags)
			known |= tag == t;
		if (!known) {
			static const char a[] = "a href=\"";
			Check(tag.compare(0, sizeof(a) - 1, a) == 0 &&
			      tag.size() > sizeof(a) - 1 && tag.back() == '"',
			      "a tag the listing does not write");
			const std::string href =
				tag.substr(sizeof(a) - 1, tag.size() - sizeof(a));
			for (size_t k = 0; k < href.size(); k++) {
				const auto h = static_cast<unsigned char>(href[k]);
				if (h == '%') {
					Check(k + 2 < href.size() &&
					      std::isxdigit(static_cast<unsigned char>(href[k + 1])) &&
					      std::isxdigit(static_cast<unsigned char>(href[k + 2])),
					      "a bad escape in a link");
					continue;
				}
				Check(std::isalnum(h) || h == '-' || h == '.' || h == '_' ||
				      h == '~' || h == '/', "a raw byte in a link");
			}
		}
		i = end;
	}
}

void CheckListing(khttpd_plan *plan, khttpd_fs_dir *dir)
{
	std::string page;
	std::unique_ptr<char[]> buf(new char[KHTTPD_LISTING_BUF]);
	const size_t most = dir->names.size() + 4;
	bool last_chunk = false;

	for (size_t calls = 0;; calls++) {
		Check(calls <= most, "listing does not end");
		const char *piece = nullptr;
		size_t n = khttpd_listing_write(&plan->listing, dir, buf.get(),
						&piece);
		if (n == 0)
			break;
		Check(!last_chunk, "a piece after the last chunk");
		Check(piece >= buf.get() &&
		      n <= KHTTPD_LISTING_BUF - static_cast<size_t>(piece - buf.get()),
		      "listing piece outside the buffer");
		if (!plan->listing.chunked) {
			page.append(piece, n);
			continue;
		}
		// "<hex>\r\n<data>\r\n", and "0\r\n\r\n" after the last.
		size_t i = 0, len = 0;
		while (i < n && std::isxdigit(static_cast<unsigned char>(piece[i]))) {
			char c = piece[i++];
			len = len * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		Check(i > 0 && i + 2 <= n && piece[i] == '\r' && piece[i + 1] == '\n',
		      "chunk size line");
		i += 2;
		Check(len > 0 && i + len + 2 <= n, "chunk longer than its piece");
		page.append(piece + i, len);
		i += len;
		Check(piece[i] == '\r' && piece[i + 1] == '\n', "chunk end");
		i += 2;
		if (i < n) {
			Check(n - i == 5 && std::memcmp(piece + i, "0\r\n\r\n", 5) == 0,
			      "bytes after a chunk");
			last_chunk = true;
		}
	}
	Check(!plan->listing.chunked || last_chunk, "chunked listing without its end");
	CheckHtml(page);
}

// The plan and the head agree, for one request (method as parsed).
void CheckPlan(const khttpd_plan &plan, const khttpd_request &req,
	       const char *head, const khttpd_fs &fs)
{
	static const int statuses[] = { 200, 206, 301, 304, 400, 403, 404, 405,
					412, 414, 416, 431, 500, 501, 503, 505 };
	bool known = false;
	for (int s : statuses)
		known |= s == plan.status;
	Check(known, "unexpected status");
	Check(plan.head_len <= KHTTPD_HEAD_SIZE, "head longer than its buffer");
	if (plan.head_len == 0) {
		Check(plan.close_after, "no head, yet the connection stays");
		return;
	}
	const std::string h(head, plan.head_len);
	Check(h.size() > 13 && (h.compare(0, 9, "HTTP/1.1 ") == 0 ||
				h.compare(0, 9, "HTTP/1.0 ") == 0),
	      "status line");
	Check(std::atoi(h.substr(9, 3).c_str()) == plan.status,
	      "status line and plan disagree");
	const size_t end = h.find("\r\n\r\n");
	Check(end != std::string::npos, "head without its blank line");
	const std::string headers = h.substr(0, end + 2);
	const size_t after = h.size() - (end + 4);
	const long long length = HeaderNumber(headers, "Content-Length");
	const bool head_only = req.method == KHTTPD_METHOD_HEAD;

	const bool says_close = headers.find("\r\nConnection: close\r\n") !=
				std::string::npos;
	Check(says_close == (plan.close_after != 0),
	      "Connection: close and close_after disagree");

	switch (plan.body) {
	case KHTTPD_BODY_NONE:
		if (head_only || plan.status == 304) {
			Check(after == 0, "bytes after a bodiless head");
		} else {
			Check(length >= 0, "a page without Content-Length");
			Check(static_cast<unsigned long long>(length) == after,
			      "Content-Length is not the page's length");
		}
		break;
	case KHTTPD_BODY_FILE:
	case KHTTPD_BODY_CACHED:
		Check(!head_only, "a body for HEAD");
		Check(fs.opened, "a file body never opened");
		Check(after == 0, "bytes after a file's head");
		Check(plan.range.first == fs.range.first &&
		      plan.range.last == fs.range.last, "range differs from open");
		Check(length >= 0 && static_cast<unsigned long long>(length) ==
		      plan.range.last - plan.range.first + 1,
		      "Content-Length is not the range's length");
		Check(plan.status == 206 || (plan.status == 200 &&
		      plan.range.first == 0 && plan.range.last + 1 == fs.node.size),
		      "a file answered 200 with part of it");
		break;
	case KHTTPD_BODY_LISTING:
		Check(!head_only, "a listing for HEAD");
		Check(plan.status == 200 && after == 0, "listing head");
		Check(length < 0, "a listing with Content-Length");
		Check(plan.listing.chunked ==
		      (headers.find("\r\nTransfer-Encoding: chunked\r\n") !=
		       std::string::npos), "chunked and its header disagree");
		Check(plan.listing.chunked || plan.close_after,
		      "an unchunked listing on a kept connection");
		break;
	default:
		Check(false, "unknown body kind");
	}
	// What RFC 9110 asks of particular statuses.
	Check(!HeaderValue(h, "Date").empty(), "no Date");
	if (plan.status == 405)
		Check(!HeaderValue(h, "Allow").empty(), "a 405 without Allow");
	if (plan.status == 301)
		Check(HeaderValue(h, "Location").compare(0, 1, "/") == 0,
		      "a 301 without its Location");
	if (plan.status == 416)
		Check(HeaderValue(h, "Content-Range").compare(0, 8, "bytes */") == 0,
		      "a 416 without Content-Range: bytes */size");
	if (plan.status == 206)
		Check(HeaderValue(h, "Content-Range") ==
		      "bytes " + std::to_string(plan.range.first) + "-" +
		      std::to_string(plan.range.last) + "/" +
		      std::to_string(fs.node.size), "a 206's Content-Range");
	if (plan.linger)
		Check(plan.close_after, "lingering on a kept connection");
	if (plan.bad_request)
		Check(plan.close_after, "a bad request on a kept connection");
	if (!req.keep_alive)
		Check(plan.close_after, "kept a connection the client closes");
}

// The listing's order is a total order on the items it sorts.
void CheckItemOrder(khttpd_fs_dir *dir, char *path)
{
	std::vector<khttpd_dir_item> items(dir->names.size());
	for (size_t i = 0; i < items.size(); i++) {
		items[i] = {};
		items[i].entry.name = khttpd_str{ dir->names[i].data(),
						  dir->names[i].size() };
		path[0] = '\0';
		khttpd_dir_item_look_up(dir, path, 0, &items[i]);
		Check(path[0] == '\0', "look-up left the path changed");
	}
	for (auto &a : items) {
		Check(khttpd_dir_item_cmp(&a, &a) == 0, "an item unequal to itself");
		for (auto &b : items) {
			int x = khttpd_dir_item_cmp(&a, &b);
			int y = khttpd_dir_item_cmp(&b, &a);
			Check((x < 0) == (y > 0) && (x == 0) == (y == 0),
			      "order not antisymmetric");
		}
	}
}

/*
 * HEAD gets the head GET got (RFC 9110 9.3.2), byte for byte up to its
 * blank line. Not after a 503: the fake's open can fail that way, and HEAD
 * never opens. Nor for a range (206, 416): ranges are GET's alone (RFC 9110
 * 14.2), and HEAD gets the whole file's 200.
 */
void CheckHeadLikeGet(const khttpd_serve_env &env, const char *get_rx,
		      size_t used, const khttpd_request &get_req,
		      const khttpd_plan &get, const std::string &got)
{
	const std::string get_head = got.substr(0, got.find("\r\n\r\n"));
	// The same bytes with "HEAD" for "GET" (empty lines may come first).
	const size_t m = static_cast<size_t>(get_req.method_name.ptr - get_rx);
	Check(get_req.method_name.len == 3 && m + 3 <= used, "GET's name");
	khttpd_request req;
	khttpd_plan plan;
	const std::string head = ServeAlone(
		env, std::string(get_rx, m) + "HEAD" +
			     std::string(get_rx + m + 3, used - m - 3),
		&req, &plan);
	Check(req.method == KHTTPD_METHOD_HEAD,
	      "the HEAD twin of a GET did not parse alike");
	Check(plan.status == get.status, "HEAD and GET differ in status");
	Check(head.size() == head.find("\r\n\r\n") + 4,
	      "bytes after the head of HEAD");
	Check(head.substr(0, head.find("\r\n\r\n")) == get_head,
	      "HEAD and GET differ in their heads");
}

bool Mentions(const char *p, size_t n, const char *word)
{
	const size_t w = std::strlen(word);
	for (size_t i = 0; i + w <= n; i++)
		if (strncasecmp(p + i, word, w) == 0)
			return true;
	return false;
}

/*
 * What a cache does with a 200: revalidate with the validators it got,
 * and ask for a range. The same request with If-None-Match: <its ETag>
 * and, alone, If-Modified-Since: <its Last-Modified> must get a 304 with
 * the same ETag, and with Range: bytes=0-0 a 206 of one byte, also with
 * If-Range: <its ETag>, and with If-Range: <its Last-Modified> when that
 * date is strong (a second before the Date; else the whole file): the core
 * must read back what it wrote (for every mtime, ino and size). Only for
 * a request that sent no conditional or range field of its own.
 */
void CheckRevalidation(const khttpd_serve_env &env, const char *get_rx,
		       size_t used, const khttpd_request &get_req,
		       const std::string &got)
{
	if (Mentions(get_rx, used, "if-") || Mentions(get_rx, used, "range"))
		return;
	const size_t m = static_cast<size_t>(get_req.method_name.ptr - get_rx);
	const char *nl = static_cast<const char *>(
		std::memchr(get_rx + m, '\n', used - m));
	Check(nl != nullptr, "no end to the request line");
	const size_t line = static_cast<size_t>(nl - get_rx) + 1;
	const std::string etag = HeaderValue(got, "ETag");
	const std::string modified = HeaderValue(got, "Last-Modified");
	const std::string size = HeaderValue(got, "Content-Length");
	Check(!etag.empty(), "a file's 200 without an ETag");

	// If-Range with a date selects the range only when the date is
	// strong: its second over by the Date (RFC 9110 13.1.5).
	int64_t t = 0;
	const bool strong_date =
		khttpd_parse_date(modified.data(), modified.size(), &t) == 0 &&
		t < env.now;
	struct Ask {
		std::string fields;	// "" when there is nothing to ask
		size_t count;		// how many
		int want;		// 304, 206 of bytes=0-0, 200 whole
	};
	const Ask asks[] = {
		{ "If-None-Match: " + etag, 1, 304 },
		{ modified.empty() ? "" : "If-Modified-Since: " + modified, 1,
		  304 },
		{ "Range: bytes=0-0", 1, 206 },
		{ "Range: bytes=0-0\r\nIf-Range: " + etag, 2, 206 },
		{ modified.empty() ? ""
				   : "Range: bytes=0-0\r\nIf-Range: " + modified,
		  2, strong_date ? 206 : 200 },
	};
	for (const Ask &ask : asks) {
		// Each field asked for must have room among the request's.
		if (ask.fields.empty() ||
		    get_req.num_headers + ask.count > KHTTPD_MAX_HEADERS)
			continue;
		std::string req = std::string(get_rx, line) + ask.fields +
				  "\r\n" + std::string(get_rx + line, used - line);
		if (req.size() > KHTTPD_RX_SIZE)
			return;
		khttpd_request r;
		khttpd_plan plan;
		const std::string head = ServeAlone(env, req, &r, &plan);
		if (ask.want == 304) {
			Check(plan.status == 304, "its own validator did not match");
			Check(HeaderValue(head, "ETag") == etag, "a 304's ETag");
			continue;
		}
		if (plan.status == 503)	// the fake's open failed
			continue;
		if (ask.want == 200) {
			Check(plan.status == 200, "If-Range: a weak date matched");
			Check(HeaderValue(head, "Content-Length") == size,
			      "If-Range's 200 not the whole file");
			continue;
		}
		Check(plan.status == 206, "bytes=0-0 of a file not a 206");
		Check(HeaderValue(head, "Content-Length") == "1",
		      "bytes=0-0 not one byte");
		Check(HeaderValue(head, "Content-Range") == "bytes 0-0/" + size,
		      "bytes=0-0's Content-Range");
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 6)
		return 0;
	const int flags = data[0];
	std::memcpy(&seed, data + 1, 4);
	size_t at = 6;
	khttpd_fs_dir dir{};
	for (int i = 0; i < data[5] % 8 && at < size; i++) {
		size_t n = data[at++];
		if (n > size - at)
			n = size - at;
		std::string name(reinterpret_cast<const char *>(data + at), n);
		at += n;
		// What readdir can return and the transport passes on: no '/',
		// no NUL, nothing hidden, not empty.
		for (char &c : name)
			if (c == '/' || c == '\0')
				c = '_';
		if (!name.empty() && name[0] != '.')
			dir.names.push_back(name);
	}
	const size_t len = size - at;
	if (len == 0 || len > KHTTPD_RX_SIZE)
		return 0;

	// Each buffer exactly its size, so ASan sees a byte past it.
	std::unique_ptr<char[]> rx(new char[len ? len : 1]);
	std::memcpy(rx.get(), data + at, len);
	std::unique_ptr<char[]> head(new char[KHTTPD_HEAD_SIZE]);
	std::unique_ptr<char[]> path(new char[KHTTPD_PATH_MAX]);
	static const char date[KHTTPD_DATE_LEN + 1] = "Sun, 06 Nov 1994 08:49:37 GMT";
	khttpd_fs fs{};
	const khttpd_serve_env env = {
		.fs = &fs,
		.head = head.get(),
		.path = path.get(),
		.date = date,
		.now = 784111777,
		.listing = flags & 1,
	};
	// The transport's buffer: full (every byte received is there and no
	// room is left), or the usual one with room.
	const size_t cap = flags & 2 ? len : KHTTPD_RX_SIZE;

	CheckItemOrder(&dir, path.get());

	// Requests one after another, as a connection's runs take them.
	size_t off = 0;
	for (int i = 0; i < 8; i++) {
		khttpd_request req;
		khttpd_plan plan;
		fs = khttpd_fs{};
		dir.cursor = 0;
		size_t used = khttpd_serve_next(&env, rx.get() + off, len - off,
						cap - off, &req, &plan);
		for (int s = 0; s < KHTTPD_FS_SLOTS; s++)
			Check(fs.held[s] == 0, "a slot still held");
		if (used == 0) {
			Check(len - off < cap - off, "incomplete with a full buffer");
			break;
		}
		Check(used <= len - off, "used more than was received");
		CheckPlan(plan, req, head.get(), fs);
		if (plan.body == KHTTPD_BODY_LISTING)
			CheckListing(&plan, &dir);
		// The checks below serve again, over the head: keep this one.
		const std::string got(head.get(), plan.head_len);
		const bool file = plan.status == 200 &&
				  (plan.body == KHTTPD_BODY_FILE ||
				   plan.body == KHTTPD_BODY_CACHED);
		if (req.method == KHTTPD_METHOD_GET && plan.status != 503 &&
		    plan.status != 206 && plan.status != 416)
			CheckHeadLikeGet(env, rx.get() + off, used, req, plan, got);
		if (req.method == KHTTPD_METHOD_GET && file)
			CheckRevalidation(env, rx.get() + off, used, req, got);
		if (plan.close_after)
			break;
		off += used;
		off += plan.discard < len - off ? plan.discard : len - off;
		if (off == len)
			break;
	}
	return 0;
}
