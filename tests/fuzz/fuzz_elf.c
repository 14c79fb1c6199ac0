// SPDX-License-Identifier: MIT
/*
 * fuzz_elf.c - the ELF reader on any file: every lookup discovery makes
 * (symbols, the .PyRuntime section, bytes at an address, the load bias,
 * the version string in Py_GetVersion's code), from a memfd; and what
 * --native reads of an object: its symbol tables, build-id, MiniDebugInfo,
 * CFI and DWARF lines (our readers, cfi.c and dwline.c), at a few
 * addresses of its own.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbolize/native/object.h"
#include "symbolize/proc/elf.h"

static void native_fuzz(int fd)
{
	struct native_object *o = fd >= 0 ? native_object__open(fd, 0, "fuzz.so") : NULL;
	uint64_t start, limit, off;
	struct sw_rule r;
	const char *file;
	int line;

	if (!o)
		return;
	if (!native_object__text(o, &start, &limit, &off)) {
		for (uint64_t a = start; a < limit && a < start + 4096; a += 61) {
			native_object__rule(o, a, &r);
			native_object__symbol(o, a);
			native_object__line(o, a, &file, &line);
		}
	}
	native_object__free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	struct elf_file *ef;
	uint64_t addr, sz, bias;
	int fd2;
	char buf[64];

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	fd2 = dup(fd);
	ef = elf_file__from_fd(fd);
	if (!ef) {
		native_fuzz(fd2);
		return 0;
	}
	if (!elf_file__find_symbol(ef, "_PyRuntime", &addr, &sz))
		elf_file__read_vaddr(ef, addr, buf, sizeof(buf));
	if (!elf_file__find_section(ef, ".PyRuntime", &addr, &sz))
		elf_file__read_vaddr(ef, addr, buf, 8);
	elf_file__load_bias(ef, 0x400000, 0, &bias);
	elf_file__py_version_string(ef, buf, sizeof(buf));
	elf_file__close(ef);
	native_fuzz(fd2);
	return 0;
}
