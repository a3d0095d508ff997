/* SPDX-License-Identifier: MIT */
/* config.h - caresyncd's configuration: every 'serve' option as a key of a key = value file
 * (docs/OPERATIONS.md, "The configuration file"), the same option given as a flag overriding
 * it, and one place that checks each value, whichever way it came. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* The keys, in the order 'caresyncd config check' and the docs list them. */
enum config_key {
    CONFIG_DATA,
    CONFIG_LISTEN, /* repeatable */
    CONFIG_METRICS_LISTEN,
    CONFIG_TLS_CERTIFICATE,
    CONFIG_TLS_KEY,
    CONFIG_USER,
    CONFIG_LOG_FILE,
    CONFIG_LOG_LEVEL,
    CONFIG_LOG_FORMAT,
    CONFIG_QUIET,
    CONFIG_MAX_SKEW_MS,
    CONFIG_HANDOVER_GRACE_HOURS,
    CONFIG_MAX_DEVICE_CONFLICTS,
    CONFIG_LOCK_AFTER_DAYS,
    CONFIG_ENROL_LIMIT,
    CONFIG_ENROL_SERVER_LIMIT,
    CONFIG_HEADER_TIMEOUT,
    CONFIG_BODY_TIMEOUT,
    CONFIG_IDLE_TIMEOUT,
    CONFIG_MAX_CONNS_PER_ADDR,
    CONFIG_MAX_CONNS,
    CONFIG_MAX_BODY_BUFFER_KB,
    CONFIG_QUEUE_DEPTH,
    CONFIG_READERS,
    CONFIG_CONSOLE_IDLE_TIMEOUT,
    CONFIG_CONSOLE_LIFETIME,
    _CONFIG_KEY_MAX,
};

/* The file read when no --config is given, if it exists: SYSCONFDIR/caresync/caresyncd.conf
 * (meson sets it; /etc/caresync/caresyncd.conf for a build with prefix /usr, as Debian's). */
#ifndef CARESYNCD_CONFIG_DEFAULT
#define CARESYNCD_CONFIG_DEFAULT "/etc/caresync/caresyncd.conf"
#endif

#define CONFIG_LINE_MAX 4096 /* longest line of a configuration file */
#define CONFIG_FILE_MAX (1024 * 1024)
/* metrics_listen's value that turns the metrics listener off. */
#define CONFIG_OFF      "off"

/* One configuration: values as text (checked when set), each with where it came from. */
struct config {
    char *value[_CONFIG_KEY_MAX];
    char *where[_CONFIG_KEY_MAX];     /* "--max-conns" or "FILE:LINE" */
    bool from_flag[_CONFIG_KEY_MAX];
    char *listens[HTTP_LISTEN_MAX];   /* every listen value; value[CONFIG_LISTEN] is the first */
    size_t n_listens;
};

/* config_key_name() - "max_conns"; config_key_flag() - "--max-conns". */
const char *config_key_name(enum config_key k);
const char *config_key_flag(enum config_key k);

/*
 * config_set() - give key @k the value @text, after checking it. @where says where it came from
 * ("--max-conns", or "FILE:LINE"); @flag marks a command-line value, which a file's value for the
 * same key does not replace (a flagged 'listen' drops every 'listen' of the file). A second
 * value of a key other than 'listen' from the same source is refused. Returns 0, or -EINVAL with
 * one line, what is wrong and what is accepted, in @err (@err_size bytes), or -ENOMEM.
 */
int config_set(struct config *c, enum config_key k, const char *text, const char *where, bool flag,
               char *err, size_t err_size);

/*
 * config_load() - read file @path: '#' comments, blank lines and "key = value" lines (the value
 * may be in double quotes). Every value is checked; keys already given by a flag keep the flag's.
 * Returns 0; -ENOENT when the file is missing (nothing printed); -EINVAL after printing
 * "caresyncd: FILE:LINE: what is wrong" for the first bad line; -EIO (printed) when it cannot be
 * read.
 */
int config_load(struct config *c, const char *path);

/* config_done() - free what @c holds. */
void config_done(struct config *c);

/* The value of @k, or NULL when it was not given. */
const char *config_get(const struct config *c, enum config_key k);

/* The value of a numeric key @k, or @def when it was not given. */
uint64_t config_number(const struct config *c, enum config_key k, uint64_t def);

/* The value of a boolean key @k, false when not given. */
bool config_bool(const struct config *c, enum config_key k);

/* The value of an "N/S" key @k into *n and *s; untouched when not given. */
void config_rate(const struct config *c, enum config_key k, unsigned *n, unsigned *s);

/* config_default_path() - the file read when no --config is given (if it exists). */
const char *config_default_path(void);
