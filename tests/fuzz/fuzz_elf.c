// SPDX-License-Identifier: MIT
/*
 * fuzz_elf.c - the ELF reader on any file: every lookup discovery makes
 * (symbols, the .PyRuntime section, bytes at an address, the load bias,
 * the version string in Py_GetVersion's code), from a memfd.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbolize/proc/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	struct elf_file *ef;
	uint64_t addr, sz, bias;
	char buf[64];

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	ef = elf_file__from_fd(fd);
	if (!ef)
		return 0;
	if (!elf_file__find_symbol(ef, "_PyRuntime", &addr, &sz))
		elf_file__read_vaddr(ef, addr, buf, sizeof(buf));
	if (!elf_file__find_section(ef, ".PyRuntime", &addr, &sz))
		elf_file__read_vaddr(ef, addr, buf, 8);
	elf_file__load_bias(ef, 0x400000, 0, &bias);
	elf_file__py_version_string(ef, buf, sizeof(buf));
	elf_file__close(ef);
	return 0;
}
