/* SPDX-License-Identifier: MIT */
/* export.c - one person from the replica as a FHIR R4 transaction Bundle, offline: the object
 * `caresync show PERSON --json` prints, handed to the builder in common/fhir.c. */
#include "caresync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "caresync_int.h"
#include "db.h"
#include "fhir.h"

int caresync_export_fhir(struct caresync *c, const char *person_id, char **ret)
{
    _cleanup_json_ cJSON *tree = NULL, *bundle = NULL;
    char now[WHEN_ISO_MAX];
    char *s;
    int r;

    r = cs_begin(c);
    if (r == CARESYNC_OK)
        r = cs_need_replica(c);
    if (r != CARESYNC_OK)
        return r;
    if (!person_id || !uuid_valid(person_id))
        return cs_fail(c, CARESYNC_EUSAGE,
                       "'%s' is not a person id (a lower-case UUID); see 'caresync caseload'",
                       person_id ? person_id : "");
    r = db_begin(c->db, false);
    if (r >= 0) {
        r = query_person_tree(c->db, person_id, &tree);
        db_rollback(c->db);
    }
    if (r == -ENOENT)
        return cs_fail(c, CARESYNC_ENOTFOUND,
                       "person %s is not in this replica; see 'caresync caseload', or sync",
                       person_id);
    if (r < 0)
        return cs_fail_errno(c, r, "cannot read the person");
    bundle = fhir_bundle(tree, when_now_iso(now));
    if (!bundle)
        return cs_fail_errno(c, -ENOMEM, "cannot build the FHIR Bundle");
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
