/* SPDX-License-Identifier: MIT */
/* elf.c - ELF symbol, section and initialised-data lookup with libelf. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "elf.h"
#include "symbolize/base/fileopen.h"

/* Machine this tool runs on: a foreign ELF could not be one of our targets. */
#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#else
#error "unsupported architecture"
#endif

/* Bytes of Py_GetVersion searched for the PY_VERSION operand. */
#define VERSION_CODE_MAX 128
/* Longest PY_VERSION accepted, e.g. "3.10.0rc1+" is 10. */
#define VERSION_STR_MAX 32

/* Sections loaded (by libelf, or copied) per file: real files need about ten. */
#define LOADED_MAX 32

/* One load charged to a file: where its bytes are in the file, and how many we hold. */
struct loaded {
	uint64_t off, size; /* the stored bytes */
	size_t index;	    /* section index */
	bool libelf;	    /* libelf's copy (kept until close, charged once) */
};

struct elf_file {
	int fd;
	Elf *elf;
	int type;
	int machine;
	uint64_t size; /* of the file */
	/*
	 * The ledger: every load from this file, summed at the bytes it
	 * holds (inflated sizes for compressed sections), so that the same
	 * bytes named by many headers cost once and then are refused.
	 */
	struct loaded loaded[LOADED_MAX];
	unsigned n_loaded;
	uint64_t charged;
	struct elf_budget *budget; /* shared with other files, or NULL */
	const char *refused;	   /* the first refusal, for the caller's one line */
};

static int pread_full(int fd, void *buf, size_t len, uint64_t off);

static struct elf_file *open_fail(struct elf_file *ef, int err)
{
	elf_file__close(ef);
	errno = err;
	return NULL;
}

struct elf_file *elf_file__open(const char *path)
{
	/* Only a regular file is opened: a FIFO, tty or device at path never is. */
	int fd = fileopen_regular(path);

	if (fd < 0)
		return NULL;
	return elf_file__from_fd(fd);
}

/*
 * Before libelf sees the file: it allocates per section header (and per
 * program header) whatever count the ELF header claims, extended counts
 * included, as long as the table fits the file.
 */
static int check_counts(int fd, uint64_t size)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh0;
	uint64_t shnum, phnum;

	if (size < sizeof(eh) || pread_full(fd, &eh, sizeof(eh), 0))
		return -ENOEXEC;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64)
		return -ENOEXEC;
	shnum = eh.e_shnum;
	phnum = eh.e_phnum;
	if (eh.e_shoff && (!shnum || phnum == PN_XNUM)) {
		/* Extended numbering: the real counts are in section header 0. */
		if (eh.e_shoff > size || size - eh.e_shoff < sizeof(sh0) ||
		    pread_full(fd, &sh0, sizeof(sh0), eh.e_shoff))
			return -ENOEXEC;
		if (!shnum)
			shnum = sh0.sh_size;
		if (phnum == PN_XNUM)
			phnum = sh0.sh_info;
	}
	if (shnum > ELF_SECTIONS_MAX || phnum > ELF_SEGMENTS_MAX)
		return -E2BIG;
	return 0;
}

struct elf_file *elf_file__from_fd(int fd)
{
	struct elf_file *ef;
	GElf_Ehdr eh;
	struct stat st;
	int err;

	ef = calloc(1, sizeof(*ef));
	if (!ef) {
		close(fd);
		return NULL;
	}
	ef->fd = fd;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return open_fail(ef, ENOSYS);
	if (fstat(ef->fd, &st))
		return open_fail(ef, errno);
	if (!S_ISREG(st.st_mode))
		return open_fail(ef, ENOEXEC);
	/* Before libelf reads a byte: a target can plant a sparse file of any size. */
	if ((uint64_t)st.st_size > ELF_FILE_MAX)
		return open_fail(ef, EFBIG);
	ef->size = (uint64_t)st.st_size;
	err = check_counts(ef->fd, ef->size);
	if (err)
		return open_fail(ef, -err);
	/* ELF_C_READ reads sections lazily with pread: no SIGBUS on truncation. */
	ef->elf = elf_begin(ef->fd, ELF_C_READ, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF || !gelf_getehdr(ef->elf, &eh))
		return open_fail(ef, ENOEXEC);
	/* Callers read raw target memory as native words: only native ELFs. */
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != HOST_MACHINE)
		return open_fail(ef, ENOEXEC);
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return open_fail(ef, ENOEXEC);
	ef->type = eh.e_type;
	ef->machine = eh.e_machine;
	return ef;
}

void elf_file__close(struct elf_file *ef)
{
	if (!ef)
		return;
	/* What this file held is freed with it. */
	if (ef->budget)
		ef->budget->used -= ef->charged;
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->fd >= 0)
		close(ef->fd);
	free(ef);
}

int elf_file__type(const struct elf_file *ef)
{
	return ef->type;
}

const char *elf_file__refused(const struct elf_file *ef)
{
	return ef->refused;
}

uint64_t elf_file__loaded(const struct elf_file *ef)
{
	return ef->charged;
}

void elf_file__set_budget(struct elf_file *ef, struct elf_budget *b)
{
	if (ef->budget)
		ef->budget->used -= ef->charged;
	ef->budget = b;
	if (b)
		b->used += ef->charged;
}

static bool refuse(struct elf_file *ef, const char *why)
{
	if (!ef->refused)
		ef->refused = why;
	return false;
}

/*
 * May this section's bytes be loaded, holding `bytes` (its inflated size
 * when compressed)?  Its stored bytes must lie in the file and not
 * overlap another load's; the sum of loads stays under ELF_LOAD_MAX and
 * the shared budget.  libelf keeps a section's data until the file is
 * closed and loads it once, so its loads are charged once per section;
 * each copy we make is charged anew.
 */
static bool charge(struct elf_file *ef, size_t index, const GElf_Shdr *sh, uint64_t bytes,
		   bool libelf)
{
	uint64_t off = sh->sh_offset, size = sh->sh_type == SHT_NOBITS ? 0 : sh->sh_size;

	if (sh->sh_size > ELF_SECTION_MAX || bytes > ELF_SECTION_MAX)
		return refuse(ef, "a section over the size cap");
	if (size && (off > ef->size || size > ef->size - off))
		return false; /* not in the file: libelf would fail to read it */
	if (!size && !bytes)
		return true; /* nothing to hold */
	for (unsigned i = 0; i < ef->n_loaded; i++) {
		const struct loaded *l = &ef->loaded[i];

		if (l->index == index && (libelf ? l->libelf : false))
			return true;
		if (l->index != index && size && l->size && off < l->off + l->size &&
		    l->off < off + size)
			return refuse(ef, "section headers overlap");
	}
	if (ef->n_loaded == LOADED_MAX)
		return refuse(ef, "too many sections loaded");
	if (bytes > ELF_LOAD_MAX - ef->charged)
		return refuse(ef, "over the file's load cap");
	if (ef->budget && bytes > ef->budget->max - ef->budget->used)
		return refuse(ef, "over the load budget");
	ef->loaded[ef->n_loaded++] = (struct loaded){ off, size, index, libelf };
	ef->charged += bytes;
	if (ef->budget)
		ef->budget->used += bytes;
	return true;
}

/* May libelf load this section (its data, or as a string table)? */
static bool section_ok(struct elf_file *ef, Elf_Scn *scn, const GElf_Shdr *sh)
{
	return charge(ef, elf_ndxscn(scn), sh, sh->sh_type == SHT_NOBITS ? 0 : sh->sh_size, true);
}

/* The same for a section given by index, e.g. a string table. */
static bool section_index_ok(struct elf_file *ef, size_t index)
{
	Elf_Scn *scn = elf_getscn(ef->elf, index);
	GElf_Shdr sh;

	return scn && gelf_getshdr(scn, &sh) && section_ok(ef, scn, &sh);
}

static int scan_symtab(struct elf_file *ef, Elf_Scn *scn, const GElf_Shdr *sh, const char *name,
		       uint64_t *addr, uint64_t *size)
{
	size_t entsz = gelf_fsize(ef->elf, ELF_T_SYM, 1, EV_CURRENT);
	Elf_Data *data;
	size_t i, n;
	GElf_Sym sym;

	if (!section_ok(ef, scn, sh) || !section_index_ok(ef, sh->sh_link))
		return -ENOENT;
	data = elf_getdata(scn, NULL);
	if (!data || !entsz)
		return -ENOENT;
	n = data->d_size / entsz;
	for (i = 1; i < n; i++) {
		const char *s;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		if (sym.st_shndx == SHN_UNDEF || !sym.st_name)
			continue;
		/* elf_strptr checks the index against the string table. */
		s = elf_strptr(ef->elf, sh->sh_link, sym.st_name);
		if (!s || strcmp(s, name))
			continue;
		*addr = sym.st_value;
		*size = sym.st_size;
		return 0;
	}
	return -ENOENT;
}

static int find_symbol_in(struct elf_file *ef, Elf64_Word type, const char *name, uint64_t *addr,
			  uint64_t *size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type)
			continue;
		if (!scan_symtab(ef, scn, &sh, name, addr, size))
			return 0;
	}
	return -ENOENT;
}

int elf_file__find_symbol(struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size)
{
	/* .dynsym survives stripping; .symtab adds local symbols. */
	if (!find_symbol_in(ef, SHT_DYNSYM, name, addr, size))
		return 0;
	return find_symbol_in(ef, SHT_SYMTAB, name, addr, size);
}

Elf *elf_file__libelf(struct elf_file *ef)
{
	return ef->elf;
}

/* The next table of c->table_type with symbols to read, into c; false after the last. */
static bool next_symbol_table(struct elf_file *ef, struct elf_function_cursor *c)
{
	GElf_Shdr sh;

	c->data = NULL;
	while ((c->scn = elf_nextscn(ef->elf, c->scn))) {
		if (!gelf_getshdr(c->scn, &sh) || sh.sh_type != c->table_type)
			continue;
		if (!section_ok(ef, c->scn, &sh) || !section_index_ok(ef, sh.sh_link))
			continue;
		c->data = elf_getdata(c->scn, NULL);
		if (!c->data)
			continue;
		c->strtab = sh.sh_link;
		c->i = 1; /* entry 0 is the undefined symbol */
		c->n = c->data->d_size / gelf_fsize(ef->elf, ELF_T_SYM, 1, EV_CURRENT);
		return true;
	}
	c->done = true;
	return false;
}

bool elf_file__next_function(struct elf_file *ef, struct elf_function_cursor *c,
			     struct elf_function *fn)
{
	GElf_Sym sym;

	if (c->done || !gelf_fsize(ef->elf, ELF_T_SYM, 1, EV_CURRENT))
		return false;
	for (;;) {
		const char *name;
		int type;

		if ((!c->data || c->i >= c->n) && !next_symbol_table(ef, c))
			return false;
		if (!gelf_getsym(c->data, (int)c->i++, &sym)) {
			c->i = c->n; /* the rest of this table is unreadable too */
			continue;
		}
		type = GELF_ST_TYPE(sym.st_info);
		if (sym.st_shndx == SHN_UNDEF || !sym.st_name || !sym.st_value ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC))
			continue;
		name = elf_strptr(ef->elf, c->strtab, sym.st_name);
		if (!name || !*name)
			continue;
		*fn = (struct elf_function){ name, sym.st_value, sym.st_size };
		return true;
	}
}

/* The section header named name, if the file holds it. */
static Elf_Scn *section_named(struct elf_file *ef, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(ef->elf, &shstrndx) || !section_index_ok(ef, shstrndx))
		return NULL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		const char *s;

		if (!gelf_getshdr(scn, sh))
			continue;
		s = elf_strptr(ef->elf, shstrndx, sh->sh_name);
		if (s && !strcmp(s, name))
			return scn;
	}
	return NULL;
}

/* Are the section's bytes in the file? */
static bool in_file(const struct elf_file *ef, const GElf_Shdr *sh)
{
	return sh->sh_type != SHT_NOBITS && sh->sh_offset <= ef->size &&
	       sh->sh_size <= ef->size - sh->sh_offset;
}

bool elf_file__has_section(struct elf_file *ef, const char *name)
{
	GElf_Shdr sh;

	return section_named(ef, name, &sh) && sh.sh_size && in_file(ef, &sh);
}

/* A zlib stream that must inflate to exactly out_len bytes, and no more. */
static int inflate_exact(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	z_stream z = { 0 };
	int r;

	if (in_len > UINT32_MAX || out_len > UINT32_MAX)
		return -EFBIG;
	if (inflateInit(&z) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = out;
	z.avail_out = (uInt)out_len;
	r = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	return r == Z_STREAM_END && z.total_out == out_len ? 0 : -EBADMSG;
}

/*
 * Where a section's bytes are and what they inflate to: SHF_COMPRESSED
 * (an Elf64_Chdr, zlib only) or GNU's .zdebug_* ("ZLIB", then the size,
 * big-endian), else stored as is.  *skip: header bytes before the data.
 */
static int stored_form(struct elf_file *ef, const GElf_Shdr *sh, bool zdebug, uint64_t *out,
		       uint64_t *skip, bool *zlib)
{
	uint8_t hdr[sizeof(Elf64_Chdr)];

	*out = sh->sh_size;
	*skip = 0;
	*zlib = false;
	if (sh->sh_flags & SHF_COMPRESSED) {
		Elf64_Chdr ch;

		if (sh->sh_size < sizeof(ch) || pread_full(ef->fd, &ch, sizeof(ch), sh->sh_offset))
			return -EBADMSG;
		if (ch.ch_type != ELFCOMPRESS_ZLIB)
			return -ENOTSUP;
		*out = ch.ch_size;
		*skip = sizeof(ch);
		*zlib = true;
	} else if (zdebug) {
		if (sh->sh_size < 12 || pread_full(ef->fd, hdr, 12, sh->sh_offset) ||
		    memcmp(hdr, "ZLIB", 4))
			return -EBADMSG;
		*out = 0;
		for (int i = 4; i < 12; i++)
			*out = *out << 8 | hdr[i];
		*skip = 12;
		*zlib = true;
	}
	return 0;
}

int elf_file__section_copy(struct elf_file *ef, const char *name, size_t max, void **buf,
			   size_t *len)
{
	char zname[64];
	bool zdebug = false, zlib;
	uint64_t out, skip;
	uint8_t *stored = NULL;
	Elf_Scn *scn;
	GElf_Shdr sh;
	int err;

	scn = section_named(ef, name, &sh);
	/* GNU's older compressed form: .debug_line as .zdebug_line. */
	if (!scn && !strncmp(name, ".debug_", 7) &&
	    snprintf(zname, sizeof(zname), ".zdebug_%s", name + 7) < (int)sizeof(zname)) {
		scn = section_named(ef, zname, &sh);
		zdebug = true;
	}
	if (!scn || !in_file(ef, &sh))
		return -ENOENT;
	err = stored_form(ef, &sh, zdebug, &out, &skip, &zlib);
	if (err)
		return err;
	if (out > max)
		return -EFBIG;
	if (!charge(ef, elf_ndxscn(scn), &sh, out, false))
		return -E2BIG;
	*buf = malloc(out ? out : 1);
	if (zlib && *buf)
		stored = malloc(sh.sh_size - skip ? sh.sh_size - skip : 1);
	if (!*buf || (zlib && !stored)) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	if (zlib) {
		err = pread_full(ef->fd, stored, sh.sh_size - skip, sh.sh_offset + skip);
		if (!err)
			err = inflate_exact(stored, sh.sh_size - skip, *buf, out);
		free(stored);
	} else {
		err = pread_full(ef->fd, *buf, out, sh.sh_offset);
	}
	if (err) {
		free(*buf);
		*buf = NULL;
		return err;
	}
	*len = out;
	return 0;
}

int elf_file__build_id(struct elf_file *ef, uint8_t *buf, size_t cap)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !section_ok(ef, scn, &sh))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		/* gelf_getnote checks each note against the section. */
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			size_t n = nh.n_descsz < cap ? nh.n_descsz : cap;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((char *)data->d_buf + name_off, "GNU", 4) || !nh.n_descsz)
				continue;
			memcpy(buf, (char *)data->d_buf + desc_off, n);
			return (int)nh.n_descsz;
		}
	}
	return -ENOENT;
}

int elf_file__find_section(struct elf_file *ef, const char *name, uint64_t *addr, uint64_t *size)
{
	GElf_Shdr sh;

	if (!section_named(ef, name, &sh))
		return -ENOENT;
	*addr = sh.sh_addr;
	*size = sh.sh_size;
	return 0;
}

/*
 * The PT_LOAD whose file-backed part holds vaddr; *avail is how many bytes
 * from vaddr to the end of that part, *off the file offset of vaddr.
 */
bool elf_file__next_load(struct elf_file *ef, size_t *i, GElf_Phdr *ph)
{
	size_t phnum;

	if (elf_getphdrnum(ef->elf, &phnum))
		return false;
	while (*i < phnum)
		if (gelf_getphdr(ef->elf, (int)(*i)++, ph) && ph->p_type == PT_LOAD)
			return true;
	return false;
}

static int vaddr_to_off(struct elf_file *ef, uint64_t vaddr, uint64_t *off, uint64_t *avail)
{
	GElf_Phdr ph;

	for (size_t i = 0; elf_file__next_load(ef, &i, &ph);) {
		uint64_t delta;

		if (vaddr < ph.p_vaddr)
			continue;
		delta = vaddr - ph.p_vaddr;
		if (delta >= ph.p_filesz || ph.p_offset > UINT64_MAX - delta)
			continue;
		*off = ph.p_offset + delta;
		*avail = ph.p_filesz - delta;
		return 0;
	}
	return -ENOENT;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	if (off > (uint64_t)INT64_MAX - len)
		return -EINVAL;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO; /* headers promise more than the file holds */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int elf_file__read_vaddr(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
	uint64_t off, avail;
	int err;

	if (!len)
		return 0;
	err = vaddr_to_off(ef, vaddr, &off, &avail);
	if (err)
		return err;
	if (len > avail)
		return -ENOENT;
	return pread_full(ef->fd, buf, len, off);
}

static int find_load_bias(struct elf_file *ef, uint64_t map_start, uint64_t map_off, bool exact,
			  uint64_t *bias)
{
	uint64_t pgmask = ~((uint64_t)sysconf(_SC_PAGESIZE) - 1);
	GElf_Phdr ph;

	for (size_t i = 0; elf_file__next_load(ef, &i, &ph);) {
		uint64_t start = ph.p_offset & pgmask;

		if (exact && start != map_off)
			continue;
		if (!exact && (map_off < start ||
			       (map_off >= ph.p_offset && map_off - ph.p_offset >= ph.p_filesz)))
			continue;
		/* map_start maps file offset map_off, i.e. vaddr p_vaddr + map_off - p_offset. */
		*bias = map_start - (ph.p_vaddr + map_off - ph.p_offset);
		return 0;
	}
	return -ENOENT;
}

int elf_file__load_bias(struct elf_file *ef, uint64_t map_start, uint64_t map_off, uint64_t *bias)
{
	int err;

	/*
	 * A segment's first page may share a file page with the previous
	 * segment's tail (vaddr - offset differs between them), so prefer the
	 * segment that starts its mapping exactly at map_off; a mapping split
	 * by mprotect (RELRO) starts inside its segment instead.
	 */
	err = find_load_bias(ef, map_start, map_off, true, bias);
	if (err)
		err = find_load_bias(ef, map_start, map_off, false, bias);
	if (err)
		return err;
	if (ef->type == ET_EXEC)
		*bias = 0;
	return 0;
}

/* ^3\.[0-9]+\.[0-9]+[a-z0-9+]*$ */
static bool valid_py_version(const char *s)
{
	const char *p = s;
	int i;

	if (strncmp(p, "3.", 2))
		return false;
	p += 2;
	for (i = 0; i < 2; i++) {
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
		if (i == 0 && *p++ != '.')
			return false;
	}
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+'))
			return false;
	return true;
}

/* Read the NUL-terminated version string at vaddr and validate it. */
static int read_version_at(struct elf_file *ef, uint64_t vaddr, char *out)
{
	uint64_t off, avail;
	char s[VERSION_STR_MAX];
	size_t n;

	if (vaddr_to_off(ef, vaddr, &off, &avail))
		return -ENOENT;
	n = avail < sizeof(s) ? (size_t)avail : sizeof(s);
	if (pread_full(ef->fd, s, n, off))
		return -ENOENT;
	if (!memchr(s, '\0', n))
		return -ENOENT;
	if (!valid_py_version(s))
		return -ENOENT;
	strcpy(out, s);
	return 0;
}

/*
 * PY_VERSION is PyOS_snprintf's 4th argument, so it is loaded into %rcx:
 * `lea disp32(%rip),%rcx` (48 8d 0d) in PIC code, `mov $imm32,%ecx` (b9) in
 * non-PIE executables.  Scanning code bytes rather than instructions may hit
 * a false opcode, which the string check rejects.  Searching .rodata for the
 * string instead fails: the linker tail-merges it into longer strings.
 */
static int decode_version(struct elf_file *ef, uint64_t fn, const uint8_t *code, size_t n,
			  char *out)
{
	size_t i;

	for (i = 0; i + 5 <= n; i++) {
		uint64_t target;
		int32_t disp;

		if (i + 7 <= n && code[i] == 0x48 && code[i + 1] == 0x8d && code[i + 2] == 0x0d) {
			memcpy(&disp, code + i + 3, 4);
			target = fn + i + 7 + (uint64_t)(int64_t)disp;
		} else if (ef->type == ET_EXEC && code[i] == 0xb9) {
			uint32_t imm;

			memcpy(&imm, code + i + 1, 4);
			target = imm;
		} else {
			continue;
		}
		if (!read_version_at(ef, target, out))
			return 0;
	}
	return -ENOENT;
}

int elf_file__py_version_string(struct elf_file *ef, char *buf, size_t len)
{
	uint8_t code[VERSION_CODE_MAX];
	char s[VERSION_STR_MAX];
	uint64_t fn, size, off, avail;
	size_t n = sizeof(code);
	int err;

	if (ef->machine != EM_X86_64)
		return -ENOENT;
	err = elf_file__find_symbol(ef, "Py_GetVersion", &fn, &size);
	if (err)
		return err;
	if (size && size < n)
		n = (size_t)size;
	err = vaddr_to_off(ef, fn, &off, &avail);
	if (err)
		return err;
	if (avail < n)
		n = (size_t)avail;
	err = pread_full(ef->fd, code, n, off);
	if (err)
		return err;
	err = decode_version(ef, fn, code, n, s);
	if (err)
		return err;
	if (strlen(s) >= len)
		return -ERANGE;
	strcpy(buf, s);
	return 0;
}
