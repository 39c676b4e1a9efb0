// SPDX-License-Identifier: GPL-2.0
/*
 * Response cache: the bytes of files up to cfg.cache_file_max, kept in
 * memory so that a hit opens no file and splices nothing. The bytes live
 * in whole pages, never changed once read, so they can be handed to TCP
 * without a copy (sendpage_ok() pages; TCP takes its own page references,
 * so eviction never pulls a page from under a segment still queued). A
 * file that fits in one page is instead copied out together with the head
 * in a single sendmsg (see conn.c): for so few bytes a copy is cheaper
 * than page references.
 *
 * Never stale: every request still looks the path up (which it must anyway,
 * to honour permissions, symlinks and the root), and an entry is used only
 * if the file's device, inode, size, mtime and ctime, and its change counter
 * (i_version) where the filesystem keeps one, are still what they were when
 * it was read. A changed file is re-read on the request that notices it.
 * ctime catches what mtime alone misses: a file rewritten and its mtime put
 * back (touch -r), a chmod. Timestamps only move once a clock tick (the
 * coarse clock), so two writes within one tick leave them equal: without a
 * change counter, an entry read within a tick of the file's last change is
 * not kept (the "racy" window git's index guards against too); it serves
 * the response that read it and is filled again later.
 *
 * Readers find entries under RCU without taking a lock and keep one by its
 * reference count while it is being sent. Writers (fills, evictions) hold
 * cache->lock. Eviction is CLOCK (second chance) over insertion order, so a
 * hit costs one store, not a list move under the lock.
 *
 * Memory: cache->bytes counts every page an entry may hold from the moment
 * its fill is decided until the entry is freed: entries in the table, being
 * filled, and evicted ones a response still sends from. A fill reserves its
 * pages first, evicting to make room (a small file; a large one only takes
 * free room); when that cannot bring the total under cfg.cache_size the
 * file is sent by splice instead. A shrinker lets reclaim evict too, so
 * the cache gives memory back under pressure.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/hash.h>
#include <linux/iversion.h>
#include <linux/jhash.h>
#include <linux/mm.h>
#include <linux/rculist.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/string.h>
#include <linux/time64.h>
#include <linux/timekeeping.h>

#include "compat.h"
#include "khttpd.h"

#define KHTTPD_CACHE_HASH_BITS 12

struct khttpd_cache_entry {
	struct hlist_node hnode;	/* bucket, RCU; under cache->lock */
	struct list_head clock;		/* eviction order; under cache->lock */
	struct rcu_head rcu;
	refcount_t ref;			/* the table's, plus one per sender */
	struct khttpd_cache *cache;
	size_t charged;			/* bytes reserved in cache->bytes */
	bool referenced;		/* hit since the clock hand last passed */
	u32 hash;
	dev_t dev;
	struct khttpd_file_meta meta;
	struct timespec64 ctime;
	u64 change;			/* i_version when has_change */
	bool has_change;
	size_t key_len;
	char *key;			/* inside this allocation */
	unsigned int npages;
	struct page *pages[];		/* meta.size bytes; then the key */
};

static u32 khttpd_cache_hash(const char *key, size_t len)
{
	return jhash(key, len, 0);
}

static bool khttpd_cache_is(const struct khttpd_cache_entry *e, u32 hash,
			    const char *key, size_t len)
{
	return e->hash == hash && e->key_len == len &&
	       !memcmp(e->key, key, len);
}

static struct hlist_head *khttpd_cache_bucket(struct khttpd_cache *cache,
					      u32 hash)
{
	return &cache->buckets[hash_32(hash, KHTTPD_CACHE_HASH_BITS)];
}

/*
 * The inode's change counter, if its filesystem keeps one. Querying it
 * marks it seen, so the next change to the file is sure to move it.
 */
static bool khttpd_cache_change(const struct path *path, u64 *change)
{
	struct inode *inode = d_inode(path->dentry);

	if (!IS_I_VERSION(inode))
		return false;
	*change = inode_query_iversion(inode);
	return true;
}

static bool khttpd_cache_fresh(const struct khttpd_cache_entry *e,
			       const struct path *path,
			       const struct kstat *stat)
{
	u64 change;

	if (e->has_change && (!khttpd_cache_change(path, &change) ||
			      change != e->change))
		return false;
	return e->dev == stat->dev && e->meta.ino == stat->ino &&
	       e->meta.size == stat->size &&
	       e->meta.mtime_sec == stat->mtime.tv_sec &&
	       e->meta.mtime_nsec == stat->mtime.tv_nsec &&
	       timespec64_equal(&e->ctime, &stat->ctime);
}

/*
 * Whether the file may still change without its timestamps moving: it last
 * changed less than one timestamp tick (the coarse clock's, or the
 * filesystem's if coarser) before now, which is after the read.
 */
static bool khttpd_cache_racy(const struct path *path,
			      const struct kstat *stat)
{
	s64 gran = max_t(s64, TICK_NSEC, path->dentry->d_sb->s_time_gran);
	s64 last = max(timespec64_to_ns(&stat->mtime),
		       timespec64_to_ns(&stat->ctime));

	return last + gran > ktime_get_real_ns();
}

static void khttpd_cache_free(struct khttpd_cache_entry *e)
{
	unsigned int i;

	/* Readers under RCU look only at the entry, never at its pages. */
	for (i = 0; i < e->npages; i++)
		put_page(e->pages[i]);
	/* Adds happen under cache->lock, this only ever lowers the total. */
	atomic_long_sub(e->charged, &e->cache->bytes);
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

/* The entry for key if it still describes the file at path (with stat). */
struct khttpd_cache_entry *khttpd_cache_get(struct khttpd_cache *cache,
					    const char *key, size_t len,
					    const struct path *path,
					    const struct kstat *stat)
{
	struct khttpd_cache_entry *e, *found = NULL;
	u32 hash;

	if (!cache->buckets)
		return NULL;
	hash = khttpd_cache_hash(key, len);
	rcu_read_lock();
	hlist_for_each_entry_rcu(e, khttpd_cache_bucket(cache, hash), hnode) {
		if (!khttpd_cache_is(e, hash, key, len))
			continue;
		if (khttpd_cache_fresh(e, path, stat) &&
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
	cache->table_bytes -= e->charged;
	cache->entries--;
	khttpd_cache_put(e);
}

/*
 * Unlink the entry the clock hand stops at (hit entries get a pass);
 * returns the bytes it held in the table, 0 when the table is empty.
 */
static size_t khttpd_cache_evict_one(struct khttpd_cache *cache)
{
	struct khttpd_cache_entry *e;
	size_t bytes;

	lockdep_assert_held(&cache->lock);
	while (!list_empty(&cache->clock)) {
		e = list_first_entry(&cache->clock, struct khttpd_cache_entry,
				     clock);
		if (READ_ONCE(e->referenced)) {
			WRITE_ONCE(e->referenced, false);
			list_move_tail(&e->clock, &cache->clock);
			continue;
		}
		bytes = e->charged;
		khttpd_cache_unlink(cache, e);
		return bytes;
	}
	return 0;
}

/*
 * Reserve need bytes for a fill, evicting to make room if evict. Evicted
 * entries still being sent keep their bytes until their last sender is
 * done, so the reservation can fail even with an empty table.
 */
static bool khttpd_cache_reserve(struct khttpd_cache *cache, size_t need,
				 bool evict)
{
	bool ok;

	spin_lock(&cache->lock);
	while (evict &&
	       atomic_long_read(&cache->bytes) + need > cache->max_bytes &&
	       khttpd_cache_evict_one(cache))
		;
	ok = atomic_long_read(&cache->bytes) + need <= cache->max_bytes;
	if (ok)
		atomic_long_add(need, &cache->bytes);
	spin_unlock(&cache->lock);
	return ok;
}

static unsigned long khttpd_cache_shrink_count(struct shrinker *shrinker,
					       struct shrink_control *sc)
{
	struct khttpd_cache *cache = khttpd_compat_shrinker_priv(shrinker);

	return READ_ONCE(cache->table_bytes) >> PAGE_SHIFT;
}

static unsigned long khttpd_cache_shrink_scan(struct shrinker *shrinker,
					      struct shrink_control *sc)
{
	struct khttpd_cache *cache = khttpd_compat_shrinker_priv(shrinker);
	unsigned long freed = 0;
	size_t bytes;

	spin_lock(&cache->lock);
	while (freed < sc->nr_to_scan) {
		bytes = khttpd_cache_evict_one(cache);
		if (!bytes)
			break;
		freed += bytes >> PAGE_SHIFT;
	}
	spin_unlock(&cache->lock);
	khttpd_stat_add(KHTTPD_STAT_CACHE_SHRUNK, freed << PAGE_SHIFT);
	return freed ?: SHRINK_STOP;
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

/* Unlink key's entry, if there is one: it is stale, or being replaced. */
static void khttpd_cache_drop_locked(struct khttpd_cache *cache, u32 hash,
				     const char *key, size_t len)
{
	struct khttpd_cache_entry *e;

	lockdep_assert_held(&cache->lock);
	hlist_for_each_entry(e, khttpd_cache_bucket(cache, hash), hnode) {
		if (khttpd_cache_is(e, hash, key, len)) {
			khttpd_cache_unlink(cache, e);
			return;
		}
	}
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
	u32 hash = khttpd_cache_hash(key, len);
	struct khttpd_cache_entry *e;
	size_t npages, charge;

	if (!cache->buckets || stat->size > cache->max_file ||
	    PAGE_ALIGN(stat->size) > cache->max_bytes)
		return NULL;
	npages = DIV_ROUND_UP(stat->size, PAGE_SIZE);
	charge = npages << PAGE_SHIFT;
	/* Its bytes go back now, not after the read: room for the new. */
	spin_lock(&cache->lock);
	khttpd_cache_drop_locked(cache, hash, key, len);
	spin_unlock(&cache->lock);
	/*
	 * Only a fill of at most KHTTPD_CACHE_EVICTING_MAX (the twin's rule
	 * too) may evict; a larger file takes free room or is spliced. A fill
	 * copies the whole file, so large files that do not all fit would
	 * otherwise evict each other and be read again on nearly every
	 * request, each time costing as much as the response. Room comes free
	 * as small fills evict (unhit entries first), as reclaim shrinks the
	 * cache and as changed files are dropped.
	 */
	if (!khttpd_cache_reserve(cache, charge,
				  charge <= KHTTPD_CACHE_EVICTING_MAX))
		return NULL;
	e = kvmalloc(struct_size(e, pages, npages) + len,
		     GFP_KERNEL | __GFP_NOWARN);
	if (!e) {
		atomic_long_sub(charge, &cache->bytes);
		return NULL;
	}
	e->cache = cache;
	e->charged = charge;
	e->hash = hash;
	e->dev = stat->dev;
	e->meta = (struct khttpd_file_meta){
		.ino = stat->ino,
		.size = stat->size,
		.mtime_sec = stat->mtime.tv_sec,
		.mtime_nsec = stat->mtime.tv_nsec,
	};
	e->ctime = stat->ctime;
	/* Before the read: a change during it must show at the next check. */
	e->has_change = khttpd_cache_change(path, &e->change);
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
	if (!e->has_change && khttpd_cache_racy(path, stat)) {
		/* Good for this response, not to be trusted for the next. */
		refcount_set(&e->ref, 1);
		return e;
	}
	refcount_set(&e->ref, 2);	/* the table's and the caller's */

	spin_lock(&cache->lock);
	/* One filled meanwhile, by another request for the same file. */
	khttpd_cache_drop_locked(cache, hash, key, len);
	hlist_add_head_rcu(&e->hnode, khttpd_cache_bucket(cache, hash));
	list_add_tail(&e->clock, &cache->clock);
	cache->table_bytes += charge;
	cache->entries++;
	spin_unlock(&cache->lock);
	return e;
}

int khttpd_cache_init(struct khttpd_cache *cache, size_t max_bytes,
		      size_t max_file)
{
	spin_lock_init(&cache->lock);
	INIT_LIST_HEAD(&cache->clock);
	atomic_long_set(&cache->bytes, 0);
	cache->table_bytes = 0;
	cache->entries = 0;
	cache->max_bytes = max_bytes;
	cache->max_file = max_file;
	cache->buckets = NULL;
	cache->shrinker = NULL;
	if (!max_bytes || !max_file)
		return 0;	/* disabled */
	cache->buckets = kvcalloc(1 << KHTTPD_CACHE_HASH_BITS,
				  sizeof(*cache->buckets), GFP_KERNEL);
	if (!cache->buckets)
		return -ENOMEM;
	cache->shrinker = khttpd_compat_shrinker_register(
		khttpd_cache_shrink_count, khttpd_cache_shrink_scan, cache,
		KBUILD_MODNAME "-cache");
	if (!cache->shrinker) {
		kvfree(cache->buckets);
		cache->buckets = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Every sender has put its entries: only the table's references are left. */
void khttpd_cache_exit(struct khttpd_cache *cache)
{
	struct khttpd_cache_entry *e, *tmp;

	if (cache->shrinker)
		khttpd_compat_shrinker_unregister(cache->shrinker);
	spin_lock(&cache->lock);
	list_for_each_entry_safe(e, tmp, &cache->clock, clock)
		khttpd_cache_unlink(cache, e);
	spin_unlock(&cache->lock);
	WARN_ON_ONCE(atomic_long_read(&cache->bytes));
	kvfree(cache->buckets);
}
