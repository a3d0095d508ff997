/* SPDX-License-Identifier: MIT */
/* cmd_coord.c - the coordinators' online verbs besides the conflict log: devices and their sync
 * health, device revoke, assign, unassign, transfer, named-coordinator; and team, which every
 * role may run for the people on its caseload. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"

/* ---- output helpers ---- */

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A duration of @ms (>= 0) as a short human text: "45 s", "12 min", "5 h", "3 d". */
static const char *duration(double ms, char buf[static 32])
{
    if (ms < 60e3)
        snprintf(buf, 32, "%.0f s", ms / 1e3);
    else if (ms < 3600e3)
        snprintf(buf, 32, "%.0f min", ms / 60e3);
    else if (ms < 86400e3)
        snprintf(buf, 32, "%.0f h", ms / 3600e3);
    else
        snprintf(buf, 32, "%.0f d", ms / 86400e3);
    return buf;
}

/* duration() of a JSON number of ms, or "-" for null. */
static const char *ago(const cJSON *v, char buf[static 32])
{
    return cJSON_IsNumber(v) ? duration(v->valuedouble, buf) : "-";
}

/* Print @s on one line, control characters as spaces, "-" for NULL. */
static void put_text(const char *s)
{
    cli_print_line(s ? s : "-");
}

/* Finish a command that prints a JSON document: as it is with @json, else through @print. */
static int print_doc(struct caresync *c, int r, char *out, bool json, void (*print)(cJSON *))
{
    cJSON *doc;

    if (r != CARESYNC_OK) {
        cli_fail(c, r);
        caresync_close(c);
        free(out);
        return r;
    }
    caresync_close(c);
    if (json) {
        printf("%s\n", out);
        free(out);
        return 0;
    }
    doc = cJSON_Parse(out);
    free(out);
    if (!doc) {
        fprintf(stderr, "caresync: out of memory formatting the output\n");
        return CARESYNC_ELOCAL;
    }
    print(doc);
    cJSON_Delete(doc);
    return 0;
}

/* ---- devices ---- */

static void print_devices(cJSON *arr)
{
    const cJSON *d;
    char a1[32], a2[32], a3[32];

    if (cJSON_GetArraySize(arr) == 0) {
        printf("no devices\n");
        return;
    }
    printf("%-14s %-22s %-36s %-9s %-7s %-9s %-9s %s\n", "USER", "ROLE", "DEVICE", "SYNCED",
           "PENDING", "OLDEST", "SKEW", "STATE");
    cJSON_ArrayForEach (d, arr) {
        const cJSON *pending = cJSON_GetObjectItemCaseSensitive(d, "pending");
        const cJSON *skew = cJSON_GetObjectItemCaseSensitive(d, "clock_skew_ms");
        char skew_text[40];

        /* Positive skew: the device's clock is behind the server's. */
        if (cJSON_IsNumber(skew))
            snprintf(skew_text, sizeof(skew_text), "%s%s", skew->valuedouble < 0 ? "-" : "+",
                     duration(skew->valuedouble < 0 ? -skew->valuedouble : skew->valuedouble, a3));
        else
            snprintf(skew_text, sizeof(skew_text), "-");
        printf("%-14s %-22s %-36s %-9s ", jstr(d, "user") ? jstr(d, "user") : "-",
               jstr(d, "role") ? jstr(d, "role") : "-",
               jstr(d, "device_id") ? jstr(d, "device_id") : "-",
               cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d, "since_sync_ms"))
                       ? ago(cJSON_GetObjectItemCaseSensitive(d, "since_sync_ms"), a1)
                       : "never");
        if (cJSON_IsNumber(pending))
            printf("%-7.0f ", pending->valuedouble);
        else
            printf("%-7s ", "-");
        printf("%-9s %-9s %s\n",
               cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "oldest_pending_ms")) > 0
                       ? ago(cJSON_GetObjectItemCaseSensitive(d, "oldest_pending_ms"), a2)
                       : "-",
               skew_text,
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "revoked")) ? "REVOKED" : "active");
        if (jstr(d, "name") || jstr(d, "client_version")) {
            printf("    name ");
            put_text(jstr(d, "name"));
            printf(", version ");
            put_text(jstr(d, "client_version"));
            putchar('\n');
        }
        if (jstr(d, "last_error")) {
            printf("    last error: ");
            put_text(jstr(d, "last_error"));
            putchar('\n');
        }
    }
}

int cmd_devices(int argc, char *argv[])
{
    bool json = false;
    const struct cli_opt opts[] = {{"json", NULL, &json}};
    char *out = NULL;

    CLI_PROLOGUE("devices", opts, ELEMENTSOF(opts), 0, 0);
    r = caresync_devices_json(c, &out);
    return print_doc(c, r, out, json, print_devices);
}

int cmd_device_revoke(int argc, char *argv[])
{
    CLI_PROLOGUE("device revoke", NULL, 0, 1, 1);
    r = caresync_device_revoke(c, argv[first]);
    if (r == CARESYNC_OK)
        printf("device %s is revoked: its next request is refused and it wipes its replica\n",
               argv[first]);
    return cli_finish(c, r, NULL);
}

/* ---- undo a delete ---- */

int cmd_restore_row(int argc, char *argv[])
{
    const char *reason = NULL;
    const struct cli_opt opts[] = {{"reason", &reason, NULL}};
    CLI_PROLOGUE("restore-row", opts, ELEMENTSOF(opts), 2, 2);
    r = caresync_restore_row(c, argv[first], argv[first + 1], reason);
    if (r == CARESYNC_OK)
        printf("%s %s is restored; every device gets it back at its next sync\n", argv[first],
               argv[first + 1]);
    return cli_finish(c, r, NULL);
}

/* ---- caseloads ---- */

static int assign_common(const char *name, int argc, char *argv[], bool assign)
{
    bool changed = true;

    CLI_PROLOGUE(name, NULL, 0, 2, 2);
    r = caresync_assign(c, argv[first], argv[first + 1], assign, &changed);
    if (r == CARESYNC_OK && changed)
        printf(assign ? "%s is on %s's caseload; their devices get the person at the next sync\n"
                      : "%s is off %s's caseload; their devices purge the person at the next"
                        " sync\n",
               argv[first], argv[first + 1]);
    else if (r == CARESYNC_OK)
        printf(assign ? "%s was already on %s's caseload; nothing changed\n"
                      : "%s was not on %s's caseload; nothing changed\n",
               argv[first], argv[first + 1]);
    return cli_finish(c, r, NULL);
}

int cmd_assign(int argc, char *argv[])
{
    return assign_common("assign", argc, argv, true);
}

int cmd_unassign(int argc, char *argv[])
{
    return assign_common("unassign", argc, argv, false);
}

static bool transfer_json;

static void print_transfer(cJSON *doc)
{
    const cJSON *moved = cJSON_GetObjectItemCaseSensitive(doc, "moved");
    const cJSON *already = cJSON_GetObjectItemCaseSensitive(doc, "already");
    const char *from = jstr(doc, "from") ? jstr(doc, "from") : "?",
               *to = jstr(doc, "to") ? jstr(doc, "to") : "?";
    int n_moved = cJSON_GetArraySize(moved), n_already = cJSON_GetArraySize(already);
    const cJSON *p;

    /* "already": taken off @from's caseload, @to holding them before; no one moved. */
    if (n_moved + n_already == 0)
        printf("moved 0 person(s) from %s to %s: %s holds nobody; nothing changed\n", from, to,
               from);
    if (n_moved)
        printf("moved %d person(s) from %s to %s\n", n_moved, from, to);
    if (n_already)
        printf("took %d person(s) off %s's caseload, already on %s's caseload\n", n_already,
               from, to);
    cJSON_ArrayForEach (p, moved)
        printf("  %s\n", cJSON_GetStringValue(p) ? cJSON_GetStringValue(p) : "?");
    cJSON_ArrayForEach (p, already)
        printf("  %s (already)\n", cJSON_GetStringValue(p) ? cJSON_GetStringValue(p) : "?");
}

int cmd_transfer(int argc, char *argv[])
{
    const char *from = NULL, *to = NULL, *person = NULL;
    const struct cli_opt opts[] = {{"from", &from, NULL},
                                   {"to", &to, NULL},
                                   {"person", &person, NULL},
                                   {"json", NULL, &transfer_json}};
    char *out = NULL;

    CLI_PROLOGUE("transfer", opts, ELEMENTSOF(opts), 0, 0);
    if (!from || !to) {
        caresync_close(c);
        return cli_usage("transfer", "--from USER and --to USER are required");
    }
    r = caresync_transfer(c, from, to, person, &out);
    return print_doc(c, r, out, transfer_json, print_transfer);
}

int cmd_named_coordinator(int argc, char *argv[])
{
    CLI_PROLOGUE("named-coordinator", NULL, 0, 2, 2);
    r = caresync_named_coordinator(c, argv[first], argv[first + 1]);
    if (r == CARESYNC_OK)
        printf("%s is the named coordinator of %s\n", argv[first + 1], argv[first]);
    return cli_finish(c, r, NULL);
}

static void print_team(cJSON *doc)
{
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(doc, "named_coordinator");
    const cJSON *m;

    put_text(jstr(doc, "name"));
    printf(" (%s)\n", jstr(doc, "person_id") ? jstr(doc, "person_id") : "?");
    printf("named coordinator: ");
    if (cJSON_IsObject(nc))
        printf("%s (%s) since %s\n", jstr(nc, "user") ? jstr(nc, "user") : "?",
               jstr(nc, "role") ? jstr(nc, "role") : "?",
               jstr(nc, "since") ? jstr(nc, "since") : "?");
    else
        printf("none\n");
    printf("team:\n");
    cJSON_ArrayForEach (m, cJSON_GetObjectItemCaseSensitive(doc, "team"))
        printf("  %-20s %-22s since %s\n", jstr(m, "user") ? jstr(m, "user") : "?",
               jstr(m, "role") ? jstr(m, "role") : "?", jstr(m, "since") ? jstr(m, "since") : "?");
}

int cmd_team(int argc, char *argv[])
{
    bool json = false;
    const struct cli_opt opts[] = {{"json", NULL, &json}};
    char *out = NULL;

    CLI_PROLOGUE("team", opts, ELEMENTSOF(opts), 1, 1);
    r = caresync_team_json(c, argv[first], &out);
    return print_doc(c, r, out, json, print_team);
}

/* ---- a person's record: accept, close, reopen, NHS number, GP ---- */

static int person_common(const char *name, const char *action, int argc, char *argv[],
                         int n_args, const char *said)
{
    const char *reason = NULL;
    const struct cli_opt opts[] = {{"reason", &reason, NULL}};
    bool close = streq(action, "close");
    const char *value;
    char *out = NULL;

    CLI_PROLOGUE(name, opts, close ? ELEMENTSOF(opts) : 0, n_args, n_args);
    value = close ? reason : n_args > 1 ? argv[first + 1] : NULL;
    if (close && !reason) {
        caresync_close(c);
        return cli_usage(name, "--reason is required: deceased, moved-away, discharged, "
                               "declined, duplicate or other");
    }
    r = caresync_person_lifecycle(c, argv[first], action, value, &out);
    if (r == CARESYNC_OK)
        printf("%s: %s%s\n", argv[first], said,
               value && !streq(action, "accept") && !streq(action, "reopen") ? value : "");
    free(out);
    return cli_finish(c, r, NULL);
}

int cmd_person_accept(int argc, char *argv[])
{
    return person_common("person accept", "accept", argc, argv, 1,
                         "%s: referral accepted, the record is active%s\n");
}

int cmd_person_close(int argc, char *argv[])
{
    return person_common("person close", "close", argc, argv, 1,
                         "%s: record closed (%s); field workers' devices keep it 30 days\n");
}

int cmd_person_reopen(int argc, char *argv[])
{
    return person_common("person reopen", "reopen", argc, argv, 1,
                         "%s: record reopened, active again%s\n");
}

int cmd_person_set_nhs(int argc, char *argv[])
{
    return person_common("person set-nhs", "nhs-number", argc, argv, 2,
                         "%s: NHS number set to %s\n");
}

int cmd_person_set_gp(int argc, char *argv[])
{
    return person_common("person set-gp", "gp-practice", argc, argv, 2,
                         "%s: GP practice set to %s\n");
}
