/* SPDX-License-Identifier: MIT */
/* store_sync.c - POST /v1/sync on the store, the glue around the engine: the cursor and a store
 * that went back in time, engine_push() for the batch and engine_sync_pull() for the next page,
 * the pull's audit, the notices, the sealed cursor, in one transaction (store_sync_reported())
 * or in three so that the page is read on a reader (store_sync_push(), store_sync_page(),
 * store_sync_end(): docs/ARCHITECTURE.md "Threads"); and a coordinator's restore of a deleted
 * row. No SQL here: docs/internals/backend.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "store_int.h"

static int bad_cursor(struct store_error *err, const char *cursor)
{
    return engine_refused(err, "invalid_value", -1, -EINVAL,
                          "cursor %s is not one this server gave out; send \"\" to start again",
                          cursor);
}

/* ---- pull ---- */

/* Audit which people a pull page sent to which device: one event per person, with the number
 * of fields sent and whether it was a purge. */
static int audit_pull(struct store *s, const struct store_principal *p,
                      const struct proto_sync_reply *resp)
{
    _cleanup_free_ size_t *first = NULL, *fields = NULL; /* per person, in order of appearance */
    size_t n_people = 0;
    int r;

    first = calloc(resp->n_changes + 1, sizeof(*first));
    fields = calloc(resp->n_changes + 1, sizeof(*fields));
    if (!first || !fields)
        return -ENOMEM;
    for (size_t i = 0; i < resp->n_changes; i++) {
        const char *pid = resp->changes[i].person_id;
        size_t k = n_people;

        /* A page holds each person's fields together, mostly: look from the latest back. */
        while (k > 0 && !streq(resp->changes[first[k - 1]].person_id, pid))
            k--;
        if (k == 0) {
            first[n_people] = i;
            fields[n_people++] = 1;
        } else {
            fields[k - 1]++;
        }
    }
    for (size_t k = 0; k < n_people; k++) {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();

        if (!d || wire_add_string(d, "device", p->device_id) < 0 ||
            !cJSON_AddNumberToObject(d, "fields", (double)fields[k]))
            return -ENOMEM;
        r = store_audit(s, "pull", p->user_id, p->device_id, resp->changes[first[k]].person_id, d);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < resp->n_purge; i++) {
        _cleanup_json_ cJSON *d = cJSON_CreateObject();

        if (!d || wire_add_string(d, "device", p->device_id) < 0)
            return -ENOMEM;
        r = store_audit(s, "purge", p->user_id, p->device_id, resp->purge[i], d);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The device's report and its notices, inside the sync's transaction. */
static int sync_notices(struct store *s, const struct store_principal *p,
                        const struct store_device_report *rep, int64_t pending,
                        struct proto_sync_reply *resp)
{
    struct store_device_report done = *rep;
    int n;

    /* The sync recorded the pending count; with nothing left the oldest age is 0. */
    done.pending = -1;
    if (pending <= 0 && done.oldest_pending_ms > 0)
        done.oldest_pending_ms = 0;
    n = store_device_report_txn(s, p, &done, true, resp);
    if (n < 0)
        return n;
    resp->has_notices = true;
    resp->lost_values = (uint64_t)n;
    return 0;
}

/* ---- cursors, and a store that went back in time (docs/internals/audit.md, "Rewinds") ---- */

#define CURSOR_HASH_HEX 16 /* hex digits of the audit chain head a cursor carries */

/* A device's cursor: "SEQ:EPOCH:AUDIT_ID:HASH" (what this server gives out), or plain "SEQ"
 * (an older server's), or "" (start). */
struct dev_cursor {
    uint64_t seq;
    bool full; /* epoch and head present */
    char epoch[UUID_STR_MAX];
    int64_t head_id;
    char head_hash[CURSOR_HASH_HEX + 1];
};

static int cursor_parse(const char *text, struct dev_cursor *ret)
{
    char seq[24], epoch[UUID_STR_MAX + 1], id[24], hash[CURSOR_HASH_HEX + 2];
    uint64_t u;
    int n = 0;

    *ret = (struct dev_cursor){0};
    if (!text || !*text)
        return 0;
    if (!strchr(text, ':'))
        return parse_u64(text, &ret->seq);
    if (strlen(text) > 23 + 1 + 36 + 1 + 23 + 1 + CURSOR_HASH_HEX ||
        sscanf(text, "%23[0-9]:%36[0-9a-f-]:%23[0-9]:%17[0-9a-f]%n", seq, epoch, id, hash, &n) !=
            4 ||
        text[n] || strlen(hash) != CURSOR_HASH_HEX || !uuid_valid(epoch) ||
        parse_u64(seq, &ret->seq) < 0 || parse_u64(id, &u) < 0 || u > INT64_MAX)
        return -EINVAL;
    ret->full = true;
    memcpy(ret->epoch, epoch, UUID_STR_MAX);
    ret->head_id = (int64_t)u;
    memcpy(ret->head_hash, hash, sizeof(ret->head_hash));
    return 0;
}

/*
 * 1 when @dc is not a point of this store's history: a cursor ahead of its sequence, another
 * incarnation (a restore made a new epoch), or an audit chain head this store does not hold (a
 * copied file that went back, then went on). 0 when it is, or -errno.
 */
static int cursor_rewound(struct store *s, const struct dev_cursor *dc)
{
    int r;

    if (dc->seq > s->txn_seq)
        return 1;
    if (!dc->full)
        return 0;
    if (!streq(dc->epoch, s->epoch))
        return 1;
    r = store_audit_holds(s, dc->head_id, dc->head_hash);
    return r < 0 ? r : !r;
}

/*
 * Device @p showed that this store went back in time. Lift the sequence above everything the
 * device was told (and above store_seq_floor()), and audit what the chain lost. The device is
 * answered from cursor "" with "rewound": it sends again what it kept and re-reads.
 */
static int rewind_seen(struct store *s, const struct store_principal *p,
                       const struct dev_cursor *dc)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();
    uint64_t before, floor = store_seq_floor();
    char num[24];
    cJSON *lost;
    int r = store_head_need(s); /* the lift is the head's */

    if (r < 0)
        return r;
    before = s->txn_seq;
    if (s->txn_seq < dc->seq)
        s->txn_seq = dc->seq;
    if (s->txn_seq < floor)
        s->txn_seq = floor;
    s->txn_seq += 1000; /* a gap: nothing is numbered next to a number someone holds */
    if (!d)
        return -ENOMEM;
    snprintf(num, sizeof(num), "%" PRIu64, dc->seq);
    r |= wire_add_string(d, "device_seq", num) < 0;
    r |= wire_add_string(d, "device_epoch", dc->full ? dc->epoch : NULL) < 0;
    r |= wire_add_string(d, "store_epoch", s->epoch) < 0;
    snprintf(num, sizeof(num), "%" PRIu64, before);
    r |= wire_add_string(d, "store_seq_before", num) < 0;
    snprintf(num, sizeof(num), "%" PRIu64, s->txn_seq);
    r |= wire_add_string(d, "store_seq_after", num) < 0;
    lost = cJSON_AddObjectToObject(d, "lost");
    r |= !lost;
    if (lost && dc->full && streq(dc->epoch, s->epoch)) {
        /* The same incarnation: the device saw rows this file no longer has. */
        r |= !cJSON_AddNumberToObject(lost, "after_row", (double)s->open_audit_id);
        r |= !cJSON_AddNumberToObject(lost, "through_row_at_least", (double)dc->head_id);
        r |= wire_add_string(lost, "hash_of_that_row", dc->head_hash) < 0;
    } else if (lost) {
        /* Another incarnation: its `restore` event names the span. */
        r |= wire_add_string(lost, "see", dc->full ? "restore" : "sequence") < 0;
    }
    if (r)
        return -ENOMEM;
    return store_audit(s, "rewind", 0, p->device_id, NULL, d);
}

/* The reply's cursor, with this store's epoch and audit chain head after this request's own
 * events (the device sends them back: cursor_rewound()). */
static int cursor_seal(struct store *s, struct proto_sync_reply *resp)
{
    char hash[SHA256_HEX_MAX], text[160];
    const char *seq = resp->cursor;
    int64_t id;
    int r;

    if (!seq || !*seq)
        return 0;
    r = store_audit_head(s, &id, hash);
    if (r < 0)
        return r;
    snprintf(text, sizeof(text), "%s:%s:%" PRId64 ":%.*s", seq, s->epoch, id, CURSOR_HASH_HEX,
             hash);
    return proto_sync_reply_set_cursor(resp, text);
}

int store_sync(struct store *s, const struct store_principal *p, const struct change_record *changes,
               size_t n, const char *cursor, bool pull, int64_t pending, const char *client_version,
               cJSON **ret, struct store_error *err)
{
    _cleanup_(proto_sync_reply_done) struct proto_sync_reply reply = {0};
    int r;

    r = store_sync_reported(s, p, changes, n, cursor, pull, pending, client_version, NULL, &reply,
                            err);
    if (r < 0)
        return r;
    *ret = proto_sync_reply_encode(&reply);
    return *ret ? 0 : -ENOMEM;
}

/* What a sync carries from its push to its page and from its page to its end. */
struct store_sync_later {
    uint64_t cur, pushed_after;
    struct engine_pull_state pulled;
    bool pull;
    bool page_on_writer; /* the sweep has records to mark: the page follows it on the writer */
    char *cursor; /* as the device sent it */
};

/* The end of one of a sync's write transactions: committed when @r says all went well, else
 * rolled back with the audit events batched for it. Returns @r or the commit's failure. */
static int sync_txn_end(struct store *s, int r)
{
    if (r >= 0)
        return s->be.ops->commit(&s->be);
    store_audit_batch_drop(s);
    s->be.ops->rollback(&s->be);
    return r;
}

static void engine_of(struct store *s, struct engine *e)
{
    *e = (struct engine){.b = &s->be, .node_id = s->node_id, .max_forward_ms = s->max_forward_ms,
                         .grace_ms = s->grace_ms,
                         .max_device_conflicts = s->max_device_conflicts};
}

/* Inside the sync's write transaction: the cursor, a store that went back in time, the push,
 * and for a pull the device's pull state. */
static int sync_front(struct store *s, const struct store_principal *p,
                      const struct change_record *changes, size_t n, int64_t pending,
                      const char *client_version, struct store_sync_later *l,
                      struct proto_sync_reply *resp, struct store_error *err)
{
    struct engine e;
    struct dev_cursor dc;
    int r;

    engine_of(s, &e);
    if (cursor_parse(l->cursor, &dc) < 0)
        return bad_cursor(err, l->cursor);
    l->cur = dc.seq;
    /* Sequence numbers start at least at the wall clock in ms x 1000 (store_seq_floor()) and
     * grow by one per write: a cursor far beyond that was given out by no server of ours, and
     * believing it would lift the sequence to where it overflows. */
    if (dc.seq > s->txn_seq && dc.seq > store_seq_floor() + STORE_CURSOR_AHEAD_MAX)
        return bad_cursor(err, l->cursor);
    r = cursor_rewound(s, &dc);
    if (r > 0) {
        /* Not a point of this store's history: the store went back in time. */
        r = rewind_seen(s, p, &dc);
        l->cur = 0;
        resp->rewound = true;
    }
    if (r < 0)
        return engine_failure(err, r);
    l->pushed_after = s->txn_seq;
    r = engine_push(&e, p, changes, n, resp, pending, client_version, err);
    if (r < 0)
        return r;
    if (l->pull)
        r = engine_sync_pull_begin(&e, p, l->cursor, &l->cur, &l->pulled);
    return r < 0 ? engine_failure(err, r) : 0;
}

/* The closed records' sweep and the page. In a write transaction (@write) the sweep marks
 * what it finds; in a read-only snapshot, when it finds any, it returns 1 and the page is left
 * for a write transaction, so that the page holds the purges the sweep makes. */
static int sync_page(struct store *s, const struct store_principal *p, struct store_sync_later *l,
                     bool write, struct proto_sync_reply *resp)
{
    struct engine e;
    int r;

    engine_of(s, &e);
    r = engine_sync_pull_sweep(&e, write);
    if (r != 0)
        return r;
    return engine_sync_pull_page(&e, p, l->cur, l->pushed_after, resp, &l->pulled);
}

/* Inside a write transaction, after the page: its audit, the device's report and notices, the
 * clock, the sealed cursor and what the device was given. @rep NULL: no report. */
static int sync_back(struct store *s, const struct store_principal *p, struct store_sync_later *l,
                     const struct store_device_report *rep, int64_t pending,
                     struct proto_sync_reply *resp)
{
    struct engine e;
    int r = 0;

    engine_of(s, &e);
    /* The head now, if the push took none: the audit, the clock and the chain's tail need it,
     * and while it is held no conflict is numbered, so the notices' cursor passes none. */
    r = store_head_need(s);
    if (r < 0)
        return r;
    if (l->pull)
        r = audit_pull(s, p, resp);
    else {
        r = proto_sync_reply_set_cursor(resp, l->cursor);
        resp->more = false;
    }
    if (r >= 0 && rep)
        r = sync_notices(s, p, rep, pending, resp);
    if (r >= 0)
        resp->server_hlc = store_tick(s);
    if (r >= 0 && l->pull)
        r = cursor_seal(s, resp);
    /* After the seal: the device sends back the cursor exactly as the reply gives it. */
    if (r >= 0 && l->pull)
        r = engine_sync_pull_end(&e, p, resp, &l->pulled);
    return r;
}

void store_sync_later_free(struct store_sync_later *l)
{
    if (!l)
        return;
    free(l->cursor);
    free(l);
}

static struct store_sync_later *later_new(const char *cursor, bool pull)
{
    struct store_sync_later *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->pull = pull;
    l->cursor = strdup(cursor ? cursor : "");
    if (!l->cursor) {
        free(l);
        return NULL;
    }
    return l;
}

int store_sync_reported(struct store *s, const struct store_principal *p,
                        const struct change_record *changes, size_t n, const char *cursor,
                        bool pull, int64_t pending, const char *client_version,
                        const struct store_device_report *rep, struct proto_sync_reply *ret,
                        struct store_error *err)
{
    struct store_sync_later *l = later_new(cursor, pull);
    int r;

    if (!l)
        return engine_failure(err, -ENOMEM);
    r = store_sync_begin(s, p);
    if (r < 0) {
        store_sync_later_free(l);
        return engine_failure(err, r);
    }
    r = sync_front(s, p, changes, n, pending, client_version, l, ret, err);
    if (r >= 0 && pull)
        r = sync_page(s, p, l, true, ret);
    if (r >= 0)
        r = sync_back(s, p, l, rep, pending, ret);
    r = sync_txn_end(s, r);
    store_sync_later_free(l);
    if (r < 0 && !err->code)
        return engine_failure(err, r);
    return r < 0 ? r : 0;
}

/* One try of store_sync_push(). */
static int sync_push_once(struct store *s, const struct store_principal *p,
                          const struct change_record *changes, size_t n, const char *cursor,
                          bool pull, int64_t pending, const char *client_version,
                          const struct store_device_report *rep, struct proto_sync_reply *ret,
                          struct store_error *err, struct store_sync_later **later)
{
    _cleanup_(store_sync_later_freep) struct store_sync_later *l = later_new(cursor, pull);
    int r;

    *later = NULL;
    if (!l)
        return engine_failure(err, -ENOMEM);
    r = store_sync_begin(s, p);
    if (r < 0)
        return engine_failure(err, r);
    r = sync_front(s, p, changes, n, pending, client_version, l, ret, err);
    /* Without a pull the whole sync is here; with one, its page comes from a reader once this
     * has committed, and the report waits for the reply it belongs to. */
    if (r >= 0 && !pull)
        r = sync_back(s, p, l, rep, pending, ret);
    r = sync_txn_end(s, r);
    if (r < 0 && !err->code)
        return engine_failure(err, r);
    if (r < 0)
        return r;
    if (pull)
        *later = TAKE_PTR(l);
    return 0;
}

int store_sync_push(struct store *s, const struct store_principal *p,
                    const struct change_record *changes, size_t n, const char *cursor, bool pull,
                    int64_t pending, const char *client_version,
                    const struct store_device_report *rep, struct proto_sync_reply *ret,
                    struct store_error *err, struct store_sync_later **later)
{
    int r = sync_push_once(s, p, changes, n, cursor, pull, pending, client_version, rep, ret,
                           err, later);

    /* PostgreSQL chose this transaction to fail (a deadlock, a serialization failure): it
     * was rolled back whole, so one more try here spares the device a 503 and its wait. The
     * reply is made again from nothing. */
    if (r == -EAGAIN || (r < 0 && err->err == -EAGAIN)) {
        proto_sync_reply_done(ret);
        *ret = (struct proto_sync_reply){0};
        *err = (struct store_error){0};
        r = sync_push_once(s, p, changes, n, cursor, pull, pending, client_version, rep, ret,
                           err, later);
    }
    return r;
}

int store_sync_page(struct store *s, const struct store_principal *p, struct store_sync_later *l,
                    struct proto_sync_reply *ret, struct store_error *err)
{
    int r = store_read_begin(s);

    if (r == -EOPNOTSUPP) {
        /* A store with no snapshot reads (PostgreSQL, for now): the page on the writer. */
        l->page_on_writer = true;
        return 0;
    }
    if (r < 0)
        return engine_failure(err, r);
    r = sync_page(s, p, l, false, ret);
    store_txn_rollback(s); /* read only */
    if (r > 0) {
        l->page_on_writer = true; /* rare: a record's keep ran out */
        r = 0;
    }
    return r < 0 ? engine_failure(err, r) : 0;
}

int store_sync_end(struct store *s, const struct store_principal *p, struct store_sync_later *l,
                   const struct store_device_report *rep, int64_t pending,
                   struct proto_sync_reply *ret, struct store_error *err)
{
    struct pull_device now;
    int r = store_sync_begin(s, p);

    if (r < 0)
        return engine_failure(err, r);
    /* Another sync of the same device may have ended since the push: the given cursor only
     * rises. */
    r = s->be.ops->pull_device(&s->be, p, &now);
    if (r >= 0 && now.given_cursor > l->pulled.dev.given_cursor)
        l->pulled.dev.given_cursor = now.given_cursor;
    if (r >= 0 && l->page_on_writer)
        r = sync_page(s, p, l, true, ret);
    if (r >= 0)
        r = sync_back(s, p, l, rep, pending, ret);
    r = sync_txn_end(s, r);
    return r < 0 ? engine_failure(err, r) : 0;
}

/* ---- a coordinator's restore of a deleted row ---- */

int store_row_restore(struct store *s, const struct store_principal *p, const char *tbl,
                      const char *row_id, const char *reason, struct proto_restore_reply *ret,
                      const char **why)
{
    _cleanup_(store_field_cur_done) struct field_cur del = {0};
    _cleanup_json_ cJSON *d = NULL;
    char person[UUID_STR_MAX] = "", cid[UUID_STR_MAX];
    size_t n = reason ? strlen(reason) : 0;
    int r;

    if (!catalogue_table(tbl)) {
        *why = "unknown table";
        return -EINVAL;
    }
    if (n == 0 || strspn(reason, " \t") == n) {
        *why = "a restore needs a reason: say in a few words why";
        return -EINVAL;
    }
    if (n > STORE_REASON_MAX || !utf8_valid(reason, n)) {
        *why = "the reason must be UTF-8 of at most 500 bytes";
        return -EINVAL;
    }
    if (!uuid_valid(row_id))
        return -ENOENT;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = store_row_owner(s, tbl, row_id, person);
    if (r < 0)
        goto fail;
    if (r == 0 || !uuid_valid(person)) {
        r = -ENOENT;
        goto fail;
    }
    r = store_field_current(s, tbl, row_id, CAT_DELETED_FIELD, &del);
    if (r < 0)
        goto fail;
    if (!del.exists || !del.value || !streq(del.value, "1")) {
        r = -EALREADY;
        goto fail;
    }
    r = store_write_field(s, p->device_id, p->user_id, tbl, row_id, person, CAT_DELETED_FIELD,
                          "0", cid);
    if (r < 0)
        goto fail;
    d = cJSON_CreateObject();
    if (!d || wire_add_string(d, "table", tbl) < 0 || wire_add_string(d, "row_id", row_id) < 0 ||
        wire_add_string(d, "change_id", cid) < 0 || wire_add_string(d, "deleted_by_change",
                                                                    del.change_id) < 0 ||
        wire_add_string(d, "reason", reason) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    r = store_audit(s, "restore", p->user_id, p->device_id, person, d);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    copy_text(ret->table, sizeof(ret->table), tbl);
    copy_text(ret->row_id, sizeof(ret->row_id), row_id);
    copy_text(ret->person_id, sizeof(ret->person_id), person);
    copy_text(ret->change_id, sizeof(ret->change_id), cid);
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}
