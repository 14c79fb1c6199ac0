// SPDX-License-Identifier: MIT
/*
 * uninit.c - a process that has libpython mapped but never initialises
 * it: `uninit /path/to/libpython3.X.so`.  Prints "ready" and sleeps, so a
 * test can check pyspy-bpf's "did not finish initialising" message.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2 || !dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL)) {
		fprintf(stderr, "uninit: cannot load %s: %s\n", argc > 1 ? argv[1] : "?",
			dlerror());
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < 600; i++)
		sleep(1);
	return 0;
}
