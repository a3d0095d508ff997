/* SPDX-License-Identifier: MIT */
/* console_int.h - private to daemon/console*.c: the console's state, a signed-in session, the
 * compiled-in files, the API's route table and the reply helpers. */
#pragma once

#include <pthread.h>

#include <cjson/cJSON.h>

#include "console.h"
#include "macro.h"
#include "store.h"
#include "util.h"

#define CONSOLE_SLOTS 256 /* accounts and addresses whose failed sign-ins are remembered */

/* Failed sign-ins allowed for one account or address, as a token bucket; key "" = free. */
struct console_fails {
    char key[STORE_NAME_MAX + 2];
    double tokens;
    int64_t at_ms; /* CLOCK_MONOTONIC of the last refill */
};

struct console {
    struct store *store; /* borrowed */
    unsigned idle_s, lifetime_s, lock_after_days;
    pthread_mutex_t dummy_lock; /* dummy_hash is made once, by whichever thread comes first */
    char dummy_hash[STORE_PHC_MAX];
    struct console_fails accounts[CONSOLE_SLOTS];
    struct console_fails addrs[CONSOLE_SLOTS];
};

/* The signed-in caller of an API request. */
struct console_session {
    struct store_console_session s;
    char id_hash[SHA256_HEX_MAX];
    struct store_principal p; /* for the store's coordinator calls: device = the server */
};

/* A file of web/, compiled in (web_gen.c, made by tools/gen-web.py). */
struct console_file {
    const char *name;
    const char *type;
    const unsigned char *data;
    size_t len;
};
extern const struct console_file console_files[];
extern const size_t console_n_files;

typedef void (*console_api_fn)(struct console *c, const struct console_request *rq,
                               const struct console_session *s, struct console_reply *rp);

enum console_who {
    CONSOLE_SIGNED_IN,   /* any console role */
    CONSOLE_COORDINATOR, /* coordinators */
    CONSOLE_ADMIN,       /* administrators */
};

struct console_route {
    const char *path; /* after /console/api/ */
    bool post;        /* POST (a change: CSRF checked) or GET */
    enum console_who who;
    const char *what; /* "see the devices", for a refusal */
    console_api_fn fn;
};

/* console_route_find() - the route of @path (after /console/api/), or NULL. */
const struct console_route *console_route_find(const char *path);

void console_api_session(struct console *c, const struct console_request *rq,
                         const struct console_session *s, struct console_reply *rp);
void console_api_sign_out(struct console *c, const struct console_request *rq,
                          const struct console_session *s, struct console_reply *rp);

/* Replies: JSON (@body borrowed; NULL means out of memory), an error in the /v1 shape, a store
 * failure (503 busy / disk full, else 500, logged). */
void console_reply_json(struct console_reply *rp, int status, const cJSON *body);
_printf_(4, 5) void console_reply_error(struct console_reply *rp, int status, const char *code,
                                        const char *fmt, ...);
void console_reply_store_failure(struct console_reply *rp, int r, const char *what);

/* The request body as a JSON object (application/json), or replies and returns < 0. */
int console_body(const struct console_request *rq, cJSON **ret, struct console_reply *rp);
/* A string member: see console.c. */
int console_member(const cJSON *o, const char *key, bool required, size_t max, const char **ret,
                   struct console_reply *rp);

/* A growing buffer for a reply made in pieces (CSV); data is malloc'd, caller frees. */
struct console_buf {
    char *data;
    size_t len, cap;
};
/* console_buf_put() - append @n bytes (up to 8 MiB in all). 0, -ENOMEM or -E2BIG. */
int console_buf_put(struct console_buf *b, const char *p, size_t n);
