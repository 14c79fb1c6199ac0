// SPDX-License-Identifier: MIT
/* escape.c - JSON and XML escaping of untrusted UTF-8 (see escape.h). */
#include <string.h>

#include "escape.h"

#define REPLACEMENT 0xfffd

static int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* Bounds for the second byte of each lead byte, per RFC 3629's table. */
static size_t seq_len(unsigned char c, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			*lo = 0xa0; /* no overlongs */
		if (c == 0xed)
			*hi = 0x9f; /* no surrogates */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			*lo = 0x90;
		if (c == 0xf4)
			*hi = 0x8f; /* nothing past U+10FFFF */
		return 4;
	}
	return 0;
}

size_t utf8_next(const char *str, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo, hi;
	size_t n, i;

	if (!s[0]) {
		*cp = 0;
		return 0;
	}
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	n = seq_len(s[0], &lo, &hi);
	if (!n || s[1] < lo || s[1] > hi)
		goto bad;
	for (i = 2; i < n; i++)
		if (!is_cont(s[i]))
			goto bad;
	*cp = s[0] & (0xff >> (n + 1));
	for (i = 1; i < n; i++)
		*cp = *cp << 6 | (s[i] & 0x3f);
	return n;
bad:
	*cp = REPLACEMENT;
	return 1;
}

size_t utf8_len(const char *s)
{
	size_t n = 0, k;
	uint32_t cp;

	while ((k = utf8_next(s, &cp))) {
		s += k;
		n++;
	}
	return n;
}

size_t utf8_prefix(const char *s, size_t n)
{
	size_t off = 0, k;
	uint32_t cp;

	while (n-- && (k = utf8_next(s + off, &cp)))
		off += k;
	return off;
}

/* The escapes of ASCII characters that have one: JSON's short ones, XML's entities. */
static const char *const json_escapes[128] = {
	['"'] = "\\\"", ['\\'] = "\\\\", ['\b'] = "\\b", ['\f'] = "\\f",
	['\n'] = "\\n", ['\r'] = "\\r",	 ['\t'] = "\\t",
};
static const char *const xml_entities[128] = {
	['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&apos;",
};

/* cp's escape in one of those tables, or NULL. */
static const char *escape_of(const char *const table[128], uint32_t cp)
{
	return cp < 128 ? table[cp] : NULL;
}

void json_put_string(FILE *f, const char *s)
{
	const char *e;
	size_t k;
	uint32_t cp;

	fputc('"', f);
	for (; (k = utf8_next(s, &cp)); s += k) {
		e = escape_of(json_escapes, cp);
		if (e)
			fputs(e, f);
		else if (cp < 0x20 || cp == REPLACEMENT)
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(s, 1, k, f); /* valid UTF-8 passes as is */
	}
	fputc('"', f);
}

/* XML 1.0 forbids most C0 controls even as character references. */
static int xml_char_ok(uint32_t cp)
{
	return cp == '\t' || cp == '\n' || cp == '\r' ||
	       (cp >= 0x20 && cp != 0xfffe && cp != 0xffff);
}

void xml_put_text_n(FILE *f, const char *s, size_t len)
{
	const char *end = s + len, *e;
	size_t k;
	uint32_t cp;

	for (; s < end && (k = utf8_next(s, &cp)); s += k) {
		if (s + k > end)
			break; /* never emit half a character */
		e = escape_of(xml_entities, cp);
		if (e)
			fputs(e, f);
		else if (!xml_char_ok(cp))
			fputs("&#65533;", f);
		else if (cp < 0x20 || cp == REPLACEMENT)
			fprintf(f, "&#%u;", cp); /* tab, newline, CR survive as references */
		else
			fwrite(s, 1, k, f);
	}
}

void xml_put_text(FILE *f, const char *s)
{
	xml_put_text_n(f, s, strlen(s));
}

void term_put(FILE *f, const char *s)
{
	size_t k;
	uint32_t cp;

	while ((k = utf8_next(s, &cp))) {
		if (k == 1 && (unsigned char)*s >= 0x80)
			fprintf(f, "\\x%02x", (unsigned char)*s); /* not UTF-8 */
		else if (cp < 0x20 || cp == 0x7f)
			fprintf(f, "\\x%02x", cp);
		else if (cp >= 0x80 && cp <= 0x9f)
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(s, 1, k, f);
		s += k;
	}
}

void folded_put(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s == ';' || *s == '\n' ? '_' : *s, f);
}
