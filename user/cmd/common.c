// SPDX-License-Identifier: MIT
/* common.c - what the verbs share above the engine: signals, and what every parser does alike. */
#include <argp.h>
#include <signal.h>
#include <stdbool.h>

#include "common.h"
#include "symbolize/base/cli.h"
#include "symbolize/base/log.h"

void cmd_catch_signals(void (*handler)(int), const int *sigs)
{
	struct sigaction sa = { .sa_handler = handler };

	sigemptyset(&sa.sa_mask);
	for (; *sigs; sigs++)
		sigaction(*sigs, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

long cmd_long(struct argp_state *state, const char *what, const char *arg, long min, long max)
{
	long v = 0;

	if (cli_parse_long(arg, min, max, &v))
		argp_error(state, "invalid %s: %s", what, arg);
	return v;
}

double cmd_secs(struct argp_state *state, const char *what, const char *arg)
{
	double s = 0;

	if (cli_parse_secs(arg, &s))
		argp_error(state, "invalid %s (seconds > 0): %s", what, arg);
	return s;
}

error_t cmd_parse_common(const struct cmd_store *stores, int key, char *arg,
			 struct argp_state *state)
{
	for (; stores && stores->key; stores++) {
		char *field = (char *)state->input + stores->off;

		if (stores->key != key)
			continue;
		if (stores->arg)
			*(const char **)field = arg;
		else
			*(bool *)field = true;
		return 0;
	}
	switch (key) {
	case 'v':
		log_verbose++;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}
