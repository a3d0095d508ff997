/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the storage backend under the sync engine: a table of operations chosen when the
 * store is opened (as OpenSMTPD's queue_backend), taking and returning C structs. Every
 * operation returns 0 (or a count) or a NEGATIVE ERRNO: -ENOSPC disk full, -EBUSY another writer
 * holds the store, -EIO, -ENOMEM, -ENOENT ... never an HTTP status, never cJSON.
 *
 * Operations are batch-shaped where a batch is at hand: push_load() reads in ONE call what the
 * engine's rules need about a whole pushed batch (the changes already stored under its ids, the
 * current fields and owner of each row it writes, the scope facts of each person it names, the
 * device's cursor, and each row's field versions, journal and conflict keys for the merge), and
 * push_write() writes in ONE call what the merge decided (journal rows, field states, conflicts,
 * audit), so that a networked database pays a constant number of round trips for a 300-change
 * push, not several per change. A pull page likewise: one pull_load() (its stream and caseload
 * events) and one pull_facts() (its people's and rows' facts) whatever the page holds.
 * docs/internals/backend.md says what each operation promises,
 * when the per-change operations are still called, and what a new backend implements.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#define STORE_ROW_MAX 64

/* One row's fields from the field state, optionally overlaid (a batch's own values first). */
struct store_row {
    size_t n;
    char *names[STORE_ROW_MAX];
    char *values[STORE_ROW_MAX];
    bool (*overlay)(void *ctx, const char *field, const char **ret);
    void *overlay_ctx;
};

void store_row_done(struct store_row *r);
/* store_row_get() - the access_row lookup over a struct store_row (@ctx). */
const char *store_row_get(void *ctx, const char *field);

/* A change being applied: its identity, effective version, base and who sent it. */
struct applying {
    const char *change_id;
    const char *tbl;
    const struct cat_field *field;
    const char *row_id;
    const char *person_id;
    const char *value;
    uint64_t hlc;      /* effective (clamped) clock */
    uint64_t sent_hlc;
    const char *device;
    int64_t user_id;   /* 0 = the server itself */
    uint64_t base_hlc;
    const char *base_device;
    /* A base the server never issued for this field proves nothing: base_hlc/base_device are
     * then 0 and "" (the write saw nothing) and the base as sent is journaled beside them. */
    bool base_untrusted;
    uint64_t sent_base_hlc;
    const char *sent_base_device;
    bool conflict;     /* set when the merge logged this change as a conflict's loser */
    bool new_row;      /* the row has no stored history but this batch's: skip the searches */
};

/* A field's current version and value (exists false if none). */
struct field_cur {
    bool exists;
    char *value;
    uint64_t hlc;
    char device[UUID_STR_MAX];
    char change_id[UUID_STR_MAX];
};

void store_field_cur_done(struct field_cur *c);

/* One journal entry (an applied or lost change) as the merge's conflict rules read it. */
struct backend_journal_entry {
    char change_id[UUID_STR_MAX];
    char device[UUID_STR_MAX];
    char base_device[UUID_STR_MAX]; /* "" for none */
    char field[64];
    bool tombstone;                 /* field _deleted */
    char *value;
    uint64_t hlc, sent_hlc, base_hlc;
    char outcome[16];               /* in a snapshot row's journal: applied, lost, ... */
};

void backend_history_free(struct backend_journal_entry *h, size_t n);

/* ---- what push_load() returns ---- */

/* A change already stored under one of the batch's ids (a replay, or an id reused). */
struct backend_seen {
    bool seen;
    char device[UUID_STR_MAX], row_id[UUID_STR_MAX], person_id[UUID_STR_MAX];
    char tbl[64], field[64], outcome[16];
    char *value;
    bool has_person;  /* person_id was not NULL */
    uint64_t sent_hlc, sent_base_hlc, hlc;
    char sent_base_device[UUID_STR_MAX];
    bool conflict;
};

/* A field's current version in a snapshot row. */
struct backend_version {
    char field[64];
    struct field_cur cur;
};

/* One row the batch writes, as stored before the batch (exists false: a new row). */
struct backend_row {
    const struct cat_table *table;
    const char *row_id;              /* borrowed from the batch */
    bool exists;
    char person_id[UUID_STR_MAX];    /* its owner, when it exists */
    struct store_row fields;         /* its current field values */
    /* What the merge reads about the row, when the backend loaded it (loaded true; a backend
     * may leave it false and the engine then asks per change): every field's current version,
     * and the row's journal entries (all outcomes) within @journal_from. The engine appends the
     * batch's own journal entries and field versions as it writes them, so the merge's reads
     * see the batch's earlier writes exactly as reads inside the transaction would. */
    bool loaded;
    /* The journal loaded is bounded (docs/internals/backend.md "The journal's bound"): it holds
     * every entry with hlc >= @journal_from and every tombstone (_deleted) entry whatever its
     * clock; 0 means the whole journal.
     * backend_snapshot_keys() sets it from the batch: the oldest clock the merge of any of the
     * row's changes reads from (a change's base or, when older, its own clock; 0 for a change
     * with no base). The engine asks the backend for what lies below it. */
    uint64_t journal_from;
    struct backend_version *versions;
    size_t n_versions, cap_versions;
    struct backend_journal_entry *journal;
    size_t n_journal, cap_journal;
    /* The conflict-log entries whose losers are in the row's journal (as loaded). */
    struct backend_conflict_key *conflicts;
    size_t n_conflicts, cap_conflicts;
};

/* backend_row_version() - the row's current version of @field (NULL: none). */
struct field_cur *backend_row_version(struct backend_row *row, const char *field);
/* backend_row_put() - make (@value, @hlc, @device, @change_id) the row's version of @field.
 * 0 or -ENOMEM. */
int backend_row_put(struct backend_row *row, const char *field, const char *value, uint64_t hlc,
                    const char *device, const char *change_id);
/* backend_row_journal_add() - append an entry to the row's journal (@value copied); its
 * tombstone flag is set from its field. 0 or -ENOMEM. */
int backend_row_journal_add(struct backend_row *row, const struct backend_journal_entry *e,
                            const char *value);
/* backend_row_conflict_add() - add a conflict-log key to the row. 0 or -ENOMEM. */
int backend_row_conflict_add(struct backend_row *row, const char *loser, const char *kind);


/* What the engine needs about one person the batch names, for the pushing principal. */
struct backend_person {
    const char *person_id;  /* borrowed from the batch */
    bool exists;            /* the person's own row is in the field state */
    bool assigned;          /* on the principal's caseload now */
    bool ever_assigned;     /* ... now or in the past */
    bool denied;            /* an active consent provision denies the principal's sector */
    /* The handover window (docs/internals/access.md): the principal's last assignment when it
     * ended (end_ms, end_seq; valid when had_assignment and !assigned), and when still assigned,
     * the first active deny of its sector (deny_found, received ms and sequence number). */
    bool had_assignment;
    uint64_t end_ms, end_seq;
    bool deny_found;
    uint64_t deny_ms, deny_seq;
};

/* A conflict-log entry's key (the log keeps one per loser and kind). */
struct backend_conflict_key {
    char loser[UUID_STR_MAX];
    char kind[32];
};

/* One write of a push, kept by the engine until it calls push_write() (backend_write_applying()
 * gives the change as struct applying). */
enum backend_write_kind {
    BACKEND_WRITE_JOURNAL,  /* journal(a, outcome) */
    BACKEND_WRITE_FIELD,    /* field_put(a, seq) */
    BACKEND_WRITE_CONFLICT, /* conflict_add(conflict_kind, a, loser, winner, field): logs it */
    BACKEND_WRITE_AUDIT,    /* audit_change(a, outcome, before) */
};

struct backend_write {
    enum backend_write_kind kind;
    struct applying a; /* its strings are NULL here: they are the members below */
    char change_id[UUID_STR_MAX], tbl[64], row_id[UUID_STR_MAX], person_id[UUID_STR_MAX];
    char device[UUID_STR_MAX], base_device[UUID_STR_MAX], sent_base_device[UUID_STR_MAX];
    bool has_person, has_base_device, has_sent_base_device;
    char *value, *before;
    char outcome[16];
    uint64_t seq;
    char conflict_kind[32], loser[UUID_STR_MAX], winner[UUID_STR_MAX], field[64];
    bool has_loser, has_winner;
};

/* backend_write_applying() - @w's change as a struct applying (pointing into @w). */
void backend_write_applying(const struct backend_write *w, struct applying *ret);

struct backend;
/* backend_write_each() - a push_write() that applies each write, in order, with the backend's
 * per-change operation of its kind (journal, field_put, conflict_add, audit_change): the SQLite
 * backend's (its statements are local and cached) and the memory backend's. A networked backend
 * sends them as one round trip instead. */
int backend_write_each(struct backend *b, const struct backend_write *w, size_t n);

/* Everything push_load() read. Arrays are indexed as described; free with
 * backend_push_snapshot_done(). */
struct push_snapshot {
    struct backend_seen *seen;     /* one per change of the batch, in batch order */
    size_t n_seen;
    struct backend_row *rows;      /* one per distinct (table, row) of the batch */
    size_t n_rows;
    struct backend_person *people; /* one per distinct person of the batch */
    size_t n_people;
    uint64_t given_cursor;         /* the highest cursor the device was given (0: none) */
    /* The engine's writes not yet given to push_write(), in order. */
    struct backend_write *writes;
    size_t n_writes, cap_writes;
};

void backend_push_snapshot_done(struct push_snapshot *s);
/* backend_push_writes_done() - free the snapshot's pending writes. */
void backend_push_writes_done(struct push_snapshot *s);
/* backend_snapshot_keys() - allocate *ret's arrays for the batch: one seen entry per change, one
 * row per distinct (table, row) and one person per distinct person, sorted for the lookups
 * (every backend's push_load() starts with it). 0 or -ENOMEM. */
int backend_snapshot_keys(const struct change_record *changes, size_t n,
                          struct push_snapshot *ret);
/* The snapshot's entry for a row / a person (NULL when the batch did not name it). */
struct backend_row *backend_snapshot_row(struct push_snapshot *s, const struct cat_table *t,
                                         const char *row_id);
struct backend_person *backend_snapshot_person(struct push_snapshot *s, const char *person_id);
/* The snapshot's entry for a row named by table name (NULL when the batch did not name it). */
struct backend_row *backend_snapshot_row_named(struct push_snapshot *s, const char *tbl,
                                               const char *row_id);

/* ---- the pull (engine_pull.c): what pull_load() and pull_facts() return ---- */

/* One field state as a pull reads it (@table / @field NULL: no longer in the catalogue). */
struct pull_field {
    const struct cat_table *table;
    const struct cat_field *field;
    char row_id[UUID_STR_MAX], person_id[UUID_STR_MAX], device[UUID_STR_MAX];
    char *value;
    uint64_t hlc, seq;
};

/* A worker's caseload event after the cursor: a person came onto the caseload (assigned, or
 * their closed record reopened) or left it (unassigned, or their record expired). */
struct pull_event {
    uint64_t seq;
    bool purge;
    char person_id[UUID_STR_MAX];
};

/* One page's stream and events: ONE pull_load() call. */
struct pull_load {
    /* in */
    uint64_t cursor;
    size_t limit;   /* at most this many fields */
    bool caseload;  /* only the fields of people on @p's caseload now written after their
                     * assignment started, and @p's caseload events (a worker); else every
                     * field (a coordinator) and no events */
    bool others;    /* and every person with a record who is not on @p's caseload now */
    /* out: fields after @cursor by sequence; events after @cursor, any order */
    struct pull_field *fields;
    size_t n_fields, cap_fields;
    struct pull_event *events;
    size_t n_events, cap_events;
    char (*others_ids)[UUID_STR_MAX];
    size_t n_others, cap_others;
};

void backend_pull_load_done(struct pull_load *l);

/* What the projection needs about one person of a page. */
struct pull_person {
    char person_id[UUID_STR_MAX]; /* in */
    bool want_state;              /* in: load the person's whole current field state */
    bool known;                   /* @denied and @expired are filled */
    bool denied;                  /* an active consent provision denies @p's sector */
    bool expired;                 /* closed longer ago than field devices keep records */
    bool loaded;                  /* @state is loaded (by sequence) */
    struct pull_field *state;
    size_t n_state, cap_state;
};

/* One row of a page: its current fields, and for a goal the goal_id and who fields of the
 * person's actions that serve it (plan_action rows whose goal_id is the goal). */
struct pull_row {
    const struct cat_table *table;                /* in */
    char row_id[UUID_STR_MAX], person_id[UUID_STR_MAX]; /* in */
    struct pull_field *fields;
    size_t n_fields, cap_fields;
    struct pull_field *actions;
    size_t n_actions, cap_actions;
};

/* The facts of a page's people and rows: ONE pull_facts() call. */
struct pull_facts {
    struct pull_person *people;
    size_t n_people;
    struct pull_row *rows;
    size_t n_rows;
    /* States are loaded in order; once those loaded in this call hold @state_budget fields the
     * people after who want a state are left alone (known and loaded false; the engine asks
     * again when it reaches them). The first is always loaded. 0: no bound. */
    size_t state_budget;
};

/* A device's pull state: the highest cursor it was given in a committed reply, and the
 * re-decision of its replica after its user's role changed (docs/internals/access.md). */
struct pull_device {
    uint64_t given_cursor;       /* 0: none yet */
    int redecide;                /* 0 none, 1, or 2 (the user was a coordinator) */
    char redecide_cursor[160];   /* the whole cursor of the last re-decision page ("": none) */
    bool redecide_done;          /* that page was the last */
};

void backend_pull_facts_done(struct pull_facts *f);
/* backend_pull_field_add() - append a field state (@value copied; @tbl/@field looked up in the
 * catalogue) to an array. 0 or -ENOMEM. */
int backend_pull_field_add(struct pull_field **arr, size_t *n, size_t *cap, const char *tbl,
                           const char *row_id, const char *field, const char *person_id,
                           const char *value, uint64_t hlc, const char *device, uint64_t seq);
void backend_pull_fields_free(struct pull_field *f, size_t n);

struct backend;

struct backend_ops {
    const char *name;

    /* Transactions. begin(write) starts one (a write one takes the writer's lock and loads
     * the sequence counter and clock); commit() saves them and makes everything durable, or
     * fails having rolled back; rollback() undoes everything since begin(). */
    int (*begin)(struct backend *b, bool write);
    int (*commit)(struct backend *b);
    void (*rollback)(struct backend *b);

    /* push: ONE call for a whole batch of @n changes by @p. Fills *ret (zeroed by the caller;
     * free it with backend_push_snapshot_done(), also on failure). */
    int (*push_load)(struct backend *b, const struct store_principal *p,
                     const struct change_record *changes, size_t n, struct push_snapshot *ret);
    /* Re-read one person's facts (@io->person_id set) after the batch changed who may write
     * them (a registration, a consent decision): once per such event, not per change. */
    int (*person_reload)(struct backend *b, const struct store_principal *p,
                         struct backend_person *io);

    /* ONE call for what the engine wrote since the last: the @n writes in order, each with the
     * semantics of the operation its kind names (a conflict is written only when the engine
     * decided it is new, from the snapshot). */
    int (*push_write)(struct backend *b, const struct backend_write *w, size_t n);

    /* Per change outside a push, and in a push for rows push_load() did not load
     * (docs/internals/backend.md). */
    int (*field_current)(struct backend *b, const char *tbl, const char *row_id,
                         const char *field, struct field_cur *ret);
    /* 1 when @a's base is a version stored for that field (for a delete: of the row), 0, -errno. */
    int (*base_issued)(struct backend *b, const struct applying *a);
    /* Append @a to the journal with @outcome. */
    int (*journal)(struct backend *b, const struct applying *a, const char *outcome);
    /* Log @loser as lost to @winner (kind), once per loser and kind (a concurrent_edit is not
     * logged for a loser already logged as missed_vs_completed), about @a's row and @field:
     * 1 when logged (the loser's journal entry is flagged), 0 when it already was. */
    int (*conflict_add)(struct backend *b, const char *kind, struct applying *a,
                        const char *loser_change_id, const char *winner_change_id,
                        const char *field);
    /* Make @a the field's current version, numbered @seq in the store's sequence. */
    int (*field_put)(struct backend *b, const struct applying *a, uint64_t seq);
    /* The applied and lost journal entries of field @field of the row with hlc >= @from_hlc,
     * and (unless @field is _deleted) every applied or lost tombstone entry of the row, in
     * any order; the caller frees *ret with backend_history_free(). */
    int (*field_history)(struct backend *b, const char *tbl, const char *row_id,
                         const char *field, uint64_t from_hlc,
                         struct backend_journal_entry **ret, size_t *ret_n);
    /* The applied and lost entries of the row's other fields (not _deleted), hlc >= @from_hlc. */
    int (*row_edits)(struct backend *b, const char *tbl, const char *row_id, uint64_t from_hlc,
                     struct backend_journal_entry **ret, size_t *ret_n);
    /* 1 when an applied or lost restore (_deleted "0") of the row is after version
     * (@hlc, @device), 0, or -errno. */
    int (*restored_after)(struct backend *b, const char *tbl, const char *row_id, uint64_t hlc,
                          const char *device);
    /* 1 and change @change_id's clocks (as stored, as sent) when it is journaled, 0, -errno. */
    int (*journal_clocks)(struct backend *b, const char *change_id, uint64_t *ret_hlc,
                          uint64_t *ret_sent_hlc);
    /* The newest version of any field of the row (exists false for none). */
    int (*row_newest)(struct backend *b, const char *tbl, const char *row_id,
                      struct field_cur *ret);
    /* Person @person_id registered in the field by @p: assigned to @p (audited "assign"); the
     * engine then writes its status. */
    int (*register_person)(struct backend *b, const struct store_principal *p,
                           const char *person_id);
    /* 1 when @p may see row @row_id of @t now, 0, or -errno (rows of lost changes only). */
    int (*row_visible)(struct backend *b, const struct store_principal *p,
                       const struct cat_table *t, const char *row_id, const char *person_id);
    int (*audit_change)(struct backend *b, const struct applying *a, const char *outcome,
                        const char *before);

    /* Once per batch. */
    /* Between audit_begin() and audit_flush() the changes audited are grouped and written as
     * one "change" event per person, writer and device; audit_drop() forgets them. */
    void (*audit_begin)(struct backend *b);
    int (*audit_flush)(struct backend *b);
    void (*audit_drop)(struct backend *b);
    /* Open conflict-log entries whose losing change device @device sent, in *ret. */
    int (*device_open_conflicts)(struct backend *b, const char *device, uint64_t *ret);
    /* pull: ONE call for a page's stream (the fields after a cursor, at most @io->limit) and a
     * worker's caseload events after it (struct pull_load). */
    int (*pull_load)(struct backend *b, const struct store_principal *p, struct pull_load *io);
    /* ONE call for the facts the projection needs about a page's people and rows (struct
     * pull_facts); the engine makes one more only for rows it learnt of from the first (a goal
     * through its action) and for whole states past the budget. */
    int (*pull_facts)(struct backend *b, const struct store_principal *p, struct pull_facts *io);
    /* @p's device's pull state (all zero for a device not known), and its new state. */
    int (*pull_device)(struct backend *b, const struct store_principal *p,
                       struct pull_device *ret);
    int (*pull_device_set)(struct backend *b, const struct store_principal *p,
                           const struct pull_device *d);
    /* Mark expired every record closed (status closed or deceased) on or before @cutoff_day
     * (YYYY-MM-DD, its closed_on) and not expired already, all numbered with one new sequence
     * number (++*b->seq) when there are any: a count, or -errno. */
    int (*expire_closed)(struct backend *b, const char *cutoff_day);
    /* How many records expire_closed() would mark now, writing nothing (a reader's snapshot is
     * enough): a count, or -errno. */
    int (*closed_due)(struct backend *b, const char *cutoff_day);
    /* Record a successful sync of @p's device: now, @pending (< 0: keep), @client_version. */
    int (*device_synced)(struct backend *b, const struct store_principal *p, int64_t pending,
                         const char *client_version);
};

/*
 * A backend instance. @seq and @hlc are the write transaction's sequence counter and clock,
 * loaded by begin(write) and saved by commit(): the engine reads and moves them in memory (no
 * call). @conflicts_logged counts the conflict-log entries the engine made since it zeroed it.
 */
struct backend {
    const struct backend_ops *ops;
    uint64_t *seq, *hlc;
    size_t conflicts_logged;
    /* The snapshot of the push in progress (set by engine_push(), NULL outside one): the merge
     * reads rows it loaded from it instead of asking the backend per change. */
    struct push_snapshot *snap;
};

/* The SQLite store's operations (daemon/store_push.c, over sql.h, with sqlite_store.c's
 * transactions). */
extern const struct backend_ops sqlite_backend_ops;
/* The pull operations (store_pull.c, over sql.h). */
int store_pull_load(struct backend *b, const struct store_principal *p, struct pull_load *io);
int store_pull_facts(struct backend *b, const struct store_principal *p,
                     struct pull_facts *io);
int store_pull_device(struct backend *b, const struct store_principal *p,
                      struct pull_device *ret);
int store_pull_device_set(struct backend *b, const struct store_principal *p,
                          const struct pull_device *d);
int store_expire_closed(struct backend *b, const char *cutoff_day);
int store_closed_due(struct backend *b, const char *cutoff_day);
