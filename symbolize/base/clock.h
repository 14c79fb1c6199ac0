/* SPDX-License-Identifier: MIT */
/*
 * clock.h - userspace's clocks: the monotonic one, and the wall clock.
 *
 * CLOCK_MONOTONIC is what the BPF side's bpf_ktime_get_ns() reads, so a
 * sample's ktime_ns and these values can be compared and subtracted.
 */
#ifndef PYSPY_CLOCK_H
#define PYSPY_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The wall clock, for the start time profiles carry (pprof time_nanos). */
static inline uint64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The monotonic clock in seconds, for timers and elapsed times. */
static inline double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* PYSPY_CLOCK_H */
