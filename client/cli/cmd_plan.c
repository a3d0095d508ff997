/* SPDX-License-Identifier: MIT */
/* cmd_plan.c - the person and their plan, offline: register, about-me, contact add, goal
 * add/status, action add/status, review add, consent record/withdraw, alert raise/deactivate.
 * Each is one libcaresync call; a command that creates a record prints its id alone. */
#include <stdio.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"

int cmd_register(int argc, char *argv[])
{
    struct caresync_registration p = {0};
    const struct cli_opt opts[] = {
            {"name", &p.name, NULL, "person.name"},
            {"dob", &p.birth_date, NULL, "person.birth_date"},
            {"phone", &p.phone, NULL, "person.phone"},
            {"address", &p.address, NULL, "person.address"},
            {"preferred-name", &p.preferred_name, NULL, "person.preferred_name"},
            {"family", &p.family_name, NULL, "person.family_name"},
            {"given", &p.given_names, NULL, "person.given_names"},
            {"title", &p.name_prefix, NULL, "person.name_prefix"},
            {"address-line1", &p.address_line1, NULL, "person.address_line1"},
            {"address-line2", &p.address_line2, NULL, "person.address_line2"},
            {"city", &p.address_city, NULL, "person.address_city"},
            {"postcode", &p.address_postcode, NULL, "person.address_postcode"},
    };
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("register", opts, ELEMENTSOF(opts), 0, 0);

    (void)first;
    return cli_finish(c, caresync_register(c, &p, id), id);
}

int cmd_about_me(int argc, char *argv[])
{
    CLI_PROLOGUE("about-me", NULL, 0, 3, 3);

    return cli_finish(c, caresync_about_me_set(c, argv[first], argv[first + 1], argv[first + 2]),
                      NULL);
}

int cmd_contact_add(int argc, char *argv[])
{
    struct caresync_contact k = {0};
    const struct cli_opt opts[] = {
            {"name", &k.name, NULL, "related_person.name"},
            {"relationship", &k.relationship, NULL, "related_person.relationship"},
            {"code", &k.relationship_code, NULL, "related_person.relationship_code"},
            {"phone", &k.phone, NULL, "related_person.phone"},
            {"email", &k.email, NULL, "related_person.email"},
            {"carer", NULL, &k.carer},
            {"next-of-kin", NULL, &k.next_of_kin},
            {"emergency", NULL, &k.emergency},
            {"lpa", NULL, &k.lpa},
            {"do-not-contact", NULL, &k.do_not_contact},
    };
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("contact add", opts, ELEMENTSOF(opts), 1, 1);

    return cli_finish(c, caresync_contact_add(c, argv[first], &k, id), id);
}

int cmd_goal_add(int argc, char *argv[])
{
    struct caresync_goal g = {0};
    const struct cli_opt opts[] = {
            {"plan", &g.care_plan_id, NULL},
            {"importance", &g.importance, NULL, "goal.importance"},
            {"target-date", &g.target_date, NULL, "goal.target_date"},
            {"parent", &g.parent_goal_id, NULL},
    };
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("goal add", opts, ELEMENTSOF(opts), 2, 2);

    g.description = argv[first + 1];
    return cli_finish(c, caresync_goal_add(c, argv[first], &g, id), id);
}

int cmd_goal_status(int argc, char *argv[])
{
    const char *lifecycle = NULL, *achievement = NULL;
    const struct cli_opt opts[] = {
            {"lifecycle", &lifecycle, NULL},
            {"achievement", &achievement, NULL},
    };
    CLI_PROLOGUE("goal status", opts, ELEMENTSOF(opts), 1, 1);

    return cli_finish(c, caresync_goal_status(c, argv[first], lifecycle, achievement), NULL);
}

int cmd_action_add(int argc, char *argv[])
{
    struct caresync_action a = {0};
    const struct cli_opt opts[] = {
            {"who", &a.who, NULL, "plan_action.who"},
            {"who-kind", &a.who_kind, NULL, "plan_action.who_kind"},
            {"due", &a.due_date, NULL, "plan_action.due_date"},
            {"when", &a.when_text, NULL, "plan_action.when_text"},
            {"confidence", &a.confidence, NULL, "plan_action.confidence"},
    };
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("action add", opts, ELEMENTSOF(opts), 2, 2);

    a.what = argv[first + 1];
    return cli_finish(c, caresync_action_add(c, argv[first], &a, id), id);
}

int cmd_action_status(int argc, char *argv[])
{
    const char *confidence = NULL, *reason = NULL;
    const struct cli_opt opts[] = {
            {"confidence", &confidence, NULL},
            {"reason", &reason, NULL},
    };
    CLI_PROLOGUE("action status", opts, ELEMENTSOF(opts), 2, 2);

    return cli_finish(
            c, caresync_action_status(c, argv[first], argv[first + 1], confidence, reason), NULL);
}

int cmd_review_add(int argc, char *argv[])
{
    struct caresync_review v = {0};
    const struct cli_opt opts[] = {
            {"outcome", &v.outcome, NULL, "plan_review.outcome"},
            {"next", &v.next_review_date, NULL, "plan_review.next_review_date"},
            {"with-person", NULL, &v.with_person},
            {"plan", &v.care_plan_id, NULL},
    };
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("review add", opts, ELEMENTSOF(opts), 2, 2);

    v.summary = argv[first + 1];
    return cli_finish(c, caresync_review_add(c, argv[first], &v, id), id);
}

int cmd_consent_record(int argc, char *argv[])
{
    struct caresync_consent k = {0};
    const struct cli_opt opts[] = {
            {"sector", &k.sector, NULL, "consent.sector"},
            {"decision", &k.decision, NULL, "consent.decision"},
            {"basis", &k.basis, NULL, "consent.basis"},
            {"data-class", &k.data_class, NULL, "consent.data_class"},
            {"notes", &k.notes, NULL, "consent.notes"},
    };
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("consent record", opts, ELEMENTSOF(opts), 1, 1);

    return cli_finish(c, caresync_consent_record(c, argv[first], &k, id), id);
}

int cmd_consent_withdraw(int argc, char *argv[])
{
    CLI_PROLOGUE("consent withdraw", NULL, 0, 1, 1);

    return cli_finish(c, caresync_consent_withdraw(c, argv[first]), NULL);
}

int cmd_alert_raise(int argc, char *argv[])
{
    const char *category = NULL, *audience = NULL;
    const struct cli_opt opts[] = {{"category", &category, NULL, "alert.category"},
                                   {"audience", &audience, NULL, "alert.audience"}};
    char id[CARESYNC_ID_MAX] = "";
    CLI_PROLOGUE("alert raise", opts, ELEMENTSOF(opts), 2, 2);

    return cli_finish(
            c, caresync_alert_raise(c, argv[first], argv[first + 1], category, audience, id), id);
}

int cmd_alert_deactivate(int argc, char *argv[])
{
    CLI_PROLOGUE("alert deactivate", NULL, 0, 1, 1);

    return cli_finish(c, caresync_alert_deactivate(c, argv[first]), NULL);
}
