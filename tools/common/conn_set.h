// SPDX-License-Identifier: GPL-2.0
/*
 * A worker's connections (the twin, user-echo-server): the open ones, in a
 * list the sweeper walks, and the closed ones kept for reuse, so that a
 * busy worker stops allocating once it has seen its peak. Intrusive: T
 * has `T *prev, *next`; a closed T keeps whatever it owns (buffers and
 * their capacity) for its next connection.
 */
#pragma once

#include <new>

namespace tools {

template <class T>
class conn_set {
public:
	conn_set() = default;
	conn_set(const conn_set &) = delete;
	conn_set &operator=(const conn_set &) = delete;

	~conn_set()
	{
		while (free_) {
			T *c = free_;
			free_ = c->next;
			delete c;
		}
	}

	/* The first open connection; the rest follow through next. */
	T *first() const { return open_; }

	/*
	 * A connection to open: a recycled one, or a new one; nullptr
	 * without memory. Not in the open list until add().
	 */
	T *take()
	{
		T *c = free_;

		if (c)
			free_ = c->next;
		else
			c = new (std::nothrow) T;
		return c;
	}

	void add(T *c)
	{
		c->prev = nullptr;
		c->next = open_;
		if (open_)
			open_->prev = c;
		open_ = c;
	}

	/* c leaves the open list for the free list. */
	void recycle(T *c)
	{
		if (c->prev)
			c->prev->next = c->next;
		else
			open_ = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->prev = nullptr;
		c->next = free_;
		free_ = c;
	}

private:
	T *open_ = nullptr;	/* via next */
	T *free_ = nullptr;	/* via next */
};

} // namespace tools
