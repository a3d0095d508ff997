/* SPDX-License-Identifier: MIT */
/* bench_open.c - open the store a benchmark names (an SQLite file, a data directory or a
 * PostgreSQL URL), apart from bench_util.c so that programs without the store link without it. */
#include <string.h>

#include "bench.h"
#include "store.h"

struct store *bench_store_open(const char *where, bool create)
{
    char w[1024];
    struct store *s = NULL;
    int r;

    bench_store_where(where, w, sizeof(w));
    if (bench_store_is_url(w))
        r = store_open_url(w, &s, NULL);
    else
        r = store_open(w, create, &s);
    if (r < 0)
        bench_die("cannot open the store of %s: %s", where, strerror(-r));
    return s;
}
