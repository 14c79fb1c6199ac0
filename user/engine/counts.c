// SPDX-License-Identifier: MIT
/*
 * counts.c - the run's counters gathered from the targets, the BPF
 * session, the unwinder and the code store.
 */
#include "counts.h"
#include "symbolize/base/clock.h"

void run_counts__add_target(struct run_counts *rc, const struct target *tg)
{
	if (tg->cache)
		rc->ambiguous += code_cache__stats(tg->cache)->ambiguous;
	if (tg->async) {
		const struct async_stats *s = async_proc__stats(tg->async);

		rc->async_samples += s->samples;
		rc->async_names_lost += s->names_lost;
		rc->async_await_cycles += s->cycles;
	}
	if (tg->wait) {
		const struct async_wait_stats *w = async_wait__stats(tg->wait);

		rc->async_read += w->read;
		rc->async_deferred += w->deferred;
		rc->async_list_errors += w->list_errors;
		rc->async_cycles += w->cycles;
		rc->async_tasks += w->tasks;
	}
}

static void add_target(struct target *tg, void *ctx)
{
	run_counts__add_target(ctx, tg);
}

void run_counts__refresh(struct run_counts *rc, const struct counts_sources *src)
{
	/* Summed again from zero: each target's are totals so far. */
	rc->ambiguous = src->tg ? targets__retired_ambiguous(src->tg) : 0;
	rc->async_samples = rc->async_names_lost = rc->async_await_cycles = 0;
	rc->async_read = rc->async_deferred = rc->async_list_errors = 0;
	rc->async_cycles = rc->async_tasks = 0;
	rc->async = src->o->async;
	if (src->tg) {
		targets__for_each(src->tg, add_target, rc);
		rc->processes = targets__count(src->tg);
	}
	if (src->s)
		session__counters(src->s, rc->bpf_err, rc->bpf_stat);
	if (src->watch)
		rc->refused = watch__refused(src->watch);
	rc->threads = (int)src->threads;
	rc->elapsed_s = mono_s() - src->t0;
	if (src->native && src->o->native) {
		rc->native = true;
		rc->native_st = *native_ctx__stats(src->native);
	}
	if (src->store) {
		struct code_store_stats cs;

		code_store__stats(src->store, &cs);
		rc->code_bytes = cs.bytes;
		rc->code_evicted = cs.evicted;
		rc->code_refused = cs.refused;
	}
}
