// SPDX-License-Identifier: MIT
/*
 * main.c - pick the verb and run it.
 *
 * `pyspy-bpf VERB ARGS...`; with no verb (e.g. `pyspy-bpf --pid N`) the
 * verb is record.  Each verb parses its own options (user/<verb>.c).
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "symbolize/base/cli.h"
#include "symbolize/base/hash.h"
#include "symbolize/base/log.h"

const char *argp_program_version = "pyspy-bpf " PYSPY_VERSION;
const char *argp_program_bug_address = "<https://github.com/pyspy-bpf/pyspy-bpf/issues>";

static const struct cli_verb verbs[] = {
	{ "record", "sample processes and write a profile (the default)", record_main },
	{ "dump", "print every thread's current Python stack once", dump_main },
	{ "top", "live view of the functions a process spends its time in", top_main },
	{ "serve", "continuous profiling daemon: pprof over HTTP, files per interval", serve_main },
	{ "diff", "compare two profiles by function: table or differential flame graph",
	  diff_main },
};

int main(int argc, char **argv)
{
	static char name[64];
	int err;

	/* Before any table: every one a target's bytes key hashes with it. */
	err = hash_seed();
	if (err) {
		log_error("cannot get a random hash key: %s", strerror(-err));
		return 1;
	}
	for (size_t i = 0; argc > 1 && i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[1], verbs[i].name))
			continue;
		/* argv[0] of the verb names it in messages: "pyspy-bpf top: ..." */
		snprintf(name, sizeof(name), "pyspy-bpf %s", verbs[i].name);
		argv[1] = name;
		return verbs[i].main(argc - 1, argv + 1);
	}
	return record_main(argc, argv);
}
