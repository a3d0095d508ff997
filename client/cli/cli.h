/* SPDX-License-Identifier: MIT */
/* cli.h - what the caresync CLI's command files share: parsed global options, the command
 * table entry, and helpers to open the replica and report errors. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "caresync.h"

/* Global options (main.c). */
extern const char *arg_home;

/* One verb. @fn gets argv[0] = the verb name and returns an exit code (CARESYNC_E*). */
struct cli_verb {
    const char *name;
    int (*fn)(int argc, char *argv[]);
    const char *usage;   /* after "caresync ": e.g. "edit TABLE ROW_ID FIELD VALUE" */
    const char *summary; /* one line for the command list */
    const char *help;    /* the rest of "caresync VERB --help"; may be NULL */
};

/* cli_verb_find() - the verb named @name, or NULL. */
const struct cli_verb *cli_verb_find(const char *name);

/* cli_help() - print "caresync VERB --help" to stdout. Returns 0. */
int cli_help(const struct cli_verb *v);

/* cli_usage() - one line on stderr about a bad command line of @verb; returns CARESYNC_EUSAGE. */
int cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * cli_open() - open the replica named by --home or CARESYNC_HOME. On failure prints the one
 * line and returns the exit code; *ret is then NULL.
 */
int cli_open(struct caresync **ret);

/* cli_fail() - print caresync_errmsg(@c) as one line on stderr and return @r. */
int cli_fail(struct caresync *c, int r);

/*
 * cli_parse() - getopt_long over argv for a verb: handles --help (prints help, *ret_done set)
 * and --home; calls @on_opt for any other option (return <0 for a usage error). On return
 * *ret_first is the index of the first positional argument. Returns 0 or an exit code.
 */
int cli_parse(const struct cli_verb *v, int argc, char *argv[], const char *shortopts,
              const struct option *longopts, int (*on_opt)(int opt, const char *arg, void *ud),
              void *ud, int *ret_first, bool *ret_done);

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
};

/* The verbs (cmd_*.c). */
int cmd_enrol(int argc, char *argv[]);
int cmd_sync(int argc, char *argv[]);
int cmd_conflicts(int argc, char *argv[]);
int cmd_resolve(int argc, char *argv[]);
int cmd_caseload(int argc, char *argv[]);
int cmd_show(int argc, char *argv[]);
int cmd_status(int argc, char *argv[]);
int cmd_edit(int argc, char *argv[]);
int cmd_add(int argc, char *argv[]);
int cmd_delete(int argc, char *argv[]);
int cmd_help(int argc, char *argv[]);
