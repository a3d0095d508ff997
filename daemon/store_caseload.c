/* SPDX-License-Identifier: MIT */
/* store_caseload.c - caseload changes a coordinator makes from a device: assign and unassign,
 * transfer one person or a leaver's whole caseload to another worker, set a person's named
 * coordinator (one per person), and read a person's team. Every change is audited as the
 * coordinator who made it. Assignment starts and ends take a server sequence number, so the
 * pull stream sends the new worker the person whole and the old one a purge
 * (docs/internals/merge.md, "Pull pages"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

struct user_row {
    int64_t id;
    char role[STORE_ROLE_MAX];
    bool disabled; /* a leaver ('caresyncd user disable'): takes on nobody new */
};

static int user_get(struct store *s, const char *name, struct user_row *ret)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(s->sql,
                    "SELECT id, role, CASE WHEN disabled_at IS NULL THEN 0 ELSE 1 END"
                    " FROM users WHERE name = ?",
                   &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, name);
    rc = sql_step(st);
    if (rc != SQL_ROW)
        return rc == SQL_DONE ? -ENOENT : rc;
    ret->id = sql_column_int64(st, 0);
    copy_text(ret->role, sizeof(ret->role), sql_column_text(st, 1));
    ret->disabled = (int)sql_column_int64(st, 2) != 0;
    return 0;
}

/* Person @person_id exists and user @user is *@u; -ENOENT with *@which "person" or "user". */
static int person_and_user(struct store *s, const char *person_id, const char *user,
                           struct user_row *u, const char **which)
{
    int r = store_person_exists(s, person_id);

    if (r == 0) {
        *which = "person";
        return -ENOENT;
    }
    if (r < 0)
        return r;
    r = user_get(s, user, u);
    if (r == -ENOENT)
        *which = "user";
    return r;
}

/* Start (@start) or end @uid's assignment to @person_id. 1 changed, 0 already so, -errno. */
static int assignment_set(struct store *s, const char *person_id, int64_t uid, bool start)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    char ts[ISO_TIME_MAX];
    uint64_t now = hlc_wall_ms();
    int r;

    r = sql_prepare(s->sql,
                   start ? "INSERT INTO assignments(person_id, user_id, start_seq,"
                           " started_at) VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"
                         : "UPDATE assignments SET end_seq = ?3, ended_at = ?4, ended_ms = ?5"
                           " WHERE person_id = ?1 AND user_id = ?2 AND end_seq IS NULL",
                   &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, person_id);
    sql_bind_int64(st, 2, uid);
    sql_bind_int64(st, 3, (int64_t)(s->txn_seq + 1));
    sql_bind_text(st, 4, iso_time(now, ts));
    if (!start)
        sql_bind_int64(st, 5, (int64_t)now);
    r = sql_step_done(st);
    if (r < 0)
        return r;
    if (sql_changes(s->sql) == 0)
        return 0;
    /* The event's place in the pull stream. */
    store_next_seq(s);
    return 1;
}

/* 1 when @uid has an active assignment to @person_id, 0 when not, or -errno. */
static int assigned(struct store *s, const char *person_id, int64_t uid)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(s->sql,
                   "SELECT 1 FROM assignments WHERE person_id = ? AND user_id = ?"
                   " AND end_seq IS NULL",
                   &st);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, person_id);
    sql_bind_int64(st, 2, uid);
    rc = sql_step(st);
    return rc == SQL_ROW ? 1 : rc == SQL_DONE ? 0 : rc;
}

/* Run @sql with ?1 = @t1, ?2 = @t2 (text) and ?3 = @i1, ?4 = @i2, binding only those it names
 * (sql.h: a parameter the statement lacks is not portable); rows changed or -errno. */
static int exec_bound(struct store *s, const char *sql, const char *t1, const char *t2, int64_t i1,
                      int64_t i2)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    int r;

    r = sql_prepare(s->sql, sql, &st);
    if (r < 0)
        return r;
    if (strstr(sql, "?1"))
        sql_bind_text(st, 1, t1);
    if (strstr(sql, "?2"))
        sql_bind_text(st, 2, t2);
    if (strstr(sql, "?3"))
        sql_bind_int64(st, 3, i1);
    if (strstr(sql, "?4"))
        sql_bind_int64(st, 4, i2);
    r = sql_step_done(st);
    return r < 0 ? r : sql_changes(s->sql);
}

static int audit_caseload(struct store *s, const struct store_principal *p, const char *kind,
                          const char *person_id, const char *k1, const char *v1, const char *k2,
                          const char *v2)
{
    _cleanup_json_ cJSON *d = cJSON_CreateObject();

    if (!d || wire_add_string(d, k1, v1) < 0 || (k2 && wire_add_string(d, k2, v2) < 0))
        return -ENOMEM;
    return store_audit(s, kind, p->user_id, *p->device_id ? p->device_id : NULL, person_id, d);
}

/* ---- assign / unassign ---- */

int store_caseload_assign(struct store *s, const struct store_principal *p, const char *person_id,
                          const char *user, bool assign, const char **which)
{
    struct user_row u;
    int r, changed, cleared = 0;

    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = person_and_user(s, person_id, user, &u, which);
    if (r >= 0 && assign && streq(u.role, "admin")) {
        *which = "user";
        r = -EINVAL;
    }
    if (r >= 0 && assign && u.disabled) {
        *which = "user";
        r = -EPERM;
    }
    if (r < 0)
        goto fail;
    changed = r = assignment_set(s, person_id, u.id, assign);
    if (r == 0) {
        store_txn_rollback(s);
        return 0;
    }
    /* A professional named coordinator holds the role through the assignment that just ended. */
    if (r > 0 && !assign && !store_role_is_coordinator(u.role))
        r = cleared = exec_bound(s,
                                 "DELETE FROM named_coordinators WHERE person_id = ?1"
                                 " AND CAST(?2 AS TEXT) IS NULL AND user_id = ?3",
                                 person_id, NULL, u.id, 0);
    if (r >= 0)
        r = audit_caseload(s, p, assign ? "assign" : "unassign", person_id, "user", user,
                           cleared > 0 ? "named_coordinator_cleared" : NULL, "true");
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    return r < 0 ? r : changed;
fail:
    store_txn_rollback(s);
    return r;
}

/* ---- transfer ---- */

/* The @ret_n people @uid holds now (only @person_id when given), in assignment order, into
 * *ret (the caller frees it). */
static int held_people(struct store *s, int64_t uid, const char *person_id,
                       char (**ret)[UUID_STR_MAX], size_t *ret_n)
{
    _cleanup_sql_ struct sql_stmt *st = NULL;
    _cleanup_free_ char(*v)[UUID_STR_MAX] = NULL;
    size_t n = 0, cap = 0;
    int r, rc;

    r = sql_prepare(s->sql,
                   "SELECT person_id FROM assignments WHERE user_id = ?1"
                   " AND end_seq IS NULL AND (CAST(?2 AS TEXT) IS NULL OR person_id = ?2)"
                   " ORDER BY start_seq, id",
                   &st);
    if (r < 0)
        return r;
    sql_bind_int64(st, 1, uid);
    sql_bind_text(st, 2, person_id);
    while ((rc = sql_step(st)) == SQL_ROW) {
        if (array_grow((void **)&v, &cap, n, sizeof(*v), 16) < 0)
            return -ENOMEM;
        copy_text(v[n++], UUID_STR_MAX, sql_column_text(st, 0));
    }
    if (rc != SQL_DONE)
        return rc;
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

int store_caseload_transfer(struct store *s, const struct store_principal *p, const char *from,
                            const char *to, const char *person_id, struct proto_transfer_reply *ret,
                            const char **which)
{
    _cleanup_free_ char(*people)[UUID_STR_MAX] = NULL;
    size_t n_people = 0;
    struct user_row uf, ut;
    char ts[ISO_TIME_MAX];
    int r;

    copy_text(ret->from, sizeof(ret->from), from);
    copy_text(ret->to, sizeof(ret->to), to);
    if (streq(from, to)) {
        *which = "user";
        return -EINVAL;
    }
    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = user_get(s, from, &uf);
    if (r >= 0)
        r = user_get(s, to, &ut);
    if (r == -ENOENT)
        *which = "user";
    if (r >= 0 && streq(ut.role, "admin")) {
        *which = "user";
        r = -EINVAL;
    }
    if (r >= 0 && ut.disabled) {
        *which = "user";
        r = -EPERM;
    }
    if (r >= 0 && person_id) {
        r = store_person_exists(s, person_id);
        if (r == 0) {
            *which = "person";
            r = -ENOENT;
        }
    }
    if (r >= 0)
        r = held_people(s, uf.id, person_id, &people, &n_people);
    if (r >= 0 && person_id && n_people == 0) {
        *which = "assignment";
        r = -ENOENT;
    }
    if (r < 0)
        goto fail;
    for (size_t i = 0; i < n_people; i++) {
        const char *pid = people[i];
        int started;

        r = assignment_set(s, pid, uf.id, false);
        if (r >= 0)
            r = started = assignment_set(s, pid, ut.id, true);
        /* The leaver's named-coordinator roles for these people go with them. */
        if (r >= 0)
            r = exec_bound(s,
                           "UPDATE named_coordinators SET user_id = ?4, set_at = ?2"
                           " WHERE person_id = ?1 AND user_id = ?3",
                           pid, iso_time(hlc_wall_ms(), ts), uf.id, ut.id);
        if (r < 0)
            goto fail;
        if (r >= 0)
            r = audit_caseload(s, p, "transfer", pid, "from", from, "to", to);
        if (r < 0)
            goto fail;
        r = proto_transfer_reply_add(ret, started, pid);
        if (r < 0)
            goto fail;
    }
    r = store_txn_commit(s);
    if (r < 0)
        return r;
    return 0;
fail:
    store_txn_rollback(s);
    return r;
}

/* ---- named coordinator ---- */

int store_named_coordinator_set(struct store *s, const struct store_principal *p,
                                const char *person_id, const char *user, const char **why)
{
    _cleanup_sql_ struct sql_stmt *cur = NULL, *put = NULL;
    char ts[ISO_TIME_MAX], previous[STORE_NAME_MAX + 1] = "";
    const char *which = NULL;
    struct user_row u;
    int64_t prev_id = 0;
    int r, rc;

    r = store_txn_begin(s);
    if (r < 0)
        return r;
    r = person_and_user(s, person_id, user, &u, &which);
    if (r == -ENOENT)
        *why = streq(which, "person") ? "no person with that id" : "no user with that name";
    if (r < 0)
        goto fail;
    if (access_class_of(u.role) == ACCESS_ADMIN || access_class_of(u.role) == ACCESS_VCSE) {
        *why = "a named coordinator is a coordinator or a professional, not a volunteer,"
               " personal assistant or admin account";
        r = -EINVAL;
        goto fail;
    }
    if (!store_role_is_coordinator(u.role)) {
        r = assigned(s, person_id, u.id);
        if (r == 0) {
            *why = "a professional is named coordinator only for a person on their caseload;"
                   " assign them first";
            r = -EINVAL;
        }
        if (r < 0)
            goto fail;
    }
    r = sql_prepare(s->sql,
                   "SELECT n.user_id, u.name FROM named_coordinators n"
                   " JOIN users u ON u.id = n.user_id WHERE n.person_id = ?",
                   &cur);
    if (r < 0)
        goto fail;
    sql_bind_text(cur, 1, person_id);
    rc = sql_step(cur);
    if (rc == SQL_ROW) {
        prev_id = sql_column_int64(cur, 0);
        copy_text(previous, sizeof(previous), sql_column_text(cur, 1));
    }
    sql_reset(cur);
    if (rc != SQL_ROW && rc != SQL_DONE) {
        r = rc;
        goto fail;
    }
    if (prev_id == u.id) {
        store_txn_rollback(s);
        return 0;
    }
    r = sql_prepare(s->sql,
                   "INSERT INTO named_coordinators(person_id, user_id, set_at, set_by)"
                   " VALUES(?, ?, ?, ?) ON CONFLICT (person_id) DO UPDATE SET"
                   " user_id = excluded.user_id, set_at = excluded.set_at,"
                   " set_by = excluded.set_by",
                   &put);
    if (r < 0)
        goto fail;
    sql_bind_text(put, 1, person_id);
    sql_bind_int64(put, 2, u.id);
    sql_bind_text(put, 3, iso_time(hlc_wall_ms(), ts));
    sql_bind_int64(put, 4, p->user_id);
    r = sql_step_done(put);
    if (r >= 0)
        r = audit_caseload(s, p, "named_coordinator", person_id, "user", user, "previous",
                           prev_id ? previous : NULL);
    if (r < 0)
        goto fail;
    r = store_txn_commit(s);
    return r < 0 ? r : 1;
fail:
    store_txn_rollback(s);
    return r;
}

/* ---- a person's team ---- */

/* Column @i of @st copied into *ret (NULL for SQL NULL). 0 or -ENOMEM. */
static int dup_column(struct sql_stmt *st, int i, char **ret)
{
    const char *t = sql_column_text(st, i);

    *ret = t ? strdup(t) : NULL;
    return !t || *ret ? 0 : -ENOMEM;
}

/* The row of @st as a team member: user, role and since in columns 0 to 2 (borrowed). */
static struct proto_team_member team_member(struct sql_stmt *st)
{
    return (struct proto_team_member){(char *)sql_column_text(st, 0),
                                      (char *)sql_column_text(st, 1),
                                      (char *)sql_column_text(st, 2)};
}

int store_person_team(struct store *s, const struct store_principal *p, const char *person_id,
                      struct proto_team *ret)
{
    _cleanup_sql_ struct sql_stmt *name = NULL, *nc = NULL, *team = NULL;
    int r, rc;

    r = store_plain_begin(s, false);
    if (r < 0)
        return r;
    /* Coordinators: any person that exists; others: people on their caseload. */
    r = store_in_scope(s, p, person_id);
    if (r == 0)
        r = -ENOENT;
    if (r >= 0)
        copy_text(ret->person_id, sizeof(ret->person_id), person_id);
    if (r >= 0)
        r = sql_prepare(s->sql,
                       "SELECT value FROM field_state WHERE tbl = 'person'"
                       " AND row_id = ? AND field = 'name'",
                       &name);
    if (r >= 0) {
        sql_bind_text(name, 1, person_id);
        rc = sql_step(name);
        r = rc == SQL_ROW    ? dup_column(name, 0, &ret->name)
            : rc == SQL_DONE ? 0
                                : rc;
    }
    if (r >= 0)
        r = sql_prepare(s->sql,
                       "SELECT u.name, u.role, n.set_at FROM named_coordinators n"
                       " JOIN users u ON u.id = n.user_id WHERE n.person_id = ?",
                       &nc);
    if (r >= 0) {
        sql_bind_text(nc, 1, person_id);
        rc = sql_step(nc);
        if (rc == SQL_ROW) {
            struct proto_team_member m = team_member(nc);

            r = proto_team_set_coordinator(ret, &m);
        } else {
            r = rc == SQL_DONE ? 0 : rc;
        }
    }
    if (r >= 0)
        r = sql_prepare(s->sql,
                       "SELECT u.name, u.role, a.started_at FROM assignments a"
                       " JOIN users u ON u.id = a.user_id WHERE a.person_id = ?"
                       " AND a.end_seq IS NULL ORDER BY a.start_seq, a.id",
                       &team);
    if (r >= 0)
        sql_bind_text(team, 1, person_id);
    while (r >= 0 && (rc = sql_step(team)) == SQL_ROW) {
        struct proto_team_member m = team_member(team);

        /* A worker whose sector a consent provision denies holds an assignment but not the
         * person (their devices purged them): not on the team until the refusal is withdrawn. */
        r = store_denied(s, m.role, person_id);
        if (r == 0)
            r = proto_team_add(ret, &m);
    }
    if (r >= 0 && rc != SQL_DONE)
        r = rc;
    sql_reset(name);
    sql_reset(nc);
    store_txn_rollback(s);
    return r < 0 ? r : 0;
}
