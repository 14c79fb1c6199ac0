// SPDX-License-Identifier: MIT
/*
 * top.c - the `top` verb: a live, full-screen table of where a process
 * spends its time, refreshed every second, like py-spy top.
 *
 * Plain ANSI escapes and termios rather than ncurses: one screen redrawn
 * whole each second needs cursor-home, clear-to-end and the alternate
 * screen, nothing more.  When stdout is not a terminal, one plain table is
 * printed per interval instead, so `top ... | tee` and logs work too.
 *
 * With --mode offcpu or wall the weights are nanoseconds and a waiting
 * thread's time is its own time in the Python line it waits at; the
 * reason frames ([sleep], [lock: futex], ...) are not rows but a header
 * line of their own.  Waits still open are charged at each refresh.
 */
#include <argp.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common.h"
#include "sample_opts.h"
#include "symbolize/cpython/discover.h"
#include "symbolize/cpython/discover_wait.h"
#include "symbolize/base/clock.h"
#include "symbolize/base/escape.h"
#include "symbolize/base/log.h"
#include "user/engine/options.h"
#include "user/engine/memlimit.h"
#include "user/engine/preflight.h"
#include "user/engine/sampler.h"
#include "user/engine/summary.h"
#include "symbolize/model/profile.h"
#include "symbolize/model/rollup.h"

/* How stale a sample may get before it is symbolized; also the key latency. */
#define POLL_MS	  20
#define REFRESH_S 1.0
/* Rows per table when stdout is not a terminal. */
#define PLAIN_ROWS 20
/* Lines above the table (one more for the reasons of waits). */
#define HEADER_LINES 6
/* Reasons of waits named in the header. */
#define REASONS_SHOWN 4

enum sort_col {
	SORT_OWN,
	SORT_TOTAL,
	SORT_OWN_TIME,
	SORT_TOTAL_TIME
};

static const char *const sort_names[] = { "%Own", "%Total", "OwnTime", "TotalTime" };

struct top_opts {
	struct options o;
	bool functions; /* one row per function rather than per line */
};

struct row {
	uint32_t key;
	uint32_t depth;		 /* fewest frames between it and a stack's root */
	uint64_t own_i, total_i; /* over the last interval */
	uint64_t own_c, total_c; /* since the start */
};

struct top {
	const struct top_opts *opts;
	const struct py_target *py;
	struct profile *prof;
	struct sampler *s;
	/* Cumulative own/total per row key (a location or a function id). */
	struct rollup cur, prev;
	bool *marker; /* per key: a reason frame such as [sleep], not Python code */
	bool *task;   /* per key: --async, a `task NAME` frame (the rows then) */
	uint32_t n_marker;
	uint32_t *loc_row; /* per location: its row (top_row), for the rollup */
	uint32_t n_loc_row;
	struct row *rows, *reasons;
	uint32_t n_rows, n_reasons;
	uint64_t interval_samples, prev_weight;
	double interval_s;
	struct run_counts rc, rc_prev;
	enum sort_col sort;
	bool full_screen, have_interval;
};

static volatile sig_atomic_t stop_requested, resized;

/* --- terminal ---------------------------------------------------------------- */

static struct termios saved_tio;
static bool tio_saved, screen_on;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		stop_requested = 1;
}

/* Idempotent, and registered with atexit: the terminal is always given back. */
static void term_restore(void)
{
	if (screen_on) {
		/* cursor on, leave the alternate screen */
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
		screen_on = false;
	}
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
		tio_saved = false;
	}
}

/*
 * Keys without Enter and without echo; ISIG stays on so Ctrl-C still sends
 * SIGINT, but Ctrl-Z is disabled: a stopped top would leave the terminal
 * raw under the shell.
 */
static void term_setup(void)
{
	struct termios tio;

	atexit(term_restore);
	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &saved_tio)) {
		tio = saved_tio;
		tio.c_lflag &= ~(ICANON | ECHO);
		tio.c_cc[VMIN] = 0;
		tio.c_cc[VTIME] = 0;
		tio.c_cc[VSUSP] = _POSIX_VDISABLE;
		if (!tcsetattr(STDIN_FILENO, TCSANOW, &tio))
			tio_saved = true;
	}
	/* alternate screen, cursor off */
	fputs("\033[?1049h\033[?25l", stdout);
	screen_on = true;
}

static void term_size(int *rows, int *cols)
{
	struct winsize ws;

	*rows = 24;
	*cols = 80;
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

/* Read pending keys; true when asked to quit. */
static bool handle_keys(struct top *t)
{
	char buf[32];
	ssize_t n;

	if (!tio_saved)
		return false;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == 'q' || buf[i] == 'Q')
			return true;
		if (buf[i] >= '1' && buf[i] <= '4') {
			t->sort = buf[i] - '1';
			resized = 1; /* redraw now, not at the next refresh */
		}
	}
	return false;
}

/* --- statistics ------------------------------------------------------------------ */

static uint32_t n_keys(const struct top *t)
{
	return t->opts->functions ? profile__n_functions(t->prof) : profile__n_locations(t->prof);
}

static uint32_t key_of(const struct top *t, uint32_t loc)
{
	const struct profile_location *l;

	if (!t->opts->functions)
		return loc;
	l = profile__get_location(t->prof, loc);
	return l ? l->function : UINT32_MAX;
}

/*
 * The function a row key names, and the line shown with it (-1: none; a
 * function's first line, as a location's, is never 0 but for markers).
 */
static const struct profile_function *function_of(const struct top *t, uint32_t key, int *line)
{
	const struct profile_location *l;
	const struct profile_function *fn;

	if (t->opts->functions) {
		fn = profile__get_function(t->prof, key);
		*line = fn && fn->start_line > 0 ? fn->start_line : -1;
		return fn;
	}
	l = profile__get_location(t->prof, key);
	*line = l && l->line > 0 ? l->line : -1;
	return l ? profile__get_function(t->prof, l->function) : NULL;
}

/* A reason frame has neither a file nor a line (see offcpu_start). */
static bool is_marker(const struct top *t, uint32_t key)
{
	int line;
	const struct profile_function *fn = function_of(t, key, &line);

	return fn && profile_frame__is_marker(fn, line);
}

/* A location's row: its key, or none (--async ranks tasks and their reasons only). */
static uint32_t top_row(const struct top *t, uint32_t loc)
{
	uint32_t k = key_of(t, loc);

	if (k >= t->n_marker)
		return ROLLUP_SKIP;
	/* --async ranks tasks: own is the innermost task, the one that ran or waited. */
	if (t->opts->o.async && !t->task[k] && !t->marker[k])
		return ROLLUP_SKIP;
	return k;
}

static int count_all(struct top *t)
{
	uint32_t n = n_keys(t), n_locs = profile__n_locations(t->prof);
	struct rollup_map m;

	if (n > t->n_marker) {
		bool *mk = realloc(t->marker, (size_t)n * sizeof(*mk));
		bool *tk = mk ? realloc(t->task, (size_t)n * sizeof(*tk)) : NULL;

		if (mk)
			t->marker = mk;
		if (!mk || !tk)
			return -ENOMEM;
		t->task = tk;
		/* Keys only ever grow, and what a key names never changes. */
		for (uint32_t k = t->n_marker; k < n; k++) {
			int line;

			tk[k] = profile__is_task(t->prof, function_of(t, k, &line));
			mk[k] = !tk[k] && is_marker(t, k);
		}
		t->n_marker = n;
	}
	/* Nor does a location's key: only the new ones are mapped. */
	if (n_locs > t->n_loc_row) {
		uint32_t *r = realloc(t->loc_row, (size_t)n_locs * sizeof(*r));

		if (!r)
			return -ENOMEM;
		t->loc_row = r;
		for (uint32_t l = t->n_loc_row; l < n_locs; l++)
			r[l] = top_row(t, l);
		t->n_loc_row = n_locs;
	}
	/* Own: the innermost Python frame, and a reason frame below it its reason too. */
	m = (struct rollup_map){ .row = t->loc_row,
				 .n_locs = t->n_loc_row,
				 .passes = t->marker,
				 .n_passes = t->n_marker };
	return rollup__count(&t->cur, t->prof, &m);
}

static uint64_t prev_of(const uint64_t *a, const struct rollup *c, uint32_t k)
{
	return k < c->n ? a[k] : 0;
}

static int grow_rows(struct row **rows, uint32_t n)
{
	struct row *r = realloc(*rows, (size_t)(n ? n : 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	*rows = r;
	return 0;
}

/* Python code goes in rows, reasons of waits in reasons. */
static int build_rows(struct top *t)
{
	if (grow_rows(&t->rows, t->cur.n) || grow_rows(&t->reasons, t->cur.n))
		return -ENOMEM;
	t->n_rows = t->n_reasons = 0;
	for (uint32_t k = 0; k < t->cur.n; k++) {
		struct row *r;

		if (!t->cur.total[k])
			continue;
		r = t->marker[k] ? &t->reasons[t->n_reasons++] : &t->rows[t->n_rows++];
		*r = (struct row){
			.key = k,
			.depth = t->cur.depth[k],
			.own_c = t->cur.own[k],
			.total_c = t->cur.total[k],
			.own_i = t->cur.own[k] - prev_of(t->prev.own, &t->prev, k),
			.total_i = t->cur.total[k] - prev_of(t->prev.total, &t->prev, k),
		};
	}
	return 0;
}

/* The profile is cumulative: an interval is the difference of two counts. */
static int refresh(struct top *t, double interval_s)
{
	uint64_t weight;
	struct rollup tmp;

	/* Waits still open get their time so far; the rest comes later. */
	sampler__lock(t->s);
	sampler__settle_locked(t->s);
	sampler__unlock(t->s);
	weight = profile__total_weight(t->prof);
	if (count_all(t) || build_rows(t))
		return -ENOMEM;
	t->interval_samples = weight - t->prev_weight;
	t->prev_weight = weight;
	t->interval_s = interval_s;
	tmp = t->prev;
	t->prev = t->cur;
	t->cur = tmp;
	t->rc_prev = t->rc;
	sampler__counts(t->s, &t->rc);
	t->have_interval = true;
	return 0;
}

static uint64_t sort_value(const struct row *r, enum sort_col c)
{
	switch (c) {
	case SORT_TOTAL:
		return r->total_i;
	case SORT_OWN_TIME:
		return r->own_c;
	case SORT_TOTAL_TIME:
		return r->total_c;
	default:
		return r->own_i;
	}
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return (a < b) - (a > b);
}

/*
 * Descending by the chosen column.  Ties (callers and callee all at 100%
 * total) put callers first: less own time, then closer to the root.
 * Own-time ties put the bigger total first.
 */
static int cmp_rows(const void *a, const void *b, void *ctx)
{
	const struct row *x = a, *y = b;
	enum sort_col c = *(const enum sort_col *)ctx;
	bool by_total = c == SORT_TOTAL || c == SORT_TOTAL_TIME;
	int d = cmp_u64_desc(sort_value(x, c), sort_value(y, c));

	if (!d && by_total)
		d = -cmp_u64_desc(x->own_c, y->own_c);
	if (!d && by_total)
		d = (x->depth > y->depth) - (x->depth < y->depth);
	if (!d && !by_total)
		d = cmp_u64_desc(x->total_c, y->total_c);
	return d ? d : (x->key > y->key) - (x->key < y->key);
}

/* --- drawing ------------------------------------------------------------------------ */

static uint64_t unwind_errors(const struct run_counts *c)
{
	uint64_t n = 0;

	for (int e = 1; e < PYSPY_ERR__COUNT; e++)
		if (e != PYSPY_ERR_RINGBUF_FULL)
			n += c->bpf_err[e];
	return n;
}

static double pct(uint64_t v, uint64_t of)
{
	return of ? 100.0 * v / of : 0.0;
}

/* The busiest threads and the share of their samples that held the GIL. */
#define GIL_THREADS 4

static void put_gil(FILE *f, const struct top *t)
{
	struct thread_stat top[GIL_THREADS];
	int n = sampler__busiest_threads(t->s, t->py->pid, top, GIL_THREADS);

	fputs("GIL held:", f);
	if (!n)
		fputs(" -", f);
	for (int i = 0; i < n; i++) {
		const char *name = profile__thread_name(t->prof, top[i].pid, top[i].tid);

		fputs("  ", f);
		term_put(f, name ? name : "thread");
		fprintf(f, " %u %.0f%%", top[i].tid, pct(top[i].gil, top[i].samples));
	}
	fputc('\n', f);
}

static int cmp_reasons(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return cmp_u64_desc(x->own_i, y->own_i);
}

/* The share of the last interval's time spent waiting, by reason. */
static void put_reasons(FILE *f, const struct top *t)
{
	uint32_t shown = 0;

	qsort(t->reasons, t->n_reasons, sizeof(*t->reasons), cmp_reasons);
	fputs("Waiting:", f);
	for (uint32_t i = 0; i < t->n_reasons && shown < REASONS_SHOWN; i++) {
		const struct row *r = &t->reasons[i];
		const struct profile_function *fn;
		int line;

		if (!r->own_i)
			break;
		fn = function_of(t, r->key, &line);
		/* A reason can name a task ("[await task NAME]"): the target chose it. */
		fputs("  ", f);
		term_put(f, fn ? profile__str(t->prof, fn->name) : "?");
		fprintf(f, " %.1f%%", pct(r->own_i, t->interval_samples));
		shown++;
	}
	fputs(shown ? "\n" : " -\n", f);
}

static void put_header(FILE *f, const struct top *t)
{
	const struct py_target *py = t->py;
	char ver[32];
	uint64_t samples = t->rc.samples - t->rc_prev.samples;
	uint64_t errs = unwind_errors(&t->rc) - unwind_errors(&t->rc_prev);
	uint64_t lost = t->rc.bpf_err[PYSPY_ERR_RINGBUF_FULL];
	double rate = t->interval_s > 0 ? samples / t->interval_s : 0;

	fprintf(f, "pyspy-bpf top: PID %d (", py->pid);
	term_put(f, py->comm);
	py_version_str(py->version_hex, false, ver, sizeof(ver));
	fprintf(f, "), Python %s\n", ver);
	fprintf(f, "Samples: %.0f/s (%u Hz per CPU)  Errors: %.1f%%", rate, t->opts->o.rate_hz,
		samples + errs ? 100.0 * errs / (samples + errs) : 0.0);
	if (lost)
		fprintf(f, "  Lost: %" PRIu64, lost);
	fprintf(f, "  Threads: %d  Elapsed: %.1fs  Mode: %s\n", t->rc.threads, t->rc.elapsed_s,
		profile_mode_name(t->opts->o.mode));
	put_gil(f, t);
	if (t->opts->o.mode != MODE_CPU)
		put_reasons(f, t);
	fprintf(f, "Sort: %s  (keys: 1 %%Own, 2 %%Total, 3 OwnTime, 4 TotalTime, q quit)\n",
		sort_names[t->sort]);
	fputc('\n', f);
	fprintf(f, "%7s %7s %9s %9s  %s\n", "%Own", "%Total", "OwnTime", "TotalTime",
		t->opts->functions ? "Function (filename:first line)" : "Function (filename:line)");
}

static void put_name(FILE *f, const struct top *t, uint32_t key)
{
	int line;
	const struct profile_function *fn = function_of(t, key, &line);

	profile__put_frame(f, t->prof, fn, line, term_put);
}

static void put_rows(FILE *f, struct top *t, int max_rows)
{
	/* Weights per second: samples at the rate, or nanoseconds. */
	double hz = t->opts->o.mode == MODE_CPU ? t->opts->o.rate_hz : 1e9;
	enum sort_col c = t->sort;

	if (!t->have_interval) {
		fputs("  (collecting samples...)\n", f);
		return;
	}
	if (!t->n_rows)
		fputs("  (no samples yet: the process is idle or not running Python code)\n", f);
	qsort_r(t->rows, t->n_rows, sizeof(*t->rows), cmp_rows, &c);
	for (uint32_t i = 0; i < t->n_rows && (int)i < max_rows; i++) {
		const struct row *r = &t->rows[i];

		fprintf(f, "%6.2f%% %6.2f%% %8.2fs %8.2fs  ", pct(r->own_i, t->interval_samples),
			pct(r->total_i, t->interval_samples), r->own_c / hz, r->total_c / hz);
		put_name(f, t, r->key);
		fputc('\n', f);
	}
}

/* Write text line by line, each cut to cols characters, clearing the rest. */
static void put_screen(const char *text, int rows, int cols)
{
	int row = 0;

	fputs("\033[H", stdout);
	while (*text && row < rows) {
		size_t len = strcspn(text, "\n"), cut = 0;
		int chars = 0;

		/* Count characters, not bytes: a UTF-8 name is never cut in half. */
		for (; cut < len; cut++) {
			if (((unsigned char)text[cut] & 0xc0) == 0x80)
				continue;
			if (chars == cols)
				break;
			chars++;
		}
		fwrite(text, 1, cut, stdout);
		text += len + (text[len] == '\n');
		row++;
		fputs(row < rows ? "\033[K\r\n" : "\033[K", stdout);
	}
	fputs("\033[J", stdout);
	fflush(stdout);
}

static void draw(struct top *t)
{
	char *text = NULL;
	size_t len = 0;
	int rows, cols;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	term_size(&rows, &cols);
	put_header(f, t);
	put_rows(f, t, rows - HEADER_LINES - (t->opts->o.mode != MODE_CPU));
	fclose(f);
	put_screen(text, rows, cols);
	free(text);
}

/* false when stdout is gone (a closed pipe): nobody is reading any more. */
static bool print_plain(struct top *t)
{
	put_header(stdout, t);
	put_rows(stdout, t, PLAIN_ROWS);
	fputc('\n', stdout);
	return fflush(stdout) == 0 && !ferror(stdout);
}

/* --- the verb ------------------------------------------------------------------------ */

static bool loop_once(struct top *t, double *last, double *next)
{
	double now;
	bool done = sampler__poll(t->s, POLL_MS);

	if (handle_keys(t))
		return true;
	now = mono_s();
	if (now >= *next || done) {
		if (refresh(t, now - *last)) {
			log_error("out of memory");
			return true;
		}
		*last = now;
		*next = now + REFRESH_S;
		resized = 0;
		if (t->full_screen)
			draw(t);
		else if (!print_plain(t))
			return true;
	} else if (resized && t->full_screen) {
		resized = 0;
		draw(t);
	}
	return done;
}

static void loop(struct top *t)
{
	double t0 = mono_s(), last = t0, next = t0 + REFRESH_S;
	double dur = t->opts->o.duration_s;

	if (t->full_screen)
		draw(t);
	while (!stop_requested) {
		if (loop_once(t, &last, &next))
			break;
		if (dur > 0 && mono_s() - t0 >= dur)
			break;
	}
}

static void free_top(struct top *t)
{
	rollup__free(&t->cur);
	free(t->loc_row);
	rollup__free(&t->prev);
	free(t->rows);
	free(t->reasons);
	free(t->marker);
	free(t->task);
}

static int cmd_top(const struct top_opts *o)
{
	struct py_target py;
	struct top t = { .opts = o, .py = &py, .sort = SORT_OWN };
	bool gone;

	cmd_catch_signals(on_signal, (const int[]){ SIGINT, SIGTERM, SIGHUP, SIGWINCH, 0 });
	if (preflight_privileges() || preflight_btf())
		return 1;
	t.prof = profile__new(0);
	if (!t.prof) {
		log_error("out of memory");
		return 1;
	}
	t.s = sampler__start(&o->o, t.prof);
	if (!t.s) {
		profile__free(t.prof);
		return 1;
	}
	/* For the header, in the sandbox the sampler entered: found already, so at once. */
	if (py_target__discover_wait(o->o.pids[0], o->o.init_wait_s, &py)) {
		sampler__stop(t.s);
		profile__free(t.prof);
		return 1;
	}
	t.full_screen = isatty(STDOUT_FILENO);
	if (t.full_screen)
		term_setup();
	loop(&t);
	term_restore();
	gone = py_target__alive(&py) == 0;
	sampler__stop(t.s);
	if (gone)
		log_info("PID %d (%s) exited", py.pid, py.comm);
	free_top(&t);
	profile__free(t.prof);
	return 0;
}

/* --- command line ------------------------------------------------------------------------ */

static const char doc[] =
	"Show a live table of the functions a process spends its time in, refreshed every "
	"second, like py-spy top.  %Own and %Total are over the last second; OwnTime and "
	"TotalTime are seconds since the start (samples / rate; with --mode offcpu or wall, "
	"a waiting thread's time is in the line it waits at).  Keys: 1 %Own, 2 %Total, "
	"3 OwnTime, 4 TotalTime (sort by that column), q or Ctrl-C to quit.  When stdout is "
	"not a terminal, a plain table of the top rows is printed every second instead."
	"\n\nEXAMPLES:\n"
	"  sudo pyspy-bpf top --pid 1234\n"
	"  sudo pyspy-bpf top --pid 1234 --duration 10 | tee top.log\n"
	"  sudo pyspy-bpf top --pid 1234 --async --mode wall   # one row per asyncio task\n"
	"\nOPTIONS:";

enum {
	OPT_FUNCTIONS = 0x100,
};

static const struct argp_option opts[] = {
	{ "functions", OPT_FUNCTIONS, NULL, 0,
	  "One row per function (at its first line) instead of per line", 0 },
	{ "verbose", 'v', NULL, 0, "More messages", 0 },
	{},
};

static const struct sample_spec sampling = {
	.takes = SOPT(PID) | SOPT(DURATION) | SOPT(INIT_WAIT) | SOPT_SAMPLER,
	.max_pids = 1,
	.no_memory = "top shows time: --mode cpu, offcpu or wall (memory is for record)",
	.doc = {
		[SOPT_PID] = "Process to watch",
		[SOPT_MODE] = "cpu (default): time on the CPU; offcpu: time off it, where each "
			      "thread waits; wall: both (the header shows the reasons of waits)",
		[SOPT_DURATION] = "Stop after SECS seconds (default: until q or Ctrl-C)",
		[SOPT_INIT_WAIT] = "Wait up to SECS for the interpreter to initialise (default 5)",
	},
};

static const struct cmd_store stores[] = {
	CMD_FLAG(OPT_FUNCTIONS, struct top_opts, functions),
	{ 0 },
};

int top_main(int argc, char **argv)
{
	static const struct argp argp = { opts, NULL, "--pid PID", doc, NULL, NULL, NULL };
	struct top_opts o = { .o = { OPTIONS_DEFAULTS, .quiet = true } };

	if (sample_opts_parse(&argp, stores, &sampling, &o.o, argc, argv, &o))
		return 2;
	if (!o.o.n_pids) {
		log_error("nothing to watch: give --pid PID (see --help)");
		return 2;
	}
	memlimit__budgets(&o.o, memlimit__own());
	o.o.sandbox = true;
	return cmd_top(&o);
}
