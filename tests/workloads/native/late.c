// SPDX-License-Identifier: MIT
/*
 * late.c - a C thread that runs a while with no Python thread state, then
 * calls into Python (a ctypes callback: PyGILState_Ensure makes its thread
 * state then), for tests/workloads/latecall.py.
 */
#include <pthread.h>
#include <time.h>

static void (*late_cb)(void);
static double late_spin_s;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *late_run(void *arg)
{
	double end = now_s() + late_spin_s;

	(void)arg;
	while (now_s() < end)
		;
	late_cb();
	return NULL;
}

/* Start the thread: spin secs seconds, then call cb.  0 or an errno. */
int late_start(void (*cb)(void), double secs)
{
	pthread_t t;

	late_cb = cb;
	late_spin_s = secs;
	return pthread_create(&t, NULL, late_run, NULL);
}
