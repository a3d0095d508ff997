/* SPDX-License-Identifier: MIT */
/* console.c - the coordinators' web console: routing, the pages compiled in from web/, the
 * security headers, sign-in (password, TOTP code, throttling, audit), sessions and CSRF. The
 * data endpoints are in console_api.c. docs/PROTOCOL.md, "The console". */
#include "console.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "console_int.h"
#include "hlc.h"
#include "log.h"
#include "macro.h"
#include "store.h"
#include "util.h"
#include "wire.h"

const char *const console_headers[] = {
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'",
        "X-Content-Type-Options", "nosniff",
        "Referrer-Policy", "no-referrer",
        "X-Frame-Options", "DENY",
        "Cross-Origin-Opener-Policy", "same-origin",
        "Strict-Transport-Security", "max-age=31536000",
        NULL,
};

bool console_path(const char *path)
{
    return streq(path, "/console") || strncmp(path, "/console/", 9) == 0;
}

/* ---- replies ---- */

void console_reply_done(struct console_reply *rp)
{
    free(rp->owned);
    rp->owned = NULL;
}

void console_reply_json(struct console_reply *rp, int status, const cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);

    console_reply_done(rp);
    rp->status = text ? status : 500;
    rp->content_type = "application/json";
    rp->owned = text;
    rp->body = text ? text : "{\"error\":{\"code\":\"internal_error\",\"message\":\"the server "
                             "ran out of memory; try again\"}}";
    rp->body_len = strlen(rp->body);
}

void console_reply_error(struct console_reply *rp, int status, const char *code, const char *fmt,
                         ...)
{
    _cleanup_json_ cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_CreateObject();
    char message[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (!root || !err || !cJSON_AddItemToObject(root, "error", err)) {
        cJSON_Delete(err);
        console_reply_json(rp, 500, NULL);
        return;
    }
    if (!cJSON_AddStringToObject(err, "code", code) ||
        !cJSON_AddStringToObject(err, "message", message)) {
        console_reply_json(rp, 500, NULL);
        return;
    }
    console_reply_json(rp, status, root);
}

void console_reply_store_failure(struct console_reply *rp, int r, const char *what)
{
    if (r == -EBUSY || r == -ENOSPC) {
        rp->retry_after_s = r == -EBUSY ? 1 : 60;
        console_reply_error(rp, 503, r == -EBUSY ? "busy" : "storage_full",
                            "the server is %s; nothing was changed; try again in a moment",
                            r == -EBUSY ? "busy" : "out of disk space");
        return;
    }
    log_error("console: %s failed: %s", what, strerror(-r));
    console_reply_error(rp, 500, "internal_error",
                        "the server failed while %s; nothing was changed; try again, and tell "
                        "IT if it goes on", what);
}

int console_buf_put(struct console_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > 8u * 1024 * 1024)
        return -E2BIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *d = realloc(b->data, cap);

        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* ---- static files (web/, compiled in by tools/gen-web.py) ---- */

static const struct console_file *file_find(const char *name)
{
    for (size_t i = 0; i < console_n_files; i++)
        if (streq(console_files[i].name, name))
            return &console_files[i];
    return NULL;
}

static void reply_file(struct console_reply *rp, const char *name)
{
    const struct console_file *f = file_find(name);

    if (!f) {
        console_reply_error(rp, 404, "not_found", "no such page; go to /console/");
        return;
    }
    rp->status = 200;
    rp->content_type = f->type;
    rp->body = (const char *)f->data;
    rp->body_len = f->len;
}

/* ---- throttling: token buckets of failed sign-ins per account and per address ---- */

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The slot of @key in @slots, refilled to now; a new one takes a free or a full slot (a key
 * whose allowance has refilled has nothing to remember), else the one refilled longest ago. */
static struct console_fails *fails_slot(struct console_fails *slots, const char *key,
                                        unsigned fails, int64_t now)
{
    struct console_fails *pick = NULL;

    for (size_t i = 0; i < CONSOLE_SLOTS; i++) {
        struct console_fails *f = &slots[i];

        if (f->key[0]) {
            double refill = (double)(now - f->at_ms) * fails / (CONSOLE_FAIL_WINDOW_S * 1000.0);

            f->tokens = f->tokens + refill > fails ? fails : f->tokens + refill;
            f->at_ms = now;
            if (streq(f->key, key))
                return f;
            if (f->tokens >= fails)
                f->key[0] = '\0';
        }
        if (!f->key[0] && !pick)
            pick = f;
    }
    if (!pick) {
        pick = &slots[0];
        for (size_t i = 1; i < CONSOLE_SLOTS; i++)
            if (slots[i].tokens > pick->tokens)
                pick = &slots[i];
    }
    copy_text(pick->key, sizeof(pick->key), key);
    pick->tokens = fails;
    pick->at_ms = now;
    return pick;
}

/* Seconds until @f has one failure's allowance again (0: now). */
static unsigned fails_wait_s(const struct console_fails *f, unsigned fails)
{
    double need = 1.0 - f->tokens;

    if (need <= 0)
        return 0;
    return (unsigned)(need * CONSOLE_FAIL_WINDOW_S / fails) + 1;
}

/* ---- sessions ---- */

/* The session cookie's value in @cookie: 64 hex digits, or false. */
static bool cookie_token(const char *cookie, char ret[static 65])
{
    static const char name[] = CONSOLE_COOKIE "=";
    const char *p = cookie;

    while (p && *p) {
        p += strspn(p, " \t;");
        if (strncmp(p, name, sizeof(name) - 1) == 0) {
            p += sizeof(name) - 1;
            if (strspn(p, "0123456789abcdef") != 64 || (p[64] && p[64] != ';' && p[64] != ' '))
                return false;
            memcpy(ret, p, 64);
            ret[64] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

static void set_cookie(struct console_reply *rp, const char *token, unsigned max_age_s)
{
    snprintf(rp->set_cookie, sizeof(rp->set_cookie),
             CONSOLE_COOKIE "=%s; Path=/; Max-Age=%u; Secure; HttpOnly; SameSite=Strict",
             token, max_age_s);
}

/*
 * The request's session: 0 and *ret, or replies (401 not signed in / session ended) and
 * returns a negative errno. The reply also clears a cookie that no longer names a session.
 */
static int session_of(struct console *c, const struct console_request *rq,
                      struct console_session *ret, struct console_reply *rp)
{
    char token[65], hash[SHA256_HEX_MAX];
    int r;

    if (!rq->cookie || !cookie_token(rq->cookie, token)) {
        console_reply_error(rp, 401, "not_signed_in", "you are not signed in; sign in at "
                                                      "/console/sign-in");
        return -EACCES;
    }
    r = sha256_hex(token, 64, hash);
    explicit_bzero(token, sizeof(token));
    if (r < 0) {
        console_reply_store_failure(rp, r, "checking the session");
        return r;
    }
    r = store_console_session_get(c->store, hash, (int64_t)hlc_wall_ms(),
                                  (int64_t)c->idle_s * 1000, (int64_t)c->lifetime_s * 1000,
                                  &ret->s);
    if (r == -ENOENT || r == -ETIMEDOUT) {
        set_cookie(rp, "", 0);
        console_reply_error(rp, 401, r == -ENOENT ? "not_signed_in" : "session_expired",
                            r == -ENOENT ? "you are not signed in; sign in at /console/sign-in"
                                         : "your session has ended; sign in again");
        return -EACCES;
    }
    if (r < 0) {
        console_reply_store_failure(rp, r, "checking the session");
        return r;
    }
    memcpy(ret->id_hash, hash, sizeof(hash));
    ret->p = (struct store_principal){.user_id = ret->s.user_id};
    copy_text(ret->p.user, sizeof(ret->p.user), ret->s.user);
    copy_text(ret->p.role, sizeof(ret->p.role), ret->s.role);
    /* The console's writes are the server's own, made for this user. */
    copy_text(ret->p.device_id, sizeof(ret->p.device_id), store_node_id(c->store));
    return 0;
}

/* A change must come from this console's own page: the session's CSRF token in X-CSRF-Token,
 * a JSON body, and (when the browser says) this origin. 0, or replies 403/415. */
static int change_allowed(const struct console_request *rq, const struct console_session *s,
                          struct console_reply *rp)
{
    if (!rq->csrf || strlen(rq->csrf) != strlen(s->s.csrf) ||
        CRYPTO_memcmp(rq->csrf, s->s.csrf, strlen(s->s.csrf)) != 0) {
        console_reply_error(rp, 403, "csrf",
                            "this change did not come from the console's page (its CSRF token "
                            "is missing or wrong); reload the page and try again");
        return -EPERM;
    }
    return 0;
}

/* The Origin, when the browser sent one, must be this server. 0, or replies 403. */
static int same_origin(const struct console_request *rq, struct console_reply *rp)
{
    char want[300];

    if (!rq->origin)
        return 0;
    if (rq->host && (size_t)snprintf(want, sizeof(want), "https://%s", rq->host) < sizeof(want) &&
        streq(rq->origin, want))
        return 0;
    console_reply_error(rp, 403, "cross_origin",
                        "this request came from another site's page; open the console at its "
                        "own address");
    return -EPERM;
}

/* Parse the body as a JSON object: 0 and *ret, or replies 400/415 and a negative errno. */
int console_body(const struct console_request *rq, cJSON **ret, struct console_reply *rp)
{
    cJSON *root;

    if (!rq->content_type || strncasecmp(rq->content_type, "application/json", 16) != 0 ||
        (rq->content_type[16] && rq->content_type[16] != ';')) {
        console_reply_error(rp, 415, "unsupported_media_type",
                            "send the request as application/json");
        return -EBADMSG;
    }
    root = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->body_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        console_reply_error(rp, 400, "malformed_json", "the request is not a JSON object");
        return -EBADMSG;
    }
    *ret = root;
    return 0;
}

/* Member @key of @o as a string of 1..@max bytes without control characters: 0 and *ret,
 * or (when @required or present but bad) replies 400 and returns -EBADMSG; absent and not
 * required: 0 and *ret NULL. */
int console_member(const cJSON *o, const char *key, bool required, size_t max, const char **ret,
                   struct console_reply *rp)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    size_t n;

    *ret = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (!required)
            return 0;
        console_reply_error(rp, 400, "missing_field", "'%s' is required", key);
        return -EBADMSG;
    }
    if (!cJSON_IsString(v) || !(n = strlen(v->valuestring)) || n > max ||
        !utf8_valid(v->valuestring, n)) {
        console_reply_error(rp, 400, "bad_field", "'%s' must be text of 1 to %zu bytes", key,
                            max);
        return -EBADMSG;
    }
    if (text_control_char(v->valuestring)) {
        console_reply_error(rp, 400, "bad_field",
                            "'%s' holds a control character; remove it (tabs and new lines "
                            "are fine)", key);
        return -EBADMSG;
    }
    *ret = v->valuestring;
    return 0;
}

/* ---- sign-in, sign-out, session ---- */

/* A hash of a random password no one knows, verified against for unknown users. Made at the
 * first sign-in rather than at start: Argon2id's work would slow every start of the daemon. */
static int dummy_hash(struct console *c)
{
    char pw[40];
    uint8_t raw[16];
    int r = 0;

    pthread_mutex_lock(&c->dummy_lock);
    if (!c->dummy_hash[0]) {
        r = random_bytes(raw, sizeof(raw));
        if (r >= 0) {
            hex_encode(raw, sizeof(raw), pw);
            r = console_password_hash(pw, c->dummy_hash, sizeof(c->dummy_hash));
        }
    }
    pthread_mutex_unlock(&c->dummy_lock);
    return r;
}

/* What a sign-in's account and password came to (console_sign_in_check_new()). */
struct console_sign_in_check {
    int r;  /* store_staff_login_get(): 0, -ENOENT, or -errno (dummy_hash() too) */
    int ok; /* the password matched the account's hash (or the dummy's: never) */
    struct store_staff_login l;
};

/* Read @user's account through @s and verify @password: the same work whether or not the
 * account exists, so that no timing tells which names do. */
static void sign_in_check(struct console *c, struct store *s, const char *user,
                          const char *password, struct console_sign_in_check *k)
{
    k->r = dummy_hash(c);
    if (k->r >= 0)
        k->r = store_staff_login_get(s, user, &k->l);
    if (k->r < 0 && k->r != -ENOENT)
        return;
    k->ok = console_password_verify(k->r == 0 && k->l.has_login ? k->l.password_hash
                                                                : c->dummy_hash,
                                    password);
}

static bool is_sign_in(const struct console_request *rq)
{
    return rq->method == CONSOLE_POST && streq(rq->path, "/console/api/sign-in");
}

bool console_uses_store(const struct console_request *rq)
{
    return strncmp(rq->path, "/console/api/", 13) == 0;
}

int console_sign_in_check_new(struct console *c, struct store *s, const struct console_request *rq,
                              struct console_sign_in_check **ret)
{
    _cleanup_json_ cJSON *body = NULL;
    struct console_reply scratch = {0};
    const char *user, *password;
    struct console_sign_in_check *k;

    *ret = NULL;
    /* A body that does not parse is refused by console_handle() with its own words. */
    if (!is_sign_in(rq) || console_body(rq, &body, &scratch) < 0 ||
        console_member(body, "user", true, STORE_NAME_MAX, &user, &scratch) < 0 ||
        console_member(body, "password", true, CONSOLE_PASSWORD_MAX, &password, &scratch) < 0) {
        console_reply_done(&scratch);
        return 0;
    }
    k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    sign_in_check(c, s, user, password, k);
    *ret = k;
    return 0;
}

struct console_sign_in_check *console_sign_in_check_free(struct console_sign_in_check *k)
{
    if (k) {
        explicit_bzero(k, sizeof(*k));
        free(k);
    }
    return NULL;
}

/* Audit a failed sign-in (the reason the user is not told) and charge it to both buckets. */
static void sign_in_failed(struct console *c, const struct console_request *rq,
                           const char *user, int64_t user_id, const char *reason,
                           struct console_fails *acct, struct console_fails *addr)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    int r;

    acct->tokens = acct->tokens >= 1.0 ? acct->tokens - 1.0 : 0.0;
    addr->tokens = addr->tokens >= 1.0 ? addr->tokens - 1.0 : 0.0;
    if (!d || wire_add_string(d, "user", user) < 0 || wire_add_string(d, "addr", rq->addr) < 0 ||
        wire_add_string(d, "reason", reason) < 0)
        r = -ENOMEM;
    else
        r = store_console_audit(c->store, "console_sign_in_failed", user_id, d);
    if (r < 0)
        log_error("console: auditing a failed sign-in by '%s' failed: %s", user, strerror(-r));
    log_info("console: sign-in refused for '%s' from %s: %s", user, rq->addr ? rq->addr : "-",
             reason);
}

static void session_reply(struct console *c, const struct console_session *s,
                          struct console_reply *rp, int status)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();

    if (!o || wire_add_string(o, "user", s->s.user) < 0 ||
        wire_add_string(o, "role", s->s.role) < 0 || wire_add_string(o, "csrf", s->s.csrf) < 0 ||
        !cJSON_AddNumberToObject(o, "idle_timeout_s", c->idle_s) ||
        !cJSON_AddNumberToObject(o, "lifetime_s", c->lifetime_s) ||
        !cJSON_AddNumberToObject(o, "expires_in_s",
                                 (double)(s->s.created_ms / 1000 + c->lifetime_s) -
                                         (double)(hlc_wall_ms() / 1000)) ||
        !cJSON_AddBoolToObject(o, "admin", streq(s->s.role, "admin"))) {
        console_reply_json(rp, 500, NULL);
        return;
    }
    console_reply_json(rp, status, o);
}

static void api_sign_in(struct console *c, const struct console_request *rq,
                        struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL;
    const char *user, *password, *code;
    struct console_sign_in_check k = {0};
    struct store_staff_login l;
    struct console_fails *acct, *addr;
    struct console_session s = {0};
    char token[65], hash[SHA256_HEX_MAX];
    uint8_t raw[32];
    unsigned wait;
    int64_t now = monotonic_ms(), step = 0;
    int r, ok;

    if (same_origin(rq, rp) < 0 || console_body(rq, &body, rp) < 0 ||
        console_member(body, "user", true, STORE_NAME_MAX, &user, rp) < 0 ||
        console_member(body, "password", true, CONSOLE_PASSWORD_MAX, &password, rp) < 0 ||
        console_member(body, "code", true, 16, &code, rp) < 0)
        return;
    acct = fails_slot(c->accounts, user, CONSOLE_ACCOUNT_FAILS, now);
    addr = fails_slot(c->addrs, rq->addr ? rq->addr : "-", CONSOLE_ADDR_FAILS, now);
    wait = fails_wait_s(acct, CONSOLE_ACCOUNT_FAILS);
    if (fails_wait_s(addr, CONSOLE_ADDR_FAILS) > wait)
        wait = fails_wait_s(addr, CONSOLE_ADDR_FAILS);
    if (wait > 0) {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();

        if (d && wire_add_string(d, "user", user) >= 0 && wire_add_string(d, "addr", rq->addr) >= 0 &&
            wire_add_string(d, "reason", "throttled") >= 0)
            (void)store_console_audit(c->store, "console_sign_in_failed", 0, d);
        rp->retry_after_s = wait;
        console_reply_error(rp, 429, "too_many_attempts",
                            "too many failed sign-ins; wait %u minutes, then try again (or ask "
                            "an administrator to reset your password)", (wait + 59) / 60);
        return;
    }
    /* Checked already off the writer (http.c), or here. */
    if (rq->check) {
        k = *rq->check;
    } else {
        sign_in_check(c, c->store, user, password, &k);
    }
    r = k.r;
    l = k.l;
    ok = k.ok;
    explicit_bzero(&k, sizeof(k));
    if (r < 0 && r != -ENOENT) {
        console_reply_store_failure(rp, r, "signing in");
        return;
    }
    if (r == -ENOENT || !l.has_login || !ok || l.disabled) {
        sign_in_failed(c, rq, user, r == 0 ? l.user_id : 0,
                       r == -ENOENT     ? "no such user"
                       : !l.has_login   ? "no console password set"
                       : !ok            ? "wrong password"
                                        : "account disabled",
                       acct, addr);
        console_reply_error(rp, 401, "sign_in_failed",
                            "the user name, password or code is wrong; check them and try again");
        return;
    }
    ok = console_totp_check(l.totp_secret, code, (uint64_t)time(NULL), &step);
    if (ok > 0)
        ok = store_staff_totp_use(c->store, l.user_id, step);
    if (ok < 0) {
        console_reply_store_failure(rp, ok, "signing in");
        return;
    }
    if (ok == 0) {
        sign_in_failed(c, rq, user, l.user_id, "wrong or reused code", acct, addr);
        console_reply_error(rp, 401, "sign_in_failed",
                            "the user name, password or code is wrong; check them and try again "
                            "(each code works once: wait for the next one)");
        return;
    }
    if (!store_role_is_coordinator(l.role) && !streq(l.role, "admin")) {
        sign_in_failed(c, rq, user, l.user_id, "field role", acct, addr);
        console_reply_error(rp, 403, "field_role",
                            "the console is for coordinators and administrators; as %s, use the "
                            "caresync app on your device", l.role);
        return;
    }
    r = random_bytes(raw, sizeof(raw));
    if (r >= 0) {
        hex_encode(raw, sizeof(raw), token);
        r = sha256_hex(token, 64, hash);
    }
    if (r >= 0)
        r = random_bytes(raw, sizeof(raw));
    if (r >= 0) {
        hex_encode(raw, sizeof(raw), s.s.csrf);
        r = store_console_session_new(c->store, l.user_id, hash, s.s.csrf, rq->addr,
                                      (int64_t)hlc_wall_ms());
    }
    explicit_bzero(raw, sizeof(raw));
    if (r < 0) {
        explicit_bzero(token, sizeof(token));
        console_reply_store_failure(rp, r, "signing in");
        return;
    }
    /* A good sign-in forgives this account's failures, not the address's. */
    acct->tokens = CONSOLE_ACCOUNT_FAILS;
    set_cookie(rp, token, c->lifetime_s);
    explicit_bzero(token, sizeof(token));
    s.s.user_id = l.user_id;
    s.s.created_ms = (int64_t)hlc_wall_ms();
    copy_text(s.s.user, sizeof(s.s.user), l.user);
    copy_text(s.s.role, sizeof(s.s.role), l.role);
    log_info("console: %s signed in from %s", l.user, rq->addr ? rq->addr : "-");
    session_reply(c, &s, rp, 200);
}

void console_api_sign_out(struct console *c, const struct console_request *rq,
                          const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *o = NULL;
    int r = store_console_session_end(c->store, s->id_hash);

    if (r < 0 && r != -ENOENT) {
        console_reply_store_failure(rp, r, "signing out");
        return;
    }
    log_info("console: %s signed out", s->s.user);
    set_cookie(rp, "", 0);
    o = cJSON_CreateObject();
    if (o && !cJSON_AddBoolToObject(o, "signed_out", true))
        cJSON_Delete(TAKE_PTR(o));
    console_reply_json(rp, 200, o);
}

void console_api_session(struct console *c, const struct console_request *rq,
                         const struct console_session *s, struct console_reply *rp)
{
    session_reply(c, s, rp, 200);
}

/* ---- routing ---- */

static void method_not_allowed(struct console_reply *rp, const char *allow)
{
    rp->allow = allow;
    console_reply_error(rp, 405, "method_not_allowed", "use %s here", allow);
}

static void handle_page(const struct console_request *rq, struct console_reply *rp)
{
    const char *p = rq->path;

    if (rq->method != CONSOLE_GET && rq->method != CONSOLE_HEAD) {
        method_not_allowed(rp, "GET");
        return;
    }
    if (streq(p, "/console")) {
        rp->status = 303;
        snprintf(rp->location, sizeof(rp->location), "/console/");
        rp->content_type = "text/plain; charset=utf-8";
        rp->body = "see /console/\n";
        rp->body_len = strlen(rp->body);
    } else if (streq(p, "/console/")) {
        reply_file(rp, "index.html");
    } else if (streq(p, "/console/sign-in")) {
        reply_file(rp, "sign-in.html");
    } else if (strncmp(p, "/console/static/", 16) == 0 && strchr(p + 16, '/') == NULL &&
               !streq(p + 16, "index.html") && !streq(p + 16, "sign-in.html")) {
        reply_file(rp, p + 16);
    } else {
        console_reply_error(rp, 404, "not_found", "no such page; go to /console/");
    }
}

void console_handle(struct console *c, const struct console_request *rq,
                    struct console_reply *rp)
{
    const struct console_route *route;
    struct console_session s;

    memset(rp, 0, sizeof(*rp));
    if (strncmp(rq->path, "/console/api/", 13) != 0) {
        handle_page(rq, rp);
        return;
    }
    if (streq(rq->path, "/console/api/sign-in")) {
        if (rq->method != CONSOLE_POST)
            method_not_allowed(rp, "POST");
        else
            api_sign_in(c, rq, rp);
        return;
    }
    route = console_route_find(rq->path + 13);
    if (!route) {
        console_reply_error(rp, 404, "not_found", "no such console endpoint; see docs/PROTOCOL.md");
        return;
    }
    if (rq->method != (route->post ? CONSOLE_POST : CONSOLE_GET)) {
        method_not_allowed(rp, route->post ? "POST" : "GET");
        return;
    }
    if (session_of(c, rq, &s, rp) < 0)
        return;
    if (route->post && (same_origin(rq, rp) < 0 || change_allowed(rq, &s, rp) < 0))
        return;
    if (route->who == CONSOLE_ADMIN && !streq(s.s.role, "admin")) {
        console_reply_error(rp, 403, "forbidden", "only an administrator may %s", route->what);
        return;
    }
    if (route->who == CONSOLE_COORDINATOR && !store_role_is_coordinator(s.s.role)) {
        console_reply_error(rp, 403, "forbidden", "only a coordinator may %s", route->what);
        return;
    }
    route->fn(c, rq, &s, rp);
}

/* ---- lifecycle ---- */

struct console *console_new(struct store *store, const struct console_options *o)
{
    struct console *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->store = store;
    pthread_mutex_init(&c->dummy_lock, NULL);
    c->idle_s = o && o->idle_s ? o->idle_s : CONSOLE_IDLE_S;
    c->lifetime_s = o && o->lifetime_s ? o->lifetime_s : CONSOLE_LIFETIME_S;
    c->lock_after_days = o ? o->lock_after_days : 0;
    return c;
}

struct console *console_free(struct console *c)
{
    if (!c)
        return NULL;
    pthread_mutex_destroy(&c->dummy_lock);
    free(c);
    return NULL;
}
