/* SPDX-License-Identifier: MIT */
/* cmd_online.c - the verbs that talk to caresyncd: enrol, sync, conflicts, resolve. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"
#include "util.h"

#define COMMON_OPTS                              \
    {"home", required_argument, NULL, OPT_HOME}, \
    {                                            \
        "help", no_argument, NULL, OPT_HELP      \
    }

/* ---- enrol ---- */

struct enrol_args {
    const char *server, *ca, *code, *name;
};

static int on_enrol(int opt, const char *arg, void *ud)
{
    struct enrol_args *a = ud;

    switch (opt) {
    case OPT_SERVER:
        a->server = arg;
        return 0;
    case OPT_CA:
        a->ca = arg;
        return 0;
    case OPT_CODE:
        a->code = arg;
        return 0;
    case OPT_NAME:
        a->name = arg;
        return 0;
    default:
        return -1;
    }
}

int cmd_enrol(int argc, char *argv[])
{
    static const struct option opts[] = {
            COMMON_OPTS,
            {"server", required_argument, NULL, OPT_SERVER},
            {"ca", required_argument, NULL, OPT_CA},
            {"code", required_argument, NULL, OPT_CODE},
            {"name", required_argument, NULL, OPT_NAME},
            {},
    };
    struct enrol_args a = {0};
    _cleanup_free_ char *st = NULL;
    struct caresync *c;
    cJSON *o;
    bool done;
    int first, r;

    r = cli_parse(cli_verb_find("enrol"), argc, argv, "h", opts, on_enrol, &a, &first, &done);
    if (r != 0 || done)
        return r;
    if (first != argc)
        return cli_usage("enrol", "unexpected argument '%s'", argv[first]);
    if (!a.server || !a.ca || !a.code)
        return cli_usage("enrol", "--server, --ca and --code are required");
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_enrol(c, a.server, a.ca, a.code, a.name);
    if (r == CARESYNC_OK)
        r = caresync_status_json(c, &st);
    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        return r;
    }
    caresync_close(c);
    o = cJSON_Parse(st);
    if (o) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "user");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(o, "role");
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(o, "device_id");

        printf("enrolled as %s (%s), device %s; run 'caresync sync' to fetch the caseload\n",
               cJSON_GetStringValue(u) ? cJSON_GetStringValue(u) : "?",
               cJSON_GetStringValue(role) ? cJSON_GetStringValue(role) : "?",
               cJSON_GetStringValue(dev) ? cJSON_GetStringValue(dev) : "?");
        cJSON_Delete(o);
    }
    return 0;
}

/* ---- sync ---- */

static int on_json(int opt, const char *arg, void *ud)
{
    if (opt != OPT_JSON)
        return -1;
    *(bool *)ud = true;
    return 0;
}

static void print_stats_json(const struct caresync_sync_stats *s, bool ok)
{
    printf("{\"ok\":%s,\"pushed\":%" PRIu64 ",\"applied\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"conflicts\":%" PRIu64 ",\"out_of_scope\":%" PRIu64 ",\"pulled\":%" PRIu64
           ",\"purged\":%" PRIu64 ",\"pending\":%" PRIu64 ",\"pending_purges\":%" PRIu64 "}\n",
           ok ? "true" : "false", s->pushed, s->applied, s->lost, s->conflicts, s->out_of_scope,
           s->pulled, s->purged, s->pending, s->pending_purges);
}

int cmd_sync(int argc, char *argv[])
{
    static const struct option opts[] = {COMMON_OPTS, {"json", no_argument, NULL, OPT_JSON}, {}};
    struct caresync_sync_stats s = {0};
    struct caresync *c;
    bool json = false, done;
    int first, r;

    r = cli_parse(cli_verb_find("sync"), argc, argv, "h", opts, on_json, &json, &first, &done);
    if (r != 0 || done)
        return r;
    if (first != argc)
        return cli_usage("sync", "unexpected argument '%s'", argv[first]);
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_sync(c, &s);
    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        if (json)
            print_stats_json(&s, false);
        return r;
    }
    caresync_close(c);
    if (json) {
        print_stats_json(&s, true);
        return 0;
    }
    printf("synced: sent %" PRIu64 " change(s)", s.pushed);
    if (s.pushed)
        printf(" (%" PRIu64 " applied, %" PRIu64 " lost to newer edits, %" PRIu64
               " in conflict, %" PRIu64 " out of scope)",
               s.applied, s.lost, s.conflicts, s.out_of_scope);
    printf(", updated %" PRIu64 " field(s) here, removed %" PRIu64 " person(s)", s.pulled,
           s.purged);
    if (s.pending)
        printf("; %" PRIu64 " change(s) still pending", s.pending);
    if (s.pending_purges)
        printf("; %" PRIu64 " removal(s) wait for unsent edits", s.pending_purges);
    putchar('\n');
    return 0;
}

/* ---- conflicts ---- */

static int on_conflicts(int opt, const char *arg, void *ud)
{
    bool *flags = ud;

    if (opt == OPT_JSON)
        flags[0] = true;
    else if (opt == OPT_ALL)
        flags[1] = true;
    else
        return -1;
    return 0;
}

/* A member as text: strings as they are, numbers and booleans printed, null as "-". */
static void put_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (cJSON_IsString(v)) {
        for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++)
            putchar(*p < 0x20 ? ' ' : *p);
    } else if (cJSON_IsNumber(v)) {
        printf("%.0f", v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
    } else {
        putchar('-');
    }
}

static void print_conflict(const cJSON *k)
{
    putchar('#');
    put_member(k, "id");
    putchar(' ');
    put_member(k, "kind");
    fputs(" [", stdout);
    put_member(k, "status");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "review")))
        fputs(", review", stdout);
    fputs("] ", stdout);
    put_member(k, "table");
    putchar('.');
    put_member(k, "field");
    fputs(" of row ", stdout);
    put_member(k, "row_id");
    fputs("\n    person:  ", stdout);
    put_member(k, "person_id");
    fputs("\n    winner:  ", stdout);
    put_member(k, "winner_value");
    fputs("  (", stdout);
    put_member(k, "winner_user");
    fputs(")\n    loser:   ", stdout);
    put_member(k, "loser_value");
    fputs("  (", stdout);
    put_member(k, "loser_user");
    fputs(")\n    current: ", stdout);
    put_member(k, "current_value");
    if (cJSON_GetObjectItemCaseSensitive(k, "resolution")) {
        fputs("\n    resolved: ", stdout);
        put_member(k, "resolution");
        fputs(" by ", stdout);
        put_member(k, "resolved_by");
        fputs(" -> ", stdout);
        put_member(k, "resolved_value");
    }
    putchar('\n');
}

int cmd_conflicts(int argc, char *argv[])
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         {}};
    _cleanup_free_ char *out = NULL;
    bool flags[2] = {false, false}, done; /* json, all */
    struct caresync *c;
    cJSON *arr, *k;
    int first, r;

    r = cli_parse(cli_verb_find("conflicts"), argc, argv, "h", opts, on_conflicts, flags, &first,
                  &done);
    if (r != 0 || done)
        return r;
    if (first != argc)
        return cli_usage("conflicts", "unexpected argument '%s'", argv[first]);
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_conflicts_json(c, flags[1], &out);
    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        return r;
    }
    caresync_close(c);
    if (flags[0]) {
        printf("%s\n", out);
        return 0;
    }
    arr = cJSON_Parse(out);
    if (!arr) {
        fprintf(stderr, "caresync: out of memory formatting the output\n");
        return CARESYNC_ELOCAL;
    }
    if (cJSON_GetArraySize(arr) == 0)
        printf(flags[1] ? "no conflicts\n" : "no open conflicts\n");
    cJSON_ArrayForEach (k, arr)
        print_conflict(k);
    cJSON_Delete(arr);
    return 0;
}

/* ---- resolve ---- */

struct resolve_args {
    int n_actions;
    enum caresync_resolution action;
    const char *value;
    bool json;
};

static int on_resolve(int opt, const char *arg, void *ud)
{
    struct resolve_args *a = ud;

    switch (opt) {
    case OPT_KEEP:
        a->action = CARESYNC_RESOLVE_KEEP;
        break;
    case OPT_RESTORE:
        a->action = CARESYNC_RESOLVE_RESTORE;
        break;
    case OPT_VALUE:
        a->action = CARESYNC_RESOLVE_VALUE;
        a->value = arg;
        break;
    case OPT_JSON:
        a->json = true;
        return 0;
    default:
        return -1;
    }
    a->n_actions++;
    return 0;
}

int cmd_resolve(int argc, char *argv[])
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"keep", no_argument, NULL, OPT_KEEP},
                                         {"restore", no_argument, NULL, OPT_RESTORE},
                                         {"value", required_argument, NULL, OPT_VALUE},
                                         {}};
    static const char *const names[] = {"kept the current value", "restored the losing value",
                                        "wrote the new value"};
    struct resolve_args a = {0};
    _cleanup_free_ char *out = NULL;
    struct caresync *c;
    int64_t id;
    bool done;
    int first, r;

    r = cli_parse(cli_verb_find("resolve"), argc, argv, "h", opts, on_resolve, &a, &first, &done);
    if (r != 0 || done)
        return r;
    if (argc - first != 1)
        return cli_usage("resolve", "expected one CONFLICT_ID");
    if (a.n_actions != 1)
        return cli_usage("resolve", "give exactly one of --keep, --restore or --value VALUE");
    if (parse_i64(argv[first], &id) < 0 || id <= 0)
        return cli_usage("resolve", "'%s' is not a conflict id (a positive number)", argv[first]);
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_resolve(c, id, a.action, a.value, &out);
    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        return r;
    }
    caresync_close(c);
    if (a.json)
        printf("%s\n", out);
    else
        printf("conflict %" PRId64 " resolved: %s; devices get it at their next sync\n", id,
               names[a.action]);
    return 0;
}
