/* SPDX-License-Identifier: MIT */
/* util.h - ids (UUIDv7), randomness, hashing, UTF-8 and number parsing, time formatting, durable
 * file writes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UUID_STR_LEN 36
#define UUID_STR_MAX (UUID_STR_LEN + 1)
#define SHA256_HEX_MAX 65
#define ISO_TIME_MAX 32

/* random_bytes() - fill @buf from the kernel CSPRNG (getrandom). Returns 0 or -errno. */
int random_bytes(void *buf, size_t n);

/*
 * uuid_v7() - a new RFC 9562 version 7 UUID in lower-case text form, ordered by @unix_ms.
 * Returns 0 or -errno (from the random source).
 */
int uuid_v7(uint64_t unix_ms, char buf[static UUID_STR_MAX]);

/* uuid_valid() - true for the canonical 8-4-4-4-12 lower-case hex form, any version. */
bool uuid_valid(const char *s);

/* fnv1a() - the 64-bit FNV-1a hash of string @s (for hash tables, not for security). */
uint64_t fnv1a(const char *s);

/* sha256_hex() - lower-case hex SHA-256 of @len bytes at @data into @out. Returns 0 or -EIO. */
int sha256_hex(const void *data, size_t len, char out[static SHA256_HEX_MAX]);

/* hex_encode() - @n bytes as lower-case hex into @out (2n+1 bytes). */
void hex_encode(const void *data, size_t n, char *out);

/* array_grow() - make room in the array *@arr (of *@cap elements of @size bytes) for one more
 * after its @n: doubles it (first @first). 0, or -ENOMEM with the array untouched. */
int array_grow(void **arr, size_t *cap, size_t n, size_t size, size_t first);

/* copy_text() - copy string @src (char or SQLite's unsigned char; NULL copies as "") into @dst
 * of @size bytes, cut short if needed, always terminated. What snprintf("%s") did, without
 * parsing a format: it sits on the merge's path for every change. */
void copy_text(char *dst, size_t size, const void *src);

/* utf8_valid() - true when @len bytes are well-formed UTF-8 with no NUL and no surrogates. */
bool utf8_valid(const char *s, size_t len);

/*
 * text_control_char() - the first control character in string @s that text may not hold
 * (docs/PROTOCOL.md "Text"): U+0001-U+001F except tab (U+0009) and newline (U+000A), and U+007F.
 * Carriage return is refused too: stored text ends lines with a newline alone. Returns the
 * character (1-127), or 0 when there is none. @s is borrowed; NULL has none.
 */
unsigned text_control_char(const char *s);

/* parse_u64() - a whole decimal string, no sign or spaces, into *ret. 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t *ret);

/* parse_i64() - a whole decimal string with optional '-' into *ret. 0 or -EINVAL/-ERANGE. */
int parse_i64(const char *s, int64_t *ret);

/* iso_time() - @unix_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into @buf. Returns buf. */
char *iso_time(uint64_t unix_ms, char buf[static ISO_TIME_MAX]);

/* date_valid() - true for a real calendar date "YYYY-MM-DD". */
bool date_valid(const char *s);

/* datetime_valid() - true for "YYYY-MM-DDTHH:MM[:SS[.fff]]" optionally followed by Z or ±HH:MM. */
bool datetime_valid(const char *s);
/* A datetime_valid() time in its parts, as written. */
struct iso_parts {
    int year, month, day, hour, minute, second, ms;
    bool zoned;     /* "Z" or an offset was given (else: the writer's local time) */
    int offset_s;   /* east of UTC, in seconds (0 for "Z" and for no zone) */
};

/* iso_time_split() - the parts of @s, the one date-time reader. 0, or -EINVAL when not
 * datetime_valid(). */
int iso_time_split(const char *s, struct iso_parts *ret);

/* iso_time_parse() - a datetime_valid() time as Unix ms in *ret_ms; *ret_zoned false when it has
 * no zone (then read as UTC). 0, -EINVAL when not valid, or -ERANGE before 1970. */
int iso_time_parse(const char *s, int64_t *ret_ms, bool *ret_zoned);

/*
 * file_write_atomic() - replace @path with @len bytes of @data, durably: written to a temporary
 * file beside it (".NAME.tmp", created with @mode, never through a symbolic link), fsynced,
 * renamed over @path, and the directory fsynced, so that after a crash @path holds either the old
 * content or the new, whole. Returns 0 or -errno (the temporary file is then removed).
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/*
 * file_write_sync() - write @len bytes of @data to @path (created with @mode, or truncated) and
 * fsync it: for a file the user names, written where they said (through a symbolic link, to a
 * pipe), not replaced. Returns 0 or -errno.
 */
int file_write_sync(const char *path, const void *data, size_t len, mode_t mode);
