/* SPDX-License-Identifier: MIT */
/* store_conflicts.c - the conflict inbox on the store: list with filters and priority, resolve
 * (keep, restore or a new value, written as ordinary changes) with a reason, supersede an
 * earlier resolution keeping every one, and count the notices owed to the workers whose values
 * lost. docs/internals/merge.md, docs/PROTOCOL.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

/* ---- listing ---- */

/* Safety-critical entries first: any field of an alert or a consent record, and notes raising a
 * safeguarding concern. */
#define CONFLICT_PRIORITY                                                                          \
    "(CASE WHEN c.tbl IN ('alert', 'consent') OR (c.tbl = 'note' AND"                              \
    " nc.value = 'safeguarding-concern') THEN 'high' ELSE 'normal' END)"

#define CONFLICT_SELECT                                                                            \
    "SELECT c.id, c.kind, c.review, c.status, c.tbl, c.row_id, c.person_id, pn.value, c.field,"    \
    " w.value, w.hlc, w.device, wu.name, l.value, l.hlc, l.device, lu.name, c.loser_change_id,"    \
    " fs.value, c.created_ms, c.resolution, c.resolved_value, ru.name, c.resolved_ms, c.reason,"   \
    " " CONFLICT_PRIORITY ", w.field, fd.value"                                                    \
    " FROM conflicts c JOIN change_log l ON l.change_id = c.loser_change_id"                      \
    " LEFT JOIN change_log w ON w.change_id = c.winner_change_id"                                 \
    " LEFT JOIN users lu ON lu.id = l.user_id LEFT JOIN users wu ON wu.id = w.user_id"             \
    " LEFT JOIN users ru ON ru.id = c.resolved_by"                                                 \
    " LEFT JOIN field_state fs ON fs.tbl = c.tbl AND fs.row_id = c.row_id AND fs.field = c.field" \
    " LEFT JOIN field_state pn ON pn.tbl = 'person' AND pn.row_id = c.person_id"                  \
    "  AND pn.field = 'name'"                                                                      \
    " LEFT JOIN field_state nc ON nc.tbl = 'note' AND nc.row_id = c.row_id"                       \
    "  AND nc.field = 'category'"                                                                  \
    " LEFT JOIN field_state fd ON fd.tbl = c.tbl AND fd.row_id = c.row_id"                        \
    "  AND fd.field = '_deleted'"

static const char *const conflict_kinds[] = {"concurrent_edit", "edit_after_delete",
                                             "out_of_scope", "missed_vs_completed",
                                             "append_only", "clock_corrected"};

bool store_conflict_kind_valid(const char *kind)
{
    for (size_t i = 0; kind && i < ELEMENTSOF(conflict_kinds); i++)
        if (streq(kind, conflict_kinds[i]))
            return true;
    return false;
}

/* ISO date-time of the ms column @i of @st, malloc'd; *oom set on failure. */
static char *column_time(struct sql_stmt *st, int i, bool *oom)
{
    char ts[ISO_TIME_MAX], *t = strdup(iso_time((uint64_t)sql_column_int64(st, i), ts));

    if (!t)
        *oom = true;
    return t;
}

/* Every resolution of conflict @id, oldest first, appended to @c's history. */
static int resolution_history(struct store *s, int64_t id, struct proto_conflict *c)
{
    struct sql_stmt *st = store_sql(s, "SELECT r.action, r.value, r.wrote, r.reason, u.name,"
                                     " r.resolved_ms FROM conflict_resolutions r"
                                     " LEFT JOIN users u ON u.id = r.resolved_by"
                                     " WHERE r.conflict_id = ? ORDER BY r.id");
    bool oom = false;
    int rc;

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, id);
    while (!oom && (rc = sql_step(st)) == SQL_ROW) {
        struct proto_resolution *h = proto_conflict_add_resolution(c);

        if (!h) {
            oom = true;
            break;
        }
        h->action = store_column_strdup(st, 0, &oom);
        h->value = store_column_strdup(st, 1, &oom);
        h->wrote = (int)sql_column_int64(st, 2);
        h->reason = store_column_strdup(st, 3, &oom);
        h->by = store_column_strdup(st, 4, &oom);
        h->at = column_time(st, 5, &oom);
    }
    sql_reset(st);
    if (oom)
        return -ENOMEM;
    return rc == SQL_DONE ? 0 : rc;
}

/* ---- describing a row for a human ---- */

/*
 * How each table's rows are described: a template where {field} is the field's value, {field:w}
 * its first words in quotes, {field:t} a time "YYYY-MM-DD HH:MM UTC" and {person} the person's
 * name. A missing value leaves its place empty.
 */
static const struct {
    const char *tbl, *tmpl;
} describe_tmpl[] = {
        {"person", "person record of {person}"},
        {"related_person", "contact {name} ({relationship}) of {person}"},
        {"about_me", "About Me of {person}"},
        {"care_plan", "care plan {title:w} of {person}"},
        {"goal", "goal {description:w} of {person}"},
        {"plan_action", "action {what:w} of {person}"},
        {"plan_review", "plan review of {review_date} for {person}"},
        {"visit", "{visit_type} visit planned {planned_start:t} for {person}"},
        {"note", "{category} note {text:w} about {person}"},
        {"observation", "observation {kind} {value} {unit} for {person}"},
        {"goal_progress", "goal progress {in_own_words:w} for {person}"},
        {"consent", "consent {decision} for {sector} ({data_class}) of {person}"},
        {"alert", "{category} alert {text:w} for {person}"},
};

#define DESCRIBE_WORDS 8
#define DESCRIBE_WORD_CHARS 60
#define DESCRIBE_MAX 480

/* A description being written: bytes beyond DESCRIBE_MAX are dropped, whole characters only. */
struct desc {
    char data[DESCRIBE_MAX + 1];
    size_t len;
};

static void buf_put(struct desc *b, const char *p, size_t n)
{
    if (n > DESCRIBE_MAX - b->len) {
        n = DESCRIBE_MAX - b->len;
        while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Append @v's first words (at most DESCRIBE_WORDS and about DESCRIBE_WORD_CHARS bytes, never
 * splitting a UTF-8 sequence) in quotes, whitespace runs as one space, "..." when cut. */
static void put_words(struct desc *b, const char *v)
{
    size_t words = 0, start = b->len;
    bool space = false, cut = false;

    buf_put(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c <= ' ') {
            space = b->len > start + 1;
            continue;
        }
        if (space) {
            if (++words >= DESCRIBE_WORDS || b->len - start > DESCRIBE_WORD_CHARS) {
                cut = true;
                break;
            }
            buf_put(b, " ", 1);
            space = false;
        }
        if ((c & 0xc0) != 0x80 && b->len - start > DESCRIBE_WORD_CHARS + 20) {
            cut = true;
            break;
        }
        buf_put(b, p, 1);
    }
    buf_put(b, cut ? "...\"" : "\"", cut ? 4 : 1);
}

/* Append the time @v ("YYYY-MM-DDTHH:MM...Z") as "YYYY-MM-DD HH:MM UTC", else as it is. */
static void put_time(struct desc *b, const char *v)
{
    if (strlen(v) >= 16 && v[10] == 'T') {
        buf_put(b, v, 10);
        buf_put(b, " ", 1);
        buf_put(b, v + 11, 5);
        buf_put(b, " UTC", 4);
    } else {
        buf_put(b, v, strlen(v));
    }
}

/* The current value of @field of row @row_id, or NULL; *oom set on failure. */
static char *row_value(struct store *s, const char *tbl, const char *row_id, const char *field,
                       bool *oom)
{
    struct sql_stmt *st = store_sql(s, "SELECT value FROM field_state WHERE tbl = ? AND row_id = ?"
                                     " AND field = ?");
    char *v = NULL;

    if (!st) {
        *oom = true;
        return NULL;
    }
    sql_bind_text(st, 1, tbl);
    sql_bind_text(st, 2, row_id);
    sql_bind_text(st, 3, field);
    if (sql_step(st) == SQL_ROW)
        v = store_column_strdup(st, 0, oom);
    sql_reset(st);
    return v;
}

/*
 * A description of row @row_id of @tbl for a human, such as 'home visit planned 2026-11-30
 * 10:00 UTC for Ada Example' or 'safeguarding-concern note "Neighbour says she has not..."
 * about Ada Example', malloc'd in *ret.
 */
static int describe(struct store *s, const char *tbl, const char *row_id, const char *person,
                    char **ret)
{
    struct desc b = {.len = 0};
    const char *tmpl = "{table} row of {person}";
    bool oom = false;

    for (size_t i = 0; i < ELEMENTSOF(describe_tmpl); i++)
        if (streq(describe_tmpl[i].tbl, tbl))
            tmpl = describe_tmpl[i].tmpl;
    for (const char *p = tmpl; *p && !oom;) {
        const char *end;
        char name[64], *colon;

        if (*p != '{' || !(end = strchr(p, '}')) || (size_t)(end - p - 1) >= sizeof(name)) {
            buf_put(&b, p++, 1);
            continue;
        }
        memcpy(name, p + 1, (size_t)(end - p - 1));
        name[end - p - 1] = '\0';
        p = end + 1;
        colon = strchr(name, ':');
        if (colon)
            *colon++ = '\0';
        if (streq(name, "person")) {
            buf_put(&b, person ? person : "an unnamed person",
                          strlen(person ? person : "an unnamed person"));
        } else if (streq(name, "table")) {
            buf_put(&b, tbl, strlen(tbl));
        } else {
            _cleanup_free_ char *v = row_value(s, tbl, row_id, name, &oom);

            if (!v)
                continue;
            if (colon && streq(colon, "w"))
                put_words(&b, v);
            else if (colon && streq(colon, "t"))
                put_time(&b, v);
            else
                buf_put(&b, v, strlen(v));
        }
    }
    if (oom)
        return -ENOMEM;
    /* Places left empty: no doubled, leading or dangling spaces, no empty brackets. */
    {
        char *t = b.data, *w = b.data;

        for (char *r = t; *r; r++) {
            if (*r == ' ' && (w == t || w[-1] == ' '))
                continue;
            if (*r == ')' && w > t && w[-1] == '(') {
                w--;
                if (w > t && w[-1] == ' ')
                    w--;
                continue;
            }
            *w++ = *r;
        }
        *w = '\0';
    }
    *ret = strdup(b.data);
    return *ret ? 0 : -ENOMEM;
}

static bool column_is(struct sql_stmt *st, int i, const char *v)
{
    return sql_column_type(st, i) != SQL_NULL &&
           streq(sql_column_text(st, i), v);
}

/* The conflict on @st's row (CONFLICT_SELECT) into *c (zeroed by the caller). */
static int conflict_row(struct store *s, struct sql_stmt *st, struct proto_conflict *c)
{
    bool oom = false;
    int r;

    c->id = sql_column_int64(st, 0);
    c->kind = store_column_strdup(st, 1, &oom);
    c->priority = store_column_strdup(st, 25, &oom);
    c->review = (int)sql_column_int64(st, 2);
    c->status = store_column_strdup(st, 3, &oom);
    c->table = store_column_strdup(st, 4, &oom);
    c->row_id = store_column_strdup(st, 5, &oom);
    c->person_id = store_column_strdup(st, 6, &oom);
    c->person_name = store_column_strdup(st, 7, &oom);
    c->field = store_column_strdup(st, 8, &oom);
    /* An edit hidden by a delete lost to the deletion, not to a value: say so. */
    c->winner_deleted = column_is(st, 26, CAT_DELETED_FIELD) &&
                        !column_is(st, 8, CAT_DELETED_FIELD) && column_is(st, 9, "1");
    if (!c->winner_deleted)
        c->winner_value = store_column_strdup(st, 9, &oom);
    c->has_winner_hlc = sql_column_type(st, 10) != SQL_NULL;
    c->winner_hlc = (uint64_t)sql_column_int64(st, 10);
    c->winner_device = store_column_strdup(st, 11, &oom);
    c->winner_user = store_column_strdup(st, 12, &oom);
    c->loser_value = store_column_strdup(st, 13, &oom);
    c->loser_hlc = (uint64_t)sql_column_int64(st, 14);
    c->loser_device = store_column_strdup(st, 15, &oom);
    c->loser_user = store_column_strdup(st, 16, &oom);
    c->loser_change_id = store_column_strdup(st, 17, &oom);
    c->current_value = store_column_strdup(st, 18, &oom);
    c->has_row_deleted = true;
    c->row_deleted = column_is(st, 27, "1");
    c->created_at = column_time(st, 19, &oom);
    if (oom)
        return -ENOMEM;
    r = describe(s, c->table, c->row_id, c->person_name, &c->description);
    if (r < 0)
        return r;
    c->resolved = sql_column_type(st, 20) != SQL_NULL;
    if (!c->resolved)
        return 0;
    c->resolution = store_column_strdup(st, 20, &oom);
    c->resolved_value = store_column_strdup(st, 21, &oom);
    c->resolved_by = store_column_strdup(st, 22, &oom);
    c->resolved_at = column_time(st, 23, &oom);
    c->reason = store_column_strdup(st, 24, &oom);
    if (oom)
        return -ENOMEM;
    return resolution_history(s, c->id, c);
}

/*
 * A worker listing their own lost values keeps seeing them after the person has left their
 * caseload, but no longer what others wrote about that person (need to know).
 */
static void clear(char **v)
{
    free(*v);
    *v = NULL;
}

static int redact_out_of_scope(struct store *s, const struct store_principal *viewer,
                               struct proto_conflict *c)
{
    int r = store_in_scope(s, viewer, c->person_id);

    if (r != 0)
        return r < 0 ? r : 0;
    /* A person never on the worker's caseload is not named to them either. */
    r = store_ever_assigned(s, viewer->user_id, c->person_id);
    if (r < 0)
        return r;
    if (r == 0)
        clear(&c->person_name);
    clear(&c->winner_value);
    clear(&c->current_value);
    clear(&c->resolved_value);
    c->has_row_deleted = false;
    c->redacted = true;
    /* The row's description quotes what others wrote: only its kind stays. */
    free(c->description);
    c->description = strdup(c->table);
    if (!c->description)
        return -ENOMEM;
    for (size_t i = 0; i < c->n_resolutions; i++)
        clear(&c->resolutions[i].value);
    return 0;
}

int store_conflicts_query(struct store *s, const struct store_conflict_filter *f,
                          struct proto_conflicts *ret)
{
    _cleanup_(proto_conflicts_done) struct proto_conflicts a = {0};
    struct sql_stmt *st = store_sql(s, CONFLICT_SELECT
                                    " WHERE (?1 = 'all' OR c.status = ?1)"
                                    " AND (CAST(?2 AS TEXT) IS NULL OR c.person_id = ?2)"
                                    " AND (CAST(?3 AS TEXT) IS NULL OR lu.name = ?3"
                                    "  OR wu.name = ?3)"
                                    " AND (CAST(?4 AS TEXT) IS NULL OR c.tbl = ?4)"
                                    " AND (CAST(?5 AS TEXT) IS NULL OR c.kind = ?5)"
                                    " AND (CAST(?6 AS TEXT) IS NULL OR " CONFLICT_PRIORITY
                                    "  = ?6)"
                                    " AND (?7 = 0 OR l.user_id = ?7)"
                                    " ORDER BY " CONFLICT_PRIORITY " = 'high'"
                                    " DESC, c.id");
    int rc, r = 0;

    if (!st)
        return -EIO;
    /* Everything below reads one snapshot, the resolution histories included. */
    r = store_plain_begin(s, false);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, f->status ? f->status : "open");
    sql_bind_text(st, 2, f->person_id);
    sql_bind_text(st, 3, f->worker);
    sql_bind_text(st, 4, f->table);
    sql_bind_text(st, 5, f->kind);
    sql_bind_text(st, 6, f->priority);
    sql_bind_int64(st, 7, f->loser_user_id > 0 ? f->loser_user_id : 0);
    while ((rc = sql_step(st)) == SQL_ROW) {
        struct proto_conflict *c = proto_conflicts_add(&a);

        r = c ? conflict_row(s, st, c) : -ENOMEM;
        if (r >= 0 && f->viewer && !store_role_is_coordinator(f->viewer->role))
            r = redact_out_of_scope(s, f->viewer, c);
        if (r < 0)
            break;
    }
    sql_reset(st);
    store_txn_rollback(s);
    if (r < 0)
        return r;
    if (rc != SQL_DONE)
        return rc;
    *ret = a;
    a = (struct proto_conflicts){0};
    return 0;
}

int store_conflicts_list(struct store *s, bool all, struct proto_conflicts *ret)
{
    struct store_conflict_filter f = {.status = all ? "all" : "open"};

    return store_conflicts_query(s, &f, ret);
}

static int conflict_get(struct store *s, int64_t id, struct proto_conflict *ret)
{
    struct sql_stmt *st = store_sql(s, CONFLICT_SELECT " WHERE c.id = ?");
    int rc, r;

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, id);
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        sql_reset(st);
        return rc == SQL_DONE ? -ENOENT : rc;
    }
    r = conflict_row(s, st, ret);
    sql_reset(st);
    if (r < 0)
        proto_conflict_done(ret);
    return r;
}

/* ---- resolving ---- */

/* One conflict as the resolution needs it. */
struct conflict_target {
    char kind[32], tbl[64], row[UUID_STR_MAX], person[UUID_STR_MAX], field[64];
    char *loser_value;
    bool resolved;
};

static void conflict_target_done(struct conflict_target *t)
{
    free(t->loser_value);
    t->loser_value = NULL;
}

static int target_load(struct store *s, int64_t id, struct conflict_target *t)
{
    struct sql_stmt *st = store_sql(s, "SELECT c.kind, c.tbl, c.row_id, c.person_id, c.field,"
                                     " c.status, l.value FROM conflicts c"
                                     " JOIN change_log l ON l.change_id = c.loser_change_id"
                                     " WHERE c.id = ?");
    bool oom = false;
    int rc;

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, id);
    rc = sql_step(st);
    if (rc != SQL_ROW) {
        sql_reset(st);
        return rc == SQL_DONE ? -ENOENT : rc;
    }
    copy_text(t->kind, sizeof(t->kind), sql_column_text(st, 0));
    copy_text(t->tbl, sizeof(t->tbl), sql_column_text(st, 1));
    copy_text(t->row, sizeof(t->row), sql_column_text(st, 2));
    copy_text(t->person, sizeof(t->person), sql_column_text(st, 3));
    copy_text(t->field, sizeof(t->field), sql_column_text(st, 4));
    t->resolved = !streq(sql_column_text(st, 5), "open");
    t->loser_value = store_column_strdup(st, 6, &oom);
    sql_reset(st);
    return oom ? -ENOMEM : 0;
}

/* What the first resolution that wrote anything found: the state "keep" goes back to. */
struct kept_state {
    bool found;         /* a resolution wrote something */
    bool exists;        /* the field had a value (or null) then */
    char *value;        /* that value */
    char *deleted;      /* the row's _deleted then, or NULL */
};

static void kept_state_done(struct kept_state *k)
{
    free(k->value);
    free(k->deleted);
    k->value = k->deleted = NULL;
}

static int kept_load(struct store *s, int64_t id, struct kept_state *k)
{
    struct sql_stmt *st = store_sql(s, "SELECT before_exists, before_value, before_deleted"
                                     " FROM conflict_resolutions WHERE conflict_id = ?"
                                     " AND wrote = 1 ORDER BY id LIMIT 1");
    bool oom = false;
    int rc;

    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, id);
    rc = sql_step(st);
    if (rc == SQL_ROW) {
        k->found = true;
        k->exists = (int)sql_column_int64(st, 0);
        k->value = store_column_strdup(st, 1, &oom);
        k->deleted = store_column_strdup(st, 2, &oom);
    }
    sql_reset(st);
    if (oom)
        return -ENOMEM;
    return rc == SQL_ROW || rc == SQL_DONE ? 0 : rc;
}

static bool same_value(const char *a, const char *b)
{
    return (!a && !b) || (a && b && streq(a, b));
}

/* Check a resolution's reason: 1 to STORE_REASON_MAX bytes of UTF-8, not blank. */
static int reason_check(const char *reason, const char **why)
{
    size_t n = reason ? strlen(reason) : 0;
    bool blank = true;

    for (size_t i = 0; i < n; i++)
        if (reason[i] != ' ' && reason[i] != '\t')
            blank = false;
    if (n == 0 || blank) {
        *why = "a resolution needs a reason: say in a few words why";
        return -EINVAL;
    }
    if (n > STORE_REASON_MAX) {
        *why = "the reason is longer than 500 bytes; shorten it";
        return -EINVAL;
    }
    if (!utf8_valid(reason, n)) {
        *why = "the reason is not valid UTF-8";
        return -EINVAL;
    }
    return 0;
}

/* The plan of one resolution: which writes it makes. */
struct resolution_plan {
    bool undelete;            /* _deleted = "0" first */
    bool write_field;         /* the conflict's field ... */
    const char *field_value;  /* ... = this */
    bool redelete;            /* _deleted = "1" after (keep superseding an undelete) */
};

static int plan_resolution(struct store *s, int64_t id, const struct conflict_target *t,
                           const char *action, const char *value, const struct field_cur *cur,
                           const struct field_cur *del, struct kept_state *kept,
                           struct resolution_plan *plan, const char **why)
{
    const struct cat_field *f = catalogue_field(catalogue_table(t->tbl), t->field);
    bool is_deleted_field = streq(t->field, CAT_DELETED_FIELD);
    int r;

    memset(plan, 0, sizeof(*plan));
    if (!f)
        return -EIO;
    if (streq(action, "keep")) {
        /* On an open conflict the current value stays. Superseding a resolution that wrote,
         * "keep" puts back what the first such resolution replaced. */
        if (!t->resolved)
            return 0;
        r = kept_load(s, id, kept);
        if (r < 0 || !kept->found)
            return r;
        if (!same_value(cur->exists ? cur->value : NULL, kept->exists ? kept->value : NULL)) {
            plan->write_field = true;
            plan->field_value = kept->exists ? kept->value : NULL;
        }
        if (!is_deleted_field && kept->deleted && streq(kept->deleted, "1") &&
            !(del->exists && same_value(del->value, "1")))
            plan->redelete = true;
        return 0;
    }
    if (streq(action, "value")) {
        if (catalogue_check_value(f, value, why) < 0)
            return -EINVAL;
        if (f == &catalogue_deleted_field && !value) {
            *why = "_deleted must be \"0\" or \"1\"";
            return -EINVAL;
        }
        if (value && !utf8_valid(value, strlen(value))) {
            *why = "value is not valid UTF-8";
            return -EINVAL;
        }
        plan->field_value = value;
    } else {
        plan->field_value = t->loser_value;
    }
    plan->write_field = true;
    /* Undelete first so the restored edit is visible again. */
    plan->undelete = streq(t->kind, "edit_after_delete") && !is_deleted_field;
    return 0;
}

/* Append the resolution to the history and mark the conflict with it (the latest). */
static int record_resolution(struct store *s, const struct store_principal *p, int64_t id,
                             const char *action, const struct resolution_plan *plan,
                             const char *cid, const struct field_cur *cur,
                             const struct field_cur *del, const char *reason)
{
    bool wrote = plan->undelete || plan->write_field || plan->redelete;
    int64_t now = (int64_t)hlc_wall_ms();
    struct sql_stmt *st;
    int r;

    st = store_sql(s, "INSERT INTO conflict_resolutions(conflict_id, action, value, wrote,"
                       " change_id, before_exists, before_value, before_deleted, reason,"
                       " resolved_by, device, resolved_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -EIO;
    sql_bind_int64(st, 1, id);
    sql_bind_text(st, 2, action);
    sql_bind_text(st, 3, plan->write_field ? plan->field_value : NULL);
    sql_bind_int64(st, 4, wrote);
    sql_bind_text(st, 5, *cid ? cid : NULL);
    sql_bind_int64(st, 6, cur->exists);
    sql_bind_text(st, 7, cur->exists ? cur->value : NULL);
    sql_bind_text(st, 8, del->exists ? del->value : NULL);
    sql_bind_text(st, 9, reason);
    sql_bind_int64(st, 10, p->user_id);
    sql_bind_text(st, 11, p->device_id);
    sql_bind_int64(st, 12, now);
    r = sql_step_done(st);
    if (r < 0)
        return r;
    st = store_sql(s, "UPDATE conflicts SET status = 'resolved', resolution = ?,"
                       " resolved_value = ?, resolved_by = ?, resolved_ms = ?,"
                       " resolution_change_id = ?, reason = ? WHERE id = ?");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, action);
    sql_bind_text(st, 2, plan->write_field ? plan->field_value : NULL);
    sql_bind_int64(st, 3, p->user_id);
    sql_bind_int64(st, 4, now);
    sql_bind_text(st, 5, *cid ? cid : NULL);
    sql_bind_text(st, 6, reason);
    sql_bind_int64(st, 7, id);
    return sql_step_done(st);
}

static int audit_resolution(struct store *s, const struct store_principal *p, int64_t id,
                            const struct conflict_target *t, const char *action,
                            const struct resolution_plan *plan, const char *reason)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();

    if (!d || !cJSON_AddNumberToObject(d, "conflict", (double)id) ||
        wire_add_string(d, "kind", t->kind) < 0 || wire_add_string(d, "table", t->tbl) < 0 ||
        wire_add_string(d, "row_id", t->row) < 0 || wire_add_string(d, "field", t->field) < 0 ||
        wire_add_string(d, "action", action) < 0 ||
        wire_add_string(d, "value", plan->write_field ? plan->field_value : NULL) < 0 ||
        wire_add_string(d, "reason", reason) < 0 ||
        !cJSON_AddBoolToObject(d, "supersedes", t->resolved))
        return -ENOMEM;
    return store_audit(s, "resolve", p->user_id, p->device_id, t->person, d);
}

int store_conflict_resolve(struct store *s, const struct store_principal *p, int64_t id,
                           const char *action, const char *value, const char *reason,
                           struct proto_conflict *ret, const char **why)
{
    _cleanup_(conflict_target_done) struct conflict_target t = {0};
    _cleanup_(kept_state_done) struct kept_state kept = {0};
    _cleanup_(store_field_cur_done) struct field_cur cur = {0}, del = {0};
    struct resolution_plan plan;
    char cid[UUID_STR_MAX] = "", other[UUID_STR_MAX];
    int r;

    if (!streq(action, "keep") && !streq(action, "restore") && !streq(action, "value")) {
        *why = "action must be \"keep\", \"restore\" or \"value\"";
        return -EINVAL;
    }
    r = reason_check(reason, why);
    if (r < 0)
        return r;
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = target_load(s, id, &t);
    if (r >= 0)
        r = store_field_current(s, t.tbl, t.row, t.field, &cur);
    if (r >= 0)
        r = store_field_current(s, t.tbl, t.row, CAT_DELETED_FIELD, &del);
    if (r >= 0)
        r = plan_resolution(s, id, &t, action, value, &cur, &del, &kept, &plan, why);
    if (r >= 0 && plan.undelete && !(del.exists && same_value(del.value, "0")))
        r = store_write_field(s, p->device_id, p->user_id, t.tbl, t.row, t.person,
                              CAT_DELETED_FIELD, "0", other);
    if (r >= 0 && plan.write_field)
        r = store_write_field(s, p->device_id, p->user_id, t.tbl, t.row, t.person, t.field,
                              plan.field_value, cid);
    if (r >= 0 && plan.redelete)
        r = store_write_field(s, p->device_id, p->user_id, t.tbl, t.row, t.person,
                              CAT_DELETED_FIELD, "1", other);
    if (r >= 0)
        r = record_resolution(s, p, id, action, &plan, cid, &cur, &del, reason);
    if (r >= 0)
        r = audit_resolution(s, p, id, &t, action, &plan, reason);
    if (r < 0) {
        store_txn_rollback(s);
        return r;
    }
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    return conflict_get(s, id, ret);
}

/* ---- notices to the workers whose values lost ---- */

int store_conflict_notices(struct store *s, const struct store_principal *p, int64_t enrolled_ms,
                           struct proto_sync_reply *ret_ids)
{
    struct sql_stmt *st;
    int64_t cursor = 0, newest = 0, n = 0;
    bool told = false;
    int rc;

    st = store_sql(s, "SELECT notice_event FROM devices WHERE id = ?");
    if (!st)
        return -EIO;
    sql_bind_text(st, 1, p->device_id);
    rc = sql_step(st);
    if (rc == SQL_ROW && sql_column_type(st, 0) != SQL_NULL) {
        told = true;
        cursor = sql_column_int64(st, 0);
    }
    sql_reset(st);
    if (rc != SQL_ROW && rc != SQL_DONE)
        return rc;
    st = store_sql(s, "SELECT coalesce(max(id), 0) FROM conflict_events");
    if (!st)
        return -EIO;
    rc = sql_step(st);
    if (rc == SQL_ROW)
        newest = sql_column_int64(st, 0);
    sql_reset(st);
    if (rc != SQL_ROW)
        return rc;
    if (newest > cursor) {
        st = store_sql(s, "SELECT DISTINCT e.conflict_id FROM conflict_events e"
                           " JOIN conflicts c ON c.id = e.conflict_id"
                           " JOIN change_log l ON l.change_id = c.loser_change_id"
                           " WHERE e.id > ?1 AND e.id <= ?2 AND l.user_id = ?3"
                           " AND (CAST(?4 AS BIGINT) IS NULL OR e.at_ms >= ?4)"
                           " ORDER BY e.conflict_id");
        if (!st)
            return -EIO;
        sql_bind_int64(st, 1, cursor);
        sql_bind_int64(st, 2, newest);
        sql_bind_int64(st, 3, p->user_id);
        if (told)
            sql_bind_text(st, 4, NULL);
        else
            sql_bind_int64(st, 4, enrolled_ms);
        while ((rc = sql_step(st)) == SQL_ROW) {
            if (ret_ids && n < STORE_NOTICE_IDS_MAX &&
                proto_sync_reply_add_notice(ret_ids, sql_column_int64(st, 0)) < 0) {
                sql_reset(st);
                return -ENOMEM;
            }
            n++;
        }
        sql_reset(st);
        if (rc != SQL_DONE)
            return rc;
    }
    if (!told || newest > cursor) {
        st = store_sql(s, "UPDATE devices SET notice_event = ? WHERE id = ?");
        if (!st)
            return -EIO;
        sql_bind_int64(st, 1, newest);
        sql_bind_text(st, 2, p->device_id);
        rc = sql_step_done(st);
        if (rc < 0)
            return rc;
    }
    return n > INT32_MAX ? INT32_MAX : (int)n;
}
