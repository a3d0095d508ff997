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

    r = cs_person_tree(c, person_id, &tree);
    if (r != CARESYNC_OK)
        return r;
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
