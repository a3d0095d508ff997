/* SPDX-License-Identifier: MIT */
/* config.c - the key = value configuration file of caresyncd and the checks of every 'serve'
 * option, shared by the file and the flags (config.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"
#include "work.h"

#define SKEW_MAX_MS (7ULL * 24 * 3600 * 1000) /* a week */

enum config_type {
    TYPE_PATH,   /* any non-empty text */
    TYPE_LISTEN, /* HOST:PORT or [IPv6]:PORT */
    TYPE_METRICS_LISTEN,
    TYPE_USER,   /* a user of this machine */
    TYPE_NUMBER, /* a whole number from min to max */
    TYPE_RATE,   /* N/S */
    TYPE_BOOL,
    TYPE_LEVEL,
    TYPE_FORMAT,
};

static const struct config_info {
    const char *name, *flag;
    enum config_type type;
    uint64_t min, max;
} infos[_CONFIG_KEY_MAX] = {
        [CONFIG_DATA] = {"data", "--data", TYPE_PATH},
        [CONFIG_LISTEN] = {"listen", "--listen", TYPE_LISTEN},
        [CONFIG_METRICS_LISTEN] = {"metrics_listen", "--metrics-listen", TYPE_METRICS_LISTEN},
        [CONFIG_TLS_CERTIFICATE] = {"tls_certificate", "--tls-certificate", TYPE_PATH},
        [CONFIG_TLS_KEY] = {"tls_key", "--tls-key", TYPE_PATH},
        [CONFIG_USER] = {"user", "--user", TYPE_USER},
        [CONFIG_LOG_FILE] = {"log_file", "--log-file", TYPE_PATH},
        [CONFIG_LOG_LEVEL] = {"log_level", "--log-level", TYPE_LEVEL},
        [CONFIG_LOG_FORMAT] = {"log_format", "--log-format", TYPE_FORMAT},
        [CONFIG_QUIET] = {"quiet", "--quiet", TYPE_BOOL},
        [CONFIG_MAX_SKEW_MS] = {"max_skew_ms", "--max-skew-ms", TYPE_NUMBER, 0, SKEW_MAX_MS},
        [CONFIG_HANDOVER_GRACE_HOURS] = {"handover_grace_hours", "--handover-grace-hours",
                                         TYPE_NUMBER, 0, 24 * 365},
        [CONFIG_MAX_DEVICE_CONFLICTS] = {"max_device_conflicts", "--max-device-conflicts",
                                         TYPE_NUMBER, 0, 1000000},
        [CONFIG_LOCK_AFTER_DAYS] = {"lock_after_days", "--lock-after-days", TYPE_NUMBER, 0,
                                    HTTP_LOCK_AFTER_MAX},
        [CONFIG_ENROL_LIMIT] = {"enrol_limit", "--enrol-limit", TYPE_RATE},
        [CONFIG_ENROL_SERVER_LIMIT] = {"enrol_server_limit", "--enrol-server-limit", TYPE_RATE},
        [CONFIG_HEADER_TIMEOUT] = {"header_timeout", "--header-timeout", TYPE_NUMBER, 1, 3600},
        [CONFIG_BODY_TIMEOUT] = {"body_timeout", "--body-timeout", TYPE_NUMBER, 1, 86400},
        [CONFIG_IDLE_TIMEOUT] = {"idle_timeout", "--idle-timeout", TYPE_NUMBER, 1, 86400},
        [CONFIG_MAX_CONNS_PER_ADDR] = {"max_conns_per_addr", "--max-conns-per-addr", TYPE_NUMBER,
                                       1, 1000000},
        [CONFIG_MAX_CONNS] = {"max_conns", "--max-conns", TYPE_NUMBER, 1, 1000000},
        [CONFIG_MAX_BODY_BUFFER_KB] = {"max_body_buffer_kb", "--max-body-buffer-kb", TYPE_NUMBER,
                                       1, 64ULL * 1024 * 1024},
        [CONFIG_QUEUE_DEPTH] = {"queue_depth", "--queue-depth", TYPE_NUMBER, 1, WORK_QUEUE_MAX},
        [CONFIG_READERS] = {"readers", "--readers", TYPE_NUMBER, 0, WORK_READERS_MAX},
        [CONFIG_CONSOLE_IDLE_TIMEOUT] = {"console_idle_timeout", "--console-idle-timeout",
                                         TYPE_NUMBER, 1, 7 * 86400},
        [CONFIG_CONSOLE_LIFETIME] = {"console_lifetime", "--console-lifetime", TYPE_NUMBER, 1,
                                     30 * 86400},
};

const char *config_key_name(enum config_key k)
{
    return infos[k].name;
}

const char *config_key_flag(enum config_key k)
{
    return infos[k].flag;
}

const char *config_default_path(void)
{
    return CARESYNCD_CONFIG_DEFAULT;
}

/* "N/S" with 1 <= N <= 1000000 and 1 <= S <= 86400 into *n and *s; 0 or -EINVAL. */
static int parse_rate(const char *text, unsigned *n, unsigned *s)
{
    char head[24];
    const char *slash = strchr(text, '/');
    uint64_t a, b;

    if (!slash || (size_t)(slash - text) >= sizeof(head))
        return -EINVAL;
    memcpy(head, text, (size_t)(slash - text));
    head[slash - text] = '\0';
    if (parse_u64(head, &a) < 0 || parse_u64(slash + 1, &b) < 0 || a < 1 || a > 1000000 ||
        b < 1 || b > 86400)
        return -EINVAL;
    *n = (unsigned)a;
    *s = (unsigned)b;
    return 0;
}

static int parse_bool(const char *text, bool *ret)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (streq(text, yes[i])) {
            *ret = true;
            return 0;
        }
        if (streq(text, no[i])) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

static bool listen_ok(const char *text)
{
    char host[HTTP_HOST_MAX + 1], port[8];

    return http_split_listen(text, host, sizeof(host), port, sizeof(port)) == 0;
}

static int fail(char *err, size_t size, const char *fmt, ...) _printf_(3, 4);
static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Whether @text is a good value of @k; when not, -EINVAL and why in @err. */
static int check_value(enum config_key k, const char *name, const char *text, char *err,
                       size_t size)
{
    const struct config_info *i = &infos[k];
    uint64_t v;
    unsigned n, s;
    bool b;

    switch (i->type) {
    case TYPE_PATH:
        if (!text[0])
            return fail(err, size, "%s needs a path", name);
        return 0;
    case TYPE_LISTEN:
        if (!listen_ok(text))
            return fail(err, size, "%s takes HOST:PORT (an IPv4 address or a host name) or "
                        "[IPv6]:PORT, not '%s'", name, text);
        return 0;
    case TYPE_METRICS_LISTEN:
        if (!streq(text, CONFIG_OFF) && !listen_ok(text))
            return fail(err, size, "%s takes HOST:PORT, [IPv6]:PORT or '" CONFIG_OFF "', not '%s'",
                        name, text);
        return 0;
    case TYPE_USER:
        if (!text[0] || !getpwnam(text))
            return fail(err, size, "%s: no user '%s' on this machine; create it (useradd "
                        "--system) or name another", name, text);
        return 0;
    case TYPE_NUMBER:
        if (parse_u64(text, &v) < 0 || v < i->min || v > i->max)
            return fail(err, size, "%s takes a whole number from %llu to %llu, not '%s'", name,
                        (unsigned long long)i->min, (unsigned long long)i->max, text);
        return 0;
    case TYPE_RATE:
        if (parse_rate(text, &n, &s) < 0)
            return fail(err, size, "%s takes N/SECONDS (such as 10/60; N up to 1000000, "
                        "SECONDS up to 86400), not '%s'", name, text);
        return 0;
    case TYPE_BOOL:
        if (parse_bool(text, &b) < 0)
            return fail(err, size, "%s takes true or false, not '%s'", name, text);
        return 0;
    case TYPE_LEVEL:
        if (!streq(text, "error") && !streq(text, "warn") && !streq(text, "info") &&
            !streq(text, "debug"))
            return fail(err, size, "%s takes error, warn, info or debug, not '%s'", name,
                        text);
        return 0;
    case TYPE_FORMAT:
        if (!streq(text, "text") && !streq(text, "json"))
            return fail(err, size, "%s takes text or json, not '%s'", name, text);
        return 0;
    }
    return 0;
}

static void config_unset(struct config *c, enum config_key k)
{
    if (k == CONFIG_LISTEN) {
        for (size_t i = 0; i < c->n_listens; i++)
            free(c->listens[i]);
        c->n_listens = 0;
        c->value[k] = NULL; /* it was listens[0] */
    } else {
        free(c->value[k]);
        c->value[k] = NULL;
    }
    free(c->where[k]);
    c->where[k] = NULL;
    c->from_flag[k] = false;
}

int config_set(struct config *c, enum config_key k, const char *text, const char *where, bool flag,
               char *err, size_t err_size)
{
    char *copy, *w;
    int r;

    r = check_value(k, flag ? infos[k].flag : infos[k].name, text, err, err_size);
    if (r < 0)
        return r;
    if (c->from_flag[k] && !flag)
        return 0; /* the flag wins; the file's value was still checked */
    if (c->value[k] && k != CONFIG_LISTEN)
        return fail(err, err_size, "%s is given twice (first at %s); keep one", infos[k].name,
                    c->where[k]);
    if (k == CONFIG_LISTEN && c->n_listens == HTTP_LISTEN_MAX)
        return fail(err, err_size, "at most %d listen addresses", HTTP_LISTEN_MAX);
    copy = strdup(text);
    w = c->where[k] ? NULL : strdup(where);
    if (!copy || (!c->where[k] && !w)) {
        free(copy);
        free(w);
        return -ENOMEM;
    }
    if (w)
        c->where[k] = w;
    c->from_flag[k] = flag;
    if (k == CONFIG_LISTEN) {
        c->listens[c->n_listens++] = copy;
        c->value[k] = c->listens[0];
    } else {
        c->value[k] = copy;
    }
    return 0;
}

/* Trim spaces and tabs at both ends of @s in place; returns the new start. */
static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

static int lookup(const char *name, enum config_key *ret)
{
    for (size_t i = 0; i < _CONFIG_KEY_MAX; i++)
        if (streq(infos[i].name, name)) {
            *ret = (enum config_key)i;
            return 0;
        }
    return -ENOENT;
}

static inline void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static int bad_line(const char *path, unsigned line, const char *fmt, ...) _printf_(3, 4);
static int bad_line(const char *path, unsigned line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "caresyncd: %s:%u: ", path, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -EINVAL;
}

int config_load(struct config *c, const char *path)
{
    _cleanup_(fclosep) FILE *f = fopen(path, "re");
    char buf[CONFIG_LINE_MAX + 2], err[512], where[PATH_MAX + 16];
    unsigned line = 0;
    size_t total = 0;

    if (!f) {
        if (errno == ENOENT)
            return -ENOENT;
        fprintf(stderr, "caresyncd: cannot read the configuration file %s: %s\n", path,
                strerror(errno));
        return -EIO;
    }
    while (fgets(buf, sizeof(buf), f)) {
        size_t len = strlen(buf);
        enum config_key k;
        char *key, *value, *eq;
        int r;

        line++;
        total += len;
        if (total > CONFIG_FILE_MAX)
            return bad_line(path, line, "the file is larger than %d bytes; is it the right file?",
                            CONFIG_FILE_MAX);
        if (len > 0 && buf[len - 1] == '\n')
            buf[--len] = '\0';
        else if (!feof(f))
            return bad_line(path, line, "the line is longer than %d bytes", CONFIG_LINE_MAX);
        if (memchr(buf, '\0', len) || text_control_char(buf))
            return bad_line(path, line, "the line holds a control character; is it a text file?");
        key = trim(buf);
        if (!key[0] || key[0] == '#')
            continue;
        eq = strchr(key, '=');
        if (!eq)
            return bad_line(path, line, "expected 'key = value', not '%s'", key);
        *eq = '\0';
        key = trim(key);
        value = trim(eq + 1);
        if (value[0] == '"') {
            size_t n = strlen(value);

            if (n < 2 || value[n - 1] != '"')
                return bad_line(path, line, "the value of %s opens a '\"' it does not close",
                                key);
            value[n - 1] = '\0';
            value++;
        }
        if (lookup(key, &k) < 0)
            return bad_line(path, line, "unknown key '%s'; 'caresyncd serve --help' lists the "
                            "options, a key is an option's name with '_' for '-'", key);
        snprintf(where, sizeof(where), "%s:%u", path, line);
        r = config_set(c, k, value, where, false, err, sizeof(err));
        if (r == -ENOMEM) {
            fprintf(stderr, "caresyncd: out of memory reading %s\n", path);
            return r;
        }
        if (r < 0)
            return bad_line(path, line, "%s", err);
    }
    if (ferror(f)) {
        fprintf(stderr, "caresyncd: cannot read the configuration file %s: %s\n", path,
                strerror(errno));
        return -EIO;
    }
    return 0;
}

void config_done(struct config *c)
{
    for (size_t k = 0; k < _CONFIG_KEY_MAX; k++)
        config_unset(c, (enum config_key)k);
}

const char *config_get(const struct config *c, enum config_key k)
{
    return c->value[k];
}

uint64_t config_number(const struct config *c, enum config_key k, uint64_t def)
{
    uint64_t v;

    if (!c->value[k] || parse_u64(c->value[k], &v) < 0)
        return def;
    return v;
}

bool config_bool(const struct config *c, enum config_key k)
{
    bool b = false;

    if (c->value[k])
        (void)parse_bool(c->value[k], &b);
    return b;
}

void config_rate(const struct config *c, enum config_key k, unsigned *n, unsigned *s)
{
    if (c->value[k])
        (void)parse_rate(c->value[k], n, s);
}
