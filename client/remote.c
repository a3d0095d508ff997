/* SPDX-License-Identifier: MIT */
/* remote.c - the online calls other than sync: enrolment, the conflict log (list with filters,
 * resolve with a reason), and the wipe of a revoked device. */
#include "caresync.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caresync_int.h"
#include "db.h"
#include "hlc.h"
#include "log.h"
#include "wire.h"

#define ENROL_NAME_MAX 100
#define ENROL_CODE_MAX 64
#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"

/* ---- files ---- */

/* Read a whole small file into a NUL-terminated malloc'd buffer of at most @max bytes. */
static int read_small_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    buf = malloc(max + 1);
    if (!buf) {
        (void)close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = -errno;

            (void)close(fd);
            return e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            (void)close(fd);
            return -E2BIG;
        }
    }
    (void)close(fd);
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

/* ---- enrol ---- */

static int check_url(struct caresync *c, const char *url, char **ret)
{
    size_t len;
    char *u;

    if (!url || !*url)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "missing server address: pass --server"
                       " https://HOST:PORT");
    if (strncasecmp(url, "http://", 7) == 0)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "refusing %s: caresync talks to the server over HTTPS only; pass --server"
                       " https://HOST:PORT",
                       url);
    if (strncasecmp(url, "https://", 8) != 0 || !url[8] || url[8] == '/')
        return cs_fail(c, CARESYNC_EUSAGE,
                       "bad server address '%s'; pass --server"
                       " https://HOST:PORT",
                       url);
    len = strlen(url);
    if (len > 2000)
        return cs_fail(c, CARESYNC_EUSAGE, "server address is too long");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f || url[i] == '?' ||
            url[i] == '#')
            return cs_fail(c, CARESYNC_EUSAGE,
                           "bad server address '%s'; pass --server"
                           " https://HOST:PORT",
                           url);
    u = strdup(url);
    if (!u)
        return cs_fail_errno(c, -ENOMEM, "cannot enrol");
    /* Paths are appended as "/v1/...": drop trailing slashes. */
    while (len > 8 && u[len - 1] == '/')
        u[--len] = '\0';
    *ret = u;
    return CARESYNC_OK;
}

static int parse_enrolment(struct caresync *c, const cJSON *j, struct proto_enrol_reply *e)
{
    int r = proto_enrol_reply_decode_json(j, e);

    if (r == -ENOMEM)
        return cs_fail_errno(c, r, "enrol failed");
    if (r < 0 || !*e->token || strlen(e->token) >= CS_TOKEN_MAX)
        return cs_fail(c, CARESYNC_ESERVER,
                       "enrol failed: the server's reply is malformed; check the server address");
    for (const char *p = e->token; *p; p++)
        if (*p <= ' ' || *p > '~')
            return cs_fail(c, CARESYNC_ESERVER,
                           "enrol failed: the server sent a malformed"
                           " token");
    return CARESYNC_OK;
}

/* Store the enrolment: token and CA files first, then the settings that mark it enrolled. */
static int store_enrolment(struct caresync *c, const struct proto_enrol_reply *e, const char *ca,
                           size_t ca_len)
{
    char line[CS_TOKEN_MAX + 2];
    int r;

    snprintf(line, sizeof(line), "%s\n", e->token);
    r = file_write_atomic(c->token_path, line, strlen(line), 0600);
    explicit_bzero(line, sizeof(line));
    if (r < 0)
        return cs_fail_errno(c, r, "enrol failed: cannot write the token file");
    r = ca ? file_write_atomic(c->ca_path, ca, ca_len, 0600) : 0;
    if (r < 0)
        return cs_fail_errno(c, r, "enrol failed: cannot write the CA file");
    r = db_begin(c->db, true);
    if (r >= 0)
        r = db_meta_set(c->db, "server_url", c->server_url);
    /* No CA file: the system's store verifies the server from now on. */
    if (r >= 0)
        r = db_meta_set(c->db, "ca", ca ? "file" : "system");
    if (r >= 0)
        r = db_meta_set(c->db, "device_id", e->device_id);
    if (r >= 0)
        r = db_meta_set(c->db, "user", e->user);
    if (r >= 0)
        r = db_meta_set(c->db, "role", e->role);
    if (r >= 0)
        r = db_meta_set(c->db, "cursor", "");
    if (r >= 0)
        r = db_hlc_recv(c->db, e->server_hlc, NULL);
    if (r >= 0)
        r = db_commit(c->db);
    db_rollback(c->db);
    if (r < 0)
        return cs_fail_errno(c, r, "enrol failed: cannot save the enrolment");
    memcpy(c->device_id, e->device_id, UUID_STR_MAX);
    return CARESYNC_OK;
}

/* Undo what a failed enrolment created: the empty replica, and the home if it was new. */
static void enrol_cleanup(struct caresync *c, bool created_db, bool created_home)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};

    if (!created_db)
        return;
    db_cache_free(c->stmts);
    c->stmts = NULL;
    if (c->db)
        sqlite3_close_v2(c->db);
    c->db = NULL;
    for (size_t i = 0; i < ELEMENTSOF(sfx); i++) {
        char p[4096];

        snprintf(p, sizeof(p), "%s%s", c->db_path, sfx[i]);
        (void)unlink(p);
    }
    if (created_home)
        (void)rmdir(c->home);
}

static int enrol_run(struct caresync *c, const char *code, const char *device_name, const char *ca,
                     size_t ca_len)
{
    /* The encoder only reads the strings: borrowed. */
    _cleanup_json_ cJSON *body = proto_enrol_request_encode(
            &(struct proto_enrol_request){.code = (char *)code,
                                          .device_name = (char *)device_name,
                                          .client_version = (char *)CARESYNC_VERSION});
    _cleanup_(proto_enrol_reply_done) struct proto_enrol_reply e = {0};
    struct http_reply rep = {0};
    int r;

    if (!body)
        return cs_fail_errno(c, -ENOMEM, "enrol failed");
    r = transport_request(c, "POST", "/v1/enrol", body, false, "enrol", &rep);
    if (r != CARESYNC_OK)
        return r;
    if (rep.status != 200)
        r = transport_fail(c, &rep, "enrol");
    else
        r = parse_enrolment(c, rep.json, &e);
    if (r == CARESYNC_OK)
        r = store_enrolment(c, &e, ca, ca_len);
    http_reply_done(&rep);
    return r;
}

int caresync_enrol(struct caresync *c, const char *server_url, const char *ca_path,
                   const char *code, const char *device_name)
{
    _cleanup_free_ char *url = NULL, *ca = NULL, *user = NULL;
    struct stat sb;
    bool created_home, created_db;
    size_t ca_len = 0;
    int r;

    r = cs_begin(c);
    if (r != CARESYNC_OK)
        return r;
    if (c->db && c->device_id[0]) {
        if (db_meta_get(c->db, "user", &user) <= 0)
            user = NULL;
        return cs_fail(c, CARESYNC_EUSAGE,
                       "this home is already enrolled as %s; use another"
                       " --home",
                       user ? user : "another user");
    }
    r = check_url(c, server_url, &url);
    if (r != CARESYNC_OK)
        return r;
    if (!code || !*code || strlen(code) > ENROL_CODE_MAX || !utf8_valid(code, strlen(code)))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "missing or bad enrolment code: pass --code CODE"
                       " (from 'caresyncd enrol USER')");
    if (device_name &&
        (strlen(device_name) > ENROL_NAME_MAX || !utf8_valid(device_name, strlen(device_name))))
        return cs_fail(c, CARESYNC_EUSAGE, "device name must be UTF-8 of at most %d bytes",
                       ENROL_NAME_MAX);
    if (ca_path && !*ca_path)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "empty CA file name: pass --ca CA.pem (the server's CA certificate), or"
                       " leave --ca out to trust the system's CA store");
    r = ca_path ? read_small_file(ca_path, CS_CA_MAX, &ca, &ca_len) : 0;
    if (r < 0)
        return cs_fail(c, CARESYNC_EUSAGE, "cannot read the CA file %s: %s", ca_path,
                       r == -E2BIG ? "larger than 1 MiB" : strerror(-r));
    if (ca_path && !strstr(ca, PEM_CERT_BEGIN))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "%s is not a PEM certificate file; pass the"
                       " server's CA (ca.pem)",
                       ca_path);

    /* Prepare everything local first, so that a used code is not wasted on a local error. */
    created_home = stat(c->home, &sb) < 0;
    created_db = !c->db;
    r = replica_create(c);
    if (r != CARESYNC_OK) {
        enrol_cleanup(c, created_db, created_home);
        return r;
    }
    free(c->server_url);
    c->server_url = TAKE_PTR(url);
    c->ca_override = ca_path;
    c->ca_system = !ca_path;
    r = enrol_run(c, code, device_name, ca, ca_len);
    c->ca_override = NULL;
    if (ca)
        explicit_bzero(ca, ca_len);
    if (r != CARESYNC_OK) {
        c->ca_system = false;
        free(c->server_url);
        c->server_url = NULL;
        enrol_cleanup(c, created_db, created_home);
    }
    return r;
}

/* ---- revocation ---- */

/* Overwrite the file at @path with zeros (best effort) before it is unlinked. */
static void scrub_file(const char *path)
{
    static const char zeros[512];
    struct stat sb;
    off_t left;
    int fd;

    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        for (left = sb.st_size; left > 0;) {
            ssize_t n = write(fd, zeros, left < (off_t)sizeof(zeros) ? (size_t)left
                                                                      : sizeof(zeros));

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            left -= n;
        }
        (void)fsync(fd);
    }
    (void)close(fd);
}

int cs_wipe(struct caresync *c)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    int r = 0;

    transport_done(c);
    db_cache_free(c->stmts);
    c->stmts = NULL;
    if (c->db)
        sqlite3_close_v2(c->db);
    c->db = NULL;
    c->device_id[0] = '\0';
    free(c->server_url);
    c->server_url = NULL;
    for (size_t i = 0; i < ELEMENTSOF(sfx); i++) {
        size_t n = strlen(c->db_path) + strlen(sfx[i]) + 1;
        _cleanup_free_ char *p = malloc(n);

        if (!p) {
            r = r < 0 ? r : -ENOMEM;
            continue;
        }
        snprintf(p, n, "%s%s", c->db_path, sfx[i]);
        if (unlink(p) < 0 && errno != ENOENT && r == 0)
            r = -errno;
    }
    scrub_file(c->token_path);
    if (unlink(c->token_path) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

/* ---- conflicts ---- */

/* A filter value safe in a query string as it is: 1 to 64 of [A-Za-z0-9._-], the characters
 * of a user name. */
static bool query_word(const char *s)
{
    return access_user_valid(s);
}

int caresync_conflicts_query_json(struct caresync *c, const struct caresync_conflict_filter *f,
                                  char **ret)
{
    static const struct caresync_conflict_filter open_only = {0};
    struct http_reply rep = {0};
    const char *names[] = {"status", "person", "worker", "table", "kind", "priority"};
    const char *values[ELEMENTSOF(names)];
    _cleanup_(proto_conflicts_done) struct proto_conflicts list = {0};
    _cleanup_json_ cJSON *again = NULL;
    char path[512];
    size_t len;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    if (!f)
        f = &open_only;
    values[0] = f->status ? f->status : f->mine ? "all" : "open";
    values[1] = f->person_id;
    values[2] = f->worker;
    values[3] = f->table;
    values[4] = f->kind;
    values[5] = f->priority;
    len = (size_t)snprintf(path, sizeof(path), "/v1/conflicts?mine=%d", f->mine ? 1 : 0);
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        if (!values[i])
            continue;
        if (!query_word(values[i]))
            return cs_fail(c, CARESYNC_EUSAGE,
                           "bad --%s '%s': letters, digits, '.', '_' and '-' only", names[i],
                           values[i]);
        len += (size_t)snprintf(path + len, sizeof(path) - len, "&%s=%s", names[i], values[i]);
    }
    r = transport_request(c, "GET", path, NULL, true, "listing conflicts", &rep);
    if (r != CARESYNC_OK)
        return r;
    if (rep.status == 403)
        r = cs_fail(c, CARESYNC_EFORBIDDEN,
                    "not allowed: only coordinators can see the conflict log; 'caresync"
                    " conflicts --mine' lists the conflicts your own values lost");
    else if (rep.status == 400)
        r = cs_fail(c, CARESYNC_EUSAGE, "listing conflicts failed: %s (%s)", rep.message,
                    rep.code[0] ? rep.code : "bad request");
    else if (rep.status != 200)
        r = transport_fail(c, &rep, "listing conflicts");
    if (r == CARESYNC_OK) {
        r = proto_conflicts_decode_json(rep.json, &list);
        if (r == -EBADMSG)
            r = cs_fail(c, CARESYNC_ESERVER,
                        "listing conflicts failed: the server's reply is not one caresync"
                        " understands; check that the server is caresyncd");
        else if (r < 0 || !(again = proto_conflicts_encode(&list)) ||
                 json_take_string(cJSON_GetObjectItemCaseSensitive(again, "conflicts"), ret) < 0)
            r = cs_fail_errno(c, -ENOMEM, "listing conflicts failed");
    }
    http_reply_done(&rep);
    /* The worker has now seen their values in the log: the notice count starts again. */
    if (r == CARESYNC_OK && f->mine &&
        (db_meta_set(c->db, "lost_conflicts", NULL) < 0 ||
         db_meta_set_u64(c->db, "lost_values", 0) < 0))
        log_debug("cannot reset the lost_values count");
    return r;
}

int caresync_conflicts_json(struct caresync *c, bool all, char **ret)
{
    struct caresync_conflict_filter f = {.status = all ? "all" : "open"};

    return caresync_conflicts_query_json(c, &f, ret);
}

int caresync_resolve(struct caresync *c, int64_t id, enum caresync_resolution action,
                     const char *value, const char *reason, char **ret_json)
{
    static const char *const names[] = {"keep", "restore", "value"};
    _cleanup_(proto_conflict_done) struct proto_conflict conf = {0};
    _cleanup_json_ cJSON *body = NULL, *again = NULL;
    struct http_reply rep = {0};
    char path[64];
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    if (id <= 0)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "bad conflict id %" PRId64 "; see 'caresync"
                       " conflicts'",
                       id);
    if ((unsigned)action >= ELEMENTSOF(names))
        return cs_fail(c, CARESYNC_EUSAGE, "bad resolution: use --keep, --restore or --value");
    if (action == CARESYNC_RESOLVE_VALUE && value &&
        (strlen(value) > CAT_VALUE_MAX || !utf8_valid(value, strlen(value))))
        return cs_fail(c, CARESYNC_EUSAGE, "bad value: UTF-8 of at most %d bytes expected",
                       CAT_VALUE_MAX);
    if (!reason || !reason[strspn(reason, " \t")])
        return cs_fail(c, CARESYNC_EUSAGE,
                       "a resolution needs a reason: add --reason TEXT, a few words on why");
    if (strlen(reason) > CARESYNC_REASON_MAX || !utf8_valid(reason, strlen(reason)))
        return cs_fail(c, CARESYNC_EUSAGE, "bad reason: UTF-8 of at most %d bytes expected",
                       CARESYNC_REASON_MAX);
    /* The encoder only reads the strings: borrowed. */
    body = proto_resolve_request_encode(
            &(struct proto_resolve_request){.action = (char *)names[action],
                                            .has_value = action == CARESYNC_RESOLVE_VALUE,
                                            .value = (char *)value,
                                            .reason = (char *)reason});
    if (!body)
        return cs_fail_errno(c, -ENOMEM, "resolving failed");
    snprintf(path, sizeof(path), "/v1/conflicts/%" PRId64 "/resolve", id);
    r = transport_request(c, "POST", path, body, true, "resolving the conflict", &rep);
    if (r != CARESYNC_OK)
        return r;
    if (rep.status == 403)
        r = cs_fail(c, CARESYNC_EFORBIDDEN,
                    "not allowed: only coordinators can resolve"
                    " conflicts");
    else if (rep.status == 404)
        r = cs_fail(c, CARESYNC_ENOTFOUND,
                    "no conflict %" PRId64 " on the server; see"
                    " 'caresync conflicts --all'",
                    id);
    else if (rep.status == 400 &&
             (streq(rep.code, "invalid_value") || streq(rep.code, "value_too_long")))
        r = cs_fail(c, CARESYNC_EUSAGE, "resolving failed: the server refused it (%s: %s)",
                    rep.code[0] ? rep.code : "bad request", rep.message);
    else if (rep.status != 200)
        r = transport_fail(c, &rep, "resolving the conflict");
    if (r == CARESYNC_OK && ret_json) {
        r = proto_resolve_reply_decode_json(rep.json, &conf);
        if (r == -EBADMSG)
            r = cs_fail(c, CARESYNC_ESERVER,
                        "the conflict was resolved, but the server's reply is not one caresync"
                        " understands; see 'caresync conflicts --all'");
        else if (r < 0 || !(again = proto_conflict_encode(&conf)) ||
                 json_take_string(again, ret_json) < 0)
            r = cs_fail_errno(c, -ENOMEM, "the conflict was resolved, but");
    }
    http_reply_done(&rep);
    return r;
}
