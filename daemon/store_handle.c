/* SPDX-License-Identifier: MIT */
/*
 * store_handle.c - what a store handle does whatever its database: the transactions and the
 * group commit of store_int.h and store.h, each handed to the database's half of the handle
 * (struct store_db_ops: sqlite_store.c for the embedded file, pg_store.c for PostgreSQL), and
 * what both share (the sequence floor, numbering and ticking in memory, closing).
 */
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "store_int.h"

int store_plain_begin(struct store *s, bool write)
{
    return s->ops->plain_begin(s, write);
}

int store_plain_commit(struct store *s)
{
    return s->ops->plain_commit(s);
}

void store_txn_rollback(struct store *s)
{
    s->ops->rollback(s);
}

int store_txn_begin(struct store *s)
{
    return s->ops->txn_begin(s);
}

int store_sync_begin(struct store *s, const struct store_principal *p)
{
    return s->ops->sync_begin ? s->ops->sync_begin(s, p) : s->ops->txn_begin(s);
}

int store_head_need(struct store *s)
{
    return s->ops->head_need ? s->ops->head_need(s) : 0;
}

int store_read_begin(struct store *s)
{
    return s->ops->read_begin ? s->ops->read_begin(s) : -EOPNOTSUPP;
}

int store_txn_commit(struct store *s)
{
    return s->ops->txn_commit(s);
}

int store_group_begin(struct store *s)
{
    return s->ops->group_begin(s);
}

bool store_group_lost(struct store *s)
{
    return s->ops->group_lost(s);
}

int store_group_commit(struct store *s)
{
    return s->ops->group_commit(s);
}

void store_group_rollback(struct store *s)
{
    s->ops->group_rollback(s);
}

int store_open_reader(const struct store *w, const char *path, struct store **ret)
{
    return w->ops->open_reader(w, path, ret);
}

const char *store_path(struct store *s)
{
    return s->ops->path(s);
}

bool store_is_postgresql(const struct store *s)
{
    return sql_dialect(s->sql) == SQL_POSTGRESQL;
}

void store_reader_settings(struct store *s, const struct store *w)
{
    memcpy(s->node_id, w->node_id, sizeof(s->node_id));
    memcpy(s->epoch, w->epoch, sizeof(s->epoch));
    s->open_audit_id = w->open_audit_id;
    s->max_forward_ms = w->max_forward_ms;
    s->grace_ms = w->grace_ms;
    s->max_device_conflicts = w->max_device_conflicts;
}

uint64_t store_commits(const struct store *s)
{
    return s->commits;
}

uint64_t store_statements(const struct store *s, uint64_t *ret_prepares)
{
    return sql_statements(s->sql, ret_prepares);
}

/*
 * Sequence numbers never go back, whatever happened to the file (docs/internals/audit.md,
 * "Rewinds"): the counter is at least the wall clock in microseconds (ms x 1000) when a store
 * is opened and when it learns it went back in time. Every number an earlier incarnation
 * issued is below that, as long as the server's clock was not set back and it numbered fewer
 * than 1000 field writes per millisecond on average since it was opened -- SQLite commits a
 * few thousand a second.
 */
uint64_t store_seq_floor(void)
{
    return hlc_wall_ms() * 1000;
}

/* Both take the head first (a sync's transaction on PostgreSQL holds none until it needs it);
 * a failure is kept by the store's half and fails the commit, so nothing numbered without the
 * head is ever committed. */
uint64_t store_next_seq(struct store *s)
{
    (void)store_head_need(s);
    return ++s->txn_seq;
}

uint64_t store_tick(struct store *s)
{
    (void)store_head_need(s);
    return hlc_tick(&s->txn_hlc, hlc_wall_ms());
}

struct store *store_free(struct store *s)
{
    if (!s)
        return NULL;
    store_audit_done(s);
    sql_close(s->sql); /* and, on SQLite, s->db */
    free(s->url);
    free(s);
    return NULL;
}
