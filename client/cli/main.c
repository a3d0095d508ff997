/* SPDX-License-Identifier: MIT */
/* main.c - the caresync field client: global options, verb dispatch, help, exit codes. A thin
 * front end over libcaresync (client/caresync.h). */

/*
 * Exit codes (the CARESYNC_E* values of caresync.h):
 *
 *   0  ok
 *   1  local failure: the replica database or a file in the home directory (disk full,
 *      permissions, damaged replica, another sync running)
 *   2  usage error: bad arguments, unknown command, table or field, bad value, no home,
 *      home not enrolled (or already enrolled, for enrol)
 *   3  not found: no such row, person or conflict
 *   4  network failure: server unreachable, TLS failure, timeout -- nothing was lost, try again
 *   5  authentication failed (HTTP 401): bad, used or expired enrolment code; unknown or
 *      revoked device -- enrol again
 *   6  not allowed (HTTP 403), e.g. only coordinators can see or resolve conflicts
 *   7  the server refused the request (any other 4xx/5xx, or a malformed reply)
 *
 * Every failure prints one line on stderr: what went wrong and what to do next.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "log.h"

const char *arg_home;

static const struct cli_verb verbs[] = {
        {"enrol", cmd_enrol,
         "enrol --server https://HOST:PORT --ca CA.pem --code CODE [--name DEVICE_NAME]",
         "enrol this home with the server (online)",
         "Exchanges a one-time code (from 'caresyncd enrol USER') for a device token, creates\n"
         "the home directory and its replica, and keeps a copy of the CA. Plain http:// is\n"
         "refused. A home is enrolled once; use another --home for another user.\n"},
        {"sync", cmd_sync, "sync [--json]", "send local edits and fetch changes (online)",
         "Pushes the outbox in batches of at most 500 changes, then pulls everything that\n"
         "changed for this device's caseload. A failed sync keeps every local edit; run it\n"
         "again later.\n"},
        {"caseload", cmd_caseload, "caseload [--json]", "list the people on this device",
         "--json prints an array of {id, name, preferred_name, birth_date, phone, address}.\n"},
        {"show", cmd_show, "show PERSON_ID [--json]", "show one person and their plan",
         "--json prints the person's fields at the top level and arrays care_plans, goals,\n"
         "actions, visits and notes.\n"},
        {"edit", cmd_edit, "edit TABLE ROW_ID FIELD (VALUE | --null)", "change one field (offline)",
         "The value is taken literally; --null (or --clear) clears the field. Values starting\n"
         "with '-' go after '--'. Tables: person, care_plan, goal, plan_action, visit, note.\n"},
        {"add", cmd_add, "add TABLE PERSON_ID FIELD=VALUE...", "add a row for a person (offline)",
         "Prints only the new row's id. People themselves are added by a coordinator.\n"},
        {"delete", cmd_delete, "delete TABLE ROW_ID", "delete a row (offline)", NULL},
        {"status", cmd_status, "status [--json]", "show the replica's state", NULL},
        {"conflicts", cmd_conflicts, "conflicts [--all] [--json]",
         "list the server's conflict log (coordinators, online)",
         "Open conflicts only unless --all. --json prints the array the server sent.\n"},
        {"resolve", cmd_resolve,
         "resolve CONFLICT_ID (--keep | --restore | --value VALUE) [--json]",
         "resolve a conflict (coordinators, online)",
         "--keep keeps the current value, --restore writes the losing value again, --value\n"
         "writes a new value. The result reaches every device at its next sync.\n"},
        {"help", cmd_help, "help [COMMAND]", "show help", NULL},
};

const struct cli_verb *cli_verb_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        if (streq(verbs[i].name, name))
            return &verbs[i];
    return NULL;
}

static void print_main_help(void)
{
    printf("caresync %s - offline-first field client for caresyncd\n\n"
           "usage: caresync [--home DIR] COMMAND [ARGS...]\n\n"
           "commands:\n",
           caresync_version());
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        printf("  %-10s %s\n", verbs[i].name, verbs[i].summary);
    printf("\noptions:\n"
           "  --home DIR   the device's home directory (default: $CARESYNC_HOME)\n"
           "  -v, --verbose  debug output on stderr\n"
           "  --version    print the version\n"
           "  -h, --help   this help; 'caresync COMMAND --help' for a command\n\n"
           "exit codes: 0 ok, 1 local failure, 2 usage, 3 not found, 4 network (nothing lost),\n"
           "5 authentication (enrol again), 6 not allowed, 7 server refused\n");
}

int cli_help(const struct cli_verb *v)
{
    printf("usage: caresync [--home DIR] %s\n\n%s\n", v->usage, v->summary);
    if (v->help)
        printf("\n%s", v->help);
    return 0;
}

int cli_usage(const char *verb, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "caresync: %s%s", verb ? verb : "", verb ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (verb)
        fprintf(stderr, "; see 'caresync %s --help'\n", verb);
    else
        fprintf(stderr, "; see 'caresync help'\n");
    return CARESYNC_EUSAGE;
}

int cli_open(struct caresync **ret)
{
    struct caresync *c = NULL;
    int r = caresync_open(arg_home, &c);

    if (r != CARESYNC_OK) {
        fprintf(stderr, "caresync: %s\n", caresync_errmsg(c));
        caresync_close(c);
        *ret = NULL;
        return r;
    }
    *ret = c;
    return CARESYNC_OK;
}

int cli_fail(struct caresync *c, int r)
{
    fprintf(stderr, "caresync: %s\n", caresync_errmsg(c));
    return r;
}

int cli_parse(const struct cli_verb *v, int argc, char *argv[], const char *shortopts,
              const struct option *longopts, int (*on_opt)(int opt, const char *arg, void *ud),
              void *ud, int *ret_first, bool *ret_done)
{
    int opt;

    *ret_done = false;
    optind = 0; /* restart getopt for this verb's argv (glibc: full reinitialisation) */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_HELP:
        case 'h':
            *ret_done = true;
            return cli_help(v);
        case OPT_HOME:
            arg_home = optarg;
            break;
        case '?':
        case ':':
            if (optopt)
                return cli_usage(v->name, "bad or incomplete option '-%c'", optopt);
            return cli_usage(v->name, "bad or incomplete option '%s'", argv[optind - 1]);
        default:
            if (!on_opt || on_opt(opt, optarg, ud) < 0)
                return CARESYNC_EUSAGE;
            break;
        }
    }
    *ret_first = optind;
    return 0;
}

int cmd_help(int argc, char *argv[])
{
    const struct cli_verb *v;

    if (argc < 2) {
        print_main_help();
        return 0;
    }
    v = cli_verb_find(argv[1]);
    if (!v)
        return cli_usage(NULL, "unknown command '%s'", argv[1]);
    return cli_help(v);
}

int main(int argc, char *argv[])
{
    enum { OPT_VERSION = 0x200 };
    static const struct option opts[] = {
            {"home", required_argument, NULL, OPT_HOME},
            {"help", no_argument, NULL, 'h'},
            {"verbose", no_argument, NULL, 'v'},
            {"version", no_argument, NULL, OPT_VERSION},
            {},
    };
    const struct cli_verb *v;
    int opt, r;

    log_set_prefix("caresync");
    opterr = 0;
    /* '+': stop at the verb; its options are parsed by the verb itself. */
    while ((opt = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_HOME:
            arg_home = optarg;
            break;
        case 'h':
            print_main_help();
            return 0;
        case 'v':
            log_set_level(LOG_LEVEL_DEBUG);
            break;
        case OPT_VERSION:
            printf("caresync %s\n", caresync_version());
            return 0;
        default:
            if (optopt)
                return cli_usage(NULL, "bad or incomplete option '-%c'", optopt);
            return cli_usage(NULL, "bad or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage(NULL, "missing command");
    v = cli_verb_find(argv[optind]);
    if (!v)
        return cli_usage(NULL, "unknown command '%s'", argv[optind]);
    /* libcaresync sets CURLOPT_NOSIGNAL: a server closing the connection must not kill us. */
    (void)signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "caresync: cannot initialise libcurl\n");
        return CARESYNC_ELOCAL;
    }
    r = v->fn(argc - optind, argv + optind);
    curl_global_cleanup();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "caresync: cannot write the output: %s\n", strerror(errno));
        return r ? r : CARESYNC_ELOCAL;
    }
    return r;
}
