// SPDX-License-Identifier: GPL-2.0
/* The twin's small-file cache (cache.h): fill, validate, evict. */

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "twin.h"

namespace twin {
namespace {

bool same_file(const blob &b, const struct stat &st)
{
	return b.dev == st.st_dev && b.ino == st.st_ino &&
	       b.size == st.st_size && b.mtime.tv_sec == st.st_mtim.tv_sec &&
	       b.mtime.tv_nsec == st.st_mtim.tv_nsec &&
	       b.ctime.tv_sec == st.st_ctim.tv_sec &&
	       b.ctime.tv_nsec == st.st_ctim.tv_nsec;
}

int64_t ts_ns(const struct timespec &ts)
{
	return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/*
 * The module's racy-window rule (cache.c): timestamps move once a clock
 * tick, so a file that changed less than a tick before it was read may
 * change again without them moving; such a read is not kept. Userspace
 * sees no change counter, so the twin always applies the rule.
 */
bool racy(const struct stat &st)
{
	struct timespec res, now;

	if (clock_getres(CLOCK_REALTIME_COARSE, &res))
		res = { 0, 10000000 };
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t last = std::max(ts_ns(st.st_mtim), ts_ns(st.st_ctim));
	return last + ts_ns(res) > ts_ns(now);
}

} // namespace

std::shared_ptr<const blob> file_cache::find(std::string_view rel,
					     const struct stat &st)
{
	auto it = map_.find(rel);

	if (it == map_.end())
		return nullptr;
	if (same_file(*it->second, st))
		return it->second;
	map_.erase(it);
	return nullptr;
}

std::shared_ptr<const blob> file_cache::insert(std::string_view rel, int fd,
					       const struct stat &st)
{
	size_t size = size_t(st.st_size);

	if (size > cfg.cache_file_max || size > cfg.cache_max)
		return nullptr;
	/* A large file only takes free room, as in the module (cache.c). */
	while (size <= KHTTPD_CACHE_EVICTING_MAX &&
	       *live_ + size > cfg.cache_max && !map_.empty())
		map_.erase(map_.begin());
	if (*live_ + size > cfg.cache_max)
		return nullptr;	/* pinned by responses: send uncached */
	auto b = std::make_shared<blob>();
	b->size = st.st_size;
	*live_ += size;
	b->live = live_;
	b->dev = st.st_dev;
	b->ino = st.st_ino;
	b->mtime = st.st_mtim;
	b->ctime = st.st_ctim;
	b->data.reset(new char[size ? size : 1]);
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, b->data.get() + got, size - got,
				  off_t(got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nullptr;
		got += size_t(n);
	}
	struct stat after;
	if (fstat(fd, &after) || !same_file(*b, after))
		return nullptr;	/* changed while read: not cached */
	if (racy(after))
		return b;	/* good for this response only */
	map_.insert_or_assign(std::string(rel), b);
	return b;
}

} // namespace twin
