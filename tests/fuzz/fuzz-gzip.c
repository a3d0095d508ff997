/* SPDX-License-Identifier: MIT */
/* fuzz-gzip.c - gzip inflation (common/gzip.c) on any bytes, with a small output limit so that
 * bombs are cut off; what inflates must deflate and inflate back to itself. The same bytes, as
 * text, go to the Accept-Encoding parser. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gzip.h"

#define FUZZ_GZIP_OUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *out = NULL, *z = NULL, *back = NULL;
    size_t n = 0, zn = 0, bn = 0;
    char *text;
    int r;

    r = gzip_inflate(data, size, FUZZ_GZIP_OUT_MAX, &out, &n);
    FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
    if (r == 0) {
        FUZZ_CHECK(n <= FUZZ_GZIP_OUT_MAX);
        FUZZ_CHECK(gzip_compress(out, n, 1 + (int)(size % 9), &z, &zn) == 0);
        FUZZ_CHECK(gzip_inflate(z, zn, n, &back, &bn) == 0);
        FUZZ_CHECK(bn == n && (n == 0 || memcmp(back, out, n) == 0));
        /* One byte less than the output is too little room. */
        if (n > 0) {
            void *none = NULL;
            size_t nn = 0;

            FUZZ_CHECK(gzip_inflate(z, zn, n - 1, &none, &nn) == -E2BIG && !none);
        }
    } else {
        FUZZ_CHECK(out == NULL);
    }
    free(out);
    free(z);
    free(back);

    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    r = gzip_accepted(text);
    FUZZ_CHECK(r == 0 || r == 1 || r == -EBADMSG);
    free(text);
    return 0;
}
