/* SPDX-License-Identifier: MIT */
/* cli.h - what the caresync CLI's command files share: parsed global options, the command
 * table, option parsing, and helpers to open the replica and report results. */
#pragma once

#include <cjson/cJSON.h>

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "caresync.h"

/* Global options (main.c). */
extern const char *arg_home;

/* The groups of `caresync help`. */
enum cli_group {
    CLI_GROUP_DAY,
    CLI_GROUP_PEOPLE,
    CLI_GROUP_RECORDS,
    CLI_GROUP_SYNC,
    CLI_GROUP_COORDINATORS,
    _CLI_GROUP_MAX,
};

/*
 * One command. A subcommand is named with its command, "visit add"; its @fn gets argv[0] =
 * the subcommand word. @fn returns an exit code (CARESYNC_E*).
 */
struct cli_verb {
    const char *name;
    int (*fn)(int argc, char *argv[]);
    enum cli_group group;
    const char *usage;   /* after "caresync ": e.g. "edit TABLE ROW_ID FIELD VALUE" */
    const char *summary; /* one line for the command list */
    const char *example; /* after "caresync ": one realistic command line */
    const char *help;    /* the rest of "caresync VERB --help"; may be NULL */
};

/* cli_verb_find() - the command named @name ("today", "visit add"), or NULL (verbs.c). */
const struct cli_verb *cli_verb_find(const char *name);

/* cli_is_group() - true when @name is a command with subcommands ("visit"). */
bool cli_is_group(const char *name);

/* cli_help() - print "caresync VERB --help" to stdout. Returns 0. */
int cli_help(const struct cli_verb *v);

/* cli_group_help() - print the subcommands of @name (`caresync visit --help`). Returns 0. */
int cli_group_help(const char *name);

/* cli_main_help() - print `caresync help`: every command by group, each with an example. */
void cli_main_help(void);

/* cli_usage() - one line on stderr about a bad command line of @verb; returns CARESYNC_EUSAGE. */
int cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * cli_open() - open the replica named by --home or CARESYNC_HOME. On failure prints the one
 * line and returns the exit code; *ret is then NULL.
 */
int cli_open(struct caresync **ret);

/*
 * cli_fail() - print caresync_errmsg(@c) as one line on stderr and return @r. A field an
 * option of the running command fills (struct cli_opt .field) is named as that option.
 */
int cli_fail(struct caresync *c, int r);

/*
 * cli_json_result() - finish a command whose libcaresync call returned @r with JSON text @out:
 * closes @c, then prints the error (returning @r), or with @json prints @out (returning 0), or
 * parses @out into *ret for the caller to print and free (returning 0; on failure says so and
 * returns CARESYNC_ELOCAL). *ret is NULL whenever the command is done.
 */
int cli_json_result(struct caresync *c, int r, const char *out, bool json, cJSON **ret);

/*
 * cli_finish() - the end of a writing command: on success print @id (if non-NULL and not
 * empty) alone on a line, else the error; close @c. Returns @r.
 */
int cli_finish(struct caresync *c, int r, const char *id);

/*
 * cli_parse() - getopt_long over argv for a verb: handles --help (prints help, *ret_done set)
 * and --home; calls @on_opt for any other option (return <0 for a usage error). On return
 * *ret_first is the index of the first positional argument. Returns 0 or an exit code.
 */
int cli_parse(const struct cli_verb *v, int argc, char *argv[], const char *shortopts,
              const struct option *longopts, int (*on_opt)(int opt, const char *arg, void *ud),
              void *ud, int *ret_first, bool *ret_done);

/*
 * One option of a command: with an argument (stored in *arg) or a flag (sets *flag). @field,
 * optional: the "table.field" the option's value fills ("person.birth_date" for --dob), so
 * that an error about the value names the option the user typed (cli_fail()).
 */
struct cli_opt {
    const char *name;
    const char **arg;
    bool *flag;
    const char *field;
};

#define CLI_OPTS_MAX 24

/*
 * cli_args() - parse the options @opts (plus --home and --help) of command @name and check
 * that it got between @min and @max positional arguments. Returns 0 with *ret_first the index
 * of the first positional, or an exit code; *ret_done is set when --help was printed.
 */
int cli_args(const char *name, int argc, char *argv[], const struct cli_opt *opts, size_t n,
             int min, int max, int *ret_first, bool *ret_done);

/*
 * CLI_PROLOGUE() - the start of a command function (int argc, char *argv[]): parse options
 * @opts (@n_opts of them) and @min to @max positionals with cli_args(), then open the replica.
 * Declares c (the handle), first (index of the first positional) and r; returns from the
 * function on --help or any failure.
 */
#define CLI_PROLOGUE(name, opts, n_opts, min, max)                                                 \
    struct caresync *c;                                                                            \
    bool done;                                                                                     \
    int first, r;                                                                                  \
                                                                                                   \
    r = cli_args(name, argc, argv, opts, n_opts, min, max, &first, &done);                        \
    if (r != 0 || done)                                                                            \
        return r;                                                                                  \
    r = cli_open(&c);                                                                              \
    if (r != CARESYNC_OK)                                                                          \
        return r

/* cli_print_line() - print @s on one line: control characters (a newline in a note) as spaces. */
void cli_print_line(const char *s);

/* Option ids above any character, shared by the command files. */
enum {
    OPT_HOME = 0x100,
    OPT_HELP,
    OPT_JSON,
    OPT_NULL,
    OPT_ALL,
    OPT_SERVER,
    OPT_CA,
    OPT_CODE,
    OPT_NAME,
    OPT_KEEP,
    OPT_RESTORE,
    OPT_VALUE,
    OPT_REASON,
    OPT_FIRST_GENERIC = 0x400, /* cli_args(): OPT_FIRST_GENERIC + index into its options */
};

/* The commands (cmd_*.c). */
int cmd_enrol(int argc, char *argv[]);
int cmd_sync(int argc, char *argv[]);
int cmd_conflicts(int argc, char *argv[]);
int cmd_conflicts_show(int argc, char *argv[]);
int cmd_resolve(int argc, char *argv[]);
int cmd_caseload(int argc, char *argv[]);
int cmd_show(int argc, char *argv[]);
int cmd_status(int argc, char *argv[]);
int cmd_edit(int argc, char *argv[]);
int cmd_add(int argc, char *argv[]);
int cmd_delete(int argc, char *argv[]);
int cmd_help(int argc, char *argv[]);
int cmd_today(int argc, char *argv[]);
int cmd_open(int argc, char *argv[]);
int cmd_export(int argc, char *argv[]);
int cmd_visit_add(int argc, char *argv[]);
int cmd_visit_start(int argc, char *argv[]);
int cmd_visit_complete(int argc, char *argv[]);
int cmd_visit_miss(int argc, char *argv[]);
int cmd_note_add(int argc, char *argv[]);
int cmd_observe(int argc, char *argv[]);
int cmd_progress(int argc, char *argv[]);
int cmd_goal_add(int argc, char *argv[]);
int cmd_goal_status(int argc, char *argv[]);
int cmd_action_add(int argc, char *argv[]);
int cmd_action_status(int argc, char *argv[]);
int cmd_review_add(int argc, char *argv[]);
int cmd_about_me(int argc, char *argv[]);
int cmd_consent_record(int argc, char *argv[]);
int cmd_consent_withdraw(int argc, char *argv[]);
int cmd_contact_add(int argc, char *argv[]);
int cmd_alert_raise(int argc, char *argv[]);
int cmd_alert_deactivate(int argc, char *argv[]);
int cmd_register(int argc, char *argv[]);
int cmd_entered_in_error(int argc, char *argv[]);
int cmd_devices(int argc, char *argv[]);
int cmd_device_revoke(int argc, char *argv[]);
int cmd_restore_row(int argc, char *argv[]);
int cmd_assign(int argc, char *argv[]);
int cmd_unassign(int argc, char *argv[]);
int cmd_transfer(int argc, char *argv[]);
int cmd_named_coordinator(int argc, char *argv[]);
int cmd_team(int argc, char *argv[]);
int cmd_person_accept(int argc, char *argv[]);
int cmd_person_close(int argc, char *argv[]);
int cmd_person_reopen(int argc, char *argv[]);
int cmd_person_set_nhs(int argc, char *argv[]);
int cmd_person_set_gp(int argc, char *argv[]);
