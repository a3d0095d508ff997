/* SPDX-License-Identifier: MIT */
/* admin.h - the admin subcommands of caresyncd (init, user, enrol, person, assign, device)
 * and what they share with main.c: exit codes, parsed options, the command table entry. */
#pragma once

#include <stdbool.h>
#include <limits.h>
#include <stddef.h>

#include "macro.h"
#include "tls.h"

struct store;

/* Exit codes (documented in 'caresyncd help'). */
enum {
    ADMIN_EXIT_OK = 0,
    ADMIN_EXIT_FAILURE = 1,   /* store, I/O or TLS failure */
    ADMIN_EXIT_USAGE = 2,     /* bad command line */
    ADMIN_EXIT_NOT_FOUND = 3, /* unknown user, person or device */
    ADMIN_EXIT_EXISTS = 4,    /* already exists, or conflicts with what exists */
};

/* Everything any subcommand accepts; each command allows a subset (struct admin_command). */
struct admin_opts {
    const char *data;
    const char *listen, *max_skew_ms, *grace_hours, *max_device_conflicts;
    const char *person; /* audit export */
    const char *role, *expires;
    const char *name, *dob, *phone, *address, *preferred_name;
    const char *family, *given, *title, *lines[2], *city, *postcode, *gp, *gp_ods; /* person */
    int n_lines;
    const char *display_name, *nmc, *hcpc, *swe; /* user add, user set */
    const char *max_entries, *ndjson;            /* export */
    bool all;                                    /* export --all */
    const char *profile, *seed; /* demo */
    const char *output;         /* export, backup */
    const char *input;          /* restore */
    const char *nhs;            /* person list */
    const char *qr;             /* user passwd: the QR code's SVG file */
    char *sans[TLS_SAN_MAX];
    size_t n_sans;
    bool json, quiet;
    bool no_dev_ca; /* init */
    const char *store; /* init --store: the PostgreSQL store's URL */
    char **args; /* positional arguments, borrowed from argv */
    int n_args;
};

struct admin_command {
    const char *name;     /* "user add" */
    const char *options;  /* short letters of the options it accepts, see admin.c */
    int n_args;           /* positional arguments it needs; -N: up to N */
    const char *synopsis; /* one line */
    const char *help;     /* the rest of its --help text */
    int (*run)(const struct admin_command *cmd, struct admin_opts *o);
};

/* admin_usage() - print "caresyncd CMD: <message>; see 'caresyncd CMD --help'", return 2. */
int admin_usage(const struct admin_command *cmd, const char *fmt, ...) _printf_(2, 3);

/*
 * admin_open_store() - open DIR/store.db without creating it. Returns 0 and *ret, or prints
 * the reason (e.g. "no store at DIR/store.db; run 'caresyncd init --data DIR' first") and
 * returns the exit code.
 */
int admin_open_store(const char *dir, struct store **ret);
/* admin_store_is_url() - 1 when DIR's store is PostgreSQL (DIR/store.url), 0 when it is the
 * embedded DIR/store.db, or -errno. */
int admin_store_is_url(const char *dir);
/* admin_url_shown() - @url with its password replaced by ***, in @buf. */
const char *admin_url_shown(const char *url, char *buf, size_t size);

/* The admin subcommands. Each returns the process exit code; none leaves anything open. */
int admin_init(const struct admin_command *cmd, struct admin_opts *o);
int admin_user_add(const struct admin_command *cmd, struct admin_opts *o);
int admin_user_set(const struct admin_command *cmd, struct admin_opts *o);
int admin_user_passwd(const struct admin_command *cmd, struct admin_opts *o);
int admin_user_totp(const struct admin_command *cmd, struct admin_opts *o);

/* admin_path_in() - @dir/@name into @buf; 0 or -ENAMETOOLONG. */
int admin_path_in(const char *dir, const char *name, char buf[static PATH_MAX]);
/* admin_store_failure() - report a store call that failed for a reason not the caller's. */
int admin_store_failure(int r, const char *what);
/* admin_fail() - print "caresyncd: <message>" on stderr and return @code. */
int admin_fail(int code, const char *fmt, ...) _printf_(2, 3);
int admin_user_list(const struct admin_command *cmd, struct admin_opts *o);
int admin_enrol(const struct admin_command *cmd, struct admin_opts *o);
int admin_person_add(const struct admin_command *cmd, struct admin_opts *o);
int admin_assign(const struct admin_command *cmd, struct admin_opts *o);
int admin_unassign(const struct admin_command *cmd, struct admin_opts *o);
int admin_device_list(const struct admin_command *cmd, struct admin_opts *o);
int admin_device_revoke(const struct admin_command *cmd, struct admin_opts *o);
int admin_audit_verify(const struct admin_command *cmd, struct admin_opts *o);
int admin_audit_export(const struct admin_command *cmd, struct admin_opts *o);
int admin_backup(const struct admin_command *cmd, struct admin_opts *o);
int admin_restore(const struct admin_command *cmd, struct admin_opts *o);
int admin_export(const struct admin_command *cmd, struct admin_opts *o);
int admin_user_disable(const struct admin_command *cmd, struct admin_opts *o);
int admin_user_role(const struct admin_command *cmd, struct admin_opts *o);
int admin_person_list(const struct admin_command *cmd, struct admin_opts *o);
