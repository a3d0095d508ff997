/* SPDX-License-Identifier: MIT */
/* cmd_local.c - the offline writing verbs: edit, add, delete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"
#include "when.h"

#define COMMON_OPTS                              \
    {"home", required_argument, NULL, OPT_HOME}, \
    {                                            \
        "help", no_argument, NULL, OPT_HELP      \
    }

static int on_null(int opt, const char *arg, void *ud)
{
    if (opt != OPT_NULL)
        return -1;
    *(bool *)ud = true;
    return 0;
}

int cmd_edit(int argc, char *argv[])
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"null", no_argument, NULL, OPT_NULL},
                                         {"clear", no_argument, NULL, OPT_NULL},
                                         {}};
    const struct cli_verb *v = cli_verb_find("edit");
    struct caresync *c;
    bool null = false, done;
    const char *value, *field;
    char utc[WHEN_ISO_MAX];
    int first, n, r;

    r = cli_parse(v, argc, argv, "h", opts, on_null, &null, &first, &done);
    if (r != 0 || done)
        return r;
    n = argc - first;
    if (null && n != 3)
        return cli_usage("edit", "with --null, expected TABLE ROW_ID FIELD and no VALUE");
    if (!null && n != 4)
        return cli_usage("edit", "expected TABLE ROW_ID FIELD VALUE (or --null to clear)");
    value = null ? NULL : argv[first + 3];
    field = argv[first + 2];
    /* A date-time field (*_at, *_start, *_end) typed without a zone is local time: store UTC. */
    n = (int)strlen(field);
    if (value && ((n > 3 && streq(field + n - 3, "_at")) ||
                  (n > 6 && streq(field + n - 6, "_start")) ||
                  (n > 4 && streq(field + n - 4, "_end")))) {
        r = when_typed(value, utc, NULL);
        if (r == -ENOENT)
            return cli_usage("edit",
                             "%s does not exist in local time (the clocks go forward over it);"
                             " give a time outside the gap, or add Z or an offset",
                             value);
        if (r == 0)
            value = utc; /* anything else: the catalogue check refuses it */
    }
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_edit(c, argv[first], argv[first + 1], argv[first + 2], value);
    if (r != CARESYNC_OK)
        cli_fail(c, r);
    caresync_close(c);
    return r;
}

int cmd_add(int argc, char *argv[])
{
    static const struct option opts[] = {COMMON_OPTS, {}};
    const struct cli_verb *v = cli_verb_find("add");
    _cleanup_free_ const char **fields = NULL, **values = NULL;
    char id[CARESYNC_ID_MAX];
    struct caresync *c;
    size_t n;
    bool done;
    int first, r;

    r = cli_parse(v, argc, argv, "h", opts, NULL, NULL, &first, &done);
    if (r != 0 || done)
        return r;
    if (argc - first < 3)
        return cli_usage("add", "expected TABLE PERSON_ID FIELD=VALUE...");
    n = (size_t)(argc - first - 2);
    fields = calloc(n, sizeof(*fields));
    values = calloc(n, sizeof(*values));
    if (!fields || !values) {
        fprintf(stderr, "caresync: out of memory\n");
        return CARESYNC_ELOCAL;
    }
    for (size_t i = 0; i < n; i++) {
        char *arg = argv[first + 2 + (int)i];
        char *eq = strchr(arg, '=');

        if (!eq || eq == arg)
            return cli_usage("add", "expected FIELD=VALUE, got '%s'", arg);
        /* Split in place: argv belongs to us. */
        *eq = '\0';
        fields[i] = arg;
        values[i] = eq + 1;
    }
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_add(c, argv[first], argv[first + 1], fields, values, n, id);
    if (r == CARESYNC_OK)
        printf("%s\n", id);
    else
        cli_fail(c, r);
    caresync_close(c);
    return r;
}

int cmd_delete(int argc, char *argv[])
{
    static const struct option opts[] = {COMMON_OPTS, {}};
    const struct cli_verb *v = cli_verb_find("delete");
    struct caresync *c;
    bool done;
    int first, r;

    r = cli_parse(v, argc, argv, "h", opts, NULL, NULL, &first, &done);
    if (r != 0 || done)
        return r;
    if (argc - first != 2)
        return cli_usage("delete", "expected TABLE ROW_ID");
    r = cli_open(&c);
    if (r != CARESYNC_OK)
        return r;
    r = caresync_delete(c, argv[first], argv[first + 1]);
    if (r != CARESYNC_OK)
        cli_fail(c, r);
    caresync_close(c);
    return r;
}
