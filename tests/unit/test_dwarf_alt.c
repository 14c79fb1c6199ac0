// SPDX-License-Identifier: MIT
/*
 * test_dwarf_alt.c - a native object's DWARF never makes the agent open a
 * file it names.  An object (built here from assembly) whose
 * .gnu_debugaltlink names a FIFO, and whose compile unit keeps its
 * DW_AT_comp_dir in that "alt" file (DW_FORM_GNU_strp_alt, as dwz writes),
 * is asked for a line: libdw, which read lines before dwline.c, would
 * open(2) the named path on the agent's own filesystem, without O_NOCTTY
 * or O_NONBLOCK (so a tty, a device, or a FIFO that blocks forever: the
 * alarm ends the test).  The line comes out all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolize/native/object.h"
#include "unit.h"

/* f: a function with one line row; DWARF 4 with comp_dir in the alt file. */
static const char asm_text[] =
	"\t.text\n"
	"\t.globl f\n"
	"\t.type f,@function\n"
	"f:\n"
	"\tnop\n"
	"\tret\n"
	".Lf_end:\n"
	"\t.size f, .Lf_end - f\n"
	"\t.section .debug_abbrev,\"\",@progbits\n"
	".Labbrev:\n"
	"\t.uleb128 1\n"
	"\t.uleb128 0x11\n"   /* DW_TAG_compile_unit */
	"\t.byte 0\n"	      /* no children */
	"\t.uleb128 0x03\n"   /* DW_AT_name */
	"\t.uleb128 0x08\n"   /* DW_FORM_string */
	"\t.uleb128 0x1b\n"   /* DW_AT_comp_dir */
	"\t.uleb128 0x1f21\n" /* DW_FORM_GNU_strp_alt */
	"\t.uleb128 0x11\n"   /* DW_AT_low_pc */
	"\t.uleb128 0x01\n"   /* DW_FORM_addr */
	"\t.uleb128 0x12\n"   /* DW_AT_high_pc */
	"\t.uleb128 0x07\n"   /* DW_FORM_data8: a length */
	"\t.uleb128 0x10\n"   /* DW_AT_stmt_list */
	"\t.uleb128 0x17\n"   /* DW_FORM_sec_offset */
	"\t.byte 0, 0\n"
	"\t.byte 0\n"
	"\t.section .debug_info,\"\",@progbits\n"
	"\t.long .Linfo_end - .Linfo\n"
	".Linfo:\n"
	"\t.value 4\n"
	"\t.long .Labbrev\n"
	"\t.byte 8\n"
	"\t.uleb128 1\n"
	"\t.string \"alt.c\"\n"
	"\t.long 0\n" /* comp_dir: offset 0 of the alt file's .debug_str */
	"\t.quad f\n"
	"\t.quad .Lf_end - f\n"
	"\t.long .Lline\n"
	".Linfo_end:\n"
	"\t.section .debug_line,\"\",@progbits\n"
	".Lline:\n"
	"\t.long .Lline_end - .Lline_v\n"
	".Lline_v:\n"
	"\t.value 4\n"
	"\t.long .Lline_prog - .Lline_hdr\n"
	".Lline_hdr:\n"
	"\t.byte 1, 1, 1, -5, 14, 13\n"
	"\t.byte 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1\n"
	"\t.byte 0\n" /* no include directories */
	"\t.string \"alt.c\"\n"
	"\t.uleb128 0, 0, 0\n"
	"\t.byte 0\n"
	".Lline_prog:\n"
	"\t.byte 0, 9, 2\n" /* DW_LNE_set_address */
	"\t.quad f\n"
	"\t.byte 0x14\n" /* special opcode: line 1 + (-5 + (0x14 - 13) % 14) = 3 */
	"\t.byte 2\n"	 /* DW_LNS_advance_pc */
	"\t.uleb128 .Lf_end - f\n"
	"\t.byte 0, 1, 1\n" /* DW_LNE_end_sequence */
	".Lline_end:\n";

int main(void)
{
	char dir[] = "/tmp/pyspy-dwarf-alt-XXXXXX", path[256], fifo[256], cmd[768];
	struct native_object *o;
	const char *file = NULL;
	uint64_t addr = 0, size = 0;
	int fd, line = 0;
	FILE *f;

	/* An open of the FIFO would never return: that is the failure. */
	alarm(30);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(fifo, sizeof(fifo), "%s/alt.fifo", dir);
	CHECK(!mkfifo(fifo, 0600), "mkfifo: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/alt.s", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return unit_done("dwarf_alt");
	fputs(asm_text, f);
	/* The alt file's name, then its build-id (none has it). */
	fprintf(f, "\t.section .gnu_debugaltlink,\"\",@progbits\n\t.string \"%s\"\n", fifo);
	fprintf(f, "\t.byte 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, "
		   "14, 15, 16\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gcc -shared -nostdlib -o %s/alt.so %s", dir, path);
	CHECK(!system(cmd), "%s", cmd);
	snprintf(path, sizeof(path), "%s/alt.so", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "%s: %s", path, strerror(errno));
	o = fd >= 0 ? native_object__open(fd, 0, "alt.so") : NULL;
	CHECK(o != NULL, "native_object__open: %s", strerror(errno));
	if (o) {
		CHECK(!elf_file__find_symbol(native_object__elf(o), "f", &addr, &size) && size == 2,
		      "f at %#lx, size %lu", (unsigned long)addr, (unsigned long)size);
		CHECK(native_object__line(o, addr, &file, &line), "no line for f");
		CHECK(file && !strcmp(file, "alt.c") && line == 3, "%s:%d", file ? file : "-",
		      line);
		native_object__free(o);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
	return unit_done("dwarf_alt");
}
