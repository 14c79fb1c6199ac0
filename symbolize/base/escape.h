/* SPDX-License-Identifier: MIT */
/*
 * escape.h - writing untrusted strings (names and paths read from a
 * target) into JSON and XML without ever producing an invalid document,
 * and onto a terminal without it obeying them.
 *
 * Input is taken as UTF-8; a byte that does not start a well-formed
 * sequence (overlong, surrogate, past U+10FFFF, cut short) becomes U+FFFD,
 * because both formats require valid Unicode and one bad name must not
 * make a viewer reject the whole file.
 */
#ifndef PYSPY_OUTPUT_ESCAPE_H
#define PYSPY_OUTPUT_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Decode one character: bytes used (1-4), 0 at the terminating NUL. */
size_t utf8_next(const char *s, uint32_t *cp);

/* Characters in s, a bad byte counting as one. */
size_t utf8_len(const char *s);

/* Bytes taken by the first n characters of s (all of s if shorter). */
size_t utf8_prefix(const char *s, size_t n);

/* s as a JSON string literal, quotes included. */
void json_put_string(FILE *f, const char *s);

/* The first len bytes of s as XML character data, safe in attribute values too. */
void xml_put_text_n(FILE *f, const char *s, size_t len);
void xml_put_text(FILE *f, const char *s);

/*
 * s for a terminal: C0 controls, DEL and C1 controls (which can retitle a
 * window, clear the screen or move the cursor) as \xNN or \u00NN, a byte
 * that does not start well-formed UTF-8 as \xNN, the rest as it is.
 */
void term_put(FILE *f, const char *s);

/* s as one name of a folded line: the frame separator ';' and newlines as '_'. */
void folded_put(FILE *f, const char *s);

#endif /* PYSPY_OUTPUT_ESCAPE_H */
