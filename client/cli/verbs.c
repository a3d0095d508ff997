/* SPDX-License-Identifier: MIT */
/* verbs.c - every caresync command: usage, a one-line summary, an example and help text, in
 * the groups `caresync help` shows them in; and the help printers. */
#include <stdio.h>
#include <string.h>

#include "caresync.h"
#include "cli.h"
#include "macro.h"
#include "man.h"

#define P "PERSON_ID"

static const char *const group_titles[_CLI_GROUP_MAX] = {
        [CLI_GROUP_DAY] = "the day",
        [CLI_GROUP_PEOPLE] = "people and plans",
        [CLI_GROUP_RECORDS] = "records",
        [CLI_GROUP_SYNC] = "sync",
        [CLI_GROUP_COORDINATORS] = "coordinators",
};

static const struct cli_verb verbs[] = {
        /* ---- the day ---- */
        {"today", cmd_today, CLI_GROUP_DAY, "today [--date DAY] [--all] [--json]",
         "my visits for the day, overdue ones first", "today --date tomorrow",
         "Visits planned or in progress on DAY (today, tomorrow, yesterday, +N or -N days,\n"
         "or YYYY-MM-DD; default today) that are assigned to me (--all: to anyone, for the\n"
         "people on this device), after those still planned on an earlier day. Overdue: still\n"
         "planned on a day before today. Times are local (TZ). --json prints an array of\n"
         "{id, person_id, person_name, planned_start (UTC), status, visit_type, mode,\n"
         "assigned_to, overdue, alerts} where alerts lists the texts of the person's active\n"
         "alerts.\n"},
        {"open", cmd_open, CLI_GROUP_DAY, "open " P " [--json]",
         "what to know on the doorstep: About Me and alerts first", "open " P,
         "About Me and active alerts first, then access instructions, key contacts\n"
         "(emergency contact, next of kin, carers, do-not-contact), active goals, open\n"
         "actions, the next planned visit and the last 3 notes. --json prints {person,\n"
         "about_me (object or null), alerts, contacts, goals, actions, next_visit (object or\n"
         "null), recent_notes}.\n"},
        {"visit add", cmd_visit_add, CLI_GROUP_DAY,
         "visit add " P " --at DATETIME [--end DATETIME] [--type TEXT]"
         " [--mode home|phone|video|clinic|community] [--for USER]",
         "book a visit (for me, or --for a colleague)",
         "visit add " P " --at 2026-11-24T09:30 --type 'wound care' --mode home",
         "The visit is planned and assigned to USER (default: me). Prints its id. A\n"
         "DATETIME without a zone is local time: 2026-11-24T09:30.\n"},
        {"visit start", cmd_visit_start, CLI_GROUP_DAY, "visit start VISIT_ID [--at DATETIME]",
         "I have arrived: the visit is in progress", "visit start VISIT_ID",
         "Sets actual_start (--at, default now) and status in-progress.\n"},
        {"visit complete", cmd_visit_complete, CLI_GROUP_DAY,
         "visit complete VISIT_ID [--outcome TEXT] [--follow-up] [--at DATETIME]"
         " [--next DATETIME]",
         "the visit is done (and book the next one)",
         "visit complete VISIT_ID --outcome 'Dressing changed' --next 2026-12-01T09:30",
         "Sets actual_start (if the visit was not started) and actual_end to --at (default\n"
         "now), the outcome, follow_up_needed with --follow-up, then status completed.\n"
         "--next books the next visit for me with the same type and mode and prints its id.\n"},
        {"visit miss", cmd_visit_miss, CLI_GROUP_DAY,
         "visit miss VISIT_ID --reason no-answer|declined|in-hospital|access-problem|"
         "worker-unable|other [--note TEXT]",
         "the visit did not happen, and why", "visit miss VISIT_ID --reason no-answer",
         "Sets status missed and the reason. --note also records a note (category visit)\n"
         "linked to the visit, and prints its id.\n"},

        /* ---- people and plans ---- */
        {"caseload", cmd_caseload, CLI_GROUP_PEOPLE,
         "caseload [--review-due [DAYS]] [--alerts] [--referred] [--json]",
         "the people on this device", "caseload --review-due 14",
         "--review-due: people whose active or draft plan is due for review within DAYS\n"
         "(default 14) or overdue; --alerts: people with an active alert; --referred: people\n"
         "registered in the field and waiting for a coordinator. Filters combine. --json\n"
         "prints an array of the person's fields plus review_due (earliest, or null) and\n"
         "alerts (the number of active alerts).\n"},
        {"show", cmd_show, CLI_GROUP_PEOPLE, "show " P " [--json]",
         "one person and their whole plan", "show " P " --json",
         "--json prints the person's fields at the top level, about_me (an object or null)\n"
         "and arrays care_plans, goals, actions, visits, notes, contacts, reviews,\n"
         "observations, progress, consents and alerts. Values are the stored strings.\n"},
        {"register", cmd_register, CLI_GROUP_PEOPLE,
         "register --name NAME [--dob YYYY-MM-DD] [--phone P] [--address A]"
         " [--preferred-name P] [--family F] [--given G] [--title T] [--address-line1 L]"
         " [--address-line2 L] [--city C] [--postcode P]",
         "someone new met in the field", "register --name 'Sam Field' --dob 1950-05-05",
         "Prints the new person's id. At the next sync the server puts them on your caseload\n"
         "as 'referred', for a coordinator.\n"},
        {"about-me", cmd_about_me, CLI_GROUP_PEOPLE, "about-me " P " SECTION TEXT",
         "write a section of the person's About Me",
         "about-me " P " what_matters 'My cat Bramble and the allotment club'",
         "SECTION: what_matters, people_important, communication, wellness, please_do,\n"
         "how_to_support, worth_knowing, appreciate, supported_to_write_by,\n"
         "shareable_with_vcse (yes/no). In the person's own words.\n"},
        {"contact add", cmd_contact_add, CLI_GROUP_PEOPLE,
         "contact add " P " --name NAME [--relationship TEXT]"
         " [--code NOK|ECON|CAREGIVER|GUARD|POWATT|SPS|CHILD|PRN|SIB|FAMMEMB|FRND|NBOR|O]"
         " [--phone P] [--email E] [--carer] [--next-of-kin] [--emergency] [--lpa]"
         " [--do-not-contact]",
         "a carer, next of kin or other key contact",
         "contact add " P " --name 'Jo Neighbour' --code NBOR --carer --emergency",
         "Prints the contact's id. --lpa: holds a health and welfare lasting power of\n"
         "attorney.\n"},
        {"goal add", cmd_goal_add, CLI_GROUP_PEOPLE,
         "goal add " P " TEXT [--plan CARE_PLAN_ID] [--importance 0-10]"
         " [--target-date YYYY-MM-DD] [--parent GOAL_ID]",
         "a goal, in the person's own words",
         "goal add " P " 'Walk to the post office by June' --importance 9",
         "The goal is active and in progress, expressed by the person, from today. It goes on\n"
         "--plan, else its --parent goal's plan, else the person's active (else draft) care\n"
         "and support plan; a draft plan is started when there is none. Prints the goal's id.\n"},
        {"goal status", cmd_goal_status, CLI_GROUP_PEOPLE,
         "goal status GOAL_ID [--lifecycle STATUS] [--achievement STATUS]",
         "update how a goal stands", "goal status GOAL_ID --achievement improving",
         "--lifecycle: proposed, planned, accepted, active, on-hold, completed, cancelled,\n"
         "entered-in-error, rejected. --achievement: in-progress, improving, worsening,\n"
         "no-change, achieved, sustaining, not-achieved, no-progress, not-attainable.\n"},
        {"action add", cmd_action_add, CLI_GROUP_PEOPLE,
         "action add GOAL_ID TEXT --who WHO"
         " [--who-kind worker|role|team|person|carer|volunteer|personal_assistant]"
         " [--due YYYY-MM-DD] [--when TEXT] [--confidence 0-10]",
         "what will be done towards a goal, and by whom",
         "action add GOAL_ID 'Daily exercises' --who Dee --who-kind person --confidence 6",
         "The action is not started yet. Prints its id.\n"},
        {"action status", cmd_action_status, CLI_GROUP_PEOPLE,
         "action status ACTION_ID STATUS [--confidence 0-10] [--reason TEXT]", "update an action",
         "action status ACTION_ID in-progress",
         "STATUS: not-started, scheduled, in-progress, on-hold, completed, cancelled,\n"
         "stopped.\n"},
        {"review add", cmd_review_add, CLI_GROUP_PEOPLE,
         "review add " P " TEXT --outcome continue|revise|close [--next YYYY-MM-DD]"
         " [--with-person] [--plan CARE_PLAN_ID]",
         "record a review of the care and support plan",
         "review add " P " 'Six-week review' --outcome revise --next 2027-02-15 --with-person",
         "Reviews --plan, else the person's active (else draft) care and support plan. --next\n"
         "also sets the plan's review date; outcome close completes the plan. Prints the\n"
         "review's id.\n"},
        {"consent record", cmd_consent_record, CLI_GROUP_PEOPLE,
         "consent record " P " --sector all|health|social-care|vcse --decision permit|deny"
         " [--basis explicit|implied|best-interests|attorney] [--data-class TEXT]"
         " [--notes TEXT]",
         "record the person's decision about sharing",
         "consent record " P " --sector all --decision permit --basis explicit",
         "The consent is active. Prints its id.\n"},
        {"consent withdraw", cmd_consent_withdraw, CLI_GROUP_PEOPLE, "consent withdraw CONSENT_ID",
         "the person withdraws a consent", "consent withdraw CONSENT_ID",
         "Sets status inactive and withdrawn_at now.\n"},
        {"alert raise", cmd_alert_raise, CLI_GROUP_PEOPLE,
         "alert raise " P " TEXT --category animal|access|lone-worker|infection|communication|"
         "safeguarding|clinical|other [--audience all|professionals]",
         "warn everyone who visits",
         "alert raise " P " 'Cat: keep the door shut' --category animal",
         "The alert is active from today. Prints its id.\n"},
        {"alert deactivate", cmd_alert_deactivate, CLI_GROUP_PEOPLE, "alert deactivate ALERT_ID",
         "an alert no longer applies", "alert deactivate ALERT_ID", NULL},
        {"export", cmd_export, CLI_GROUP_PEOPLE, "export " P " --fhir [--max-entries N] [--output FILE]",
         "the person as a FHIR R4 transaction Bundle", "export " P " --fhir --output dee.json",
         "Built from this device's replica, offline. Without --output the Bundle goes to\n"
         "standard output; FILE is written readable by its owner only.\n"},

        /* ---- records ---- */
        {"note add", cmd_note_add, CLI_GROUP_RECORDS,
         "note add " P " TEXT [--visit VISIT_ID] [--category visit|phone|handover|clinical|"
         "social-care|safeguarding-concern] [--at DATETIME]",
         "write a note", "note add " P " 'Dressing changed; healing well' --visit VISIT_ID",
         "The category defaults to visit; --at is when it happened (default now). Prints the\n"
         "note's id. Notes are never edited: see entered-in-error.\n"},
        {"observe", cmd_observe, CLI_GROUP_RECORDS,
         "observe " P " KIND VALUE [--unit U] [--visit VISIT_ID] [--at DATETIME]",
         "record an observation", "observe " P " blood-pressure 128/82 --unit mmHg",
         "KIND: blood-pressure, pulse, spo2, temperature, weight, respiratory-rate,\n"
         "blood-glucose, wound-size, pain-score, ons4, swemwbs, timed-up-and-go, falls.\n"
         "Prints the observation's id.\n"},
        {"progress", cmd_progress, CLI_GROUP_RECORDS,
         "progress GOAL_ID TEXT [--rating 0-10] [--status ACHIEVEMENT]",
         "progress towards a goal, in the person's words",
         "progress GOAL_ID 'Got to the gate without a rest' --rating 6 --status improving",
         "--status also sets the goal's achievement status. Prints the entry's id.\n"},
        {"entered-in-error", cmd_entered_in_error, CLI_GROUP_RECORDS,
         "entered-in-error TABLE ROW_ID --reason TEXT", "mark a record as a mistake",
         "entered-in-error note NOTE_ID --reason 'written about the wrong person'",
         "TABLE: note, observation, goal_progress or plan_review. The record stays, marked.\n"},
        {"edit", cmd_edit, CLI_GROUP_RECORDS, "edit TABLE ROW_ID FIELD (VALUE | --null)",
         "change one field (power users)", "edit person " P " phone '0131 496 0000'",
         "The value is taken literally; --null (or --clear) clears the field. Values starting\n"
         "with '-' go after '--'. Tables and fields: common/catalogue.c. Fields set when a\n"
         "record is created, and fields set centrally, cannot be edited.\n"},
        {"add", cmd_add, CLI_GROUP_RECORDS, "add TABLE " P " FIELD=VALUE...",
         "add a row for a person (power users)",
         "add plan_action " P " goal_id=GOAL_ID what='Benefits check' who=Liam",
         "Prints only the new row's id. People are registered with 'caresync register'.\n"},
        {"delete", cmd_delete, CLI_GROUP_RECORDS, "delete TABLE ROW_ID",
         "delete a row (power users)", "delete plan_action ACTION_ID",
         "Only goals, actions and contacts (professionals) and alerts and contacts\n"
         "(coordinators) are deleted; a coordinator can undo it with 'restore-row'. People\n"
         "are closed by a coordinator, records are marked entered-in-error, visits are\n"
         "cancelled: those deletes are refused (exit 6). docs/internals/access.md.\n"},

        /* ---- sync ---- */
        {"enrol", cmd_enrol, CLI_GROUP_SYNC,
         "enrol --server https://HOST:PORT [--ca CA.pem] --code CODE [--name DEVICE_NAME]",
         "enrol this home with the server (online)",
         "enrol --server https://127.0.0.1:8443 --ca ca.pem --code K7QD-2MXR-9HCE",
         "Exchanges a one-time code (from 'caresyncd enrol USER') for a device token, creates\n"
         "the home directory and its replica, and keeps a copy of the CA given with --ca,\n"
         "which alone verifies the server from then on (a private CA, such as caresyncd's\n"
         "development one, or pinning). Without --ca the system's CA store verifies it (a\n"
         "server with a certificate from a public CA or one your organisation installed).\n"
         "Plain http:// is refused. A home is enrolled once; use another --home for another\n"
         "user.\n"},
        {"sync", cmd_sync, CLI_GROUP_SYNC, "sync [--json]",
         "send local edits and fetch changes (online)", "sync",
         "Pushes the outbox in batches of at most 500 changes, each bringing back a page of\n"
         "what others changed, then pulls the rest for this device's caseload. A failed\n"
         "sync keeps every local edit; run it again later.\n"},
        {"status", cmd_status, CLI_GROUP_SYNC, "status [--json]", "show the replica's state",
         "status",
         "Server, user, device, pending changes and purges, last sync and error, how many of\n"
         "your values the server has reported in the conflict log since you last looked\n"
         "('caresync conflicts --mine'; JSON lost_values), and the lock policy. Works on a\n"
         "locked device.\n"},

        /* ---- coordinators ---- */
        {"conflicts", cmd_conflicts, CLI_GROUP_COORDINATORS,
         "conflicts [--all | --resolved] [--person " P "] [--worker USER] [--table TABLE]"
         " [--kind KIND] [--priority high|normal] [--mine] [--json]",
         "the conflict log, both values side by side (online)",
         "conflicts --priority high --worker nurse.amira",
         "Open conflicts unless --all or --resolved, high priority first (alerts, consent,\n"
         "safeguarding-concern notes), each with both values, their authors, devices and\n"
         "clocks. --worker: conflicts where USER wrote either value. KIND: concurrent_edit,\n"
         "edit_after_delete, out_of_scope, missed_vs_completed, append_only, clock_corrected.\n"
         "Coordinators only, except --mine: the conflicts your own values lost (open and\n"
         "resolved unless --all/--resolved narrow it), which every role may list; it also\n"
         "clears the count 'caresync status' shows. --json prints the array the server sent.\n"},
        {"conflicts show", cmd_conflicts_show, CLI_GROUP_COORDINATORS,
         "conflicts show CONFLICT_ID [--json]",
         "one conflict with both values whole (online)", "conflicts show 7",
         "The row described for a person (a visit's date and type, a note's category and\n"
         "first words, the person's name), both sides with author, device and clock and the\n"
         "value whole (a deletion shows as deleted), the row's state now, and every\n"
         "resolution with its reason. Coordinators, or any role for a conflict its own value\n"
         "lost (as with --mine). --json prints the conflict as the server sent it.\n"},
        {"resolve", cmd_resolve, CLI_GROUP_COORDINATORS,
         "resolve CONFLICT_ID (--keep | --restore | --value VALUE) --reason TEXT [--json]",
         "resolve a conflict, saying why (online)",
         "resolve 7 --restore --reason 'Spoke to Dee: the new number is right'",
         "--keep keeps the current value, --restore writes the losing value again, --value\n"
         "writes a new value. --reason is required (at most 500 bytes). A resolved conflict\n"
         "can be resolved again: the new resolution supersedes the last (--keep then puts\n"
         "back what the first one replaced) and every resolution is kept. The result\n"
         "reaches every device at its next sync, and the worker whose value lost is told.\n"},
        {"devices", cmd_devices, CLI_GROUP_COORDINATORS, "devices [--json]",
         "sync health of every device (online)", "devices",
         "Per worker and device: last successful sync, changes waiting on the device and\n"
         "the age of the oldest, the last sync error, client version, the clock skew seen\n"
         "(server minus device), and whether it is revoked.\n"},
        {"device revoke", cmd_device_revoke, CLI_GROUP_COORDINATORS, "device revoke DEVICE_ID",
         "revoke a lost or stolen device (online)", "device revoke DEVICE_ID",
         "Its next request is refused; it then wipes its replica and token, unsent edits\n"
         "included. See 'caresync devices' for the ids.\n"},
        {"restore-row", cmd_restore_row, CLI_GROUP_COORDINATORS,
         "restore-row TABLE ROW_ID --reason TEXT", "undo a delete, for everyone (online)",
         "restore-row plan_action ACTION_ID --reason 'deleted by mistake'",
         "Writes the row back as a new change that every device gets at its next sync;\n"
         "the delete and the restore, with its reason, are in the audit log.\n"},
        {"assign", cmd_assign, CLI_GROUP_COORDINATORS, "assign " P " USER",
         "put a person on a worker's caseload (online)", "assign " P " nurse.ben",
         "The worker's devices receive the person whole at their next sync.\n"},
        {"unassign", cmd_unassign, CLI_GROUP_COORDINATORS, "unassign " P " USER",
         "take a person off a worker's caseload (online)", "unassign " P " nurse.ben",
         "The worker's devices purge the person at their next sync, once nothing of theirs\n"
         "is waiting to be sent.\n"},
        {"transfer", cmd_transfer, CLI_GROUP_COORDINATORS,
         "transfer --from USER --to USER [--person " P "] [--json]",
         "hand one person, or a leaver's whole caseload, to another worker (online)",
         "transfer --from nurse.ben --to nurse.amira",
         "Without --person, every person on --from's caseload moves. --from's devices purge\n"
         "them at the next sync, --to's receive them; --from's named-coordinator roles for\n"
         "them pass to --to.\n"},
        {"named-coordinator", cmd_named_coordinator, CLI_GROUP_COORDINATORS,
         "named-coordinator " P " USER", "set a person's named coordinator (online)",
         "named-coordinator " P " sw.ella",
         "One per person: a coordinator, or a professional who has the person on their\n"
         "caseload. 'caresync team' shows it.\n"},
        {"team", cmd_team, CLI_GROUP_PEOPLE, "team " P " [--json]",
         "who works with a person, and their named coordinator (online)", "team " P,
         "Any role, for the people on its caseload. --json prints {person_id, name,\n"
         "named_coordinator ({user, role, since} or null), team: [{user, role, since}]}.\n"},
        {"person accept", cmd_person_accept, CLI_GROUP_COORDINATORS, "person accept " P,
         "accept a referral: the person becomes active (online)", "person accept " P,
         "A person registered in the field is 'referred' until a coordinator accepts them.\n"},
        {"person close", cmd_person_close, CLI_GROUP_COORDINATORS,
         "person close " P " --reason REASON", "close a person's record (online)",
         "person close " P " --reason moved-away",
         "REASON: deceased, moved-away, discharged, declined, duplicate or other. Every device\n"
         "shows the person as CLOSED (reason); field workers' devices purge them 30 days\n"
         "after closing, coordinators' keep them. 'person reopen' undoes it.\n"},
        {"person reopen", cmd_person_reopen, CLI_GROUP_COORDINATORS, "person reopen " P,
         "reopen a closed record (online)", "person reopen " P,
         "The person is active again and returns to the devices of the workers who have\n"
         "them on their caseload.\n"},
        {"person set-nhs", cmd_person_set_nhs, CLI_GROUP_COORDINATORS,
         "person set-nhs " P " NUMBER", "set a person's NHS number (online)",
         "person set-nhs " P " '943 476 5919'",
         "Ten digits (spaces ignored) whose last is the modulus 11 check digit. Devices\n"
         "never write it; every device in scope gets it at its next sync.\n"},
        {"person set-gp", cmd_person_set_gp, CLI_GROUP_COORDINATORS,
         "person set-gp " P " ODS_CODE", "set a person's GP practice (online)",
         "person set-gp " P " A81001",
         "The practice's ODS code: a capital letter and five capital letters or digits.\n"},
        {"help", cmd_help, CLI_GROUP_SYNC, "help [COMMAND [SUBCOMMAND] | --man]",
         "show help (also: caresync COMMAND --help)", "help visit complete", NULL},
};

const struct cli_verb *cli_verb_find(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        if (streq(verbs[i].name, name))
            return &verbs[i];
    return NULL;
}

/* Is @v a subcommand of @group ("visit add" of "visit")? */
static bool in_group(const struct cli_verb *v, const char *group)
{
    size_t n = strlen(group);

    return strncmp(v->name, group, n) == 0 && v->name[n] == ' ';
}

bool cli_is_group(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        if (in_group(&verbs[i], name))
            return true;
    return false;
}

void cli_main_help(void)
{
    printf("caresync %s - offline-first field client for caresyncd\n\n"
           "usage: caresync [--home DIR] COMMAND [ARGS...]\n",
           caresync_version());
    for (int g = 0; g < _CLI_GROUP_MAX; g++) {
        printf("\n%s:\n", group_titles[g]);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
            if (verbs[i].group != (enum cli_group)g)
                continue;
            printf("  %-18s %s\n", verbs[i].name, verbs[i].summary);
            printf("  %-18s   e.g. caresync %s\n", "", verbs[i].example);
        }
    }
    printf("\noptions:\n"
           "  --home DIR      the device's home directory (default: $CARESYNC_HOME)\n"
           "  -v, --verbose   debug output on stderr\n"
           "  --version       print the version\n"
           "  -h, --help      this help; 'caresync COMMAND --help' for one command\n\n"
           "Every command works offline except those marked online. Listing commands take\n"
           "--json. Commands that create a record print its id alone. A device that has not\n"
           "synced for longer than the server allows (14 days by default) is locked: every\n"
           "command but sync, status and help refuses until a sync succeeds.\n\n"
           "exit codes: 0 ok, 1 local failure, 2 usage, 3 not found, 4 network (nothing lost),\n"
           "5 authentication (enrol again; a revoked device has been wiped), 6 not allowed,\n"
           "7 server refused, 8 locked (run 'caresync sync')\n");
}

/* caresync(1), printed by 'caresync help --man' from the same table as every --help (meson
 * installs it). */
static void cli_man_page(void)
{
    printf(".TH CARESYNC 1 \"\" \"caresync %s\" \"User Commands\"\n", caresync_version());
    printf(".SH NAME\ncaresync \\- offline-first field client for caresyncd\n");
    printf(".SH SYNOPSIS\n.nf\n");
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
        printf("caresync [\\-\\-home DIR] ");
        man_text(stdout, verbs[i].usage);
    }
    printf(".fi\n.SH DESCRIPTION\n");
    man_text(stdout, "caresync keeps a replica of a care worker's caseload on the device, works on\n"
                     "it offline and syncs it with caresyncd(8). Every command takes --help, which\n"
                     "prints its section below.\n");
    for (int g = 0; g < _CLI_GROUP_MAX; g++) {
        printf(".SH \"COMMANDS: ");
        man_text(stdout, group_titles[g]);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
            if (verbs[i].group != (enum cli_group)g)
                continue;
            printf(".SS \"caresync ");
            man_text(stdout, verbs[i].name);
            printf(".PP\n.nf\n");
            man_text(stdout, verbs[i].summary);
            if (verbs[i].help) {
                printf("\n");
                man_text(stdout, verbs[i].help);
            }
            printf("\nexample:\n  caresync ");
            man_text(stdout, verbs[i].example);
            printf(".fi\n");
        }
    }
    printf(".SH OPTIONS\n.nf\n");
    man_text(stdout, "--home DIR      the device's home directory (default: $CARESYNC_HOME)\n"
                     "-v, --verbose   debug output on stderr\n"
                     "--version       print the version\n"
                     "-h, --help      the help; 'caresync COMMAND --help' for one command\n");
    printf(".fi\n.SH EXIT STATUS\n");
    man_text(stdout, "0 ok, 1 local failure, 2 usage, 3 not found, 4 network (nothing lost),\n"
                     "5 authentication (enrol again; a revoked device has been wiped), 6 not\n"
                     "allowed, 7 server refused, 8 locked (run 'caresync sync').\n");
    printf(".SH ENVIRONMENT\nCARESYNC_HOME, TZ\n.SH SEE ALSO\ncaresyncd(8)\n");
}

int cli_help(const struct cli_verb *v)
{
    printf("usage: caresync [--home DIR] %s\n\n%s\n", v->usage, v->summary);
    if (v->help)
        printf("\n%s", v->help);
    printf("\nexample:\n  caresync %s\n", v->example);
    return 0;
}

int cli_group_help(const char *name)
{
    printf("usage: caresync [--home DIR] %s SUBCOMMAND ...\n\n", name);
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
        if (!in_group(&verbs[i], name))
            continue;
        printf("  caresync %s\n      %s\n      e.g. caresync %s\n", verbs[i].usage,
               verbs[i].summary, verbs[i].example);
    }
    printf("\n'caresync %s SUBCOMMAND --help' for one of them.\n", name);
    return 0;
}

int cmd_help(int argc, char *argv[])
{
    const struct cli_verb *v;
    char name[64];

    if (argc < 2) {
        cli_main_help();
        return 0;
    }
    if (streq(argv[1], "--help") || streq(argv[1], "-h"))
        return cli_help(cli_verb_find("help"));
    if (streq(argv[1], "--man")) {
        cli_man_page();
        return 0;
    }
    if (argc >= 3) {
        snprintf(name, sizeof(name), "%s %s", argv[1], argv[2]);
        v = cli_verb_find(name);
        if (!v)
            return cli_usage(NULL, "unknown command '%s'", name);
        return cli_help(v);
    }
    v = cli_verb_find(argv[1]);
    if (v)
        return cli_help(v);
    if (cli_is_group(argv[1]))
        return cli_group_help(argv[1]);
    return cli_usage(NULL, "unknown command '%s'", argv[1]);
}
