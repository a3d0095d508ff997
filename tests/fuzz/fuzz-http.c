/* SPDX-License-Identifier: MIT */
/* fuzz-http.c - the daemon's request path driven with fuzzed bytes: a real caresyncd (the
 * daemon's own http.c) on an event loop, answering from a real store in a temporary directory,
 * over a Unix socket carrying plain HTTP. One file, four targets (FUZZ_HTTP_MODE):
 *
 *   FUZZ_HTTP_RAW     the input is the whole request stream (request line, headers, body; more
 *                     than one request may follow). "@C@" and "@N@" in it become the tokens of a
 *                     coordinator's and a nurse's device, "@P@" the id of a person on the
 *                     nurse's caseload and "@E@" a fresh enrolment code.
 *   FUZZ_HTTP_SYNC    the input is the body of POST /v1/sync (the sync request validator and the
 *                     store behind it); its first byte picks the nurse's or the coordinator's
 *                     token and whether the body is sent gzip-encoded.
 *   FUZZ_HTTP_ENROL   the input is the body of POST /v1/enrol.
 *   FUZZ_HTTP_RESOLVE the input is the body of POST /v1/conflicts/{id}/resolve, as the
 *                     coordinator; its first byte picks one of the conflicts made at start.
 *
 * TLS is left out so the fuzzer's bytes reach the HTTP parser and the handlers: conn.c (the
 * connection layer) and http.c are compiled into this file with their two OpenSSL bufferevent
 * calls replaced by plain ones (below),
 * so the daemon itself has no plain-HTTP mode at all. The store persists across inputs, as a
 * serving daemon's does. The invariant checked beyond "no crash, leak or sanitizer report": every
 * reply starts with a well-formed status line (bare JSON for HTTP/0.x), and every request the
 * fixed-form targets send is answered. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "gzip.h"
#include "hlc.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Plain bufferevents where http.c makes TLS ones; dispatch() checks for an SSL to refuse
 * anything that did not come over TLS, so it is told there is one. */
static struct bufferevent *fuzz_bev_new(struct event_base *base, evutil_socket_t fd, SSL *ssl,
                                        enum bufferevent_ssl_state state, int options)
{
    (void)state;
    SSL_free(ssl);
    return bufferevent_socket_new(base, fd, options);
}

static SSL *fuzz_bev_get_ssl(struct bufferevent *bev)
{
    return bev ? (SSL *)(void *)bev : NULL; /* only ever tested for NULL */
}

#define bufferevent_openssl_socket_new fuzz_bev_new
#define bufferevent_openssl_get_ssl    fuzz_bev_get_ssl
#include "conn.c"
#include "http.c"
#include "metrics.c"
#include "work.c"
#undef bufferevent_openssl_socket_new
#undef bufferevent_openssl_get_ssl

#define FUZZ_HTTP_RAW     0
#define FUZZ_HTTP_SYNC    1
#define FUZZ_HTTP_ENROL   2
#define FUZZ_HTTP_RESOLVE 3
#ifndef FUZZ_HTTP_MODE
#    define FUZZ_HTTP_MODE FUZZ_HTTP_RAW
#endif

#define FUZZ_HTTP_INPUT_MAX (256 * 1024)
#define FUZZ_CONFLICTS      8

static struct {
    char dir[64];
    char sock[128];
    struct event_base *base;
    struct store *store;
    SSL_CTX *ssl_ctx;
    struct caresyncd *sd;
    char coord_token[STORE_TOKEN_MAX];
    char nurse_token[STORE_TOKEN_MAX];
    char person[UUID_STR_MAX];
    int64_t conflicts[FUZZ_CONFLICTS];
    size_t n_conflicts;
} F;

/* ---- one exchange: write the request, read until the server closes ---- */

struct exchange {
    int fd;
    const char *out;
    size_t out_len, sent;
    struct evbuffer *reply;
    bool done;
};

static void exchange_io(evutil_socket_t fd, short what, void *arg)
{
    struct exchange *x = arg;
    char buf[16384];
    ssize_t n;

    if (what & EV_TIMEOUT) {
        fprintf(stderr, "fuzz-http: no close from the server within 20 s\n");
        abort();
    }
    if ((what & EV_WRITE) && x->sent < x->out_len) {
        n = write(fd, x->out + x->sent, x->out_len - x->sent);
        if (n > 0)
            x->sent += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            x->sent = x->out_len; /* the server closed early: read what it said */
        if (x->sent == x->out_len)
            (void)shutdown(fd, SHUT_WR);
    }
    if (what & EV_READ) {
        n = read(fd, buf, sizeof(buf));
        if (n > 0)
            (void)evbuffer_add(x->reply, buf, (size_t)n);
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            x->done = true;
    }
    if (x->done)
        (void)event_base_loopbreak(F.base);
}

/* Send @len bytes at @req to the daemon and run its loop until it closes the connection; the
 * reply (all of it) is appended to @reply when not NULL. */
static void exchange(const char *req, size_t len, struct evbuffer *reply)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct timeval limit = {.tv_sec = 20};
    struct exchange x = {.out = req, .out_len = len};
    struct event *ev;
    int fd;

    x.reply = reply ? reply : evbuffer_new();
    FUZZ_CHECK(x.reply);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0);
    memcpy(sun.sun_path, F.sock, strlen(F.sock) + 1);
    FUZZ_CHECK(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    FUZZ_CHECK(evutil_make_socket_nonblocking(fd) == 0);
    x.fd = fd;
    if (len == 0)
        (void)shutdown(fd, SHUT_WR);
    ev = event_new(F.base, fd, EV_READ | EV_WRITE | EV_PERSIST, exchange_io, &x);
    FUZZ_CHECK(ev && event_add(ev, &limit) == 0);
    while (!x.done)
        FUZZ_CHECK(event_base_loop(F.base, EVLOOP_ONCE) >= 0);
    event_free(ev);
    close(fd);
    /* Let the server side finish closing its end before the next input. */
    (void)event_base_loop(F.base, EVLOOP_NONBLOCK);
    /* Whatever came back starts with a status line (evhttp echoes the request's version, even
     * "HTTP/0.1"), or is a bare JSON body (HTTP/0.9 had no status line). */
    if (evbuffer_get_length(x.reply) > 0) {
        size_t n = evbuffer_get_length(x.reply);
        const char *all = (const char *)evbuffer_pullup(x.reply, -1);
        bool ok = all[0] == '{' || (n > 12 && strncmp(all, "HTTP/", 5) == 0);

        /* FUZZ_SHOW=1: what came back, to see how far the corpus reaches. */
        if (!ok || getenv("FUZZ_SHOW"))
            fprintf(stderr, "  <- %.*s\n", (int)(n < 400 ? n : 400), all);
        FUZZ_CHECK(ok);
    }
    if (!reply)
        evbuffer_free(x.reply);
}

/* A request with the given line, headers (each ending "\r\n") and body; returns the reply. */
static char *request(const char *line, const char *headers, const void *body, size_t len,
                     size_t *ret_len)
{
    struct evbuffer *out = evbuffer_new(), *in = evbuffer_new();
    char *text;
    size_t n;

    FUZZ_CHECK(out && in);
    FUZZ_CHECK(evbuffer_add_printf(out, "%s HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n%s"
                                        "Content-Length: %zu\r\n\r\n",
                                   line, headers, len) > 0);
    FUZZ_CHECK(evbuffer_add(out, body, len) == 0);
    n = evbuffer_get_length(out);
    exchange((const char *)evbuffer_pullup(out, -1), n, in);
    n = evbuffer_get_length(in);
    text = malloc(n + 1);
    FUZZ_CHECK(text);
    FUZZ_CHECK(evbuffer_remove(in, text, n) == (int)n);
    text[n] = '\0';
    evbuffer_free(out);
    evbuffer_free(in);
    if (ret_len)
        *ret_len = n;
    return text;
}

/* ---- the world every input meets ---- */

static void enrol(const char *user, const char *role, char token[static STORE_TOKEN_MAX])
{
    char code[STORE_CODE_MAX];
    struct store_enrolment e;

    FUZZ_CHECK(store_user_add(F.store, user, role) == 0);
    FUZZ_CHECK(store_enrol_code_new(F.store, user, 3600, code) == 0);
    FUZZ_CHECK(store_enrol(F.store, code, "fuzz", "fuzz", &e) == 0);
    memcpy(token, e.token, STORE_TOKEN_MAX);
}

/* Two devices write the person's phone without having seen each other's value: a conflict. */
static void make_conflicts(void)
{
    char auth[128], body[1024], id[UUID_STR_MAX], hlc[HLC_STR_MAX];
    struct proto_conflicts list = {0};

    for (unsigned i = 0; i <= FUZZ_CONFLICTS; i++) {
        char *reply;

        FUZZ_CHECK(uuid_v7(hlc_wall_ms(), id) == 0);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n",
                 i % 2 ? F.coord_token : F.nurse_token);
        snprintf(body, sizeof(body),
                 "{\"cursor\":\"\",\"pull\":false,\"changes\":[{\"change_id\":\"%s\","
                 "\"table\":\"person\",\"row_id\":\"%s\",\"person_id\":\"%s\",\"field\":\"phone\","
                 "\"value\":\"0131 496 00%02u\",\"hlc\":\"%s\",\"base_hlc\":null,"
                 "\"base_device\":null}]}",
                 id, F.person, F.person, i, hlc_format(hlc_pack(hlc_wall_ms(), i), hlc));
        reply = request("POST /v1/sync", auth, body, strlen(body), NULL);
        if (!strstr(reply, " 200 "))
            fprintf(stderr, "fuzz-http: setting up a conflict failed:\n%s\n", reply);
        FUZZ_CHECK(strstr(reply, " 200 "));
        free(reply);
    }
    FUZZ_CHECK(store_conflicts_list(F.store, false, &list) == 0);
    for (size_t k = 0; k < list.n_conflicts && F.n_conflicts < FUZZ_CONFLICTS; k++)
        F.conflicts[F.n_conflicts++] = list.conflicts[k].id;
    proto_conflicts_done(&list);
    FUZZ_CHECK(F.n_conflicts > 0);
}

static void cleanup(void)
{
    char path[256];

    F.sd = caresyncd_free(F.sd);
    F.store = store_free(F.store);
    static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm", "sock"};
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", F.dir, files[i]);
        (void)unlink(path);
    }
    (void)rmdir(F.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct store_person_fields pf = {.name = "Fuzz Person", .phone = "0131 496 0000"};
    struct evconnlistener *listener;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    const char *why = NULL;
    char db[256];

    (void)argc;
    (void)argv;
    (void)signal(SIGPIPE, SIG_IGN);
    log_set_level(getenv("FUZZ_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    snprintf(F.dir, sizeof(F.dir), "%s/caresync-fuzz-XXXXXX", tmp);
    FUZZ_CHECK(mkdtemp(F.dir));
    snprintf(db, sizeof(db), "%s/store.db", F.dir);
    snprintf(F.sock, sizeof(F.sock), "%s/sock", F.dir);
    FUZZ_CHECK(strlen(F.sock) < sizeof(sun.sun_path));
    FUZZ_CHECK(store_open(db, true, &F.store) == 0);
    enrol("coord.fuzz", "coordinator", F.coord_token);
    enrol("nurse.fuzz", "nurse", F.nurse_token);
    FUZZ_CHECK(store_person_add(F.store, &pf, F.person, &why) == 0);
    FUZZ_CHECK(store_assign(F.store, F.person, "nurse.fuzz", NULL) >= 0);

    F.base = event_base_new();
    F.ssl_ctx = SSL_CTX_new(TLS_server_method());
    FUZZ_CHECK(F.base && F.ssl_ctx);
    F.sd = caresyncd_new(F.base, F.store, F.ssl_ctx, /* quiet= */ true);
    FUZZ_CHECK(F.sd);
    FUZZ_CHECK(caresyncd_set_console(F.sd, NULL) == 0); /* the web console's routes too */
    memcpy(sun.sun_path, F.sock, strlen(F.sock) + 1);
    listener = evconnlistener_new_bind(F.base, NULL, NULL,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
                                       (struct sockaddr *)&sun, sizeof(sun));
    FUZZ_CHECK(listener);
    FUZZ_CHECK(evhttp_bind_listener(F.sd->http, listener));
    make_conflicts();
    atexit(cleanup);
    return 0;
}

/* ---- one input ---- */

/* @data with every placeholder replaced; caller frees. */
static char *substitute(const uint8_t *data, size_t size, size_t *ret_len)
{
    struct evbuffer *b = evbuffer_new();
    char *out;
    size_t n;

    FUZZ_CHECK(b);
    for (size_t i = 0; i < size;) {
        const char *with = NULL;
        char code[STORE_CODE_MAX];

        if (i + 3 <= size && data[i] == '@' && data[i + 2] == '@') {
            switch (data[i + 1]) {
            case 'C':
                with = F.coord_token;
                break;
            case 'N':
                with = F.nurse_token;
                break;
            case 'P':
                with = F.person;
                break;
            case 'E':
                FUZZ_CHECK(store_enrol_code_new(F.store, "nurse.fuzz", 3600, code) == 0);
                with = code;
                break;
            }
        }
        if (with) {
            FUZZ_CHECK(evbuffer_add(b, with, strlen(with)) == 0);
            i += 3;
        } else {
            FUZZ_CHECK(evbuffer_add(b, data + i, 1) == 0);
            i++;
        }
    }
    n = evbuffer_get_length(b);
    out = malloc(n + 1);
    FUZZ_CHECK(out);
    FUZZ_CHECK(evbuffer_remove(b, out, n) == (int)n);
    out[n] = '\0';
    evbuffer_free(b);
    *ret_len = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *text = NULL;
    size_t len;

    if (size > FUZZ_HTTP_INPUT_MAX)
        return 0;
#if FUZZ_HTTP_MODE == FUZZ_HTTP_RAW
    text = substitute(data, size, &len);
    exchange(text, len, NULL);
#else
    _cleanup_free_ char *reply = NULL;
    char line[96], headers[256];
    uint8_t pick = size > 0 ? data[0] : 0;

    if (size > 0) {
        data++;
        size--;
    }
    text = substitute(data, size, &len);
#    if FUZZ_HTTP_MODE == FUZZ_HTTP_SYNC
    _cleanup_free_ void *z = NULL;
    size_t zn = 0;

    snprintf(line, sizeof(line), "POST /v1/sync");
    snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n%s",
             pick & 1 ? F.coord_token : F.nurse_token,
             pick & 2 ? "Content-Encoding: gzip\r\n" : "");
    if (pick & 2) {
        FUZZ_CHECK(gzip_compress(text, len, 1, &z, &zn) == 0);
        reply = request(line, headers, z, zn, NULL);
    } else {
        reply = request(line, headers, text, len, NULL);
    }
#    elif FUZZ_HTTP_MODE == FUZZ_HTTP_ENROL
    (void)pick;
    snprintf(line, sizeof(line), "POST /v1/enrol");
    headers[0] = '\0';
    reply = request(line, headers, text, len, NULL);
#    elif FUZZ_HTTP_MODE == FUZZ_HTTP_RESOLVE
    snprintf(line, sizeof(line), "POST /v1/conflicts/%" PRId64 "/resolve",
             F.conflicts[pick % F.n_conflicts]);
    snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", F.coord_token);
    reply = request(line, headers, text, len, NULL);
#    endif
    /* A request the handlers saw whole always gets a JSON reply with a status. */
    FUZZ_CHECK(strncmp(reply, "HTTP/1.1 ", 9) == 0);
#endif
    return 0;
}
