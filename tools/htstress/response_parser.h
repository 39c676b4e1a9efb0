// SPDX-License-Identifier: GPL-2.0
/*
 * Incremental HTTP/1.x response parser for htstress.
 *
 * It only needs to know where a response ends and whether the connection may
 * carry another one, so it parses the status line and three headers
 * (Content-Length, Transfer-Encoding, Connection) and skips the body by
 * counting bytes: nothing is copied except a head that arrives split across
 * reads, which goes into a fixed buffer owned by the parser (no allocation).
 * Kept header-only and free of I/O so the unit tests can drive it with
 * arbitrary splits.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace htstress {

class ResponseParser {
public:
	enum Result { kMore, kDone, kError };

	// Heads of the servers we benchmark are a few hundred bytes; a head
	// larger than this is reported as malformed rather than buffered.
	static constexpr size_t kMaxHead = 8192;

	ResponseParser() { reset(); }

	// Prepare for the next response on the connection.
	void reset()
	{
		state_ = kHead;
		head_len_ = 0;
		bytes_ = 0;
		status_ = 0;
		error_ = nullptr;
		keep_alive_ = false;
		until_close_ = false;
	}

	// Consume bytes from [p, p + n). Returns kMore when all of them were
	// consumed and the response is not complete yet, kDone when it is
	// complete (*used says how many bytes belonged to it; anything after is
	// not part of this response), kError when the input is malformed.
	Result feed(const char *p, size_t n, size_t *used)
	{
		size_t i = 0;
		bytes_ += n;
		while (i < n) {
			switch (state_) {
			case kHead:
				if (!feed_head(p, n, &i))
					return fail_at(i, used);
				break;
			case kLength: {
				uint64_t take = n - i;
				if (take > remaining_)
					take = remaining_;
				remaining_ -= take;
				i += take;
				if (!remaining_)
					state_ = kComplete;
				break;
			}
			case kUntilClose:
				i = n;
				break;
			case kChunkSize:
				if (!chunk_size_byte(p[i++]))
					return fail_at(i, used);
				break;
			case kChunkData: {
				uint64_t take = n - i;
				if (take > remaining_)
					take = remaining_;
				remaining_ -= take;
				i += take;
				if (!remaining_) {
					state_ = kChunkCrlf;
					saw_cr_ = false;
				}
				break;
			}
			case kChunkCrlf: {
				char c = p[i++];
				if (c == '\r' && !saw_cr_) {
					saw_cr_ = true;
				} else if (c == '\n') {
					start_chunk_size();
				} else {
					error_ = "bad chunk terminator";
					return fail_at(i, used);
				}
				break;
			}
			case kTrailer: {
				char c = p[i++];
				if (c == '\n') {
					if (!line_len_)
						state_ = kComplete;
					line_len_ = 0;
				} else if (c != '\r' && ++line_len_ > kMaxHead) {
					error_ = "trailer too large";
					return fail_at(i, used);
				}
				break;
			}
			case kComplete:
				break;
			}
			if (state_ == kComplete) {
				*used = i;
				return kDone;
			}
		}
		*used = n;
		return kMore;
	}

	// The peer closed the connection: completes a response whose body is
	// delimited by the close, anything else was cut short.
	Result finish()
	{
		if (state_ == kUntilClose)
			return kDone;
		error_ = bytes_ ? "connection closed mid-response"
				: "connection closed before response";
		return kError;
	}

	int status() const { return status_; }
	// The server allows another request on this connection.
	bool keep_alive() const { return keep_alive_; }
	// The body runs until the server closes the connection.
	bool until_close() const { return until_close_; }
	// Any byte of this response has been received.
	bool started() const { return bytes_ != 0; }
	const char *error() const { return error_; }

private:
	enum State {
		kHead,
		kLength,
		kUntilClose,
		kChunkSize,
		kChunkData,
		kChunkCrlf,
		kTrailer,
		kComplete,
	};

	Result fail_at(size_t i, size_t *used)
	{
		if (!error_)
			error_ = "malformed response";
		*used = i;
		return kError;
	}

	// Index just past the empty line ending the head, or 0. Accepts bare
	// LF line ends as well as CRLF.
	static size_t head_end(const char *b, size_t len, size_t from)
	{
		while (from < len) {
			const void *nl = std::memchr(b + from, '\n', len - from);
			if (!nl)
				return 0;
			size_t j = static_cast<const char *>(nl) - b;
			if (j + 1 < len && b[j + 1] == '\n')
				return j + 2;
			if (j + 2 < len && b[j + 1] == '\r' && b[j + 2] == '\n')
				return j + 3;
			from = j + 1;
		}
		return 0;
	}

	// Head bytes start at p[*i]. The common case, a whole head inside one
	// read, is parsed in place; otherwise the bytes are collected in head_.
	bool feed_head(const char *p, size_t n, size_t *i)
	{
		const char *s = p + *i;
		size_t avail = n - *i;
		if (!head_len_) {
			size_t end = head_end(s, avail, 0);
			if (end > kMaxHead) {
				// Same limit as a head collected across reads,
				// so read boundaries never change the outcome.
				error_ = "response head too large";
				return false;
			}
			if (end) {
				*i += end;
				return parse_head(s, end);
			}
			if (avail > kMaxHead) {
				error_ = "response head too large";
				return false;
			}
			std::memcpy(head_, s, avail);
			head_len_ = avail;
			*i = n;
			return true;
		}
		size_t old = head_len_;
		size_t take = avail < kMaxHead - old ? avail : kMaxHead - old;
		std::memcpy(head_ + old, s, take);
		head_len_ += take;
		// A terminator may straddle the previous read: rescan its tail.
		size_t end = head_end(head_, head_len_, old > 3 ? old - 3 : 0);
		if (!end) {
			if (head_len_ == kMaxHead) {
				error_ = "response head too large";
				return false;
			}
			*i = n;
			return true;
		}
		*i += end - old;
		size_t len = end;
		head_len_ = 0;
		return parse_head(head_, len);
	}

	static bool ieq(std::string_view a, std::string_view b)
	{
		if (a.size() != b.size())
			return false;
		for (size_t k = 0; k < a.size(); k++) {
			char x = a[k], y = b[k];
			if (x >= 'A' && x <= 'Z')
				x = static_cast<char>(x - 'A' + 'a');
			if (x != y)
				return false;
		}
		return true;
	}

	static std::string_view trim(std::string_view v)
	{
		while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
			v.remove_prefix(1);
		while (!v.empty() && (v.back() == ' ' || v.back() == '\t' ||
				      v.back() == '\r'))
			v.remove_suffix(1);
		return v;
	}

	// Calls f(token) for each comma-separated, trimmed, non-empty token.
	template <typename F> static void tokens(std::string_view v, F f)
	{
		while (!v.empty()) {
			size_t c = v.find(',');
			std::string_view t = trim(v.substr(0, c));
			if (!t.empty())
				f(t);
			if (c == std::string_view::npos)
				break;
			v.remove_prefix(c + 1);
		}
	}

	// b[0, len) is a complete head including its terminating empty line.
	bool parse_head(const char *b, size_t len)
	{
		std::string_view h(b, len);
		size_t eol = h.find('\n');
		std::string_view line = trim(h.substr(0, eol));
		// "HTTP/x.y SSS[ reason]"
		if (line.size() < 12 || line.substr(0, 5) != "HTTP/" ||
		    line[5] < '0' || line[5] > '9' || line[6] != '.' ||
		    line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		    line[9] < '1' || line[9] > '5' || line[10] < '0' ||
		    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
		    (line.size() > 12 && line[12] != ' ')) {
			error_ = "malformed status line";
			return false;
		}
		bool http11 = line[5] > '1' || (line[5] == '1' && line[7] >= '1');
		status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 +
			  (line[11] - '0');

		bool have_len = false, chunked = false, te = false;
		bool conn_close = false, conn_ka = false;
		uint64_t clen = 0;
		h.remove_prefix(eol + 1);
		while (!h.empty()) {
			eol = h.find('\n');
			line = h.substr(0, eol);
			h.remove_prefix(eol == std::string_view::npos ? h.size()
								       : eol + 1);
			if (!line.empty() && line.back() == '\r')
				line.remove_suffix(1);
			if (line.empty())
				break;
			if (line.front() == ' ' || line.front() == '\t')
				continue; // obsolete folding: nothing we need
			size_t colon = line.find(':');
			if (colon == std::string_view::npos || colon == 0) {
				error_ = "malformed header line";
				return false;
			}
			std::string_view name = line.substr(0, colon);
			std::string_view value = trim(line.substr(colon + 1));
			if (ieq(name, "content-length")) {
				uint64_t v = 0;
				if (value.empty() || value.size() > 18) {
					error_ = "bad Content-Length";
					return false;
				}
				for (char c : value) {
					if (c < '0' || c > '9') {
						error_ = "bad Content-Length";
						return false;
					}
					v = v * 10 + static_cast<uint64_t>(c - '0');
				}
				if (have_len && v != clen) {
					error_ = "conflicting Content-Length";
					return false;
				}
				have_len = true;
				clen = v;
			} else if (ieq(name, "transfer-encoding")) {
				te = true;
				// Chunked framing applies when it is the last coding.
				tokens(value, [&](std::string_view t) {
					chunked = ieq(t, "chunked");
				});
			} else if (ieq(name, "connection")) {
				tokens(value, [&](std::string_view t) {
					if (ieq(t, "close"))
						conn_close = true;
					else if (ieq(t, "keep-alive"))
						conn_ka = true;
				});
			}
		}

		if (status_ < 200) {
			if (status_ == 101) {
				error_ = "unexpected 101 Switching Protocols";
				return false;
			}
			// Interim response (100 Continue, 103 Early Hints): the
			// real one follows on the same connection.
			status_ = 0;
			return true;
		}
		keep_alive_ = http11 ? !conn_close : (conn_ka && !conn_close);
		until_close_ = false;
		if (status_ == 204 || status_ == 304) {
			state_ = kComplete;
		} else if (te) {
			// Transfer-Encoding wins over Content-Length (RFC 9112
			// 6.3); a non-chunked coding is delimited by the close.
			if (chunked) {
				start_chunk_size();
			} else {
				state_ = kUntilClose;
			}
		} else if (have_len) {
			remaining_ = clen;
			state_ = clen ? kLength : kComplete;
		} else {
			state_ = kUntilClose;
		}
		if (state_ == kUntilClose) {
			until_close_ = true;
			keep_alive_ = false;
		}
		return true;
	}

	void start_chunk_size()
	{
		state_ = kChunkSize;
		remaining_ = 0;
		digits_ = 0;
		in_ext_ = false;
	}

	// One byte of "HEX[;ext]\r\n".
	bool chunk_size_byte(char c)
	{
		if (c == '\n') {
			if (!digits_) {
				error_ = "bad chunk size";
				return false;
			}
			if (remaining_) {
				state_ = kChunkData;
			} else {
				state_ = kTrailer;
				line_len_ = 0;
			}
			return true;
		}
		if (in_ext_ || c == '\r')
			return true;
		if (c == ';' || c == ' ' || c == '\t') {
			in_ext_ = true;
			return true;
		}
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else {
			error_ = "bad chunk size";
			return false;
		}
		if (++digits_ > 15) {
			error_ = "chunk size too large";
			return false;
		}
		remaining_ = remaining_ * 16 + static_cast<uint64_t>(d);
		return true;
	}

	State state_;
	int status_;
	bool keep_alive_;
	bool until_close_;
	bool saw_cr_ = false;
	bool in_ext_ = false;
	int digits_ = 0;
	size_t line_len_ = 0;
	uint64_t remaining_ = 0;
	uint64_t bytes_;
	const char *error_;
	size_t head_len_;
	char head_[kMaxHead];
};

} // namespace htstress
