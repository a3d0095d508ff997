/* SPDX-License-Identifier: MIT */
/* fhir_order.c - a Bundle's load order and its slices (docs/internals/fhir.md, "Load order"
 * and "Slices"): the entries sorted so that every reference points to an entry before it, and
 * the Bundle cut into transaction Bundles of at most N entries. Reads and moves JSON only. */
#include "fhir.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"
#include "wire.h"

/* The string @key of @o, or NULL. */
static const char *val(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* "QuestionnaireResponse/" and a UUID, or "CodeSystem/caresync-..." with room to spare. */
#define FHIR_KEY_MAX 96

struct key_index {
    char key[FHIR_KEY_MAX]; /* "Type/id" */
    size_t i;
};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct key_index *)a)->key, ((const struct key_index *)b)->key);
}

/* The entries one entry refers to (indexes into the Bundle's entries). */
struct deps {
    size_t *i;
    size_t n, cap;
};

/* Every entry that @node refers to by "Type/id" (other than @self) into @d; false when out of
 * memory. */
static bool refs_of(const cJSON *node, const struct key_index *keys, size_t n, size_t self,
                    struct deps *d)
{
    const cJSON *c;

    cJSON_ArrayForEach (c, node) {
        if (cJSON_IsString(c) && c->string && streq(c->string, "reference")) {
            struct key_index k = {.i = 0}, *hit;

            snprintf(k.key, sizeof(k.key), "%s", c->valuestring);
            hit = bsearch(&k, keys, n, sizeof(*keys), key_cmp);
            if (!hit || hit->i == self)
                continue;
            if (d->n == d->cap) {
                size_t cap = d->cap ? 2 * d->cap : 8, *grown = realloc(d->i, cap * sizeof(*grown));

                if (!grown)
                    return false;
                d->i = grown;
                d->cap = cap;
            }
            d->i[d->n++] = hit->i;
        } else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !refs_of(c, keys, n, self, d)) {
            return false;
        }
    }
    return true;
}

/*
 * Reorder the entries so that every reference points to an entry before it: a Bundle cut
 * anywhere loads slice by slice, each slice finding what it refers to already loaded. Stable:
 * an entry moves only behind what it needs. The mapping has no cycles (references point one
 * way); were there one, its first entry would go first.
 */
int fhir_order_entries(cJSON *entries)
{
    size_t n = (size_t)cJSON_GetArraySize(entries), done = 0, i = 0;
    _cleanup_free_ struct key_index *keys = NULL;
    _cleanup_free_ cJSON **items = NULL;
    _cleanup_free_ struct deps *deps = NULL;
    _cleanup_free_ bool *placed = NULL;
    bool oom = false;
    cJSON *e;

    if (n < 2)
        return 0;
    keys = calloc(n, sizeof(*keys));
    items = calloc(n, sizeof(*items));
    deps = calloc(n, sizeof(*deps));
    placed = calloc(n, sizeof(*placed));
    if (!keys || !items || !deps || !placed)
        return -ENOMEM;
    cJSON_ArrayForEach (e, entries) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");

        items[i] = e;
        snprintf(keys[i].key, sizeof(keys[i].key), "%s/%s",
                 val(r, "resourceType") ? val(r, "resourceType") : "",
                 val(r, "id") ? val(r, "id") : "");
        keys[i].i = i;
        i++;
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    for (i = 0; i < n && !oom; i++)
        oom = !refs_of(cJSON_GetObjectItemCaseSensitive(items[i], "resource"), keys, n, i,
                       &deps[i]);
    /* Detach all, then add back in load order. */
    while (!oom && entries->child)
        (void)cJSON_DetachItemViaPointer(entries, entries->child);
    while (!oom && done < n) {
        bool progress = false;

        for (i = 0; i < n; i++) {
            bool ready = !placed[i];

            for (size_t d = 0; ready && d < deps[i].n; d++)
                ready = placed[deps[i].i[d]];
            if (!ready)
                continue;
            placed[i] = true;
            (void)cJSON_AddItemToArray(entries, items[i]);
            done++;
            progress = true;
        }
        for (i = 0; !progress && i < n; i++)
            if (!placed[i]) { /* a cycle: break it at its first entry */
                placed[i] = true;
                (void)cJSON_AddItemToArray(entries, items[i]);
                done++;
                progress = true;
            }
    }
    for (i = 0; i < n; i++)
        free(deps[i].i);
    return oom ? -ENOMEM : 0;
}

cJSON *fhir_split(const cJSON *bundle, size_t max_entries)
{
    _cleanup_json_ cJSON *out = cJSON_CreateArray();
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(bundle, "entry"), *e;
    const char *ts = val(bundle, "timestamp");
    cJSON *cur = NULL, *cur_entries = NULL;
    size_t n = 0;

    if (!out || max_entries == 0 || !cJSON_IsArray(entries))
        return NULL;
    cJSON_ArrayForEach (e, entries) {
        cJSON *copy;

        if (!cur || n == max_entries) {
            cur = cJSON_CreateObject();
            if (!cur || !cJSON_AddItemToArray(out, cur)) {
                cJSON_Delete(cur);
                return NULL;
            }
            if (!cJSON_AddStringToObject(cur, "resourceType", "Bundle") ||
                !cJSON_AddStringToObject(cur, "type", "transaction") ||
                (ts && !cJSON_AddStringToObject(cur, "timestamp", ts)) ||
                !(cur_entries = cJSON_AddArrayToObject(cur, "entry")))
                return NULL;
            n = 0;
        }
        copy = cJSON_Duplicate(e, true);
        if (!copy || !cJSON_AddItemToArray(cur_entries, copy)) {
            cJSON_Delete(copy);
            return NULL;
        }
        n++;
    }
    return TAKE_PTR(out);
}

char *fhir_split_lines(const cJSON *bundle, size_t max_entries)
{
    _cleanup_json_ cJSON *parts = fhir_split(bundle, max_entries);
    size_t len = 0;
    char *out = parts ? calloc(1, 1) : NULL;
    const cJSON *b;

    cJSON_ArrayForEach (b, parts) {
        char *line = out ? cJSON_PrintUnformatted(b) : NULL, *grown;
        size_t n = line ? strlen(line) : 0;

        grown = line ? realloc(out, len + n + 2) : NULL;
        if (!grown) {
            cJSON_free(line);
            free(out);
            return NULL;
        }
        out = grown;
        memcpy(out + len, line, n);
        len += n;
        out[len++] = '\n';
        out[len] = '\0';
        cJSON_free(line);
    }
    return out;
}
