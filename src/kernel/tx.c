// SPDX-License-Identifier: GPL-2.0
/*
 * Sending a planned response (struct khttpd_tx): the head, with whatever
 * memory goes out with it, then the body by its kind, each kind with one
 * send and one release function:
 *
 *   KHTTPD_BODY_FILE     spliced from the page cache (sendfile's path)
 *   KHTTPD_BODY_CACHED   a response cache entry's pages, zero-copy
 *   KHTTPD_BODY_LISTING  the core's HTML pieces, copied out
 *
 * Every function here is called from the connection's work only (io_work,
 * or its first run on the accept thread): never two at once.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/net.h>
#include <linux/skbuff.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "compat.h"
#include "khttpd.h"

static bool khttpd_tx_mem_left(const struct khttpd_tx *tx)
{
	return tx->head_off < tx->head_len || tx->piece_off < tx->piece_len;
}

static bool khttpd_tx_body_left(const struct khttpd_tx *tx)
{
	switch (tx->body) {
	case KHTTPD_BODY_FILE:
		return tx->file.pos < tx->file.end;
	case KHTTPD_BODY_CACHED:
		return tx->cached.pos < tx->cached.end;
	case KHTTPD_BODY_LISTING:
		return tx->listing.dir;
	default:
		return false;
	}
}

/*
 * Whether the bytes that end this response should wait in the socket:
 * when the connection closes after it, kengine_conn_linger()'s shutdown
 * comes next, and TCP puts its FIN on a segment still unsent (and pushes
 * it), so the client gets the end of the response and the FIN in one
 * segment rather than two: one less for both sides to handle on every
 * connection-per-request. Not with kTLS, whose close_notify record goes
 * between the two: khttpd_tx_hold_tls_end() does it there.
 */
static bool khttpd_tx_fin_follows(const struct khttpd_tx *tx)
{
	return tx->close_after && !tx->tls;
}

/*
 * The same on kTLS, which seals its record at the end of each send and
 * hands it to TCP: a cork holds the records there instead, and the
 * close_notify and the FIN join them, the end of a response, the alert
 * and the FIN in one segment. The FIN pushes what the cork holds. Called
 * once a response is staged, before its first send; the connection
 * closes after it, so nothing needs the cork taken off.
 */
void khttpd_tx_hold_tls_end(const struct khttpd_tx *tx, struct sock *sk)
{
	if (tx->tls && tx->close_after)
		tcp_sock_set_cork(sk, true);
}

/* Plaintext bytes kTLS took to send, head included. */
static void khttpd_tx_count_tls(const struct khttpd_tx *tx, int sent)
{
	if (tx->tls)
		khttpd_stat_add(KHTTPD_STAT_TLS_BYTES_SENT, sent);
}

/*
 * Send what is staged in memory, the rest of the head and the rest of the
 * current piece, in one call: a response cache hit leaves in a single
 * sendmsg.
 */
static noinline enum kengine_step khttpd_tx_send_mem(struct khttpd_tx *tx,
						     struct socket *sock)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	size_t head_left = tx->head_len - tx->head_off;
	struct kvec iov[2];
	size_t total = 0;
	int n = 0, ret;

	if (head_left) {
		iov[n].iov_base = tx->head + tx->head_off;
		iov[n++].iov_len = head_left;
		total += head_left;
	}
	if (tx->piece_off < tx->piece_len) {
		iov[n].iov_base = (void *)tx->piece + tx->piece_off;
		iov[n++].iov_len = tx->piece_len - tx->piece_off;
		total += tx->piece_len - tx->piece_off;
	}
	/* Let the head share a segment with the start of the body. */
	if (khttpd_tx_body_left(tx) || khttpd_tx_fin_follows(tx))
		msg.msg_flags |= MSG_MORE;
	ret = kernel_sendmsg(sock, &msg, iov, n, total);
	if (ret == -EAGAIN)
		return KENGINE_STEP_WAIT;
	if (ret < 0)
		return KENGINE_STEP_CLOSE;
	khttpd_tx_count_tls(tx, ret);
	if (ret < head_left) {
		tx->head_off += ret;
	} else {
		tx->head_off = tx->head_len;
		tx->piece_off += ret - head_left;
		khttpd_stat_add(KHTTPD_STAT_MEMORY_BYTES, ret - head_left);
	}
	return KENGINE_STEP_PROGRESS;
}

/* Zero-copy: the page cache pages go to TCP as they are. */
static noinline enum kengine_step khttpd_tx_send_file(struct khttpd_tx *tx,
						      struct kengine_conn *conn)
{
	size_t len = min_t(loff_t, tx->file.end - tx->file.pos,
			   KHTTPD_SEND_CHUNK);
	struct file *sock_file = kengine_conn_sock_file(conn);
	loff_t out_pos = 0;
	long ret;

	if (!sock_file)
		return KENGINE_STEP_CLOSE;
	ret = do_splice_direct(tx->file.file, &tx->file.pos, sock_file,
			       &out_pos, len,
			       khttpd_tx_fin_follows(tx) ? SPLICE_F_MORE : 0);
	if (ret == -EAGAIN)
		return KENGINE_STEP_WAIT;
	/* 0: the file shrank under us; the promised length cannot be kept. */
	if (ret <= 0)
		return KENGINE_STEP_CLOSE;
	khttpd_stat_add(KHTTPD_STAT_SPLICED_BYTES, ret);
	khttpd_tx_count_tls(tx, ret);
	return KENGINE_STEP_PROGRESS;
}

static void khttpd_tx_release_file(struct khttpd_tx *tx)
{
	fput(tx->file.file);
}

/*
 * Most pages of a cached file handed to TCP in one call: 64 KiB in 4 KiB
 * pages, what a splice moves through its pipe at once, and a bio_vec
 * array small enough for the stack. A larger file takes several calls.
 */
#define KHTTPD_TX_PAGES 16

/*
 * The next of a cached file's pages, from bv[n] on, up to 64 KiB in all;
 * adds their length to *total and returns the new n.
 */
static unsigned int khttpd_tx_cached_pages(const struct khttpd_tx *tx,
					   struct bio_vec *bv, unsigned int n,
					   size_t *total)
{
	u64 pos = tx->cached.pos;
	unsigned int off;

	while (n < KHTTPD_TX_PAGES && pos < tx->cached.end) {
		struct page *page = khttpd_cache_page(tx->cached.entry, pos,
						      &off);
		size_t len = min_t(u64, PAGE_SIZE - off, tx->cached.end - pos);

		bv[n++] = (struct bio_vec){ .bv_page = page, .bv_len = len,
					    .bv_offset = off };
		pos += len;
		*total += len;
	}
	return n;
}

/*
 * Hand n pages (head bytes of them first, none but in the first send) to
 * TCP, and account for what it took.
 */
static enum kengine_step khttpd_tx_splice_cached(struct khttpd_tx *tx,
						 struct socket *sock,
						 struct bio_vec *bv,
						 unsigned int n, size_t head,
						 size_t total)
{
	int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	int ret;

	if (tx->cached.pos + (total - head) < tx->cached.end ||
	    khttpd_tx_fin_follows(tx))
		flags |= MSG_MORE;
	ret = khttpd_compat_send_pages(sock, bv, n, total, flags);
	if (ret == -EAGAIN)
		return KENGINE_STEP_WAIT;
	if (ret <= 0)
		return KENGINE_STEP_CLOSE;
	khttpd_tx_count_tls(tx, ret);
	if (ret < head) {
		tx->head_off += ret;
		return KENGINE_STEP_PROGRESS;
	}
	tx->head_off += head;
	tx->cached.pos += ret - head;
	khttpd_stat_add(KHTTPD_STAT_MEMORY_BYTES, ret - head);
	return KENGINE_STEP_PROGRESS;
}

/* A cached file's pages go to TCP as they are, up to 64 KiB in a call. */
static noinline enum kengine_step khttpd_tx_send_cached(struct khttpd_tx *tx,
							struct socket *sock)
{
	struct bio_vec bv[KHTTPD_TX_PAGES];
	size_t total = 0;
	unsigned int n = khttpd_tx_cached_pages(tx, bv, 0, &total);

	return khttpd_tx_splice_cached(tx, sock, bv, n, 0, total);
}

/*
 * The head and a cached file's first pages in one send, where TCP takes
 * pages in one call: the head is copied into a page fragment, which goes
 * by reference like the pages (TCP holds its own reference on it until
 * the bytes are acknowledged), instead of a copying send of its own
 * before them. One tcp_sendmsg less for each response of more than a
 * page. A fragment may straddle a page of its (compound) page, so the
 * head takes one or two bio_vecs. No fragment: the head goes the usual
 * way.
 */
static noinline enum kengine_step
khttpd_tx_send_head_cached(struct khttpd_tx *tx, struct socket *sock)
{
	struct bio_vec bv[KHTTPD_TX_PAGES + 2];
	size_t head = tx->head_len, total = head, len;
	enum kengine_step step;
	unsigned int n = 0;
	char *frag, *p;

	frag = netdev_alloc_frag(head);
	if (!frag)
		return khttpd_tx_send_mem(tx, sock);
	memcpy(frag, tx->head, head);
	for (p = frag; p < frag + head; p += len) {
		len = min_t(size_t, frag + head - p,
			    PAGE_SIZE - offset_in_page(p));
		bv[n++] = (struct bio_vec){ .bv_page = virt_to_page(p),
					    .bv_len = len,
					    .bv_offset = offset_in_page(p) };
	}
	n = khttpd_tx_cached_pages(tx, bv, n, &total);
	step = khttpd_tx_splice_cached(tx, sock, bv, n, head, total);
	skb_free_frag(frag);
	return step;
}

static void khttpd_tx_release_cached(struct khttpd_tx *tx)
{
	khttpd_cache_put(tx->cached.entry);
}

/*
 * The listing's next piece becomes the memory to send; nothing moves.
 * Each piece went out with MSG_MORE, since another might follow; after
 * the last, what is held back for it is pushed out (by the FIN, when one
 * follows). TCP would push it on the next ACK anyway, but kTLS holds an
 * open record until told.
 */
static enum kengine_step khttpd_tx_send_listing(struct khttpd_tx *tx,
						struct socket *sock)
{
	if (khttpd_listing_next(tx->listing.dir, &tx->listing.writer,
				&tx->piece, &tx->piece_len)) {
		tx->piece_off = 0;
		return KENGINE_STEP_STAGED;
	}
	khttpd_listing_free(tx->listing.dir);
	tx->listing.dir = NULL;
	if (!khttpd_tx_fin_follows(tx))
		khttpd_compat_sock_flush(sock);
	return KENGINE_STEP_STAGED;
}

static void khttpd_tx_release_listing(struct khttpd_tx *tx)
{
	if (tx->listing.dir)
		khttpd_listing_free(tx->listing.dir);
}

/* One step of sending the response; PROGRESS only when bytes moved. */
enum kengine_step khttpd_tx_send(struct khttpd_tx *tx,
				struct kengine_conn *conn)
{
	if (KHTTPD_SEND_PAGES_IN_ONE_CALL && tx->body == KHTTPD_BODY_CACHED &&
	    tx->head_len && !tx->head_off && tx->piece_off == tx->piece_len &&
	    khttpd_tx_body_left(tx))
		return khttpd_tx_send_head_cached(tx, conn->sock);
	if (khttpd_tx_mem_left(tx))
		return khttpd_tx_send_mem(tx, conn->sock);
	switch (tx->body) {
	case KHTTPD_BODY_FILE:
		return khttpd_tx_send_file(tx, conn);
	case KHTTPD_BODY_CACHED:
		return khttpd_tx_send_cached(tx, conn->sock);
	case KHTTPD_BODY_LISTING:
		return khttpd_tx_send_listing(tx, conn->sock);
	default:
		return KENGINE_STEP_STAGED;
	}
}

/* All of the response has gone to the socket. */
bool khttpd_tx_done(const struct khttpd_tx *tx)
{
	return !khttpd_tx_mem_left(tx) && !khttpd_tx_body_left(tx);
}

/* Body bytes still to send (a listing's are not known ahead). */
u64 khttpd_tx_body_bytes(const struct khttpd_tx *tx)
{
	u64 n = tx->piece_len - tx->piece_off;

	switch (tx->body) {
	case KHTTPD_BODY_FILE:
		return n + tx->file.end - tx->file.pos;
	case KHTTPD_BODY_CACHED:
		return n + tx->cached.end - tx->cached.pos;
	default:
		return n;
	}
}

/* Nothing staged: the state a connection starts and ends in. */
void khttpd_tx_init(struct khttpd_tx *tx)
{
	tx->body = KHTTPD_BODY_NONE;
	tx->piece_len = 0;
	tx->piece_off = 0;
	tx->head_len = 0;
	tx->head_off = 0;
	tx->close_after = false;
	tx->linger = false;
	tx->status = 0;
}

/* Let go of the body, sent or not, and return to nothing staged. */
void khttpd_tx_release(struct khttpd_tx *tx)
{
	switch (tx->body) {
	case KHTTPD_BODY_FILE:
		khttpd_tx_release_file(tx);
		break;
	case KHTTPD_BODY_CACHED:
		khttpd_tx_release_cached(tx);
		break;
	case KHTTPD_BODY_LISTING:
		khttpd_tx_release_listing(tx);
		break;
	case KHTTPD_BODY_NONE:
		break;
	}
	khttpd_tx_init(tx);
}
