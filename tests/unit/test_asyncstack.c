// SPDX-License-Identifier: MIT
/*
 * test_asyncstack.c - the asyncio layout from a target's AsyncioDebug
 * section (accepted, refused and why), what the BPF side gets of it, the
 * name fingerprint both sides compute, and how a --async record's frames
 * become the logical stack: awaiting tasks' coroutines reversed, a task
 * seen twice ending the chain.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "symbolize/asyncstack.h"
#include "symbolize/cpython/asyncio.h"
#include "async_layout.h"
#include "unit.h"

/* Debian's 3.14.10 _asyncio module, as readelf shows its section. */
static const uint64_t sec_314[13] = { 168,    136,   96,  108, 109, 128, 152,
				      225864, 10880, 936, 864, 872, 880 };

static void test_layout(void)
{
	struct py_layout l = test_layout_async(14);
	struct py_async_layout a;
	struct pyspy_proc p;
	uint64_t bad[13];
	char why[128];
	int err;

	err = py_async__layout(sec_314, sizeof(sec_314), &l, 14, &a, why, sizeof(why));
	CHECK(err == 0, "%d %s", err, why);
	CHECK(a.task_node == 152 && a.task_coro == 128 && a.ts_running_task == 872);
	CHECK(a.st_yf_lo == -1 && a.st_yf_hi == -1 && a.yf_slot == 1);
	memset(&p, 0, sizeof(p));
	py_async__to_bpf(&a, &p);
	/* one read of the task: awaited_by (96) .. name (136) + 8 */
	CHECK(p.task_lo == 96 && p.task_len == 48, "%u %u", p.task_lo, p.task_len);
	CHECK(p.task_coro == 32 && p.task_name == 40 && p.task_is_set == 13);
	CHECK(p.gen_len == 72 + 64 + 8 && p.yf_back == 8 && p.ts_running_task == 872);

	/* 3.15 counts frame states up and awaits two slots down */
	err = py_async__layout(sec_314, sizeof(sec_314), &l, 15, &a, why, sizeof(why));
	CHECK(err == 0 && a.st_yf_lo == 2 && a.st_yf_hi == 3 && a.yf_slot == 2);
	py_async__to_bpf(&a, &p);
	CHECK(p.yf_back == 16);

	/* before 3.14, or a section of another shape: not ours to read */
	CHECK(py_async__layout(sec_314, sizeof(sec_314), &l, 13, &a, NULL, 0) == -ENOTSUP);
	CHECK(py_async__layout(sec_314, 96, &l, 14, &a, NULL, 0) == -ENOTSUP);

	/* a field past the task it is in */
	memcpy(bad, sec_314, sizeof(bad));
	bad[6] = 160;
	err = py_async__layout(bad, sizeof(bad), &l, 14, &a, why, sizeof(why));
	CHECK(err == -EINVAL && strstr(why, "TaskObj.task_node = 160"), "%d %s", err, why);
	/* an offset so big that adding the field's width wraps */
	bad[1] = UINT64_MAX;
	CHECK(py_async__layout(bad, sizeof(bad), &l, 14, &a, NULL, 0) == -EINVAL);
	bad[1] = 136;
	bad[11] = UINT64_MAX - 3;
	CHECK(py_async__layout(bad, sizeof(bad), &l, 14, &a, NULL, 0) == -EINVAL);
	bad[11] = 872;
	/* a task too big to read, or none */
	bad[6] = 152;
	bad[0] = 1u << 20;
	CHECK(py_async__layout(bad, sizeof(bad), &l, 14, &a, NULL, 0) == -EINVAL);
	bad[0] = 0;
	CHECK(py_async__layout(bad, sizeof(bad), &l, 14, &a, NULL, 0) == -EINVAL);
	/* a thread state field past its size */
	memcpy(bad, sec_314, sizeof(bad));
	bad[11] = 2000;
	CHECK(py_async__layout(bad, sizeof(bad), &l, 14, &a, NULL, 0) == -EINVAL);
	/* a coroutine's frame past what the BPF side reads of it */
	l.gen_iframe = 400;
	CHECK(py_async__layout(sec_314, sizeof(sec_314), &l, 14, &a, why, sizeof(why)) == -EINVAL);
	l = test_layout_async(14);
	l.set_table = 36; /* unaligned: the BPF side reads it as a u64 */
	CHECK(py_async__layout(sec_314, sizeof(sec_314), &l, 14, &a, NULL, 0) == -EINVAL);
	l = test_layout_async(14);
	l.gen_iframe = PY_OFF_NONE;
	CHECK(py_async__layout(sec_314, sizeof(sec_314), &l, 14, &a, NULL, 0) == -EINVAL);
}

/* A str's head as it is at name + 8: ob_type, length, hash, state, text. */
static void str_head(uint64_t w[8], uint64_t type, const char *s, uint64_t junk)
{
	size_t n = strlen(s);

	memset(w, 0, 64);
	w[0] = type;
	w[1] = n;
	w[2] = (uint64_t)-1;
	w[3] = 0x60 | 0x4; /* compact, ascii, kind 1 */
	for (int i = 4; i < 8; i++)
		w[i] = junk;
	memcpy(&w[4], s, n < 32 ? n : 32);
	if (n < 32)
		((char *)&w[4])[n] = 0;
}

static void test_name_fp(void)
{
	const uint64_t str = 0x8f0000, lng = 0x8f1000, at = 0x7f0000001000;
	uint64_t a[8], b[8];

	str_head(a, str, "worker-1", 0x1111111111111111ull);
	str_head(b, str, "worker-1", 0x2222222222222222ull);
	/* what lies past the text (another object) does not count */
	CHECK(pyspy_name_fp(at, (__u64 *)a, str, lng) == pyspy_name_fp(at, (__u64 *)b, str, lng));
	str_head(b, str, "worker-2", 0x1111111111111111ull);
	CHECK(pyspy_name_fp(at, (__u64 *)a, str, lng) != pyspy_name_fp(at, (__u64 *)b, str, lng));
	/* nor its hash, which CPython may compute later */
	str_head(b, str, "worker-1", 0x1111111111111111ull);
	b[2] = 12345;
	CHECK(pyspy_name_fp(at, (__u64 *)a, str, lng) == pyspy_name_fp(at, (__u64 *)b, str, lng));
	/* the same text at another address is another name object */
	CHECK(pyspy_name_fp(at, (__u64 *)a, str, lng) !=
	      pyspy_name_fp(at + 64, (__u64 *)a, str, lng));
	/* names differing only at their 32nd character */
	str_head(a, str, "request-handler-number-000000001", 0);
	str_head(b, str, "request-handler-number-000000002", 0);
	CHECK(pyspy_name_fp(at, (__u64 *)a, str, lng) != pyspy_name_fp(at, (__u64 *)b, str, lng));
	/* a default name is the task counter, an int */
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	a[0] = b[0] = lng;
	a[1] = b[1] = 1 << 3;
	a[2] = 41;
	b[2] = 42;
	CHECK(pyspy_name_fp(at, (__u64 *)a, str, lng) != pyspy_name_fp(at, (__u64 *)b, str, lng));
	CHECK(pyspy_name_fp(at, (__u64 *)a, str, lng) != 0);
}

#define TASK(x)                              \
	{                                    \
		(x) | PYSPY_FRAME_TASK, 7, 9 \
	}
#define FR(code, lasti)        \
	{                      \
		code, lasti, 0 \
	}

static void test_split(void)
{
	/* running T: leaf, root; T; P's coroutines outermost first; P */
	const struct pyspy_frame in[] = {
		FR(0x1000, 2),	FR(0x2000 | PYSPY_FRAME_ENTRY, 4),
		TASK(0x10000),	FR(0x3000, 6),
		FR(0x4000, 8),	TASK(0x20000),
		FR(0x5000, 10), /* cut off: no task after */
	};
	struct pyspy_frame py[8];
	struct async_split sp;

	CHECK(async_stack__has_tasks(in, 7));
	CHECK(!async_stack__has_tasks(in, 2));
	async_stack__split(NULL, in, 7, py, &sp);
	CHECK(sp.n_tasks == 2 && sp.n_py == 4, "%u %u", sp.n_tasks, sp.n_py);
	CHECK(py[0].code == 0x1000 && py[1].code == 0x2000, "entry bit dropped");
	/* the awaiting task's coroutines, innermost first like the rest */
	CHECK(py[2].code == 0x4000 && py[3].code == 0x3000 && py[2].lasti == 8);
	CHECK(sp.at[0] == 2 && sp.at[1] == 4);
	CHECK(sp.task[0] == 0x10000 && sp.task[1] == 0x20000);
	CHECK(sp.fp[0] == (7 | (uint64_t)9 << 32));

	/* a task awaiting one of those after it: the chain ends at the repeat */
	{
		const struct pyspy_frame loop[] = { FR(0x1000, 2), TASK(0x10000), FR(0x3000, 6),
						    TASK(0x20000), FR(0x4000, 8), TASK(0x10000) };

		async_stack__split(NULL, loop, 6, py, &sp);
		CHECK(sp.n_tasks == 2 && sp.n_py == 2, "%u %u", sp.n_tasks, sp.n_py);
	}
	/* a native shim (address | SHIM) is no task, whatever its bits */
	{
		const struct pyspy_frame shim[] = { { 0x7ffd0104 | PYSPY_FRAME_SHIM, -1, 0 } };

		CHECK(!async_stack__has_tasks(shim, 1));
	}
}

int main(void)
{
	test_layout();
	test_name_fp();
	test_split();
	return unit_done("asyncstack");
}
