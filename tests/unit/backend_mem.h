/* SPDX-License-Identifier: MIT */
/*
 * backend_mem.h - storage backends for the engine's unit tests (test-engine.c): one that keeps
 * everything in memory (enough for the push rules), and a wrapper over any backend that counts
 * its calls and fails on demand (an error on the Nth call, a commit that fails).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct mem_backend;

/* mem_new() - an empty in-memory store. mem_free() frees it. */
struct mem_backend *mem_new(void);
void mem_free(struct mem_backend *m);
/* mem_backend() - its struct backend, for struct engine. */
struct backend *mem_backend(struct mem_backend *m);

/* Setting the scene, outside any transaction. */
void mem_add_person(struct mem_backend *m, const char *person_id, const char *name);
void mem_assign(struct mem_backend *m, const char *person_id, int64_t user_id);
void mem_unassign(struct mem_backend *m, const char *person_id, int64_t user_id, uint64_t ended_ms);
void mem_add_device(struct mem_backend *m, const char *device_id);
void mem_set_field(struct mem_backend *m, const char *tbl, const char *row_id,
                   const char *person_id, const char *field, const char *value, uint64_t hlc,
                   const char *device);

/* mem_set_journal_floor() - push_load() loads each row's journal from clock @hlc on at least
 * (and every tombstone entry), raising the bound the batch set (backend.h "journal_from"), as
 * a backend that reads less would: the engine must then ask for what lies below it. 0: the
 * batch's bound, as the SQLite backend loads it. */
void mem_set_journal_floor(struct mem_backend *m, uint64_t hlc);

/* Looking at the outcome. */
/* mem_field() - the field's current value (NULL when unset or null); *ret_found says which. */
const char *mem_field(struct mem_backend *m, const char *tbl, const char *row_id,
                      const char *field, bool *ret_found);
size_t mem_journal_count(const struct mem_backend *m);
/* mem_given_cursor() - the highest cursor device @device_id was given (0: none). */
uint64_t mem_given_cursor(struct mem_backend *m, const char *device_id);
size_t mem_conflict_count(const struct mem_backend *m, const char *kind);
size_t mem_audit_count(const struct mem_backend *m);
/* mem_digest() - every piece of state in one malloc'd string (equal strings: equal stores). */
char *mem_digest(const struct mem_backend *m);

/* A wrapper over @inner: counts every operation that can fail (not rollback, audit_begin and
 * audit_drop); with fail_at > 0 the fail_at'th (counting from 1) fails with fail_err; with
 * fail_commit, commit() rolls back and fails. */
struct wrap_backend {
    struct backend be;
    struct backend *inner;
    struct backend_ops ops;
    unsigned long calls;
    unsigned long fail_at;
    int fail_err;
    bool fail_commit;
};

void wrap_init(struct wrap_backend *w, struct backend *inner);
