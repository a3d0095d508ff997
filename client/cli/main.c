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
 *      revoked device (a revoked device's replica and token are wiped) -- enrol again
 *   6  not allowed (HTTP 403), e.g. only coordinators can see or resolve conflicts
 *   7  the server refused the request (any other 4xx/5xx, or a malformed reply)
 *   8  locked: the device has not synced for longer than the server's policy allows
 *      (lock_after_days); every command except sync, status and help refuses until a sync
 *      succeeds
 *
 * Every failure prints one line on stderr: what went wrong and what to do next.
 */
#include <assert.h>
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
#include "macro.h"

const char *arg_home;

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

/* The options of the running command (cli_args()), for cli_fail() to name fields by them. */
static const struct cli_opt *cur_opts;
static size_t cur_n_opts;

static bool field_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || ch == '_' || ch == '.';
}

int cli_fail(struct caresync *c, int r)
{
    const char *msg = caresync_errmsg(c);

    /* The library names the field ("bad value for person.birth_date: ..."); the user typed
     * an option (--dob): name the option. */
    for (size_t i = 0; i < cur_n_opts; i++) {
        const char *f = cur_opts[i].field, *at = f ? strstr(msg, f) : NULL;
        size_t n = f ? strlen(f) : 0;

        if (!at || (at > msg && field_char(at[-1])) || field_char(at[n]))
            continue;
        fprintf(stderr, "caresync: %.*s--%s%s\n", (int)(at - msg), msg, cur_opts[i].name,
                at + n);
        return r;
    }
    fprintf(stderr, "caresync: %s\n", msg);
    return r;
}

int cli_json_result(struct caresync *c, int r, const char *out, bool json, cJSON **ret)
{
    *ret = NULL;
    if (r != CARESYNC_OK)
        cli_fail(c, r);
    caresync_close(c);
    if (r != CARESYNC_OK)
        return r;
    if (json) {
        printf("%s\n", out);
        return 0;
    }
    *ret = cJSON_Parse(out);
    if (!*ret) {
        fprintf(stderr, "caresync: out of memory formatting the output; try again with --json\n");
        return CARESYNC_ELOCAL;
    }
    return 0;
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

int cli_finish(struct caresync *c, int r, const char *id)
{
    if (r == CARESYNC_OK && id && *id)
        printf("%s\n", id);
    else if (r != CARESYNC_OK)
        cli_fail(c, r);
    caresync_close(c);
    return r;
}

void cli_print_line(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        putchar(*p < 0x20 ? ' ' : *p);
}

struct generic {
    const struct cli_opt *opts;
    size_t n;
};

static int on_generic(int opt, const char *arg, void *ud)
{
    const struct generic *g = ud;
    size_t i = (size_t)(opt - OPT_FIRST_GENERIC);

    if (opt < OPT_FIRST_GENERIC || i >= g->n)
        return -1;
    if (g->opts[i].arg)
        *g->opts[i].arg = arg;
    else
        *g->opts[i].flag = true;
    return 0;
}

int cli_args(const char *name, int argc, char *argv[], const struct cli_opt *opts, size_t n,
             int min, int max, int *ret_first, bool *ret_done)
{
    const struct cli_verb *v = cli_verb_find(name);
    struct option lo[CLI_OPTS_MAX + 3] = {
            {"home", required_argument, NULL, OPT_HOME},
            {"help", no_argument, NULL, OPT_HELP},
    };
    struct generic g = {opts, n};
    int r, npos;

    assert(v && n <= CLI_OPTS_MAX);
    cur_opts = opts;
    cur_n_opts = n;
    for (size_t i = 0; i < n; i++)
        lo[2 + i] = (struct option){opts[i].name, opts[i].arg ? required_argument : no_argument,
                                    NULL, OPT_FIRST_GENERIC + (int)i};
    r = cli_parse(v, argc, argv, "h", lo, on_generic, &g, ret_first, ret_done);
    if (r != 0 || *ret_done)
        return r;
    npos = argc - *ret_first;
    if (npos < min)
        return cli_usage(name, "missing arguments; usage: caresync %s", v->usage);
    if (npos > max)
        return cli_usage(name, "unexpected argument '%s'", argv[*ret_first + max]);
    return 0;
}

/*
 * Run the command at argv[0] (argv[1] its subcommand, for a command that has them). Returns
 * the exit code.
 */
static int dispatch(int argc, char *argv[])
{
    const struct cli_verb *v = cli_verb_find(argv[0]);
    char name[64];

    if (v)
        return v->fn(argc, argv);
    if (!cli_is_group(argv[0]))
        return cli_usage(NULL, "unknown command '%s'", argv[0]);
    if (argc < 2)
        return cli_usage(argv[0], "missing subcommand");
    if (streq(argv[1], "--help") || streq(argv[1], "-h"))
        return cli_group_help(argv[0]);
    snprintf(name, sizeof(name), "%s %s", argv[0], argv[1]);
    v = cli_verb_find(name);
    if (!v)
        return cli_usage(argv[0], "unknown subcommand '%s'", argv[1]);
    return v->fn(argc - 1, argv + 1);
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
            cli_main_help();
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
    /* libcaresync sets CURLOPT_NOSIGNAL: a server closing the connection must not kill us. */
    (void)signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "caresync: cannot initialise libcurl\n");
        return CARESYNC_ELOCAL;
    }
    r = dispatch(argc - optind, argv + optind);
    curl_global_cleanup();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "caresync: cannot write the output: %s\n", strerror(errno));
        return r ? r : CARESYNC_ELOCAL;
    }
    return r;
}
