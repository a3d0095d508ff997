/* SPDX-License-Identifier: MIT */
/* cmd_online.c - the verbs that talk to caresyncd: enrol, sync, conflicts (side by side, with
 * filters), resolve (with a reason). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "hlc.h"
#include "macro.h"
#include "util.h"
#include "when.h"

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
    if (!a.server || !a.code)
        return cli_usage("enrol", "--server and --code are required");
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
           ",\"purged\":%" PRIu64 ",\"pending\":%" PRIu64 ",\"pending_purges\":%" PRIu64
           ",\"lost_values\":%" PRIu64 "}\n",
           ok ? "true" : "false", s->pushed, s->applied, s->lost, s->conflicts, s->out_of_scope,
           s->pulled, s->purged, s->pending, s->pending_purges, s->lost_values);
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
    if (s.lost_values)
        printf("%" PRIu64 " of your values went into the conflict log or were resolved there;"
               " see 'caresync conflicts --mine'\n",
               s.lost_values);
    return 0;
}

/* ---- conflicts ---- */

#define SIDE_WIDTH 38 /* columns of each side of `caresync conflicts` */

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

/*
 * @s (NULL: "-") in a cell of @width characters: control characters as spaces, cut with "..."
 * at a character boundary when longer, padded with spaces when @pad. Characters are counted as
 * UTF-8 code points, which is close enough for a terminal.
 */
static void put_cell(const char *s, int width, bool pad)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "-");
    int chars = 0, total = 0;

    for (const unsigned char *q = p; *q; q++)
        total += (*q & 0xc0) != 0x80;
    for (; *p; p++) {
        bool lead = (*p & 0xc0) != 0x80;

        if (lead && total > width && chars == width - 3) {
            fputs("...", stdout);
            chars += 3;
            break;
        }
        if (lead)
            chars++;
        putchar(*p < 0x20 ? ' ' : *p);
    }
    while (pad && chars++ < width)
        putchar(' ');
}

/* A clock "MMMMMMMMMMMMM.CCCCC" as its local time, with the counter when it is not 0. */
static void clock_text(const cJSON *o, const char *key, char buf[static 48])
{
    const char *h = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    char ts[WHEN_LOCAL_MAX];
    uint64_t v;

    if (!h || hlc_parse(h, &v) < 0) {
        snprintf(buf, 48, "-");
        return;
    }
    when_local_ms(hlc_ms(v), WHEN_TEXT_MS, ts);
    if (hlc_counter(v))
        snprintf(buf, 48, "%.38s #%u", ts, hlc_counter(v));
    else
        snprintf(buf, 48, "%.47s", ts);
}

/* Print the date-time member @key of @o in local time with the zone's name ("-" if absent). */
static void put_time(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    char local[WHEN_LOCAL_MAX];

    cli_print_line(s ? when_local_text(s, WHEN_TEXT_ZONE, local) : "-");
}

static const char *member_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Value @key of conflict @k as a person reads it: a date-time field's value in local time. */
static const char *value_text(const cJSON *k, const char *key, char buf[static WHEN_LOCAL_MAX])
{
    const char *field = member_str(k, "field"), *v = member_str(k, key);
    size_t n = field ? strlen(field) : 0;

    if (n > 3 && (streq(field + n - 3, "_at") || (n > 6 && streq(field + n - 6, "_start")) ||
                  (n > 4 && streq(field + n - 4, "_end"))))
        return when_local_text(v, WHEN_TEXT_ZONE, buf);
    return v;
}

/* One row of the side-by-side table: label, then the winner's and the loser's cell. */
static void side_row(const char *label, const char *winner, const char *loser)
{
    printf("    %-9s ", label);
    put_cell(winner, SIDE_WIDTH, true);
    fputs("  ", stdout);
    put_cell(loser, SIDE_WIDTH, false);
    putchar('\n');
}

/*
 * A conflict's value as a person reads it: a deletion as "deleted" (the tombstone's "1"), the
 * row-deletion field's "0" as "restored", a cleared field as "-".
 */
static const char *side_value(const cJSON *k, const char *side, char buf[static WHEN_LOCAL_MAX])
{
    char key[32];
    const char *v;

    snprintf(key, sizeof(key), "%s_deleted", side);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, key)))
        return "deleted";
    snprintf(key, sizeof(key), "%s_value", side);
    v = member_str(k, key);
    if (v && streq(member_str(k, "field") ? member_str(k, "field") : "", "_deleted"))
        return streq(v, "1") ? "deleted" : "restored";
    return value_text(k, key, buf);
}

/* The row's true state now: deleted, or the field's current value. */
static const char *now_value(const cJSON *k, char buf[static WHEN_LOCAL_MAX])
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "row_deleted")))
        return "deleted";
    return side_value(k, "current", buf);
}

/* A conflict's first lines, in the list and in 'conflicts show': id, kind, status, flags,
 * what the row is, the field and the person. */
static void conflict_head(const cJSON *k)
{
    putchar('#');
    put_member(k, "id");
    putchar(' ');
    put_member(k, "kind");
    fputs("  [", stdout);
    put_member(k, "status");
    fputs("]", stdout);
    if (streq(member_str(k, "priority") ? member_str(k, "priority") : "", "high"))
        fputs("  HIGH PRIORITY", stdout);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "review")))
        fputs("  review", stdout);
    fputs("\n    ", stdout);
    put_member(k, "description");
    fputs("\n    field     ", stdout);
    put_member(k, "table");
    putchar('.');
    put_member(k, "field");
    fputs(" of row ", stdout);
    put_member(k, "row_id");
    fputs("\n    person    ", stdout);
    put_member(k, "person_name");
    fputs(" (", stdout);
    put_member(k, "person_id");
    fputs(")\n", stdout);
}

static void print_conflict(const cJSON *k)
{
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(k, "resolutions");
    char wc[48], lc[48], wv[WHEN_LOCAL_MAX], lv[WHEN_LOCAL_MAX];

    conflict_head(k);
    clock_text(k, "winner_hlc", wc);
    clock_text(k, "loser_hlc", lc);
    printf("    %-9s ", "");
    put_cell("WINNER", SIDE_WIDTH, true);
    fputs("  LOSER\n", stdout);
    side_row("value", side_value(k, "winner", wv), side_value(k, "loser", lv));
    side_row("author", member_str(k, "winner_user"), member_str(k, "loser_user"));
    side_row("device", member_str(k, "winner_device"), member_str(k, "loser_device"));
    side_row("clock", wc, lc);
    fputs("    now       ", stdout);
    put_cell(now_value(k, wv), 2 * SIDE_WIDTH, false);
    fputs("\n    logged    ", stdout);
    put_time(k, "created_at");
    putchar('\n');
    if (cJSON_GetObjectItemCaseSensitive(k, "resolution")) {
        fputs("    resolved  ", stdout);
        put_member(k, "resolution");
        if (member_str(k, "resolved_value")) {
            fputs(" -> ", stdout);
            put_cell(member_str(k, "resolved_value"), SIDE_WIDTH, false);
        }
        fputs(" by ", stdout);
        put_member(k, "resolved_by");
        fputs(" at ", stdout);
        put_time(k, "resolved_at");
        if (cJSON_GetArraySize(hist) > 1)
            printf(" (supersedes %d earlier)", cJSON_GetArraySize(hist) - 1);
        fputs("\n    reason    ", stdout);
        put_cell(member_str(k, "reason"), 2 * SIDE_WIDTH, false);
        putchar('\n');
    }
}

int cmd_conflicts(int argc, char *argv[])
{
    struct caresync_conflict_filter f = {0};
    bool json = false, all = false, resolved = false;
    const struct cli_opt opts[] = {
            {"json", NULL, &json},          {"all", NULL, &all},
            {"resolved", NULL, &resolved},  {"mine", NULL, &f.mine},
            {"person", &f.person_id, NULL}, {"worker", &f.worker, NULL},
            {"table", &f.table, NULL},      {"kind", &f.kind, NULL},
            {"priority", &f.priority, NULL},
    };
    _cleanup_free_ char *out = NULL;
    cJSON *arr, *k;

    if (argc > 1 && streq(argv[1], "show"))
        return cmd_conflicts_show(argc - 1, argv + 1);
    CLI_PROLOGUE("conflicts", opts, ELEMENTSOF(opts), 0, 0);
    if (all && resolved) {
        caresync_close(c);
        return cli_usage("conflicts", "give at most one of --all and --resolved");
    }
    f.status = all ? "all" : resolved ? "resolved" : NULL;
    r = caresync_conflicts_query_json(c, &f, &out);
    r = cli_json_result(c, r, out, json, &arr);
    if (!arr)
        return r;
    if (cJSON_GetArraySize(arr) == 0)
        printf(f.mine ? "none of your values is in the conflict log\n"
               : all  ? "no conflicts\n"
                      : resolved ? "no resolved conflicts\n" : "no open conflicts\n");
    cJSON_ArrayForEach (k, arr) {
        print_conflict(k);
        if (k->next)
            putchar('\n');
    }
    cJSON_Delete(arr);
    return 0;
}

/* Print @s whole, each of its lines indented by six spaces, other control characters as
 * spaces; "-" for NULL. */
static void put_block(const char *s)
{
    fputs("      ", stdout);
    for (const unsigned char *p = (const unsigned char *)(s ? s : "-"); *p; p++) {
        if (*p == '\n')
            fputs("\n      ", stdout);
        else
            putchar(*p < 0x20 ? ' ' : *p);
    }
    putchar('\n');
}

/* One side of `conflicts show`: author, device and clock, then the value whole. */
static void show_side(const cJSON *k, const char *label, const char *side)
{
    char key[32], clk[48], vbuf[WHEN_LOCAL_MAX];

    snprintf(key, sizeof(key), "%s_hlc", side);
    clock_text(k, key, clk);
    printf("    %-9s ", label);
    snprintf(key, sizeof(key), "%s_user", side);
    cli_print_line(member_str(k, key) ? member_str(k, key) : "-");
    fputs(", device ", stdout);
    snprintf(key, sizeof(key), "%s_device", side);
    cli_print_line(member_str(k, key) ? member_str(k, key) : "-");
    printf(", clock %s\n", clk);
    put_block(side_value(k, side, vbuf));
}

static void show_conflict(const cJSON *k)
{
    char nbuf[WHEN_LOCAL_MAX];
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(k, "resolutions"), *e;

    conflict_head(k);
    show_side(k, "WINNER", "winner");
    show_side(k, "LOSER", "loser");
    fputs("    now\n", stdout);
    put_block(now_value(k, nbuf));
    fputs("    logged    ", stdout);
    put_member(k, "created_at");
    putchar('\n');
    cJSON_ArrayForEach (e, hist) {
        fputs("    resolved  ", stdout);
        put_member(e, "action");
        fputs(" by ", stdout);
        put_member(e, "by");
        fputs(" at ", stdout);
        put_member(e, "at");
        fputs(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "wrote")) ? ", wrote\n"
                                                                         : ", wrote nothing\n",
              stdout);
        if (member_str(e, "value"))
            put_block(member_str(e, "value"));
        fputs("      reason: ", stdout);
        cli_print_line(member_str(e, "reason") ? member_str(e, "reason") : "-");
        putchar('\n');
    }
}

/* The conflict with id @id in @arr, or NULL. */
static cJSON *conflict_by_id(cJSON *arr, int64_t id)
{
    cJSON *k;

    cJSON_ArrayForEach (k, arr) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(k, "id");

        if (cJSON_IsNumber(v) && (int64_t)v->valuedouble == id)
            return k;
    }
    return NULL;
}

int cmd_conflicts_show(int argc, char *argv[])
{
    struct caresync_conflict_filter f = {.status = "all"};
    bool json = false;
    const struct cli_opt opts[] = {{"json", NULL, &json}};
    _cleanup_free_ char *out = NULL;
    cJSON *arr, *k;
    int64_t id;

    CLI_PROLOGUE("conflicts show", opts, ELEMENTSOF(opts), 1, 1);
    if (parse_i64(argv[first], &id) < 0 || id <= 0) {
        caresync_close(c);
        return cli_usage("conflicts show", "'%s' is not a conflict id (a positive number)",
                         argv[first]);
    }
    r = caresync_conflicts_query_json(c, &f, &out);
    if (r == CARESYNC_EFORBIDDEN) {
        /* A worker may see the conflicts their own values lost. */
        free(out);
        out = NULL;
        f.mine = true;
        r = caresync_conflicts_query_json(c, &f, &out);
    }
    r = cli_json_result(c, r, out, false, &arr);
    if (!arr)
        return r;
    k = conflict_by_id(arr, id);
    if (!k) {
        fprintf(stderr, "caresync: no conflict %" PRId64 " that you may see; list them with"
                        " 'caresync conflicts --all'\n", id);
        cJSON_Delete(arr);
        return CARESYNC_ENOTFOUND;
    }
    if (json) {
        char *text = cJSON_PrintUnformatted(k);

        if (text)
            printf("%s\n", text);
        free(text);
    } else {
        show_conflict(k);
    }
    cJSON_Delete(arr);
    return 0;
}

/* ---- resolve ---- */

struct resolve_args {
    int n_actions;
    enum caresync_resolution action;
    const char *value;
    const char *reason;
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
    case OPT_REASON:
        a->reason = arg;
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
                                         {"reason", required_argument, NULL, OPT_REASON},
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
    if (!a.reason || !a.reason[strspn(a.reason, " \t")])
        return cli_usage("resolve", "a resolution needs --reason TEXT: say in a few words why");
    if (strlen(a.reason) > CARESYNC_REASON_MAX)
        return cli_usage("resolve", "--reason is longer than %d bytes; shorten it",
                         CARESYNC_REASON_MAX);
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_resolve(c, id, a.action, a.value, a.reason, &out);
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
