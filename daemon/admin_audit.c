/* SPDX-License-Identifier: MIT */
/* admin_audit.c - `caresyncd audit verify` (recompute the hash chain) and `caresyncd audit
 * export --person ID` (one person's trail, for a subject access request). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "store.h"
#include "util.h"
#include "wire.h"

static void store_closep(struct store **s)
{
    store_free(*s);
}

int admin_audit_verify(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_(store_closep) struct store *s = NULL;
    int64_t rows = 0, bad = 0;
    int r;

    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_audit_verify(s, &rows, &bad);
    if (r == -EBADMSG) {
        fprintf(stderr,
                "caresyncd: audit log BROKEN at entry %" PRId64 " (after %" PRId64
                " intact entries): it was edited, removed or reordered; restore the store from "
                "a backup and investigate\n",
                bad, rows);
        return ADMIN_EXIT_FAILURE;
    }
    if (r < 0) {
        fprintf(stderr, "caresyncd: cannot read the audit log: %s; check the data directory\n",
                strerror(-r));
        return ADMIN_EXIT_FAILURE;
    }
    printf("audit log intact: %" PRId64 " entries, hash chain verified\n", rows);
    return ADMIN_EXIT_OK;
}

int admin_audit_export(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_json_ cJSON *trail = NULL;
    char *text;
    int r;

    if (!o->person || !uuid_valid(o->person))
        return admin_usage(cmd, "--person must be a person id (a lower-case UUID)");
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_audit_export(s, o->person, &trail);
    if (r == -ENOENT) {
        fprintf(stderr,
                "caresyncd: no person with id %s, and no audit entries name it; check the id "
                "printed by 'caresyncd person add'\n",
                o->person);
        return ADMIN_EXIT_NOT_FOUND;
    }
    if (r < 0) {
        fprintf(stderr, "caresyncd: cannot read the audit log: %s; check the data directory\n",
                strerror(-r));
        return ADMIN_EXIT_FAILURE;
    }
    text = cJSON_Print(trail);
    if (!text) {
        fprintf(stderr, "caresyncd: out of memory printing the trail\n");
        return ADMIN_EXIT_FAILURE;
    }
    puts(text);
    cJSON_free(text);
    return ADMIN_EXIT_OK;
}
