/* SPDX-License-Identifier: MIT */
/* cmd_record.c - the recording commands of a visit, offline: visit add/start/complete/miss,
 * note add, observe, progress, entered-in-error. Each is one libcaresync call; a command that
 * creates a record prints its id alone. */
#include <errno.h>
#include <stdio.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"
#include "when.h"

/*
 * A date-time typed for option @opt of @verb, as the UTC text that is stored: *value is
 * replaced by @buf. Without a zone it is local time; one that does not exist (clocks went
 * forward) is refused, one that happens twice (clocks went back) is the earlier, with a note.
 * Returns 0 or CARESYNC_EUSAGE (said on stderr); closes @c on failure.
 */
static int typed_time(struct caresync *c, const char *verb, const char *opt, const char **value,
                      char buf[static WHEN_ISO_MAX])
{
    char local[WHEN_LOCAL_MAX];
    bool twice = false;
    int r;

    if (!*value)
        return 0;
    r = when_typed(*value, buf, &twice);
    if (r == -ENOENT) {
        caresync_close(c);
        return cli_usage(verb,
                         "%s %s does not exist in local time (the clocks go forward over"
                         " it); give a time outside the gap, or add Z or an offset",
                         opt, *value);
    }
    if (r < 0) {
        caresync_close(c);
        return cli_usage(verb,
                         "%s '%s' is not a date and time: give YYYY-MM-DDTHH:MM (local time),"
                         " or add Z or an offset like +01:00",
                         opt, *value);
    }
    if (twice)
        fprintf(stderr,
                "caresync: note: %s %s happens twice as the clocks go back; took the first,"
                " %s (%.5s UTC)\n",
                opt, *value, when_local_text(buf, WHEN_TEXT_ZONE, local), buf + 11);
    *value = buf;
    return 0;
}

int cmd_visit_add(int argc, char *argv[])
{
    struct caresync_visit v = {0};
    const struct cli_opt opts[] = {
            {"at", &v.planned_start, NULL}, {"end", &v.planned_end, NULL},
            {"type", &v.visit_type, NULL, "visit.visit_type"},
            {"mode", &v.mode, NULL, "visit.mode"},
            {"for", &v.assigned_to, NULL, "visit.assigned_to"},
    };
    char id[CARESYNC_ID_MAX] = "", start[WHEN_ISO_MAX], end[WHEN_ISO_MAX];
    CLI_PROLOGUE("visit add", opts, ELEMENTSOF(opts), 1, 1);

    if (typed_time(c, "visit add", "--at", &v.planned_start, start) != 0 ||
        typed_time(c, "visit add", "--end", &v.planned_end, end) != 0)
        return CARESYNC_EUSAGE;
    return cli_finish(c, caresync_visit_add(c, argv[first], &v, id), id);
}

int cmd_visit_start(int argc, char *argv[])
{
    const char *at = NULL;
    const struct cli_opt opts[] = {{"at", &at, NULL}};
    char when[WHEN_ISO_MAX];
    CLI_PROLOGUE("visit start", opts, ELEMENTSOF(opts), 1, 1);

    if (typed_time(c, "visit start", "--at", &at, when) != 0)
        return CARESYNC_EUSAGE;
    return cli_finish(c, caresync_visit_start(c, argv[first], at), NULL);
}

int cmd_visit_complete(int argc, char *argv[])
{
    struct caresync_visit_outcome o = {0};
    const struct cli_opt opts[] = {
            {"outcome", &o.outcome, NULL},
            {"follow-up", NULL, &o.follow_up},
            {"at", &o.at, NULL},
            {"next", &o.next, NULL},
    };
    char next[CARESYNC_ID_MAX] = "", at[WHEN_ISO_MAX], when_next[WHEN_ISO_MAX];
    CLI_PROLOGUE("visit complete", opts, ELEMENTSOF(opts), 1, 1);

    if (typed_time(c, "visit complete", "--at", &o.at, at) != 0 ||
        typed_time(c, "visit complete", "--next", &o.next, when_next) != 0)
        return CARESYNC_EUSAGE;
    return cli_finish(c, caresync_visit_complete(c, argv[first], &o, next), next);
}

int cmd_visit_miss(int argc, char *argv[])
{
    const char *reason = NULL, *note = NULL;
    const struct cli_opt opts[] = {{"reason", &reason, NULL}, {"note", &note, NULL}};
    char note_id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("visit miss", opts, ELEMENTSOF(opts), 1, 1);

    return cli_finish(c, caresync_visit_miss(c, argv[first], reason, note, note_id), note_id);
}

int cmd_note_add(int argc, char *argv[])
{
    const char *visit = NULL, *category = NULL, *at = NULL;
    const struct cli_opt opts[] = {
            {"visit", &visit, NULL},
            {"category", &category, NULL},
            {"at", &at, NULL},
    };
    char id[CARESYNC_ID_MAX] = "", when[WHEN_ISO_MAX];
    CLI_PROLOGUE("note add", opts, ELEMENTSOF(opts), 2, 2);

    if (typed_time(c, "note add", "--at", &at, when) != 0)
        return CARESYNC_EUSAGE;
    return cli_finish(
            c, caresync_note_add(c, argv[first], argv[first + 1], visit, category, at, id), id);
}

int cmd_observe(int argc, char *argv[])
{
    const char *unit = NULL, *visit = NULL, *at = NULL;
    const struct cli_opt opts[] = {
            {"unit", &unit, NULL},
            {"visit", &visit, NULL},
            {"at", &at, NULL},
    };
    char id[CARESYNC_ID_MAX] = "", when[WHEN_ISO_MAX];
    CLI_PROLOGUE("observe", opts, ELEMENTSOF(opts), 3, 3);

    if (typed_time(c, "observe", "--at", &at, when) != 0)
        return CARESYNC_EUSAGE;
    return cli_finish(
            c,
            caresync_observe(c, argv[first], argv[first + 1], argv[first + 2], unit, visit, at, id),
            id);
}

int cmd_progress(int argc, char *argv[])
{
    const char *rating = NULL, *status = NULL;
    const struct cli_opt opts[] = {{"rating", &rating, NULL}, {"status", &status, NULL}};
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("progress", opts, ELEMENTSOF(opts), 2, 2);

    return cli_finish(c, caresync_progress_add(c, argv[first], argv[first + 1], rating, status, id),
                      id);
}

int cmd_entered_in_error(int argc, char *argv[])
{
    const char *reason = NULL;
    const struct cli_opt opts[] = {{"reason", &reason, NULL}};
    CLI_PROLOGUE("entered-in-error", opts, ELEMENTSOF(opts), 2, 2);

    return cli_finish(c, caresync_entered_in_error(c, argv[first], argv[first + 1], reason), NULL);
}
