/* SPDX-License-Identifier: MIT */
/* transport.c - HTTPS requests to caresyncd with libcurl: TLS 1.2+ verified against the
 * enrolment CA only, bearer token, gzip both ways, bounded replies, and HTTP errors mapped to
 * result codes. */
#include "caresync.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "caresync_int.h"
#include "gzip.h"
#include "log.h"
#include "util.h"
#include "wire.h"

/* Request bodies from this size on go gzip-encoded (PROTOCOL.md "Compression"). Most syncs
 * push a few edits, a few hundred bytes that would gain nothing; a backlog of visits, notes or
 * a bulk edit shrinks 10 times and more. */
#define TRANSPORT_GZIP_MIN 4096

/* One request body as it goes on the wire. */
struct request_body {
    const char *data; /* NULL: no body (GET) */
    size_t len;
    bool gzip; /* data is gzip-encoded */
};

struct reply_buf {
    char *data;
    size_t len, cap;
    bool too_big;
    bool headers_ended; /* the blank line that ends the (last) header block arrived */
    long retry_after;   /* Retry-After in seconds, -1 when absent or not a number */
};

/*
 * Whether the reply's header block was complete. libcurl 7.88 returns CURLE_OK for a reply cut
 * off inside its headers when the peer closes cleanly (a TLS-terminating proxy sending
 * close_notify): the status line parses, the rest is taken as the end. libcurl hands every
 * header line here, the blank one that ends a block included (again for each interim 1xx
 * reply), so the last line seen tells whether the block ended.
 */
static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    struct reply_buf *b = userdata;
    size_t n = size * nitems;

    b->headers_ended = (n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n');
    if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
        char digits[16];
        size_t i = 12, k = 0;
        uint64_t v;

        while (i < n && ptr[i] == ' ')
            i++;
        while (i < n && k + 1 < sizeof(digits) && ptr[i] >= '0' && ptr[i] <= '9')
            digits[k++] = ptr[i++];
        digits[k] = '\0';
        b->retry_after = k && parse_u64(digits, &v) == 0 && v <= 86400 ? (long)v : -1;
    }
    return n;
}

/*
 * libcurl hands this the body already decoded (CURLOPT_ACCEPT_ENCODING), a chunk at a time, so
 * the bound here is on what the reply inflates to. CURLOPT_MAXFILESIZE only sees the size on the
 * wire: a hostile server's gzip of a gigabyte of zeros is 1 MiB. This check is what stops it at
 * CS_REPLY_MAX (tests/integration/test_compression.py sends one).
 */
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct reply_buf *b = userdata;
    size_t n = size * nmemb;

    if (n > CS_REPLY_MAX - b->len) {
        b->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        char *d;

        while (cap < b->len + n + 1)
            cap *= 2;
        d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void curl_slist_free_allp(struct curl_slist **p)
{
    curl_slist_free_all(*p);
}

static void cjson_freep(char **p)
{
    if (*p)
        cJSON_free(*p);
}

void transport_done(struct caresync *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

void http_reply_done(struct http_reply *r)
{
    if (!r)
        return;
    cJSON_Delete(r->json);
    r->json = NULL;
}

/* Read DIR/token: one line of printable ASCII. Returns 0, -ENOENT, -EBADMSG or -errno. */
static int read_token(const char *path, char buf[static CS_TOKEN_MAX])
{
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, CS_TOKEN_MAX - 1);
    (void)close(fd);
    if (n < 0)
        return -errno;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (n == 0)
        return -EBADMSG;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] <= ' ' || buf[i] > '~')
            return -EBADMSG;
    return 0;
}

/* Map a libcurl failure to a result code and a one-line message. */
static int curl_fail(struct caresync *c, CURLcode rc, const char *url, const char *detail,
                     const char *ca, bool too_big, const char *what)
{
    const char *d = detail && *detail ? detail : curl_easy_strerror(rc);

    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return cs_fail(c, CARESYNC_EUSAGE,
                       "%s failed: bad server address %s (%s); it must be"
                       " https://HOST[:PORT]",
                       what, url, d);
    case CURLE_PEER_FAILED_VERIFICATION:
        return cs_fail(c, CARESYNC_ENETWORK,
                       "%s failed: the server at %s is not trusted by %s%s (%s); check"
                       " the server address and the CA; nothing was lost",
                       what, url, ca ? "the CA in " : "the system's CA store", ca ? ca : "", d);
    case CURLE_SSL_CONNECT_ERROR:
        return cs_fail(c, CARESYNC_ENETWORK,
                       "%s failed: TLS handshake with %s failed (%s); check the server address"
                       " and that it speaks TLS 1.2 or later; nothing was lost",
                       what, url, d);
    case CURLE_SSL_CACERT_BADFILE:
        return cs_fail(c, CARESYNC_ELOCAL, "%s failed: cannot load the CA file %s (%s)", what,
                       ca ? ca : "of the system's store", d);
    case CURLE_OUT_OF_MEMORY:
        return cs_fail(c, CARESYNC_ELOCAL, "%s failed: out of memory", what);
    case CURLE_BAD_CONTENT_ENCODING:
        return cs_fail(c, CARESYNC_ESERVER,
                       "%s failed: the server's compressed reply is corrupt (%s); nothing was"
                       " lost; try again, and report it to your administrator if it persists",
                       what, d);
    case CURLE_WRITE_ERROR:
        if (too_big)
            return cs_fail(c, CARESYNC_ESERVER,
                           "%s failed: the server's reply is larger than %d MiB; nothing was"
                           " lost; report it to your administrator",
                           what, CS_REPLY_MAX / (1024 * 1024));
        return cs_fail(c, CARESYNC_ELOCAL, "%s failed: out of memory reading the reply", what);
    case CURLE_FILESIZE_EXCEEDED:
        return cs_fail(c, CARESYNC_ESERVER,
                       "%s failed: the server's reply is larger than %d MiB; nothing was"
                       " lost; report it to your administrator",
                       what, CS_REPLY_MAX / (1024 * 1024));
    /* The connection broke once the request was on its way: the reply is missing or cut off
     * (a dropped link, a proxy giving up). A network failure like any other: the outbox is
     * kept, and a batch the server did commit is acknowledged again when it is sent again. */
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return cs_fail(c, CARESYNC_ENETWORK,
                       "%s failed: the connection to %s broke before the reply was complete"
                       " (%s); nothing was lost: try again",
                       what, url, d);
    default:
        /* Resolving, connecting, timeouts and the other TLS failures: unreachable. */
        return cs_fail(c, CARESYNC_ENETWORK,
                       "%s failed: cannot reach the server at %s (%s); nothing was lost: try"
                       " again when online",
                       what, url, d);
    }
}

/* Pull error.code/message/index out of an error body, if it is one. */
static void read_error(struct http_reply *r)
{
    struct proto_error e;

    if (proto_error_decode_json(r->json, &e) < 0)
        return;
    copy_text(r->code, sizeof(r->code), e.code);
    copy_text(r->message, sizeof(r->message), e.message);
    if (e.index >= 0)
        r->index = e.index;
}

static int setup(CURL *h, const char *url, const char *ca, struct curl_slist *hdrs,
                 struct reply_buf *buf, char *errbuf)
{
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                           \
    do {                                        \
        if (rc == CURLE_OK)                     \
            rc = curl_easy_setopt(h, opt, val); \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_URL, url);
    /* HTTPS only, never redirected elsewhere. */
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* Trust the enrolment CA and nothing else; enrolled without one, libcurl's default: the
     * system's CA store. */
    if (ca) {
        SET(CURLOPT_CAINFO, ca);
        SET(CURLOPT_CAPATH, (char *)NULL);
    }
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_CONNECTTIMEOUT, (long)CS_CONNECT_TIMEOUT_S);
    SET(CURLOPT_TIMEOUT, (long)CS_TOTAL_TIMEOUT_S);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CS_REPLY_MAX);
    SET(CURLOPT_USERAGENT, "caresync/" CARESYNC_VERSION);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, buf);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, buf);
#undef SET
    return rc == CURLE_OK ? 0 : -EINVAL;
}

/* Append @line (copied) to *list. False when out of memory; *list is then unchanged. */
static bool append_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);

    if (!l)
        return false;
    *list = l;
    return true;
}

/*
 * The request headers: JSON both ways, no "Expect: 100-continue" round trip before large
 * bodies, "Content-Encoding: gzip" when @gzip, the device token when @auth. CARESYNC_OK and *ret
 * (free with curl_slist_free_all), or a failure reported with cs_fail().
 */
static int request_headers(struct caresync *c, bool auth, bool gzip, const char *what,
                           struct curl_slist **ret)
{
    _cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
    char token[CS_TOKEN_MAX], authz[CS_TOKEN_MAX + 32];
    bool ok;
    int r;

    if (!append_header(&hdrs, "Content-Type: application/json") ||
        !append_header(&hdrs, "Accept: application/json") || !append_header(&hdrs, "Expect:") ||
        (gzip && !append_header(&hdrs, "Content-Encoding: gzip")))
        return cs_fail(c, CARESYNC_ELOCAL, "%s failed: out of memory", what);
    if (auth) {
        r = read_token(c->token_path, token);
        if (r < 0) {
            explicit_bzero(token, sizeof(token));
            return cs_fail(c, CARESYNC_ELOCAL,
                           "%s failed: cannot read the device token %s (%s); enrol again with a"
                           " new --home",
                           what, c->token_path, r == -EBADMSG ? "malformed" : strerror(-r));
        }
        snprintf(authz, sizeof(authz), "Authorization: Bearer %s", token);
        explicit_bzero(token, sizeof(token));
        ok = append_header(&hdrs, authz);
        explicit_bzero(authz, sizeof(authz));
        if (!ok)
            return cs_fail(c, CARESYNC_ELOCAL, "%s failed: out of memory", what);
    }
    *ret = TAKE_PTR(hdrs);
    return CARESYNC_OK;
}

/*
 * @plain as it should go on the wire, into *ret: gzip-encoded (the bytes in *ret_owned, which
 * the caller frees) from TRANSPORT_GZIP_MIN bytes on when that makes it smaller, else @plain
 * itself. Compression only saves bytes: when it fails, the body goes as it is.
 */
static void request_compress(const struct request_body *plain, void **ret_owned,
                             struct request_body *ret)
{
    size_t n;
    int r;

    *ret = *plain;
    if (!plain->data || plain->len < TRANSPORT_GZIP_MIN)
        return;
    r = gzip_compress(plain->data, plain->len, GZIP_LEVEL, ret_owned, &n);
    if (r < 0) {
        log_debug("compressing a request body of %zu bytes failed (%s); sending it as it is",
                  plain->len, strerror(-r));
        return;
    }
    if (n < plain->len)
        *ret = (struct request_body){.data = *ret_owned, .len = n, .gzip = true};
}

/*
 * One request to @url, verified with @ca: a POST of @body, or a GET when it has no data.
 * CARESYNC_OK with *ret filled (whatever the status), or a failure reported with cs_fail().
 */
static int exchange(struct caresync *c, const char *url, const char *ca, bool auth,
                    const struct request_body *body, const char *what, struct http_reply *ret)
{
    CURL *h;
    _cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
    struct reply_buf buf = {.retry_after = -1};
    struct http_reply rep = {.index = -1, .retry_after = -1};
    char errbuf[CURL_ERROR_SIZE] = "";
    const char *why = NULL;
    CURLcode rc;
    int r;

    /* One handle per replica: later requests reuse the connection and TLS session. */
    if (!c->curl)
        c->curl = curl_easy_init();
    h = c->curl;
    if (!h)
        return cs_fail(c, CARESYNC_ELOCAL, "%s failed: cannot initialise libcurl", what);
    curl_easy_reset(h); /* no option of an earlier request survives */
    r = request_headers(c, auth, body->gzip, what, &hdrs);
    if (r != CARESYNC_OK)
        return r;
    if (setup(h, url, ca, hdrs, &buf, errbuf) < 0) {
        curl_easy_reset(h);
        return cs_fail(c, CARESYNC_ELOCAL,
                       "%s failed: libcurl lacks a required option"
                       " (HTTPS, TLS 1.2)",
                       what);
    }
    if (body->data) {
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else {
        (void)curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    log_debug("%s %s (%zu bytes%s)", body->data ? "POST" : "GET", url, body->len,
              body->gzip ? ", gzip" : "");
    rc = curl_easy_perform(h);
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rep.status);
    /* Drop every option that points into this frame (buffers, headers); keep the connection. */
    curl_easy_reset(h);
    if (rc != CURLE_OK) {
        r = curl_fail(c, rc, c->server_url, errbuf, ca, buf.too_big, what);
        free(buf.data);
        return r;
    }
    if (!buf.headers_ended) {
        free(buf.data);
        return curl_fail(c, CURLE_PARTIAL_FILE, c->server_url,
                         "the reply ended inside its headers", ca, false, what);
    }
    log_debug("HTTP %ld, %zu bytes", rep.status, buf.len);
    rep.retry_after = buf.retry_after;
    if (buf.len > 0 && wire_parse(buf.data, buf.len, &rep.json, &why) < 0)
        rep.json = NULL;
    free(buf.data);
    if (rep.status == 200 && !rep.json)
        return cs_fail(c, CARESYNC_ESERVER,
                       "%s failed: the server's reply is not a JSON object (%s); nothing was"
                       " lost; check the server address",
                       what, why ? why : "empty body");
    if (rep.status != 200)
        read_error(&rep);
    *ret = rep;
    return CARESYNC_OK;
}

int transport_request(struct caresync *c, const char *method, const char *path, const cJSON *body,
                      bool auth, const char *what, struct http_reply *ret)
{
    _cleanup_free_ char *url = NULL;
    _cleanup_(cjson_freep) char *payload = NULL;
    _cleanup_free_ void *gz = NULL;
    struct request_body plain = {0}, wire;
    const char *ca = c->ca_override ? c->ca_override : c->ca_system ? NULL : c->ca_path;
    size_t ulen;
    int r;

    if (!c->server_url)
        return cs_fail(c, CARESYNC_ELOCAL,
                       "%s failed: no server address in the replica;"
                       " enrol again with a new --home",
                       what);
    if (ca && access(ca, R_OK) < 0)
        return cs_fail(c, CARESYNC_ELOCAL,
                       "%s failed: cannot read the CA file %s (%s);"
                       " enrol again with a new --home",
                       what, ca, strerror(errno));
    ulen = strlen(c->server_url) + strlen(path) + 1;
    url = malloc(ulen);
    if (!url)
        return cs_fail(c, CARESYNC_ELOCAL, "%s failed: out of memory", what);
    snprintf(url, ulen, "%s%s", c->server_url, path);
    if (streq(method, "POST")) {
        payload = cJSON_PrintUnformatted(body);
        if (!payload)
            return cs_fail(c, CARESYNC_ELOCAL, "%s failed: out of memory", what);
        plain = (struct request_body){.data = payload, .len = strlen(payload)};
    }
    request_compress(&plain, &gz, &wire);
    r = exchange(c, url, ca, auth, &wire, what, ret);
    /* A server that had no room for the request (503 busy or queue_full, nothing done) and says
     * when to come back soon: wait that long, a little more each time, and send it again. */
    for (unsigned tries = 1; r == CARESYNC_OK && ret->status == 503 &&
                             (streq(ret->code, "busy") || streq(ret->code, "queue_full")) &&
                             ret->retry_after >= 0 && ret->retry_after <= CS_RETRY_AFTER_MAX &&
                             tries <= CS_BUSY_RETRIES;
         tries++) {
        long wait_ms = (ret->retry_after ? ret->retry_after : 1) * 1000L * (long)tries;
        unsigned char jitter = 0;

        (void)random_bytes(&jitter, 1);
        wait_ms += (long)jitter * 2; /* up to half a second: devices do not come back together */
        log_debug("the server is busy (%s); sending again in %ld ms", ret->code, wait_ms);
        http_reply_done(ret);
        (void)nanosleep(&(struct timespec){wait_ms / 1000, (wait_ms % 1000) * 1000000L}, NULL);
        r = exchange(c, url, ca, auth, &wire, what, ret);
    }
    /* A server that cannot read gzip bodies answers 415 having read nothing (RFC 7694): say it
     * again uncompressed. */
    if (r == CARESYNC_OK && wire.gzip && ret->status == 415) {
        log_debug("the server refused a gzip body (%s); sending it uncompressed",
                  ret->code[0] ? ret->code : "HTTP 415");
        http_reply_done(ret);
        r = exchange(c, url, ca, auth, &plain, what, ret);
    }
    return r;
}

int transport_fail(struct caresync *c, const struct http_reply *r, const char *what)
{
    const char *code = r->code[0] ? r->code : "no error code";
    const char *msg = r->message[0] ? r->message : "no message";

    switch (r->status) {
    case 401:
        if (streq(r->code, "invalid_code"))
            return cs_fail(c, CARESYNC_EAUTH,
                           "%s failed: the enrolment code is unknown, already used or expired;"
                           " ask an administrator for a new code (caresyncd enrol USER)",
                           what);
        if (streq(r->code, "device_revoked")) {
            /* A revoked device is presumed lost or stolen: nothing of the caseload stays. */
            int k = cs_wipe(c);

            if (k < 0)
                return cs_fail(c, CARESYNC_EAUTH,
                               "this device was revoked by the service, but wiping its replica"
                               " failed (%s); delete %s by hand, then enrol again with a new"
                               " code",
                               strerror(-k), c->home);
            return cs_fail(c, CARESYNC_EAUTH,
                           "this device was revoked by the service; its replica and token have"
                           " been wiped; enrol again with a new code");
        }
        return cs_fail(c, CARESYNC_EAUTH,
                       "%s failed: the server does not accept this device (%s); enrol again"
                       " with a new code and a new --home",
                       what, code);
    case 403:
        return cs_fail(c, CARESYNC_EFORBIDDEN, "not allowed: this device's role may not %s (%s)",
                       what, msg);
    case 413:
        return cs_fail(c, CARESYNC_ESERVER,
                       "%s failed: the request is larger than the server accepts (%s); nothing"
                       " was lost",
                       what, msg);
    case 500:
    case 502:
    case 503:
    case 504:
        return cs_fail(c, CARESYNC_ESERVER,
                       "%s failed: the server is busy or failing (HTTP %ld, %s: %s); nothing"
                       " was lost: try again later",
                       what, r->status, code, msg);
    default:
        return cs_fail(c, CARESYNC_ESERVER,
                       "%s failed: the server refused the request (HTTP %ld, %s: %s)", what,
                       r->status, code, msg);
    }
}
