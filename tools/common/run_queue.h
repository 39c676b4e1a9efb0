// SPDX-License-Identifier: GPL-2.0
/*
 * A worker's run queue (the twin, user-echo-server): the connections that
 * spent their budget with work left, to be run again once every other
 * ready connection has had its turn, as the module requeues a work item
 * that spent its budget. Intrusive: T has `T *run_next` and `bool queued`,
 * so queueing never allocates.
 */
#pragma once

namespace tools {

template <class T>
class run_queue {
public:
	bool empty() const { return !head_; }

	void push(T *c)
	{
		c->queued = true;
		c->run_next = nullptr;
		if (tail_)
			tail_->run_next = c;
		else
			head_ = c;
		tail_ = c;
	}

	/* Rare (a close by the sweeper or at shutdown): a walk is fine. */
	void remove(T *c)
	{
		T **pp = &head_, *last = nullptr;

		while (*pp && *pp != c) {
			last = *pp;
			pp = &(*pp)->run_next;
		}
		if (*pp)
			*pp = c->run_next;
		if (tail_ == c)
			tail_ = last;
		c->queued = false;
	}

	/*
	 * run(c) once for each connection queued now, in order; those it
	 * queues again wait for the next call.
	 */
	template <class F>
	void run_all(F run)
	{
		T *q = head_;

		head_ = tail_ = nullptr;
		while (q) {
			T *c = q;
			q = c->run_next;
			c->queued = false;
			run(c);
		}
	}

private:
	T *head_ = nullptr, *tail_ = nullptr;
};

} // namespace tools
