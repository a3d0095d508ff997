/* SPDX-License-Identifier: MIT */
/* cmd_read.c - the offline reading verbs: caseload, show, status (human or --json). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"

#define COMMON_OPTS                                                                     \
    {"home", required_argument, NULL, OPT_HOME}, {"help", no_argument, NULL, OPT_HELP}, \
    {                                                                                   \
        "json", no_argument, NULL, OPT_JSON                                             \
    }

static int on_json(int opt, const char *arg, void *ud)
{
    if (opt != OPT_JSON)
        return -1;
    *(bool *)ud = true;
    return 0;
}

/* The string member @key of @o, or NULL when absent or null. */
static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Print @s on one line: control characters (newlines in a note) become spaces. */
static void put_line(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        putchar(*p < 0x20 ? ' ' : *p);
}

static cJSON *parse_or_complain(const char *json)
{
    cJSON *j = cJSON_Parse(json);

    if (!j)
        fprintf(stderr, "caresync: out of memory formatting the output\n");
    return j;
}

/* Parse the verb's options (--json) and check it got exactly @npos positionals. */
static int prologue(const char *name, int argc, char *argv[], int npos, bool *json, int *ret_first,
                    bool *ret_done)
{
    static const struct option opts[] = {COMMON_OPTS, {}};
    const struct cli_verb *v = cli_verb_find(name);
    int r;

    r = cli_parse(v, argc, argv, "h", opts, on_json, json, ret_first, ret_done);
    if (r != 0 || *ret_done)
        return r;
    if (argc - *ret_first != npos && npos == 0)
        return cli_usage(name, "expected no arguments");
    if (argc - *ret_first != npos)
        return cli_usage(name, "expected %d argument(s)", npos);
    return 0;
}

int cmd_caseload(int argc, char *argv[])
{
    _cleanup_free_ char *out = NULL;
    struct caresync *c;
    bool json = false, done;
    cJSON *arr, *p;
    int first, r;

    r = prologue("caseload", argc, argv, 0, &json, &first, &done);
    if (r != 0 || done)
        return r;
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_caseload_json(c, &out);
    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        return r;
    }
    caresync_close(c);
    if (json) {
        printf("%s\n", out);
        return 0;
    }
    arr = parse_or_complain(out);
    if (!arr)
        return CARESYNC_ELOCAL;
    if (cJSON_GetArraySize(arr) == 0)
        fprintf(stderr, "caresync: no people on this device yet; run 'caresync sync'\n");
    cJSON_ArrayForEach (p, arr) {
        const char *name = str(p, "name"), *pref = str(p, "preferred_name");
        const char *born = str(p, "birth_date"), *phone = str(p, "phone");

        printf("%s  ", str(p, "id"));
        put_line(name ? name : "(no name)");
        if (pref) {
            printf(" (");
            put_line(pref);
            printf(")");
        }
        if (born)
            printf("  born %s", born);
        if (phone) {
            printf("  tel ");
            put_line(phone);
        }
        putchar('\n');
    }
    cJSON_Delete(arr);
    return 0;
}

/* Print every non-null member of @o except @skip, as "  key: value" lines. */
static void print_fields(const cJSON *o, const char *indent, const char *skip)
{
    const cJSON *f;

    cJSON_ArrayForEach (f, o) {
        if (!cJSON_IsString(f) || (skip && streq(f->string, skip)))
            continue;
        printf("%s%-20s ", indent, f->string);
        put_line(f->valuestring);
        putchar('\n');
    }
}

static void print_person(const cJSON *o)
{
    static const char *const sections[] = {"care_plans", "goals", "actions", "visits", "notes"};
    const char *name = str(o, "name");
    const cJSON *f;

    put_line(name ? name : "(no name)");
    putchar('\n');
    cJSON_ArrayForEach (f, o) {
        if (cJSON_IsString(f) && !streq(f->string, "name")) {
            printf("  %-20s ", f->string);
            put_line(f->valuestring);
            putchar('\n');
        }
    }
    for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, sections[i]), *row;
        int n = cJSON_GetArraySize(arr);

        printf("\n%s (%d)\n", sections[i], n);
        cJSON_ArrayForEach (row, arr) {
            printf("  %s\n", str(row, "id"));
            print_fields(row, "    ", "id");
        }
    }
}

int cmd_show(int argc, char *argv[])
{
    _cleanup_free_ char *out = NULL;
    struct caresync *c;
    bool json = false, done;
    cJSON *o;
    int first, r;

    r = prologue("show", argc, argv, 1, &json, &first, &done);
    if (r != 0 || done)
        return r;
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_person_json(c, argv[first], &out);
    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        return r;
    }
    caresync_close(c);
    if (json) {
        printf("%s\n", out);
        return 0;
    }
    o = parse_or_complain(out);
    if (!o)
        return CARESYNC_ELOCAL;
    print_person(o);
    cJSON_Delete(o);
    return 0;
}

int cmd_status(int argc, char *argv[])
{
    _cleanup_free_ char *out = NULL;
    struct caresync *c;
    bool json = false, done;
    cJSON *o;
    int first, r;

    r = prologue("status", argc, argv, 0, &json, &first, &done);
    if (r != 0 || done)
        return r;
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_status_json(c, &out);
    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        return r;
    }
    caresync_close(c);
    if (json) {
        printf("%s\n", out);
        return 0;
    }
    o = parse_or_complain(out);
    if (!o)
        return CARESYNC_ELOCAL;
    printf("server:          %s\n", str(o, "server") ? str(o, "server") : "-");
    printf("user:            %s (%s)\n", str(o, "user") ? str(o, "user") : "-",
           str(o, "role") ? str(o, "role") : "-");
    printf("device:          %s\n", str(o, "device_id") ? str(o, "device_id") : "-");
    printf("pending changes: %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "pending")));
    printf("pending purges:  %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "pending_purges")));
    printf("last sync:       %s\n", str(o, "last_sync") ? str(o, "last_sync") : "never");
    printf("last error:      ");
    put_line(str(o, "last_error") ? str(o, "last_error") : "none");
    putchar('\n');
    printf("cursor:          %s\n",
           str(o, "cursor") && *str(o, "cursor") ? str(o, "cursor") : "(none yet)");
    cJSON_Delete(o);
    return 0;
}
