// SPDX-License-Identifier: GPL-2.0
/*
 * Response cache for small files: the bytes of files up to
 * cfg.cache_file_max, kept in memory so that a hit is one sendmsg of head and
 * body, with no file opened and nothing spliced.
 *
 * Never stale: every request still looks the path up (which it must anyway,
 * to honour permissions, symlinks and the root), and an entry is used only
 * if the file's device, inode, size and mtime are still what they were when
 * it was read. A changed file is re-read on the request that notices it.
 *
 * Readers find entries under RCU without taking a lock and keep one by its
 * reference count while it is being sent. Writers (fills, evictions) hold
 * cache->lock. Memory is bounded by cfg.cache_size; eviction is CLOCK
 * (second chance) over insertion order, so a hit costs one store, not a
 * list move under the lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/hash.h>
#include <linux/jhash.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/string.h>

#include "khttpd.h"

#define KHTTPD_CACHE_HASH_BITS 12

struct khttpd_cache_entry {
	struct hlist_node hnode;	/* bucket, RCU; under cache->lock */
	struct list_head clock;		/* eviction order; under cache->lock */
	struct rcu_head rcu;
	refcount_t ref;			/* the table's, plus one per sender */
	bool referenced;		/* hit since the clock hand last passed */
	u32 hash;
	dev_t dev;
	struct khttpd_file_meta meta;
	size_t key_len;
	char *key;			/* inside this allocation */
	char data[];			/* meta.size bytes, then the key */
};

static u32 khttpd_cache_hash(const char *key, size_t len)
{
	return jhash(key, len, 0);
}

static bool khttpd_cache_fresh(const struct khttpd_cache_entry *e,
			       const struct kstat *stat)
{
	return e->dev == stat->dev && e->meta.ino == stat->ino &&
	       e->meta.size == stat->size &&
	       e->meta.mtime_sec == stat->mtime.tv_sec &&
	       e->meta.mtime_nsec == stat->mtime.tv_nsec;
}

void khttpd_cache_put(struct khttpd_cache_entry *e)
{
	if (refcount_dec_and_test(&e->ref))
		kvfree_rcu(e, rcu);
}

const char *khttpd_cache_data(const struct khttpd_cache_entry *e)
{
	return e->data;
}

/* The entry for key if it still describes the file stat describes. */
struct khttpd_cache_entry *khttpd_cache_get(struct khttpd_cache *cache,
					    const char *key, size_t len,
					    const struct kstat *stat)
{
	struct khttpd_cache_entry *e, *found = NULL;
	u32 hash;

	if (!cache->buckets)
		return NULL;
	hash = khttpd_cache_hash(key, len);
	rcu_read_lock();
	hlist_for_each_entry_rcu(e, &cache->buckets[hash_32(hash,
			KHTTPD_CACHE_HASH_BITS)], hnode) {
		if (e->hash != hash || e->key_len != len ||
		    memcmp(e->key, key, len))
			continue;
		if (khttpd_cache_fresh(e, stat) &&
		    refcount_inc_not_zero(&e->ref)) {
			if (!READ_ONCE(e->referenced))
				WRITE_ONCE(e->referenced, true);
			found = e;
		}
		break;
	}
	rcu_read_unlock();
	return found;
}

static void khttpd_cache_unlink(struct khttpd_cache *cache,
				struct khttpd_cache_entry *e)
{
	lockdep_assert_held(&cache->lock);
	hlist_del_rcu(&e->hnode);
	list_del(&e->clock);
	cache->bytes -= e->meta.size;
	cache->entries--;
	khttpd_cache_put(e);
}

/* Make room for need more bytes: the clock hand gives hit entries a pass. */
static void khttpd_cache_evict(struct khttpd_cache *cache, size_t need)
{
	struct khttpd_cache_entry *e;

	lockdep_assert_held(&cache->lock);
	while (cache->bytes + need > cache->max_bytes &&
	       !list_empty(&cache->clock)) {
		e = list_first_entry(&cache->clock, struct khttpd_cache_entry,
				     clock);
		if (READ_ONCE(e->referenced)) {
			WRITE_ONCE(e->referenced, false);
			list_move_tail(&e->clock, &cache->clock);
			continue;
		}
		khttpd_cache_unlink(cache, e);
	}
}

/* Read the whole file into e->data; false if it is not what stat said. */
static bool khttpd_cache_read(struct khttpd_cache_entry *e,
			      const struct path *path)
{
	struct file *file;
	loff_t pos = 0;
	ssize_t n;

	file = dentry_open(path, O_RDONLY | O_LARGEFILE, current_cred());
	if (IS_ERR(file))
		return false;
	while (pos < e->meta.size) {
		n = kernel_read(file, e->data + pos, e->meta.size - pos, &pos);
		if (n <= 0)
			break;
	}
	fput(file);
	return pos == e->meta.size;
}

/*
 * Read the file at path (whose attributes are stat) into a new entry for
 * key, replacing any older one, and return it with a reference for the
 * caller; NULL if it cannot be cached (then send it the uncached way).
 */
struct khttpd_cache_entry *khttpd_cache_fill(struct khttpd_cache *cache,
					     const char *key, size_t len,
					     const struct path *path,
					     const struct kstat *stat)
{
	struct khttpd_cache_entry *e, *old;
	struct hlist_head *bucket;

	if (!cache->buckets || stat->size > cache->max_file ||
	    stat->size > cache->max_bytes)
		return NULL;
	e = kvmalloc(struct_size(e, data, stat->size + len),
		     GFP_KERNEL | __GFP_NOWARN);
	if (!e)
		return NULL;
	e->hash = khttpd_cache_hash(key, len);
	e->dev = stat->dev;
	e->meta = (struct khttpd_file_meta){
		.ino = stat->ino,
		.size = stat->size,
		.mtime_sec = stat->mtime.tv_sec,
		.mtime_nsec = stat->mtime.tv_nsec,
	};
	e->key = e->data + stat->size;
	e->key_len = len;
	memcpy(e->key, key, len);
	e->referenced = false;
	/* Changed while being read: serve it uncached this time. */
	if (!khttpd_cache_read(e, path)) {
		kvfree(e);
		return NULL;
	}
	refcount_set(&e->ref, 2);	/* the table's and the caller's */

	bucket = &cache->buckets[hash_32(e->hash, KHTTPD_CACHE_HASH_BITS)];
	spin_lock(&cache->lock);
	hlist_for_each_entry(old, bucket, hnode) {
		if (old->hash == e->hash && old->key_len == len &&
		    !memcmp(old->key, key, len)) {
			khttpd_cache_unlink(cache, old);
			break;
		}
	}
	khttpd_cache_evict(cache, e->meta.size);
	hlist_add_head_rcu(&e->hnode, bucket);
	list_add_tail(&e->clock, &cache->clock);
	cache->bytes += e->meta.size;
	cache->entries++;
	spin_unlock(&cache->lock);
	return e;
}

int khttpd_cache_init(struct khttpd_cache *cache, size_t max_bytes,
		      size_t max_file)
{
	spin_lock_init(&cache->lock);
	INIT_LIST_HEAD(&cache->clock);
	cache->bytes = 0;
	cache->entries = 0;
	cache->max_bytes = max_bytes;
	cache->max_file = max_file;
	cache->buckets = NULL;
	if (!max_bytes || !max_file)
		return 0;	/* disabled */
	cache->buckets = kvcalloc(1 << KHTTPD_CACHE_HASH_BITS,
				  sizeof(*cache->buckets), GFP_KERNEL);
	return cache->buckets ? 0 : -ENOMEM;
}

/* Every sender has put its entries: only the table's references are left. */
void khttpd_cache_exit(struct khttpd_cache *cache)
{
	struct khttpd_cache_entry *e, *tmp;

	spin_lock(&cache->lock);
	list_for_each_entry_safe(e, tmp, &cache->clock, clock)
		khttpd_cache_unlink(cache, e);
	spin_unlock(&cache->lock);
	kvfree(cache->buckets);
}
