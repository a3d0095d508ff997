/* SPDX-License-Identifier: MIT */
/* demo.h - 'caresyncd demo': fill a fresh store with fictional staff, people and 90 days of
 * care records shaped like reference/domain-model.md §5 (demo.c: staff, caseloads, conflicts,
 * the command; demo_records.c: each person's records), from the fixed lists of invented names,
 * places and phrases in demo_data.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "admin.h"

/*
 * demo_run() - the 'demo' subcommand: --profile demo|load (default demo), --seed N (default 1),
 * --json. Returns the process exit code (admin.h); prints a summary, or says why not.
 */
int demo_run(const struct admin_command *cmd, struct admin_opts *o);

/* ---- the fixed lists (demo_data.c) ---- */

/* A list of strings and its length. */
struct demo_list {
    const char *const *v;
    size_t n;
};

/*
 * Template text may contain {p} (the person's preferred name), {c} (their first contact's first
 * name), {r} (that contact's relationship, lower case) and {w} (the worker's first name).
 */
struct demo_action {
    const char *what;
    const char *who; /* a staff role (store.h), or "person", "carer", "team" */
    const char *when;
};

struct demo_goal {
    const char *domain;
    const char *text;  /* in the person's own words */
    const char *stage; /* a stage goal on the way, or NULL */
    struct demo_action actions[4];
    const char *progress[3]; /* what the person said at a progress check */
};

struct demo_relation {
    const char *relationship; /* as the person says it: "Daughter" */
    const char *code;         /* catalogue relationship_code */
    bool female;
};

extern const struct demo_list demo_given_f, demo_given_m, demo_surnames, demo_streets,
        demo_gp_practices, demo_funding, demo_pronoun_f, demo_pronoun_m;
extern const struct demo_list demo_about_what_matters, demo_about_people, demo_about_communication,
        demo_about_wellness, demo_about_please_do, demo_about_support, demo_about_worth_knowing,
        demo_about_appreciate;
extern const struct demo_list demo_communication_needs, demo_access_instructions;
extern const struct demo_list demo_plan_summaries, demo_contingency_summaries,
        demo_review_summaries, demo_phone_notes, demo_safeguarding_notes, demo_handover_notes;
extern const struct demo_list demo_alert_animal, demo_alert_access, demo_alert_lone_worker,
        demo_alert_infection, demo_alert_communication;
extern const struct demo_list demo_involvement;

extern const struct demo_goal demo_goals[];
extern const size_t demo_n_goals;
extern const struct demo_relation demo_relations[];
extern const size_t demo_n_relations;

/* Per visiting role: visit types, short outcomes, visit notes, and notes for a missed visit. */
struct demo_role_text {
    const char *role;
    struct demo_list types, outcomes, notes;
};
extern const struct demo_role_text demo_role_texts[];
extern const size_t demo_n_role_texts;
/* Notes for a missed visit, one list per catalogue missed_reason in the order of
 * demo_missed_reasons; and for a cancelled one. */
extern const char *const demo_missed_reasons[];
extern const struct demo_list demo_missed_notes[];
extern const size_t demo_n_missed_reasons;
extern const struct demo_list demo_cancelled_notes;
