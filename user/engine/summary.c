// SPDX-License-Identifier: MIT
/* summary.c - progress line and end-of-run summary on stderr. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "summary.h"
#include "symbolize/base/escape.h"
#include "symbolize/base/log.h"
#include "symbolize/model/rollup.h"

static bool progress_shown;

const char *summary__error_name(enum pyspy_error e)
{
#define ERROR_NAME(name, text) [PYSPY_ERR_##name] = text,
	static const char *const names[PYSPY_ERR__COUNT] = { PYSPY_ERRORS(ERROR_NAME) };
#undef ERROR_NAME

	return (unsigned)e < PYSPY_ERR__COUNT && names[e] ? names[e] : "?";
}

/* Lost samples are counted apart from unwinding errors. */
static uint64_t unwind_errors(const struct run_counts *c)
{
	uint64_t n = c->bad_frames;

	for (int e = 1; e < PYSPY_ERR__COUNT; e++)
		if (e != PYSPY_ERR_RINGBUF_FULL)
			n += c->bpf_err[e];
	return n;
}

void summary__progress(const struct run_counts *c)
{
	if (!isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\r\033[K  %.1fs  %" PRIu64 " samples  %" PRIu64 " errors  %d process%s",
		c->elapsed_s, c->samples, unwind_errors(c), c->processes,
		c->processes == 1 ? "" : "es");
	progress_shown = true;
}

void summary__progress_end(void)
{
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = false;
}

/* Rows of the summary's table: functions. */
static void print_errors(const struct run_counts *c)
{
	const char *sep = " (";

	fprintf(stderr, "  lost samples: %" PRIu64 "   unwinding errors: %" PRIu64,
		c->bpf_err[PYSPY_ERR_RINGBUF_FULL], unwind_errors(c));
	for (int e = 1; e < PYSPY_ERR__COUNT; e++) {
		if (e == PYSPY_ERR_RINGBUF_FULL || !c->bpf_err[e])
			continue;
		fprintf(stderr, "%s%s %" PRIu64, sep, summary__error_name(e), c->bpf_err[e]);
		sep = ", ";
	}
	if (c->bad_frames > c->ambiguous) {
		fprintf(stderr, "%sunreadable code objects %" PRIu64, sep,
			c->bad_frames - c->ambiguous);
		sep = ", ";
	}
	if (c->ambiguous) {
		fprintf(stderr, "%scode object replaced while sampled %" PRIu64, sep, c->ambiguous);
		sep = ", ";
	}
	fputs(sep[0] == ',' ? ")\n" : "\n", stderr);
}

/* "asyncio: N samples in tasks; M tasks, read K times (D left for later ticks) ..." */
static void print_async(const struct run_counts *c)
{
	fprintf(stderr, "  asyncio: %" PRIu64 " samples in a task", c->async_samples);
	if (c->async_read)
		fprintf(stderr,
			"; %" PRIu64 " tasks, read %" PRIu64 " times in %" PRIu64
			" passes (%" PRIu64 " left for a later tick by the bound)",
			c->async_tasks, c->async_read, c->async_cycles, c->async_deferred);
	if (c->async_await_cycles)
		fprintf(stderr, "; %" PRIu64 " await chains that came back to a task",
			c->async_await_cycles);
	if (c->async_names_lost)
		fprintf(stderr, "; %" PRIu64 " names gone before read", c->async_names_lost);
	if (c->async_list_errors)
		fprintf(stderr, "; %" PRIu64 " task lists corrupt or changed while read",
			c->async_list_errors);
	fputc('\n', stderr);
}

/* How the native walks ended: "native stacks: N (K end of stack, ...)". */
static void print_native(const struct run_counts *c)
{
	const struct native_stats *n = &c->native_st;
	const char *sep = " (";

	fprintf(stderr, "  native stacks: %" PRIu64, n->samples);
	for (int s = 0; s < SW_STOP__COUNT; s++) {
		if (!n->stops[s])
			continue;
		fprintf(stderr, "%s%" PRIu64 " %s", sep, n->stops[s], sw_stop_name(s));
		sep = ", ";
	}
	if (n->trimmed) {
		fprintf(stderr, "%s%" PRIu64 " copied to their outermost Python frame", sep,
			n->trimmed);
		sep = ", ";
	}
	if (n->unmatched) {
		fprintf(stderr, "%s%" PRIu64 " with Python frames past the walk", sep,
			n->unmatched);
		sep = ", ";
	}
	if (n->bad_records) {
		fprintf(stderr, "%s%" PRIu64 " malformed", sep, n->bad_records);
		sep = ", ";
	}
	fputs(sep[0] == ',' ? ")\n" : "\n", stderr);
}

static void print_top(const struct profile *p, uint64_t total, int top_n)
{
	static const struct rollup_map by_function = { 0 };
	struct rollup r = {};

	if (!total || rollup__count(&r, p, &by_function)) {
		rollup__free(&r);
		return;
	}
	fprintf(stderr, "  top functions by own samples:\n    %6s %8s %7s  %s\n", "own%", "own",
		"total%", "function");
	for (int k = 0; k < top_n; k++) {
		uint32_t best = UINT32_MAX;

		for (uint32_t f = 0; f < r.n; f++)
			if (r.own[f] && (best == UINT32_MAX || r.own[f] > r.own[best]))
				best = f;
		if (best == UINT32_MAX)
			break;
		const struct profile_function *fn = profile__get_function(p, best);

		fprintf(stderr, "    %5.1f%% %8" PRIu64 " %6.1f%%  ", 100.0 * r.own[best] / total,
			r.own[best], 100.0 * r.total[best] / total);
		/* Markers such as [unknown] have no file, and show no line. */
		profile__put_frame(stderr, p, fn,
				   fn->file && fn->kind == PROFILE_FN_PYTHON ? fn->start_line : -1,
				   term_put);
		fputc('\n', stderr);
		r.own[best] = 0;
	}
	rollup__free(&r);
}

void summary__print(const struct run_counts *c, const struct profile *p, int top_n)
{
	uint64_t total = profile__total_weight(p);

	summary__progress_end();
	fprintf(stderr,
		"pyspy-bpf: %" PRIu64
		" samples from %d process%s, %d thread%s in %.1f s at %u Hz\n",
		c->samples, c->processes, c->processes == 1 ? "" : "es", c->threads,
		c->threads == 1 ? "" : "s", c->elapsed_s, c->rate_hz);
	print_errors(c);
	if (c->native)
		print_native(c);
	if (c->async)
		print_async(c);
	if (profile__dropped(p))
		fprintf(stderr, "  dropped (stack table full): %" PRIu64 "\n", profile__dropped(p));
	if (c->code_evicted || c->code_refused)
		fprintf(stderr,
			"  code cache at its budget: %" PRIu64
			" line tables or code objects let go, %" PRIu64 " never kept\n",
			c->code_evicted, c->code_refused);
	if (profile__symbols_dropped(p))
		fprintf(stderr, "  names dropped (symbol budget full): %" PRIu64 "\n",
			profile__symbols_dropped(p));
	if (log_verbose && c->bpf_stat[PYSPY_STAT_UNSEEN_RUN])
		fprintf(stderr,
			"  %" PRIu64
			" waits whose end was not seen: closed when the next run began\n",
			c->bpf_stat[PYSPY_STAT_UNSEEN_RUN]);
	if (log_verbose && c->late)
		fprintf(stderr,
			"  %" PRIu64
			" samples named over 1 ms late, a code object replaced meanwhile\n",
			c->late);
	if (!c->samples)
		fprintf(stderr, "  no samples: the program was idle or not running Python code\n");
	else if (log_verbose)
		fprintf(stderr, "  BPF walker: %.1f user-memory reads per sample for %.1f frames\n",
			(double)c->reads / c->samples, (double)c->frames / c->samples);
	print_top(p, total, top_n);
}
