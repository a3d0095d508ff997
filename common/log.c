/* SPDX-License-Identifier: MIT */
/* log.c - leveled logging to stderr: text or JSON lines, with syslog priorities for the
 * systemd journal. One line is formatted whole and written with one call. */
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

#define LOG_LINE_MAX 4096

static enum log_level log_level = LOG_LEVEL_INFO;
static enum log_format log_format = LOG_FORMAT_TEXT;
static const char *log_prefix;
static int log_timestamps;
static int log_journal;

static const char *const level_names[] = {
        [LOG_LEVEL_DEBUG] = "debug",
        [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_WARN] = "warn",
        [LOG_LEVEL_ERROR] = "error",
};
/* syslog priorities: debug 7, info 6, warning 4, err 3 */
static const char level_prio[] = {
        [LOG_LEVEL_DEBUG] = '7',
        [LOG_LEVEL_INFO] = '6',
        [LOG_LEVEL_WARN] = '4',
        [LOG_LEVEL_ERROR] = '3',
};

int log_level_from_name(const char *name, enum log_level *ret)
{
    for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
        if (streq(level_names[i], name)) {
            *ret = (enum log_level)i;
            return 0;
        }
    return -EINVAL;
}

void log_set_format(enum log_format format)
{
    log_format = format;
}

int log_journal_detect(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    log_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
                  fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                  (unsigned long long)st.st_ino == ino;
    return log_journal;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

void log_set_prefix(const char *prefix)
{
    log_prefix = prefix;
}

void log_set_timestamps(int on)
{
    log_timestamps = on;
}

/* The message as one JSON line into @out. */
static void json_line(enum log_level level, const char *ts, const char *msg, char *out,
                      size_t size)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (o && (!ts[0] || cJSON_AddStringToObject(o, "time", ts)) &&
        cJSON_AddStringToObject(o, "level", level_names[level]) &&
        (!log_prefix || cJSON_AddStringToObject(o, "program", log_prefix)) &&
        cJSON_AddStringToObject(o, "msg", msg))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text)
        snprintf(out, size, "%s", text);
    else /* out of memory: still one line, still JSON */
        snprintf(out, size, "{\"level\":\"%s\",\"msg\":\"(out of memory)\"}",
                 level_names[level]);
    free(text);
}

int log_msg(enum log_level level, int ret, const char *fmt, ...)
{
    char ts[32] = "", msg[LOG_LINE_MAX], line[LOG_LINE_MAX * 2 + 64];
    va_list ap;

    if (level < log_level)
        return ret;
    if (log_timestamps && !log_journal) {
        struct tm tm;
        time_t t = time(NULL);

        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One event, one line: a newline inside a message would start a forged one. */
    for (char *p = msg; (p = strpbrk(p, "\r\n"));)
        *p = ' ';
    if (log_format == LOG_FORMAT_JSON)
        json_line(level, ts, msg, line, sizeof(line));
    else
        snprintf(line, sizeof(line), "%s%s%s%s%s", ts, ts[0] ? " " : "",
                 log_prefix ? log_prefix : "", log_prefix ? ": " : "", msg);
    /* One fprintf: the line is written whole whichever thread logs (stdio locks the stream). */
    if (log_journal)
        fprintf(stderr, "<%c>%s\n", level_prio[level], line);
    else
        fprintf(stderr, "%s\n", line);
    return ret;
}

int log_reopen(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        return -1;
    fflush(stderr);
    if (dup2(fd, STDERR_FILENO) < 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    return 0;
}

