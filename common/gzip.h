/* SPDX-License-Identifier: MIT */
/* gzip.h - gzip content coding for the sync protocol (docs/PROTOCOL.md "Compression"): deflate
 * a body, inflate one with a hard limit on what it may grow to, and read Accept-Encoding. */
#pragma once

#include <stddef.h>

/*
 * The deflate level of every compressed body, replies and pushes alike. Measured on the 38 pull
 * pages (16.2 MiB of JSON) of a nurse's first sync from `caresyncd demo --profile load`:
 * level 1 13.5x at ~290 MB/s, level 3 14.1x at ~270 MB/s, level 4 15.0x at ~130 MB/s, level 6
 * 15.8x at ~85 MB/s. Levels 1-3 are zlib's fast strategy; from 4 on, lazy matching halves the
 * speed for 6-12% fewer bytes. The daemon deflates on its one event-loop thread for every device
 * at once and devices run on batteries, so the fastest strategy at its best ratio: 3.
 */
#define GZIP_LEVEL 3

/*
 * gzip_compress() - @len bytes at @data (borrowed) as one gzip member (RFC 1952) at deflate
 * @level (1-9). Returns 0 with the member in *ret (malloc'd; caller frees) and its size in
 * *ret_len, -EINVAL for a bad level, -E2BIG for input over 4 GiB, -ENOMEM, or -EIO. Never logs.
 */
int gzip_compress(const void *data, size_t len, int level, void **ret, size_t *ret_len);

/*
 * gzip_inflate() - decode @len bytes at @data (borrowed): exactly one complete gzip member and
 * nothing after it. At most @max bytes of output are ever produced or allocated (plus one), so a
 * small body that would inflate to gigabytes costs no more than @max.
 *
 * Returns 0 with the decoded bytes in *ret (malloc'd; caller frees) and their count in *ret_len;
 * -E2BIG as soon as the output would exceed @max; -EBADMSG when the input is not one valid,
 * complete member (bad header or data, wrong CRC or length, truncated, or bytes after it);
 * -ENOMEM. Outputs are written only on success. Never logs.
 */
int gzip_inflate(const void *data, size_t len, size_t max, void **ret, size_t *ret_len);

/*
 * gzip_accepted() - whether the value of an Accept-Encoding field (RFC 9110 12.5.3) lets the
 * reply be gzip-encoded: "gzip" (or "x-gzip") with a q-value above 0, or, when neither is named,
 * "*" with a q-value above 0. Codings, "q" and "*" are case-insensitive; q-values follow the
 * RFC's grammar (0 to 1, at most three decimals); empty list elements are allowed. A coding named
 * twice counts with its lowest q-value.
 *
 * Returns 1 (gzip allowed), 0 (not allowed; an empty value allows only identity) or -EBADMSG
 * when the value does not follow the grammar (the caller then sends identity). Never logs.
 */
int gzip_accepted(const char *value);
