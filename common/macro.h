/* SPDX-License-Identifier: MIT */
/* macro.h - cleanup attributes, ownership hand-over and small helpers used everywhere. */
#pragma once

#include <stdlib.h>

#define _cleanup_(f)           __attribute__((cleanup(f)))
#define _warn_unused_result_   __attribute__((warn_unused_result))
#define _noreturn_             __attribute__((noreturn))
#define _printf_(a, b)         __attribute__((format(printf, a, b)))
#define _unused_               __attribute__((unused))
#define ELEMENTSOF(x)          (sizeof(x) / sizeof((x)[0]))

/* TAKE_PTR(p): return p and set the variable to NULL, handing ownership to the caller. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _p_ = (p);                                                                   \
        (p) = NULL;                                                                                \
        _p_;                                                                                       \
    })

static inline void freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

#define streq(a, b) (strcmp((a), (b)) == 0)
