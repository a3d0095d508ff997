/* SPDX-License-Identifier: MIT */
/* export.c - one person from the replica as a FHIR R4 transaction Bundle, offline: the object
 * `caresync show PERSON --json` prints, handed to the builder in common/fhir.c. Each export is
 * kept in table export_log until a sync sends it to the server's audit log. */
#include "caresync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "caresync_int.h"
#include "db.h"
#include "fhir.h"
#include "log.h"
#include "wire.h"

/* The most exports one sync sends; the rest go with the next. */
#define EXPORT_LOG_BATCH 500

/* Keep the export of @person_id at @at for the server's audit log. Returns 0 or -errno. */
static int export_log_add(struct caresync *c, const char *person_id, const char *at)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = db_prepare(c->db, "INSERT INTO export_log(person_id, at) VALUES(?, ?)", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, person_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, at, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* The exports not yet sent into q->exports, and the last one's id (0: none). */
static int export_log_load(struct caresync *c, struct proto_sync_request *q, int64_t *ret_last)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int64_t last = 0;
    int r, rc;

    q->exports = calloc(EXPORT_LOG_BATCH, sizeof(*q->exports));
    if (!q->exports)
        return -ENOMEM;
    r = db_prepare(c->db, "SELECT id, person_id, at FROM export_log ORDER BY id LIMIT ?", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, EXPORT_LOG_BATCH);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && q->n_exports < EXPORT_LOG_BATCH) {
        struct proto_export *e = &q->exports[q->n_exports++];

        last = sqlite3_column_int64(st, 0);
        copy_text(e->person_id, sizeof(e->person_id), sqlite3_column_text(st, 1));
        copy_text(e->at, sizeof(e->at), sqlite3_column_text(st, 2));
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_errno(rc);
    *ret_last = last;
    return 0;
}

int export_log_send(struct caresync *c)
{
    _cleanup_(proto_sync_request_done) struct proto_sync_request q = {0};
    _cleanup_json_ cJSON *req = NULL;
    _cleanup_stmt_ sqlite3_stmt *del = NULL;
    struct http_reply rep = {0};
    int64_t last = 0;
    int r, rc;

    r = export_log_load(c, &q, &last);
    if (r >= 0 && last == 0)
        return CARESYNC_OK;
    if (r >= 0)
        r = db_meta_get(c->db, "cursor", &q.cursor);
    if (r < 0)
        return cs_fail_errno(c, r, "sync failed: cannot read the exports to report");
    /* A sync of its own that pushes and pulls nothing: the cursor stays where it is. */
    q.pull = false;
    req = proto_sync_request_encode(&q);
    if (!req)
        return cs_fail_errno(c, -ENOMEM, "sync failed: cannot build the request");
    r = transport_request(c, "POST", "/v1/sync", req, true, "sync", &rep);
    if (r != CARESYNC_OK)
        return r;
    if (rep.status != 200) {
        r = transport_fail(c, &rep, "sync (reporting exports)");
        http_reply_done(&rep);
        return r;
    }
    http_reply_done(&rep);
    r = db_prepare(c->db, "DELETE FROM export_log WHERE id <= ?", &del);
    if (r >= 0) {
        sqlite3_bind_int64(del, 1, last);
        rc = sqlite3_step(del);
        r = rc == SQLITE_DONE ? 0 : db_errno(rc);
    }
    /* Sent again next time; the server records each once. */
    if (r < 0)
        return cs_fail_errno(c, r, "sync failed: cannot note the exports as sent");
    return CARESYNC_OK;
}

/* When the About Me was last written: the highest clock of its fields the replica holds. */
static int about_me_authored(struct caresync *c, const char *person_id, cJSON *tree)
{
    int64_t hlc = 0;
    int r = db_query_i64(c->db, "SELECT max(hlc) FROM field_version WHERE tbl = 'about_me'"
                                " AND row_id = ?1 AND field <> '_deleted'", person_id, &hlc);

    return r < 0 ? r : fhir_set_authored(tree, (uint64_t)hlc);
}

/* The Bundle, or with @max > 0 its slices one per line, in *ret (malloc'd). */
static int export_fhir(struct caresync *c, const char *person_id, size_t max, char **ret);

int caresync_export_fhir(struct caresync *c, const char *person_id, char **ret)
{
    return export_fhir(c, person_id, 0, ret);
}

int caresync_export_fhir_split(struct caresync *c, const char *person_id, size_t max_entries,
                               char **ret)
{
    if (max_entries == 0)
        return cs_fail(c, CARESYNC_EUSAGE, "--max-entries must be at least 1");
    return export_fhir(c, person_id, max_entries, ret);
}

static int export_fhir(struct caresync *c, const char *person_id, size_t max, char **ret)
{
    _cleanup_json_ cJSON *tree = NULL, *bundle = NULL;
    char now[WHEN_ISO_MAX];
    char *s;
    int r;

    r = cs_person_tree(c, person_id, &tree);
    if (r != CARESYNC_OK)
        return r;
    r = about_me_authored(c, person_id, tree);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the person");
    bundle = fhir_bundle(tree, when_now_iso(now));
    if (!bundle)
        return cs_fail_errno(c, -ENOMEM, "cannot build the FHIR Bundle");
    /* No export the audit log does not hear of, except on a full disk, where reading (this
     * included) keeps working (README, "A full disk"): then it says so. */
    r = export_log_add(c, person_id, now);
    if (r == -ENOSPC || r == -EACCES || r == -EIO)
        log_warn("this export could not be recorded for the audit log: %s; tell your "
                 "coordinator",
                 strerror(-r));
    else if (r < 0)
        return cs_fail_errno(c, r, "cannot record the export for the audit log");
    if (max) {
        *ret = fhir_split_lines(bundle, max);
        return *ret ? CARESYNC_OK : cs_fail_errno(c, -ENOMEM, "cannot build the FHIR Bundles");
    }
    s = cJSON_Print(bundle);
    if (!s)
        return cs_fail_errno(c, -ENOMEM, "cannot build the FHIR Bundle");
    /* cJSON allocates with malloc by default; hand out a copy the caller frees with free(). */
    *ret = strdup(s);
    cJSON_free(s);
    if (!*ret)
        return cs_fail_errno(c, -ENOMEM, "cannot build the FHIR Bundle");
    return CARESYNC_OK;
}
