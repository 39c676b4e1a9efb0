// SPDX-License-Identifier: GPL-2.0
/*
 * Response cache for small files: the bytes of files up to
 * cfg.cache_file_max, kept in memory so that a hit opens no file and
 * splices nothing. The bytes live in whole pages, never changed once read,
 * so they can be handed to TCP without a copy (sendpage_ok() pages; TCP
 * takes its own page references, so eviction never pulls a page from under
 * a segment still queued). A file that fits in one page is instead copied
 * out together with the head in a single sendmsg (see conn.c): for so few
 * bytes a copy is cheaper than page references.
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
#include <linux/mm.h>
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
	unsigned int npages;
	struct page *pages[];		/* meta.size bytes; then the key */
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

static void khttpd_cache_free(struct khttpd_cache_entry *e)
{
	unsigned int i;

	/* Readers under RCU look only at the entry, never at its pages. */
	for (i = 0; i < e->npages; i++)
		put_page(e->pages[i]);
	kvfree_rcu(e, rcu);
}

void khttpd_cache_put(struct khttpd_cache_entry *e)
{
	if (refcount_dec_and_test(&e->ref))
		khttpd_cache_free(e);
}

/* The page holding byte off of the file, and where in it off lies. */
struct page *khttpd_cache_page(const struct khttpd_cache_entry *e, u64 off,
			       unsigned int *page_off)
{
	*page_off = offset_in_page(off);
	return e->pages[off >> PAGE_SHIFT];
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
	cache->bytes -= (size_t)e->npages << PAGE_SHIFT;
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

/*
 * Read the whole file into the entry's pages (allocating them); false if it
 * is not what stat said.
 */
static bool khttpd_cache_read(struct khttpd_cache_entry *e,
			      const struct path *path)
{
	struct file *file;
	struct page *page;
	loff_t pos = 0;
	size_t want;
	ssize_t n;
	void *buf;

	file = dentry_open(path, O_RDONLY | O_LARGEFILE, current_cred());
	if (IS_ERR(file))
		return false;
	while (pos < e->meta.size) {
		page = alloc_page(GFP_KERNEL | __GFP_NOWARN);
		if (!page)
			break;
		e->pages[e->npages++] = page;
		buf = page_address(page);
		want = min_t(u64, PAGE_SIZE, e->meta.size - pos);
		while (want) {
			n = kernel_read(file, buf, want, &pos);
			if (n <= 0)
				goto out;
			buf += n;
			want -= n;
		}
	}
out:
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
	size_t npages;

	if (!cache->buckets || stat->size > cache->max_file ||
	    PAGE_ALIGN(stat->size) > cache->max_bytes)
		return NULL;
	npages = DIV_ROUND_UP(stat->size, PAGE_SIZE);
	e = kvmalloc(struct_size(e, pages, npages) + len,
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
	e->key = (char *)&e->pages[npages];
	e->key_len = len;
	memcpy(e->key, key, len);
	e->referenced = false;
	e->npages = 0;
	/* Changed while being read: serve it uncached this time. */
	if (!khttpd_cache_read(e, path)) {
		khttpd_cache_free(e);
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
	khttpd_cache_evict(cache, npages << PAGE_SHIFT);
	hlist_add_head_rcu(&e->hnode, bucket);
	list_add_tail(&e->clock, &cache->clock);
	cache->bytes += npages << PAGE_SHIFT;
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
