/* SPDX-License-Identifier: MIT */
/* cmd_day.c - the day's reading commands: today (the worklist), open (the doorstep view) and
 * export (a FHIR Bundle of one person). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"
#include "util.h"
#include "when.h"

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Print " @label @value" when @value is set. */
static void put_opt(const char *label, const char *value)
{
    if (!value)
        return;
    printf("%s", label);
    cli_print_line(value);
}

/* Run @get on a freshly opened replica; the JSON text it returns in *ret (caller frees). */
static int fetch(int (*get)(struct caresync *c, const void *ud, char **ret), const void *ud,
                 char **ret)
{
    struct caresync *c;
    int r;

    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = get(c, ud, ret);
    if (r != CARESYNC_OK)
        cli_fail(c, r);
    caresync_close(c);
    return r;
}

static cJSON *parse(const char *json)
{
    cJSON *j = cJSON_Parse(json);

    if (!j)
        fprintf(stderr, "caresync: out of memory formatting the output\n");
    return j;
}

/* ---- today ---- */

struct today_args {
    const char *date;
    bool all;
};

static int get_today(struct caresync *c, const void *ud, char **ret)
{
    const struct today_args *a = ud;

    return caresync_today_json(c, a->date, a->all, ret);
}

/* The worklist for local day @date; @asked is what the user typed (NULL: today). */
static void print_today(const cJSON *arr, const char *date, const char *asked)
{
    const cJSON *v, *t;

    if (cJSON_GetArraySize(arr) == 0) {
        printf("nothing planned%s%s\n", asked ? " for " : " today", asked ? date : "");
        return;
    }
    cJSON_ArrayForEach (v, arr) {
        bool overdue = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "overdue"));
        const char *name = str(v, "person_name");
        char local[WHEN_LOCAL_MAX];
        const char *start = when_local_text(str(v, "planned_start"), 0, local);

        /* Local time: "HH:MM" on the day listed, with the date on any other day. */
        if (!start)
            start = "-";
        if (overdue)
            printf("OVERDUE %s  ", start);
        else if (strncmp(start, date, 10) == 0 && strlen(start) > 11)
            printf("%s  ", start + 11);
        else
            printf("%s  ", start);
        cli_print_line(name ? name : "(no name)");
        if (str(v, "person_closed"))
            printf(" CLOSED (%s)", str(v, "person_closed"));
        put_opt("  ", str(v, "visit_type"));
        put_opt(", ", str(v, "mode"));
        if (str(v, "status") && !streq(str(v, "status"), "planned"))
            printf("  [%s]", str(v, "status"));
        put_opt("  for ", str(v, "assigned_to"));
        printf("\n    visit %s  person %s\n", str(v, "id"), str(v, "person_id"));
        cJSON_ArrayForEach (t, cJSON_GetObjectItemCaseSensitive(v, "alerts")) {
            printf("    ! ");
            cli_print_line(cJSON_GetStringValue(t));
            putchar('\n');
        }
    }
}

int cmd_today(int argc, char *argv[])
{
    struct today_args a = {0};
    char day[WHEN_DATE_MAX];
    bool json = false, done;
    const struct cli_opt opts[] = {
            {"date", &a.date, NULL},
            {"all", NULL, &a.all},
            {"json", NULL, &json},
    };
    _cleanup_free_ char *out = NULL;
    cJSON *arr;
    int first, r;

    r = cli_args("today", argc, argv, opts, ELEMENTSOF(opts), 0, 0, &first, &done);
    if (r != 0 || done)
        return r;
    if (when_date_arg(a.date ? a.date : "today", day) < 0)
        return cli_usage("today",
                         "--date '%s' is not a day: give today, tomorrow, yesterday, +N or -N"
                         " days, or YYYY-MM-DD",
                         a.date);
    r = fetch(get_today, &(struct today_args){.date = day, .all = a.all}, &out);
    if (r != CARESYNC_OK)
        return r;
    if (json) {
        printf("%s\n", out);
        return 0;
    }
    arr = parse(out);
    if (!arr)
        return CARESYNC_ELOCAL;
    print_today(arr, day, a.date);
    cJSON_Delete(arr);
    return 0;
}

/* ---- open ---- */

static int get_open(struct caresync *c, const void *ud, char **ret)
{
    return caresync_doorstep_json(c, ud, ret);
}

static void heading(const char *title)
{
    printf("\n%s\n", title);
}

static void print_about_me(const cJSON *about)
{
    static const char *const sections[][2] = {
            {"what_matters", "What matters to me"},
            {"people_important", "People who are important to me"},
            {"communication", "How I communicate"},
            {"wellness", "My wellness"},
            {"please_do", "Please do / please don't"},
            {"how_to_support", "How and when to support me"},
            {"worth_knowing", "Also worth knowing about me"},
            {"appreciate", "What people appreciate about me"},
            {"supported_to_write_by", "Supported to write this by"},
            {"shareable_with_vcse", "May be shared with voluntary services"},
    };

    heading("ABOUT ME");
    if (!cJSON_IsObject(about)) {
        printf("  (not written yet: caresync about-me PERSON_ID SECTION TEXT)\n");
        return;
    }
    for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
        const char *v = str(about, sections[i][0]);

        if (!v)
            continue;
        printf("  %s: ", sections[i][1]);
        if (streq(sections[i][0], "shareable_with_vcse"))
            printf("%s", streq(v, "1") ? "yes" : "no");
        else
            cli_print_line(v);
        putchar('\n');
    }
}

static void print_contact(const cJSON *k)
{
    static const char *const flags[][2] = {
            {"is_emergency_contact", "emergency contact"},
            {"is_next_of_kin", "next of kin"},
            {"is_unpaid_carer", "carer"},
            {"lpa_health_welfare", "LPA"},
    };
    const char *sep = " - ";

    printf("  ");
    cli_print_line(str(k, "name") ? str(k, "name") : "(no name)");
    if (str(k, "relationship")) {
        put_opt(" (", str(k, "relationship"));
        printf(")");
    }
    put_opt("  tel ", str(k, "phone"));
    for (size_t i = 0; i < ELEMENTSOF(flags); i++)
        if (str(k, flags[i][0]) && streq(str(k, flags[i][0]), "1")) {
            printf("%s%s", sep, flags[i][1]);
            sep = ", ";
        }
    if (str(k, "do_not_contact") && streq(str(k, "do_not_contact"), "1"))
        printf("  ** DO NOT CONTACT **");
    putchar('\n');
}

/* "  CLOSED (reason)" for a person whose record a coordinator closed. */
static void print_closed(const cJSON *p)
{
    const char *status = str(p, "status");

    if (status && (streq(status, "closed") || streq(status, "deceased")))
        printf("  CLOSED (%s)", str(p, "closed_reason") ? str(p, "closed_reason") : status);
}

static void print_open(const cJSON *o)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "person"), *x;
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(o, "next_visit");

    cli_print_line(str(p, "name") ? str(p, "name") : "(no name)");
    put_opt(" (", str(p, "preferred_name"));
    if (str(p, "preferred_name"))
        printf(")");
    put_opt(", born ", str(p, "birth_date"));
    put_opt(", tel ", str(p, "phone"));
    print_closed(p);
    printf("\n  %s", str(p, "id"));
    put_opt("  ", str(p, "address"));
    putchar('\n');

    /* Before anything else: what keeps the visitor and the person safe, then About Me. */
    heading("ALERTS");
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "alerts")) == 0)
        printf("  none\n");
    cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "alerts")) {
        printf("  ! [%s] ", str(x, "category") ? str(x, "category") : "alert");
        cli_print_line(str(x, "text") ? str(x, "text") : "");
        putchar('\n');
    }
    print_about_me(cJSON_GetObjectItemCaseSensitive(o, "about_me"));
    heading("GETTING IN AND COMMUNICATING");
    put_opt("  access: ", str(p, "access_instructions"));
    if (str(p, "access_instructions"))
        putchar('\n');
    put_opt("  communication: ", str(p, "communication_needs"));
    if (str(p, "communication_needs"))
        putchar('\n');
    put_opt("  language: ", str(p, "language"));
    if (str(p, "language"))
        printf("%s\n", str(p, "interpreter_needed") && streq(str(p, "interpreter_needed"), "1")
                               ? " (interpreter needed)"
                               : "");
    heading("KEY CONTACTS");
    cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "contacts"))
        print_contact(x);
    heading("GOALS");
    cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "goals")) {
        printf("  [%s] ", str(x, "achievement_status") ? str(x, "achievement_status") : "-");
        cli_print_line(str(x, "description") ? str(x, "description") : "");
        put_opt("  (importance ", str(x, "importance"));
        if (str(x, "importance"))
            printf(")");
        printf("\n    goal %s\n", str(x, "id") ? str(x, "id") : "-");
    }
    heading("ACTIONS");
    cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "actions")) {
        printf("  [%s] ", str(x, "status") ? str(x, "status") : "-");
        cli_print_line(str(x, "what") ? str(x, "what") : "");
        put_opt(" - ", str(x, "who"));
        put_opt(", ", str(x, "when_text"));
        put_opt(", due ", str(x, "due_date"));
        printf("\n    action %s\n", str(x, "id") ? str(x, "id") : "-");
    }
    heading("NEXT VISIT");
    if (cJSON_IsObject(next)) {
        char local[WHEN_LOCAL_MAX];
        const char *start = when_local_text(str(next, "planned_start"), WHEN_TEXT_ZONE, local);

        printf("  %s", start ? start : "-");
        put_opt("  ", str(next, "visit_type"));
        put_opt(", ", str(next, "mode"));
        put_opt("  for ", str(next, "assigned_to"));
        printf("\n    visit %s\n", str(next, "id"));
    } else {
        printf("  none booked\n");
    }
    heading("RECENT NOTES");
    cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(o, "recent_notes")) {
        const char *when = str(x, "occurred_at") ? str(x, "occurred_at") : str(x, "recorded_at");
        char local[WHEN_LOCAL_MAX];

        when = when_local_text(when, 0, local);
        printf("  %.16s", when ? when : "");
        put_opt(" ", str(x, "author"));
        put_opt(" [", str(x, "category"));
        if (str(x, "category"))
            printf("]");
        printf(": ");
        cli_print_line(str(x, "text") ? str(x, "text") : "");
        putchar('\n');
    }
}

int cmd_open(int argc, char *argv[])
{
    bool json = false, done;
    const struct cli_opt opts[] = {{"json", NULL, &json}};
    _cleanup_free_ char *out = NULL;
    cJSON *o;
    int first, r;

    r = cli_args("open", argc, argv, opts, ELEMENTSOF(opts), 1, 1, &first, &done);
    if (r != 0 || done)
        return r;
    r = fetch(get_open, argv[first], &out);
    if (r != CARESYNC_OK)
        return r;
    if (json) {
        printf("%s\n", out);
        return 0;
    }
    o = parse(out);
    if (!o)
        return CARESYNC_ELOCAL;
    print_open(o);
    cJSON_Delete(o);
    return 0;
}

/* ---- export ---- */

struct export_args {
    const char *person;
    size_t max; /* 0: one Bundle */
};

static int get_fhir(struct caresync *c, const void *ud, char **ret)
{
    const struct export_args *a = ud;

    return a->max ? caresync_export_fhir_split(c, a->person, a->max, ret)
                  : caresync_export_fhir(c, a->person, ret);
}

int cmd_export(int argc, char *argv[])
{
    const char *output = NULL, *max = NULL;
    bool fhir = false, json = false, done;
    const struct cli_opt opts[] = {
            {"fhir", NULL, &fhir},
            {"output", &output, NULL},
            {"json", NULL, &json}, /* the Bundle is JSON anyway */
            {"max-entries", &max, NULL},
    };
    struct export_args a = {0};
    int64_t n = 0;
    _cleanup_free_ char *out = NULL;
    char *line;
    size_t len;
    int first, r;

    r = cli_args("export", argc, argv, opts, ELEMENTSOF(opts), 1, 1, &first, &done);
    if (r != 0 || done)
        return r;
    if (!fhir)
        return cli_usage("export", "give the format: --fhir (a FHIR R4 transaction Bundle)");
    if (max && (parse_i64(max, &n) < 0 || n < 1 || n > 100000))
        return cli_usage("export", "--max-entries must be a whole number from 1 to 100000");
    a.person = argv[first];
    a.max = (size_t)n;
    r = fetch(get_fhir, &a, &out);
    if (r != CARESYNC_OK)
        return r;
    /* JSON Lines end each line already; the last newline is written below, as for a Bundle. */
    if (a.max && *out && out[strlen(out) - 1] == '\n')
        out[strlen(out) - 1] = '\0';
    if (!output) {
        printf("%s\n", out);
        return 0;
    }
    len = strlen(out);
    line = realloc(out, len + 2);
    if (!line) {
        fprintf(stderr, "caresync: out of memory writing %s\n", output);
        return CARESYNC_ELOCAL;
    }
    out = line;
    memcpy(out + len, "\n", 2);
    r = file_write_sync(output, out, len + 1, 0600); /* owner-only: it is a health record */
    if (r < 0) {
        fprintf(stderr, "caresync: cannot write %s: %s; check the path and try again\n", output,
                strerror(-r));
        return CARESYNC_ELOCAL;
    }
    return 0;
}
