// SPDX-License-Identifier: GPL-2.0
/*
 * The twin's small-file cache, one per worker thread, so unlocked. Keyed
 * by the path relative to the root of the file actually sent (".gz"
 * included); an entry is used only while the file it was read from still
 * has the same identity, size, mtime and ctime.
 *
 * Entries are shared_ptrs: one being sent survives its replacement.
 * Bounded like the module's cache: live_ counts the bytes of every blob
 * alive, in the map or still being sent after eviction, and a fill that
 * cannot fit under cfg.cache_max even after evicting is sent by sendfile.
 */
#pragma once

#include <sys/stat.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace twin {

/* A cached file's bytes, and what it was when they were read. */
struct blob {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	std::unique_ptr<char[]> data;
	/*
	 * Its thread's count of cached bytes alive, lowered when it goes;
	 * shared so that a blob outliving its cache (at exit) stays safe.
	 */
	std::shared_ptr<size_t> live;

	~blob()
	{
		if (live)
			*live -= size_t(size);
	}
};

class file_cache {
public:
	/* rel's entry, if the file (whose stat is st) is as it was read. */
	std::shared_ptr<const blob> find(std::string_view rel,
					 const struct stat &st);
	/* Read fd (whose stat is st) and keep it, if it stays as it was. */
	std::shared_ptr<const blob> insert(std::string_view rel, int fd,
					   const struct stat &st);

private:
	struct sv_hash {
		using is_transparent = void;
		size_t operator()(std::string_view s) const noexcept
		{
			return std::hash<std::string_view>{}(s);
		}
	};

	std::shared_ptr<size_t> live_ = std::make_shared<size_t>(0);
	std::unordered_map<std::string, std::shared_ptr<const blob>, sv_hash,
			   std::equal_to<>> map_;
};

} // namespace twin
