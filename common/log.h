/* SPDX-License-Identifier: MIT */
/* log.h - leveled logging to stderr for daemon/ and client/ (common/ logs at debug only). */
#pragma once

#include "macro.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* How each line is written: "TIME PREFIX: message", or one JSON object
 * {"time":…,"level":…,"program":…,"msg":…}. */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* log_set_level() - messages below @level are dropped. Default LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);

/* log_level_from_name() - "error", "warn", "info" or "debug" into *ret; 0 or -EINVAL. */
int log_level_from_name(const char *name, enum log_level *ret);

/* log_set_format() - text (default) or JSON lines. */
void log_set_format(enum log_format format);

/*
 * log_journal_detect() - whether standard error is the systemd journal's stream (JOURNAL_STREAM
 * names its device and inode): then each line starts with its syslog priority ("<3>" for an
 * error, as sd-daemon(3) says) and has no time of its own (the journal stamps it). Call it
 * again after log_reopen(). Returns whether it is.
 */
int log_journal_detect(void);

/* log_set_prefix() - program name put before every line, e.g. "caresyncd"; borrowed. */
void log_set_prefix(const char *prefix);

/* log_set_timestamps() - prefix each line with an ISO 8601 UTC time (daemon mode). */
void log_set_timestamps(int on);

/* log_reopen() - send the log (standard error) to the end of file @path, made mode 0600 if
 * missing; called again after logrotate moved it. 0, or -1 with errno set (the log is then
 * where it was). */
int log_reopen(const char *path);

/* log_msg() - write one line. Returns @ret unchanged so callers can `return log_error(...)`. */
int log_msg(enum log_level level, int ret, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, 0, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, -1, __VA_ARGS__)
/* log_error_errno(r, ...) logs and returns r (a negative errno). */
#define log_error_errno(r, ...) log_msg(LOG_LEVEL_ERROR, (r), __VA_ARGS__)
