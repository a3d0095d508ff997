/* SPDX-License-Identifier: MIT */
/* console.h - the coordinators' web console (docs/PROTOCOL.md, "The console"): static pages
 * compiled into the daemon and a JSON API under /console/api/, signed in with a password and a
 * TOTP code, sessions in cookies. It knows nothing of evhttp: http.c hands it a request as a
 * struct and sends the reply it fills in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct console;
struct console_sign_in_check;

#define CONSOLE_IDLE_S         (15 * 60)     /* default: a session unused this long ends */
#define CONSOLE_LIFETIME_S     (8 * 3600)    /* default: a session ends this long after sign-in */
#define CONSOLE_ACCOUNT_FAILS  5             /* failed sign-ins per account ... */
#define CONSOLE_ADDR_FAILS     20            /* ... and per client address ... */
#define CONSOLE_FAIL_WINDOW_S  (15 * 60)     /* ... per this many seconds */
#define CONSOLE_BODY_MAX       (64 * 1024)   /* a console request body */
#define CONSOLE_PASSWORD_MIN   10
#define CONSOLE_PASSWORD_MAX   128
#define CONSOLE_COOKIE         "__Host-caresync"

enum console_method {
    CONSOLE_GET,
    CONSOLE_HEAD,
    CONSOLE_POST,
    CONSOLE_OTHER,
};

/* One request, as http.c read it; every member borrowed, NULL when absent. */
struct console_request {
    enum console_method method;
    const char *path;
    const char *query;        /* without the '?' */
    const char *cookie;       /* the Cookie header */
    const char *csrf;         /* the X-CSRF-Token header */
    const char *origin;       /* the Origin header */
    const char *host;         /* the Host header */
    const char *content_type; /* the Content-Type header */
    const char *body;
    size_t body_len;
    const char *addr; /* the client's address */
    /* A sign-in's password, checked beforehand off the writer (console_sign_in_check_new());
     * NULL: console_handle() checks it itself. */
    const struct console_sign_in_check *check;
};

/* The reply console_handle() fills in; console_reply_done() frees what it owns. */
struct console_reply {
    int status;
    const char *content_type; /* static */
    const char *body;         /* body_len bytes; points into owned or at static data */
    size_t body_len;
    char *owned;
    char set_cookie[192];     /* "" for none */
    char location[96];        /* "" for none */
    char disposition[128];    /* Content-Disposition, "" for none */
    const char *allow;        /* 405: the Allow header */
    unsigned retry_after_s;   /* 429, 503: > 0 sends Retry-After */
};

/* Console options (caresyncd serve); zero members take the defaults. */
struct console_options {
    unsigned idle_s;
    unsigned lifetime_s;
    unsigned lock_after_days; /* the devices' lock policy, shown on the devices page (0: none) */
};

/* console_path() - true for the paths the console answers: "/console" and under it. */
bool console_path(const char *path);

/* console_new() - a console answering from @store (borrowed). NULL when out of memory. */
struct console *console_new(struct store *store, const struct console_options *o);
struct console *console_free(struct console *c);

/*
 * console_handle() - answer @rq in @rp (status, content type, body, cookie and the other
 * headers named there). Never fails: an error is a reply. The security headers every console
 * reply carries are console_headers().
 */
void console_handle(struct console *c, const struct console_request *rq,
                    struct console_reply *rp);
void console_reply_done(struct console_reply *rp);

/* console_uses_store() - whether console_handle() reads or writes the store for @rq (the API);
 * the pages compiled in do not. */
bool console_uses_store(const struct console_request *rq);

/*
 * console_sign_in_check_new() - for a sign-in request (else *ret = NULL), the account read
 * through @s (a read-only handle is enough) and the password verified against its Argon2id
 * hash, which takes about a second: done on a reader thread so that console_handle(), on the
 * writer, only throttles, checks the code and opens the session. Safe on any thread. 0 or
 * -ENOMEM. Free with console_sign_in_check_free().
 */
int console_sign_in_check_new(struct console *c, struct store *s, const struct console_request *rq,
                              struct console_sign_in_check **ret);
struct console_sign_in_check *console_sign_in_check_free(struct console_sign_in_check *k);

/* The headers, NULL-terminated name/value pairs, sent with every console reply: the strict
 * Content-Security-Policy and its company. */
extern const char *const console_headers[];

/* ---- credentials (console_auth.c), also used by `caresyncd user passwd` ---- */

/*
 * console_password_hash() - the Argon2id hash of @password in its PHC string form into @out
 * (@size bytes), with a fresh random salt. 0, -EINVAL for a password outside
 * CONSOLE_PASSWORD_MIN..MAX bytes, -ENOBUFS, -ENOMEM or -EIO.
 */
int console_password_hash(const char *password, char *out, size_t size);

/* console_password_verify() - 1 when @password matches the PHC string @hash, 0 when not. */
int console_password_verify(const char *hash, const char *password);

/* console_totp_secret_new() - a new random TOTP secret in base32 into @out (@size bytes). */
int console_totp_secret_new(char *out, size_t size);

/* console_totp_now() - the current code for base32 secret @secret, as 6 digits in @out. */
int console_totp_now(const char *secret, char out[static 8]);

/*
 * console_totp_check() - whether @code (6 digits) is the code of @secret at Unix time @now_s or
 * one step either side (a phone's clock a little off). 1 and the step it matched in *ret_step,
 * 0 when it matches none, -EINVAL for a secret that does not decode.
 */
int console_totp_check(const char *secret, const char *code, uint64_t now_s, int64_t *ret_step);

/* console_otpauth_uri() - the otpauth:// URI an authenticator app scans, for @user's @secret. */
int console_otpauth_uri(const char *user, const char *secret, char *out, size_t size);

/* console_qr_svg() - @text as a QR code in SVG (caller frees *ret). 0, -ENOMEM or -E2BIG. */
int console_qr_svg(const char *text, char **ret);
