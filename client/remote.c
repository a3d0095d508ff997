/* SPDX-License-Identifier: MIT */
/* remote.c - the online calls other than sync: enrolment, and the coordinator's conflict log
 * (list and resolve). */
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

/* Write @len bytes to @path atomically (a 0600 temporary file, fsync, rename). */
static int write_file_atomic(const char *path, const void *data, size_t len)
{
    size_t tl = strlen(path) + 5;
    _cleanup_free_ char *tmp = malloc(tl);
    const char *p = data;
    int fd, r = 0;

    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, tl, "%s.tmp", path);
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(tmp);
    return r;
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

struct enrolment {
    const char *device_id, *token, *user, *role;
    uint64_t server_hlc;
};

static int parse_enrolment(struct caresync *c, const cJSON *j, struct enrolment *e)
{
    const char *hs = NULL;

    if (wire_get_string(j, "device_id", &e->device_id) < 0 || !uuid_valid(e->device_id) ||
        wire_get_string(j, "token", &e->token) < 0 || !*e->token ||
        strlen(e->token) >= CS_TOKEN_MAX || wire_get_string(j, "user", &e->user) < 0 ||
        wire_get_string(j, "role", &e->role) < 0 || wire_get_string(j, "server_hlc", &hs) < 0 ||
        hlc_parse(hs, &e->server_hlc) < 0)
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
static int store_enrolment(struct caresync *c, const struct enrolment *e, const char *ca,
                           size_t ca_len)
{
    char line[CS_TOKEN_MAX + 2];
    int r;

    snprintf(line, sizeof(line), "%s\n", e->token);
    r = write_file_atomic(c->token_path, line, strlen(line));
    explicit_bzero(line, sizeof(line));
    if (r < 0)
        return cs_fail_errno(c, r, "enrol failed: cannot write the token file");
    r = write_file_atomic(c->ca_path, ca, ca_len);
    if (r < 0)
        return cs_fail_errno(c, r, "enrol failed: cannot write the CA file");
    r = db_begin(c->db, true);
    if (r >= 0)
        r = db_meta_set(c->db, "server_url", c->server_url);
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
    _cleanup_json_ cJSON *body = cJSON_CreateObject();
    struct http_reply rep = {0};
    struct enrolment e = {0};
    int r;

    if (!body || wire_add_string(body, "code", code) < 0 ||
        (device_name && wire_add_string(body, "device_name", device_name) < 0) ||
        wire_add_string(body, "client_version", CARESYNC_VERSION) < 0)
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
    if (!ca_path || !*ca_path)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "missing CA file: pass --ca CA.pem (the server's"
                       " CA certificate)");
    r = read_small_file(ca_path, CS_CA_MAX, &ca, &ca_len);
    if (r < 0)
        return cs_fail(c, CARESYNC_EUSAGE, "cannot read the CA file %s: %s", ca_path,
                       r == -E2BIG ? "larger than 1 MiB" : strerror(-r));
    if (!strstr(ca, PEM_CERT_BEGIN))
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
    r = enrol_run(c, code, device_name, ca, ca_len);
    c->ca_override = NULL;
    explicit_bzero(ca, ca_len);
    if (r != CARESYNC_OK) {
        free(c->server_url);
        c->server_url = NULL;
        enrol_cleanup(c, created_db, created_home);
    }
    return r;
}

/* ---- conflicts ---- */

int caresync_conflicts_json(struct caresync *c, bool all, char **ret)
{
    struct http_reply rep = {0};
    const cJSON *arr;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    r = transport_request(c, "GET", all ? "/v1/conflicts?status=all" : "/v1/conflicts?status=open",
                          NULL, true, "listing conflicts", &rep);
    if (r != CARESYNC_OK)
        return r;
    if (rep.status == 403)
        r = cs_fail(c, CARESYNC_EFORBIDDEN,
                    "not allowed: only coordinators can see the"
                    " conflict log");
    else if (rep.status != 200)
        r = transport_fail(c, &rep, "listing conflicts");
    if (r == CARESYNC_OK) {
        arr = cJSON_GetObjectItemCaseSensitive(rep.json, "conflicts");
        if (!cJSON_IsArray(arr))
            r = cs_fail(c, CARESYNC_ESERVER,
                        "listing conflicts failed: the server's reply has"
                        " no \"conflicts\" array");
        else if (json_take_string(arr, ret) < 0)
            r = cs_fail_errno(c, -ENOMEM, "listing conflicts failed");
    }
    http_reply_done(&rep);
    return r;
}

int caresync_resolve(struct caresync *c, int64_t id, enum caresync_resolution action,
                     const char *value, char **ret_json)
{
    static const char *const names[] = {"keep", "restore", "value"};
    _cleanup_json_ cJSON *body = NULL;
    struct http_reply rep = {0};
    const cJSON *conf;
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
    body = cJSON_CreateObject();
    if (!body || wire_add_string(body, "action", names[action]) < 0 ||
        (action == CARESYNC_RESOLVE_VALUE && wire_add_string(body, "value", value) < 0))
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
    else if (rep.status == 409 && streq(rep.code, "already_resolved"))
        r = cs_fail(c, CARESYNC_ESERVER,
                    "conflict %" PRId64 " is already resolved; see"
                    " 'caresync conflicts --all'",
                    id);
    else if (rep.status == 400 &&
             (streq(rep.code, "invalid_value") || streq(rep.code, "value_too_long")))
        r = cs_fail(c, CARESYNC_EUSAGE, "resolving failed: the server refused it (%s: %s)",
                    rep.code[0] ? rep.code : "bad request", rep.message);
    else if (rep.status != 200)
        r = transport_fail(c, &rep, "resolving the conflict");
    if (r == CARESYNC_OK && ret_json) {
        conf = cJSON_GetObjectItemCaseSensitive(rep.json, "conflict");
        if (!cJSON_IsObject(conf))
            r = cs_fail(c, CARESYNC_ESERVER,
                        "the conflict was resolved, but the server's"
                        " reply has no \"conflict\" object");
        else if (json_take_string(conf, ret_json) < 0)
            r = cs_fail_errno(c, -ENOMEM, "the conflict was resolved, but");
    }
    http_reply_done(&rep);
    return r;
}
