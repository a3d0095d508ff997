/* SPDX-License-Identifier: MIT */
/* cmd_read.c - the offline reading verbs: caseload (with its filters), show, status (human or
 * --json). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"
#include "util.h"
#include "when.h"

enum { OPT_REVIEW_DUE = 0x200, OPT_ALERTS, OPT_REFERRED };

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

#define put_line cli_print_line

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

struct caseload_args {
    struct caresync_caseload_filter f;
    const char *days; /* --review-due=DAYS */
    bool json;
};

static int on_caseload(int opt, const char *arg, void *ud)
{
    struct caseload_args *a = ud;

    switch (opt) {
    case OPT_JSON:
        a->json = true;
        return 0;
    case OPT_REVIEW_DUE:
        a->f.review_due = true;
        a->days = arg;
        return 0;
    case OPT_ALERTS:
        a->f.alerts = true;
        return 0;
    case OPT_REFERRED:
        a->f.referred = true;
        return 0;
    default:
        return -1;
    }
}

static void print_caseload(const cJSON *arr)
{
    const cJSON *p;

    cJSON_ArrayForEach (p, arr) {
        const char *name = str(p, "name"), *pref = str(p, "preferred_name");
        const char *born = str(p, "birth_date"), *phone = str(p, "phone");
        const char *status = str(p, "status"), *due = str(p, "review_due");
        int alerts = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "alerts"));

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
        if (status && streq(status, "referred"))
            printf("  [referred]");
        if (status && (streq(status, "closed") || streq(status, "deceased")))
            printf("  CLOSED (%s)", str(p, "closed_reason") ? str(p, "closed_reason") : status);
        if (due)
            printf("  review due %s", due);
        if (alerts > 0)
            printf("  %d alert%s", alerts, alerts == 1 ? "" : "s");
        putchar('\n');
    }
}

int cmd_caseload(int argc, char *argv[])
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"review-due", optional_argument, NULL, OPT_REVIEW_DUE},
                                         {"alerts", no_argument, NULL, OPT_ALERTS},
                                         {"referred", no_argument, NULL, OPT_REFERRED},
                                         {}};
    const struct cli_verb *v = cli_verb_find("caseload");
    struct caseload_args a = {.f.review_due_days = 14};
    _cleanup_free_ char *out = NULL;
    struct caresync *c;
    uint64_t days;
    bool done;
    cJSON *arr;
    int first, r;

    r = cli_parse(v, argc, argv, "h", opts, on_caseload, &a, &first, &done);
    if (r != 0 || done)
        return r;
    /* "--review-due 30" as well as "--review-due=30": DAYS may be the one positional. */
    if (a.f.review_due && !a.days && argc - first == 1)
        a.days = argv[first++];
    if (first != argc)
        return cli_usage("caseload", "unexpected argument '%s'", argv[first]);
    if (a.days) {
        if (parse_u64(a.days, &days) < 0 || days > 36500)
            return cli_usage("caseload", "--review-due takes a number of days (0 to 36500),"
                                         " not '%s'",
                             a.days);
        a.f.review_due_days = (unsigned)days;
    }
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_caseload_filter_json(c, &a.f, &out);
    r = cli_json_result(c, r, out, a.json, &arr);
    if (!arr)
        return r;
    if (cJSON_GetArraySize(arr) == 0 && !a.f.review_due && !a.f.alerts && !a.f.referred)
        fprintf(stderr, "caresync: no people on this device yet; run 'caresync sync'\n");
    else if (cJSON_GetArraySize(arr) == 0)
        fprintf(stderr, "caresync: nobody on this device matches\n");
    print_caseload(arr);
    cJSON_Delete(arr);
    return 0;
}

/* Does field @key hold a date-time (the catalogue's *_at, *_start, *_end)? */
static bool is_time_field(const char *key)
{
    size_t n = strlen(key);

    return (n > 3 && streq(key + n - 3, "_at")) || (n > 6 && streq(key + n - 6, "_start")) ||
           (n > 4 && streq(key + n - 4, "_end"));
}

/*
 * Print every non-null string member of @o except @skip, as "  key: value" lines; date-times
 * in local time with the zone's name (the stored value is UTC; --json shows it).
 */
static void print_fields(const cJSON *o, const char *indent, const char *skip)
{
    const cJSON *f;

    cJSON_ArrayForEach (f, o) {
        char local[WHEN_LOCAL_MAX];

        if (!cJSON_IsString(f) || (skip && streq(f->string, skip)) ||
            streq(f->string, "person_id"))
            continue;
        printf("%s%-24s ", indent, f->string);
        if (is_time_field(f->string))
            put_line(when_local_text(f->valuestring, WHEN_TEXT_ZONE, local));
        else
            put_line(f->valuestring);
        putchar('\n');
    }
}

static void print_person(const cJSON *o)
{
    const char *name = str(o, "name");
    const cJSON *f;

    put_line(name ? name : "(no name)");
    if (str(o, "status") && (streq(str(o, "status"), "closed") || streq(str(o, "status"), "deceased")))
        printf("  CLOSED (%s)", str(o, "closed_reason") ? str(o, "closed_reason") : str(o, "status"));
    putchar('\n');
    print_fields(o, "  ", "name");
    /* About Me (an object) first, then every table's rows. */
    cJSON_ArrayForEach (f, o) {
        if (!cJSON_IsObject(f))
            continue;
        printf("\n%s\n", f->string);
        print_fields(f, "  ", "id");
    }
    cJSON_ArrayForEach (f, o) {
        const cJSON *row;

        if (!cJSON_IsArray(f))
            continue;
        printf("\n%s (%d)\n", f->string, cJSON_GetArraySize(f));
        cJSON_ArrayForEach (row, f) {
            printf("  %s\n", str(row, "id") ? str(row, "id") : "-");
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
    r = cli_json_result(c, r, out, json, &o);
    if (!o)
        return r;
    print_person(o);
    cJSON_Delete(o);
    return 0;
}

/* The conflict-log notices and the lock policy of `caresync status`. */
static void status_notices(const cJSON *o)
{
    const cJSON *lost = cJSON_GetObjectItemCaseSensitive(o, "lost_values");
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(o, "lock_after_days");
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(o, "days_since_sync");

    printf("your values in the conflict log: %.0f", cJSON_GetNumberValue(lost));
    if (cJSON_GetNumberValue(lost) > 0)
        printf(" (see 'caresync conflicts --mine')");
    putchar('\n');
    if (cJSON_IsNumber(after) && after->valuedouble > 0)
        printf("locks after:     %.0f days without a sync\n", after->valuedouble);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "locked")))
        printf("LOCKED:          not synced for %.0f days; connect and run 'caresync sync'\n",
               cJSON_GetNumberValue(since));
}

int cmd_status(int argc, char *argv[])
{
    _cleanup_free_ char *out = NULL;
    char local[WHEN_LOCAL_MAX];
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
    r = cli_json_result(c, r, out, json, &o);
    if (!o)
        return r;
    printf("server:          %s\n", str(o, "server") ? str(o, "server") : "-");
    printf("user:            %s (%s)\n", str(o, "user") ? str(o, "user") : "-",
           str(o, "role") ? str(o, "role") : "-");
    printf("device:          %s\n", str(o, "device_id") ? str(o, "device_id") : "-");
    printf("pending changes: %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "pending")));
    printf("pending purges:  %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "pending_purges")));
    printf("last sync:       %s\n",
           str(o, "last_sync") ? when_local_text(str(o, "last_sync"), WHEN_TEXT_ZONE, local)
                               : "never");
    printf("last error:      ");
    put_line(str(o, "last_error") ? str(o, "last_error") : "none");
    putchar('\n');
    printf("cursor:          %s\n",
           str(o, "cursor") && *str(o, "cursor") ? str(o, "cursor") : "(none yet)");
    status_notices(o);
    cJSON_Delete(o);
    return 0;
}
