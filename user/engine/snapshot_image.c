// SPDX-License-Identifier: MIT
/* snapshot_image.c - what a snapshot read of its target, kept for a replay without it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "snapshot_image.h"
#include "symbolize/cpython/asyncio.h"
#include "symbolize/proc/procmem.h"
#include "symbolize/base/log.h"

/*
 * The AsyncioDebug section goes in the header (asyncio_FIELD), for a
 * replay to find the tasks' layout: it is read from a file, which the tap
 * does not see.  0, or -ENOMEM.
 */
static int save_asyncio(struct procimage *img, const struct py_target *py)
{
	uint64_t sec[PY_ASYNC_DEBUG_SIZE / 8 + 1];
	char key[64];
	size_t len = 0;

	if (py_target__asyncio_debug(py, sec, sizeof(sec), &len) || len != PY_ASYNC_DEBUG_SIZE)
		return 0; /* the snapshot says why */
	for (unsigned i = 0; py_async__debug_field(i); i++) {
		snprintf(key, sizeof(key), "asyncio_%s", py_async__debug_field(i));
		if (procimage__set(img, key, sec[i]))
			return -ENOMEM;
	}
	return 0;
}

struct procimage *snapshot_image__start(const struct py_target *py, bool asyncio)
{
	struct procimage *img = procimage__new();
	struct py_target again = *py;

	if (!img || procimage__set(img, "version_hex", py->version_hex) ||
	    procimage__set(img, "runtime_addr", py->runtime_addr) ||
	    procimage__set(img, "code_type_addr", py->code_type_addr) ||
	    procimage__set(img, "flags", py->flags) || (asyncio && save_asyncio(img, py))) {
		procimage__free(img);
		log_error("out of memory");
		return NULL;
	}
	procmem_tap(py->pid, img, false);
	/* The bytes its layout was found from, read again: a replay finds it the same way. */
	py_target__layout(&again);
	return img;
}

void snapshot_image__drop(struct procimage *img)
{
	if (!img)
		return;
	procmem_tap(0, NULL, false);
	procimage__free(img);
}

int snapshot_image__save(struct procimage *img, const char *path)
{
	int err;

	procmem_tap(0, NULL, false);
	err = procimage__save(img, path);
	if (err)
		log_error("cannot write %s: %s", path, strerror(-err));
	procimage__free(img);
	return err;
}
