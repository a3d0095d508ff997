/* SPDX-License-Identifier: MIT */
/* outbox.c - offline edits: edit a field, add a row, delete a row. Each writes the replica, the
 * field's new version and outbox changes in one transaction; and loading the outbox for a push. */
#include "caresync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "caresync_int.h"
#include "db.h"
#include "hlc.h"
#include "wire.h"

/* ---- lookups ---- */

static int bad_table(struct caresync *c, const char *name)
{
    char list[256] = "";

    for (size_t i = 0; i < catalogue_n_tables; i++) {
        size_t l = strlen(list);

        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", catalogue_tables[i].name);
    }
    return cs_fail(c, CARESYNC_EUSAGE, "unknown table '%s'; the tables are: %s", name, list);
}

static int bad_field(struct caresync *c, const struct cat_table *t, const char *name)
{
    char list[256] = "";

    for (size_t i = 0; i < t->n_fields; i++) {
        size_t l = strlen(list);

        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", t->fields[i].name);
    }
    return cs_fail(c, CARESYNC_EUSAGE, "unknown field '%s' of table %s; its fields are: %s", name,
                   t->name, list);
}

/* Resolve @table and @field through the catalogue; NULL @field resolves the table only. */
static int lookup(struct caresync *c, const char *table, const char *field,
                  const struct cat_table **ret_t, const struct cat_field **ret_f)
{
    const struct cat_table *t = catalogue_table(table);
    const struct cat_field *f;

    if (!t)
        return bad_table(c, table ? table : "");
    *ret_t = t;
    if (!field)
        return CARESYNC_OK;
    f = catalogue_field(t, field);
    if (!f)
        return bad_field(c, t, field);
    if (f == &catalogue_deleted_field)
        return cs_fail(c, CARESYNC_EUSAGE, "%s cannot be edited; use 'caresync delete %s ID'",
                       CAT_DELETED_FIELD, t->name);
    if (f->kind == CAT_S)
        return cs_fail(c, CARESYNC_EUSAGE,
                       "%s.%s is set centrally and cannot be changed from a device; ask a "
                       "coordinator",
                       t->name, f->name);
    *ret_f = f;
    return CARESYNC_OK;
}

static int check_value(struct caresync *c, const struct cat_table *t, const struct cat_field *f,
                       const char *value)
{
    const char *why = NULL;

    if (!value)
        return CARESYNC_OK;
    /* Anything the server would refuse must be refused here, or it would block the outbox. */
    if (!utf8_valid(value, strlen(value)))
        return cs_fail(c, CARESYNC_EUSAGE, "bad value for %s.%s: not valid UTF-8", t->name,
                       f->name);
    if (text_control_char(value))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "bad value for %s.%s: it holds the control character U+%04X; text may "
                       "hold tabs and new lines, nothing else below a space",
                       t->name, f->name, text_control_char(value));
    if (catalogue_check_value(f, value, &why) < 0) {
        if (f->type == CAT_ENUM) {
            char list[256] = "";

            for (const char *const *v = f->values; *v; v++) {
                size_t l = strlen(list);

                snprintf(list + l, sizeof(list) - l, "%s%s", v == f->values ? "" : ", ", *v);
            }
            return cs_fail(c, CARESYNC_EUSAGE, "bad value for %s.%s: expected one of: %s", t->name,
                           f->name, list);
        }
        if (f->type == CAT_TEXT)
            return cs_fail(c, CARESYNC_EUSAGE, "bad value for %s.%s: %s (at most %zu bytes)",
                           t->name, f->name, why, f->max_len);
        return cs_fail(c, CARESYNC_EUSAGE, "bad value for %s.%s: %s", t->name, f->name, why);
    }
    return CARESYNC_OK;
}

/*
 * Read row @id of @t: its person and deleted flag and, when @f is given, a copy of that
 * column in *ret_value. Returns 1 found, 0 missing, or a negative errno.
 */
static int read_row(sqlite3 *db, const struct cat_table *t, const struct cat_field *f,
                    const char *id, char ret_person[static UUID_STR_MAX], bool *ret_deleted,
                    char **ret_value)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    _cleanup_(sqlite3_freep) char *sql = NULL;
    const char *p;
    bool oom = false;
    int r, rc;

    sql = sqlite3_mprintf("SELECT person_id, _deleted, \"%w\" FROM \"%w\" WHERE id = ?1",
                          f ? f->name : "id", t->name);
    if (!sql)
        return -ENOMEM;
    r = db_prepare(db, sql, &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return db_errno(rc);
    p = (const char *)sqlite3_column_text(st, 0);
    if (!p || !uuid_valid(p))
        return -EUCLEAN;
    memcpy(ret_person, p, UUID_STR_MAX);
    *ret_deleted = sqlite3_column_int(st, 1) != 0;
    if (ret_value) {
        *ret_value = db_column_strdup(st, 2, &oom);
        if (oom)
            return -ENOMEM;
    }
    return 1;
}

/*
 * Record one local write: a new clock, the column (or _deleted), the field's version (this
 * device), and the outbox change carrying @base_hlc/@base_dev. In the caller's transaction.
 */
static int write_change(struct caresync *c, const struct cat_table *t, const struct cat_field *f,
                        const char *row_id, const char *person_id, const char *value,
                        uint64_t base_hlc, const char *base_dev)
{
    _cleanup_stmt_ sqlite3_stmt *up = NULL, *fv = NULL, *ob = NULL;
    _cleanup_(sqlite3_freep) char *sql = NULL;
    char change_id[UUID_STR_MAX];
    uint64_t hlc, now = hlc_wall_ms();
    int r, rc;

    r = db_hlc_tick(c->db, &hlc);
    if (r < 0)
        return r;
    r = uuid_v7(now, change_id);
    if (r < 0)
        return r;
    sql = sqlite3_mprintf("UPDATE \"%w\" SET \"%w\" = ?1 WHERE id = ?2", t->name, f->name);
    if (!sql)
        return -ENOMEM;
    r = db_prepare(c->db, sql, &up);
    if (r < 0)
        return r;
    if (f == &catalogue_deleted_field)
        sqlite3_bind_int(up, 1, streq(value, "1"));
    else if (value)
        sqlite3_bind_text(up, 1, value, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 2, row_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(up);
    if (rc != SQLITE_DONE)
        return db_errno(rc);

    r = db_prepare(c->db,
                   "INSERT INTO field_version(tbl, row_id, field, hlc, device)"
                   " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(tbl, row_id, field)"
                   " DO UPDATE SET hlc = excluded.hlc, device = excluded.device",
                   &fv);
    if (r < 0)
        return r;
    sqlite3_bind_text(fv, 1, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(fv, 2, row_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(fv, 3, f->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(fv, 4, (sqlite3_int64)hlc);
    sqlite3_bind_text(fv, 5, c->device_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(fv);
    if (rc != SQLITE_DONE)
        return db_errno(rc);

    r = db_prepare(c->db,
                   "INSERT INTO outbox(change_id, tbl, row_id, person_id, field, value, hlc,"
                   " base_hlc, base_device, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                   " ?9, ?10)",
                   &ob);
    if (r < 0)
        return r;
    sqlite3_bind_text(ob, 1, change_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ob, 2, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(ob, 3, row_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ob, 4, person_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ob, 5, f->name, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(ob, 6, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ob, 7, (sqlite3_int64)hlc);
    sqlite3_bind_int64(ob, 8, (sqlite3_int64)base_hlc);
    sqlite3_bind_text(ob, 9, base_dev, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ob, 10, (sqlite3_int64)now);
    rc = sqlite3_step(ob);
    return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

static int not_found(struct caresync *c, const struct cat_table *t, const char *row_id,
                     bool deleted)
{
    return cs_fail(c, CARESYNC_ENOTFOUND, "%s %s %s; see 'caresync show PERSON_ID', or sync",
                   t->name, row_id, deleted ? "is deleted" : "is not in this replica");
}

static int check_id(struct caresync *c, const char *what, const char *id)
{
    if (id && uuid_valid(id))
        return CARESYNC_OK;
    return cs_fail(c, CARESYNC_EUSAGE, "'%s' is not a %s id (a lower-case UUID)", id ? id : "",
                   what);
}

/* ---- the role's write rules (common/access.c), applied before the server applies them ---- */

static const char *json_row_get(void *ctx, const char *field)
{
    return query_str(ctx, field);
}

/* A row being created: its id, its person and the fields given so far. */
struct new_row {
    const char *id, *person_id;
    const struct outbox_field *fs;
    size_t n;
};

static const char *new_row_get(void *ctx, const char *field)
{
    const struct new_row *x = ctx;

    if (streq(field, "id"))
        return x->id;
    if (streq(field, "person_id"))
        return x->person_id;
    for (size_t i = 0; i < x->n; i++)
        if (streq(x->fs[i].name, field))
            return x->fs[i].value;
    return NULL;
}

/*
 * May this device's user write @f of @row? The server re-authorises every change and refuses a
 * whole batch for one it may not apply, which would hold up everything queued after it: so
 * refuse here, at once, with the same rule and reason.
 */
static int check_access(struct caresync *c, const struct cat_table *t, const struct cat_field *f,
                        const struct access_row *row, bool is_new)
{
    _cleanup_free_ char *role = NULL, *user = NULL;
    const char *why = NULL;
    int r;

    r = db_meta_get(c->db, "role", &role);
    if (r >= 0)
        r = db_meta_get(c->db, "user", &user);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the replica's settings");
    if (access_may_write(role ? role : "", user ? user : "", t, f, row, is_new, &why))
        return CARESYNC_OK;
    if (f == &catalogue_deleted_field)
        return cs_fail(c, CARESYNC_EFORBIDDEN, "not allowed: as a %s you may not delete a %s row: %s",
                       role ? role : "user", t->name, why ? why : "refused");
    return cs_fail(c, CARESYNC_EFORBIDDEN, "not allowed: as a %s you may not write %s.%s (%s)",
                   role ? role : "user", t->name, f->name, why ? why : "refused");
}

/* check_access() for a field of existing row @row_id. */
static int check_access_row(struct caresync *c, const struct cat_table *t,
                            const struct cat_field *f, const char *row_id)
{
    _cleanup_json_ cJSON *o = NULL;
    int r;

    r = query_row(c->db, t, row_id, &o);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the row");
    if (r == 0)
        return not_found(c, t, row_id, false);
    return check_access(c, t, f, &(struct access_row){json_row_get, o}, false);
}

/* ---- edit ---- */

static int edit_tx(struct caresync *c, const struct cat_table *t, const struct cat_field *f,
                   const char *row_id, const char *value)
{
    _cleanup_free_ char *cur = NULL;
    char person[UUID_STR_MAX], base_dev[UUID_STR_MAX];
    uint64_t base_hlc;
    bool deleted;
    int r;

    r = read_row(c->db, t, f, row_id, person, &deleted, &cur);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the row");
    if (r == 0 || deleted)
        return not_found(c, t, row_id, r > 0);
    r = replica_read_version(c, t->name, row_id, f->name, &base_hlc, base_dev);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the field's version");
    /* Writing the value the field already has would only risk overwriting a concurrent edit. */
    if (r > 0 && ((!cur && !value) || (cur && value && streq(cur, value))))
        return CARESYNC_OK;
    r = check_access_row(c, t, f, row_id);
    if (r != CARESYNC_OK)
        return r;
    r = write_change(c, t, f, row_id, person, value, base_hlc, base_dev);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot save the edit");
    return CARESYNC_OK;
}

int outbox_tx_begin(struct caresync *c)
{
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    r = db_begin(c->db, true);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot start a transaction");
    return CARESYNC_OK;
}

int outbox_tx_end(struct caresync *c, int r)
{
    if (r == CARESYNC_OK) {
        int k = db_commit(c->db);

        if (k < 0)
            r = cs_fail_errno(c, k, "cannot save the change");
    }
    db_rollback(c->db); /* no-op after a commit */
    return r;
}

/* Everything caresync_edit() checks before it writes. */
static int edit_check(struct caresync *c, const char *table, const char *row_id, const char *field,
                      const char *value, const struct cat_table **ret_t,
                      const struct cat_field **ret_f)
{
    int r;

    r = lookup(c, table, field, ret_t, ret_f);
    if (r == CARESYNC_OK && (*ret_f)->kind == CAT_A)
        r = cs_fail(c, CARESYNC_EUSAGE,
                    "%s.%s is set when the row is created and cannot be changed; add a new %s"
                    " instead",
                    (*ret_t)->name, (*ret_f)->name, (*ret_t)->name);
    if (r == CARESYNC_OK)
        r = check_id(c, (*ret_t)->name, row_id);
    if (r == CARESYNC_OK)
        r = check_value(c, *ret_t, *ret_f, value);
    return r;
}

int outbox_set(struct caresync *c, const char *table, const char *row_id, const char *field,
               const char *value)
{
    const struct cat_table *t = NULL;
    const struct cat_field *f = NULL;
    int r;

    r = edit_check(c, table, row_id, field, value, &t, &f);
    if (r != CARESYNC_OK)
        return r;
    return edit_tx(c, t, f, row_id, value);
}

int caresync_edit(struct caresync *c, const char *table, const char *row_id, const char *field,
                  const char *value)
{
    const struct cat_table *t = NULL;
    const struct cat_field *f = NULL;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r == CARESYNC_OK)
        r = edit_check(c, table, row_id, field, value, &t, &f);
    if (r != CARESYNC_OK)
        return r;
    r = db_begin(c->db, true);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot start a transaction");
    return outbox_tx_end(c, edit_tx(c, t, f, row_id, value));
}

/* ---- required values ---- */

int outbox_need(struct caresync *c, const char *table, const char *field, const char *value,
                const char *what)
{
    const struct cat_field *f = catalogue_field(catalogue_table(table), field);
    bool blank = true;

    for (const char *p = value; p && *p && blank; p++)
        blank = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
    if (!blank)
        return CARESYNC_OK;
    if (f && f->type == CAT_ENUM) {
        char list[256] = "";

        for (const char *const *v = f->values; *v; v++) {
            size_t l = strlen(list);

            snprintf(list + l, sizeof(list) - l, "%s%s", v == f->values ? "" : ", ", *v);
        }
        return cs_fail(c, CARESYNC_EUSAGE, "%s is required: one of %s", what, list);
    }
    return cs_fail(c, CARESYNC_EUSAGE, "%s is required and must not be empty", what);
}

/* ---- add ---- */

/*
 * A row reference (care_plan_id -> care_plan, goal_id -> goal, visit_id -> visit) must name a
 * live row of the same person; the table is named by the field, through the catalogue.
 */
static int check_reference(struct caresync *c, const struct cat_table *t, const struct cat_field *f,
                           const char *value, const char *person_id)
{
    char tname[64], person[UUID_STR_MAX];
    const struct cat_table *ref;
    size_t l = strlen(f->name);
    bool deleted;
    int r;

    if (f->type != CAT_UUID || !value || l <= 3 || l - 3 >= sizeof(tname) ||
        !streq(f->name + l - 3, "_id"))
        return CARESYNC_OK;
    memcpy(tname, f->name, l - 3);
    tname[l - 3] = '\0';
    ref = catalogue_table(tname);
    if (!ref)
        return CARESYNC_OK;
    r = read_row(c->db, ref, NULL, value, person, &deleted, NULL);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the referenced row");
    if (r == 0 || deleted || !streq(person, person_id))
        return cs_fail(c, CARESYNC_ENOTFOUND,
                       "%s.%s: %s %s is not a row of person %s in this replica; see 'caresync"
                       " show %s'",
                       t->name, f->name, ref->name, value, person_id, person_id);
    return CARESYNC_OK;
}

int outbox_new_id(struct caresync *c, char ret[static UUID_STR_MAX])
{
    int r = uuid_v7(hlc_wall_ms(), ret);

    return r < 0 ? cs_fail_errno(c, r, "cannot make a row id") : CARESYNC_OK;
}

int outbox_insert(struct caresync *c, const char *table, const char *person_id, const char *id,
                  const struct outbox_field *fs, size_t n)
{
    _cleanup_free_ const struct cat_field **f = NULL;
    _cleanup_stmt_ sqlite3_stmt *ins = NULL;
    _cleanup_(sqlite3_freep) char *sql = NULL;
    const struct cat_table *t = NULL;
    char person[UUID_STR_MAX];
    size_t set = 0;
    bool deleted;
    int r, rc;

    r = lookup(c, table, NULL, &t, NULL);
    if (r == CARESYNC_OK)
        r = check_id(c, "person", person_id);
    if (r != CARESYNC_OK)
        return r;
    f = calloc(n ? n : 1, sizeof(*f));
    if (!f)
        return cs_fail_errno(c, -ENOMEM, "cannot add the row");
    for (size_t i = 0; i < n; i++) {
        r = lookup(c, table, fs[i].name, &t, &f[i]);
        if (r == CARESYNC_OK)
            r = check_value(c, t, f[i], fs[i].value);
        if (r != CARESYNC_OK)
            return r;
        for (size_t j = 0; j < i; j++)
            if (f[j] == f[i])
                return cs_fail(c, CARESYNC_EUSAGE, "field %s is given twice", f[i]->name);
        set += fs[i].value != NULL;
    }
    if (set == 0)
        return cs_fail(c, CARESYNC_EUSAGE, "give at least one FIELD=VALUE for the new %s", t->name);
    /* A person row is its own person; a singleton's id is its person's id (DESIGN.md §4). */
    if ((streq(t->name, "person") || t->singleton) && !streq(id, person_id))
        return cs_fail(c, CARESYNC_EUSAGE, "a %s row's id must be its person's id", t->name);
    if (!streq(t->name, "person")) {
        r = read_row(c->db, catalogue_table("person"), NULL, person_id, person, &deleted, NULL);
        if (r < 0)
            return cs_fail_errno(c, r, "cannot read the person");
        if (r == 0 || deleted)
            return cs_fail(c, CARESYNC_ENOTFOUND,
                           "person %s is not in this replica; see 'caresync caseload', or sync",
                           person_id);
    }
    for (size_t i = 0; i < n; i++) {
        struct new_row x = {id, person_id, fs, n};

        r = check_reference(c, t, f[i], fs[i].value, person_id);
        if (r == CARESYNC_OK && fs[i].value)
            r = check_access(c, t, f[i], &(struct access_row){new_row_get, &x}, true);
        if (r != CARESYNC_OK)
            return r;
    }
    sql = sqlite3_mprintf("INSERT INTO \"%w\"(id, person_id) VALUES(?1, ?2)", t->name);
    if (!sql)
        return cs_fail_errno(c, -ENOMEM, "cannot add the row");
    r = db_prepare(c->db, sql, &ins);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot add the row");
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, person_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(ins);
    if (rc == SQLITE_CONSTRAINT)
        return cs_fail(c, CARESYNC_EUSAGE, "%s %s already exists; change it with 'caresync edit'",
                       t->name, id);
    if (rc != SQLITE_DONE)
        return cs_fail_errno(c, db_errno(rc), "cannot add the row");
    /* In the order given: the server applies a batch in order (a status last, say). */
    for (size_t i = 0; i < n; i++) {
        if (!fs[i].value)
            continue;
        r = write_change(c, t, f[i], id, person_id, fs[i].value, 0, "");
        if (r < 0)
            return cs_fail_errno(c, r, "cannot add the row");
    }
    return CARESYNC_OK;
}

int caresync_add(struct caresync *c, const char *table, const char *person_id,
                 const char *const *fields, const char *const *values, size_t n,
                 char ret_id[static CARESYNC_ID_MAX])
{
    _cleanup_free_ struct outbox_field *fs = NULL;
    _cleanup_free_ char *me = NULL;
    const struct cat_table *t = NULL;
    const char *author;
    bool given_author = false;
    char id[UUID_STR_MAX];
    size_t k = 0;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r == CARESYNC_OK)
        r = lookup(c, table, NULL, &t, NULL);
    if (r != CARESYNC_OK)
        return r;
    if (streq(t->name, "person"))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "people are not added with 'add'; register someone met in the field with"
                       " 'caresync register --name NAME'");
    r = check_id(c, "person", person_id);
    if (r != CARESYNC_OK)
        return r;
    author = access_author_field(t);
    fs = calloc(n + 1, sizeof(*fs));
    if (!fs)
        return cs_fail_errno(c, -ENOMEM, "cannot add the row");
    for (size_t i = 0; i < n; i++)
        given_author |= author && streq(fields[i], author);
    /* A record names its author, who is this device's user (the server refuses it otherwise):
     * first, so that it travels with the row's first fields. */
    if (author && !given_author) {
        r = query_user(c, &me);
        if (r != CARESYNC_OK)
            return r;
        fs[k++] = (struct outbox_field){author, me};
    }
    for (size_t i = 0; i < n; i++)
        fs[k++] = (struct outbox_field){fields[i], values[i]};
    /* One row per person, whose id is the person's: two devices creating it offline merge. */
    if (t->singleton)
        memcpy(id, person_id, UUID_STR_MAX);
    else if ((r = outbox_new_id(c, id)) != CARESYNC_OK)
        return r;
    r = db_begin(c->db, true);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot start a transaction");
    r = outbox_tx_end(c, outbox_insert(c, table, person_id, id, fs, k));
    if (r == CARESYNC_OK)
        memcpy(ret_id, id, UUID_STR_MAX);
    return r;
}

/* ---- delete ---- */

static int delete_tx(struct caresync *c, const struct cat_table *t, const char *row_id)
{
    char person[UUID_STR_MAX], base_dev[UUID_STR_MAX];
    uint64_t base_hlc;
    bool deleted;
    int r;

    r = read_row(c->db, t, NULL, row_id, person, &deleted, NULL);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the row");
    if (r == 0 || deleted)
        return not_found(c, t, row_id, r > 0);
    /* The base of a tombstone is the highest version of any field of the row held here. */
    r = check_access_row(c, t, &catalogue_deleted_field, row_id);
    if (r != CARESYNC_OK)
        return r;
    r = replica_read_version(c, t->name, row_id, NULL, &base_hlc, base_dev);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the row's versions");
    r = write_change(c, t, &catalogue_deleted_field, row_id, person, "1", base_hlc, base_dev);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot save the deletion");
    return CARESYNC_OK;
}

int caresync_delete(struct caresync *c, const char *table, const char *row_id)
{
    const struct cat_table *t = NULL;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r == CARESYNC_OK)
        r = lookup(c, table, NULL, &t, NULL);
    if (r == CARESYNC_OK)
        r = check_id(c, t->name, row_id);
    if (r != CARESYNC_OK)
        return r;
    r = db_begin(c->db, true);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot start a transaction");
    r = delete_tx(c, t, row_id);
    if (r == CARESYNC_OK) {
        int k = db_commit(c->db);

        if (k < 0)
            r = cs_fail_errno(c, k, "cannot save the deletion");
    }
    db_rollback(c->db);
    return r;
}

/* ---- undo a delete (a coordinator, online) ---- */

int caresync_restore_row(struct caresync *c, const char *table, const char *row_id,
                         const char *reason)
{
    _cleanup_json_ cJSON *body = NULL;
    const struct cat_table *t = NULL;
    struct http_reply rep = {0};
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r == CARESYNC_OK)
        r = lookup(c, table, NULL, &t, NULL);
    if (r == CARESYNC_OK)
        r = check_id(c, t->name, row_id);
    if (r != CARESYNC_OK)
        return r;
    if (!reason || !reason[strspn(reason, " \t")])
        return cs_fail(c, CARESYNC_EUSAGE,
                       "a restore needs a reason: add --reason TEXT, a few words on why");
    if (strlen(reason) > CARESYNC_REASON_MAX || !utf8_valid(reason, strlen(reason)) ||
        text_control_char(reason))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "bad reason: UTF-8 text of at most %d bytes expected", CARESYNC_REASON_MAX);
    body = cJSON_CreateObject();
    if (!body || wire_add_string(body, "table", t->name) < 0 ||
        wire_add_string(body, "row_id", row_id) < 0 || wire_add_string(body, "reason", reason) < 0)
        return cs_fail_errno(c, -ENOMEM, "restoring the row failed");
    r = transport_request(c, "POST", "/v1/rows/restore", body, true, "restoring the row", &rep);
    if (r != CARESYNC_OK)
        return r;
    if (rep.status == 403 && !streq(rep.code, "device_revoked"))
        r = cs_fail(c, CARESYNC_EFORBIDDEN,
                    "not allowed: only coordinators can restore deleted rows");
    else if (rep.status == 404 && streq(rep.code, "not_found"))
        r = cs_fail(c, CARESYNC_ENOTFOUND, "no %s %s on the server; check the id", t->name,
                    row_id);
    else if (rep.status == 409 && streq(rep.code, "not_deleted"))
        r = cs_fail(c, CARESYNC_EUSAGE, "%s %s is not deleted; nothing to restore", t->name,
                    row_id);
    else if (rep.status == 400)
        r = cs_fail(c, CARESYNC_EUSAGE, "restoring the row failed: %s (%s)", rep.message,
                    rep.code[0] ? rep.code : "bad request");
    else if (rep.status != 200)
        r = transport_fail(c, &rep, "restoring the row");
    http_reply_done(&rep);
    return r;
}

/* ---- loading for a push ---- */

/* Bytes @s takes as a JSON string body (cJSON escapes quotes, backslashes, controls). */
static size_t json_len(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; s && *p; p++)
        n += (*p == '"' || *p == '\\') ? 2 : *p < 0x20 ? 6 : 1;
    return n;
}

void outbox_batch_done(struct outbox_batch *b)
{
    if (b->v)
        for (size_t i = 0; i < b->n; i++)
            wire_change_done(&b->v[i]);
    free(b->v);
    *b = (struct outbox_batch){.after = b->after, .last = b->after};
}

/* Fill @cr from the outbox row @st is on. Returns 0 or -EUCLEAN/-ENOMEM. */
static int load_row(sqlite3_stmt *st, struct change_record *cr)
{
    const char *cid = (const char *)sqlite3_column_text(st, 1);
    const char *row = (const char *)sqlite3_column_text(st, 3);
    const char *per = (const char *)sqlite3_column_text(st, 4);
    const char *bdev = (const char *)sqlite3_column_text(st, 9);
    const char *value = (const char *)sqlite3_column_text(st, 6);

    cr->table = catalogue_table((const char *)sqlite3_column_text(st, 2));
    cr->field = catalogue_field(cr->table, (const char *)sqlite3_column_text(st, 5));
    if (!cr->field || !uuid_valid(cid) || !uuid_valid(row) || !uuid_valid(per) || !bdev ||
        (bdev[0] && !uuid_valid(bdev)))
        return -EUCLEAN;
    memcpy(cr->change_id, cid, UUID_STR_MAX);
    memcpy(cr->row_id, row, UUID_STR_MAX);
    memcpy(cr->person_id, per, UUID_STR_MAX);
    memcpy(cr->base_device, bdev, strlen(bdev) + 1);
    cr->hlc = (uint64_t)sqlite3_column_int64(st, 7);
    cr->base_hlc = (uint64_t)sqlite3_column_int64(st, 8);
    if (value && !(cr->value = strdup(value)))
        return -ENOMEM;
    return 0;
}

int outbox_load(struct caresync *c, int64_t after, size_t max, size_t max_bytes,
                struct outbox_batch *ret)
{
    struct outbox_batch b = {.after = after, .last = after};
    _cleanup_free_ int64_t *seqs = NULL;
    sqlite3_stmt *st;
    size_t bytes = 0;
    int r, rc;

    *ret = b;
    b.v = calloc(max ? max : 1, sizeof(*b.v));
    seqs = calloc(max ? max : 1, sizeof(*seqs));
    if (!b.v || !seqs) {
        free(b.v);
        return -ENOMEM;
    }
    r = db_cache_get(&c->stmts, c->db,
                     "SELECT seq, change_id, tbl, row_id, person_id, field, value, hlc, base_hlc,"
                     " base_device FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                     &st);
    if (r < 0) {
        outbox_batch_done(&b);
        return r;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* keys, ids, clocks: under 420 bytes */
        size_t size = 420 + json_len((const char *)sqlite3_column_text(st, 6));

        if (b.n > 0 && (b.n == max || bytes + size > max_bytes)) {
            /* Full. A batch never ends inside a row that goes on in the next one (the server
             * needs a new row's author in the batch that creates it), unless the row alone
             * fills the batch. */
            size_t k = b.n;
            const struct change_record *l = &b.v[b.n - 1];

            while (k > 0 && streq(b.v[k - 1].table->name, l->table->name) &&
                   streq(b.v[k - 1].row_id, l->row_id))
                k--;
            if (k > 0 && streq((const char *)sqlite3_column_text(st, 2), l->table->name) &&
                streq((const char *)sqlite3_column_text(st, 3), l->row_id)) {
                while (b.n > k)
                    wire_change_done(&b.v[--b.n]);
                b.last = seqs[k - 1];
            }
            rc = SQLITE_DONE;
            break;
        }
        r = load_row(st, &b.v[b.n]);
        if (r < 0) {
            sqlite3_reset(st);
            outbox_batch_done(&b);
            return r;
        }
        b.last = seqs[b.n] = sqlite3_column_int64(st, 0);
        bytes += size;
        b.n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        outbox_batch_done(&b);
        return db_errno(rc);
    }
    *ret = b;
    return 0;
}
