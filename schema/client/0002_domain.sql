-- SPDX-License-Identifier: MIT
-- 0002_domain.sql - the whole care and support plan: new person fields (contact, language,
-- communication needs, access instructions, NHS number, status), plan, goal, action and visit
-- fields, and the tables related_person, about_me (one per person, id = person id),
-- plan_review, observation, goal_progress, consent and alert. Columns are the catalogue's field
-- names exactly (common/catalogue.c). Existing rows, versions and the outbox are untouched.

ALTER TABLE person ADD COLUMN pronouns TEXT;
ALTER TABLE person ADD COLUMN gender TEXT;
ALTER TABLE person ADD COLUMN email TEXT;
ALTER TABLE person ADD COLUMN preferred_contact_method TEXT;
ALTER TABLE person ADD COLUMN language TEXT;
ALTER TABLE person ADD COLUMN interpreter_needed INTEGER;
ALTER TABLE person ADD COLUMN communication_needs TEXT;
ALTER TABLE person ADD COLUMN access_instructions TEXT;
ALTER TABLE person ADD COLUMN nhs_number TEXT;
ALTER TABLE person ADD COLUMN gp_practice TEXT;
ALTER TABLE person ADD COLUMN status TEXT;
ALTER TABLE person ADD COLUMN created_on TEXT;

ALTER TABLE care_plan ADD COLUMN kind TEXT;
ALTER TABLE care_plan ADD COLUMN agreed_with TEXT;
ALTER TABLE care_plan ADD COLUMN agreed_on TEXT;
ALTER TABLE care_plan ADD COLUMN review_by TEXT;
ALTER TABLE care_plan ADD COLUMN funding_source TEXT;
ALTER TABLE care_plan ADD COLUMN start_date TEXT;

ALTER TABLE goal ADD COLUMN parent_goal_id TEXT;
ALTER TABLE goal ADD COLUMN importance INTEGER;
ALTER TABLE goal ADD COLUMN target_date TEXT;
ALTER TABLE goal ADD COLUMN domain TEXT;
ALTER TABLE goal ADD COLUMN expressed_by TEXT;
ALTER TABLE goal ADD COLUMN start_date TEXT;

ALTER TABLE plan_action ADD COLUMN who_kind TEXT;
ALTER TABLE plan_action ADD COLUMN when_text TEXT;
ALTER TABLE plan_action ADD COLUMN status_reason TEXT;
ALTER TABLE plan_action ADD COLUMN confidence INTEGER;
ALTER TABLE plan_action ADD COLUMN review_date TEXT;

ALTER TABLE visit ADD COLUMN planned_end TEXT;
ALTER TABLE visit ADD COLUMN visit_type TEXT;
ALTER TABLE visit ADD COLUMN mode TEXT;
ALTER TABLE visit ADD COLUMN assigned_to TEXT;
ALTER TABLE visit ADD COLUMN follow_up_needed INTEGER;
ALTER TABLE visit ADD COLUMN recorded_at TEXT;

ALTER TABLE note ADD COLUMN category TEXT;
ALTER TABLE note ADD COLUMN author TEXT;
ALTER TABLE note ADD COLUMN occurred_at TEXT;
ALTER TABLE note ADD COLUMN recorded_at TEXT;
ALTER TABLE note ADD COLUMN status TEXT;
ALTER TABLE note ADD COLUMN error_reason TEXT;

CREATE TABLE related_person (
    id                   TEXT PRIMARY KEY,
    person_id            TEXT NOT NULL,
    name                 TEXT,
    relationship         TEXT,
    relationship_code    TEXT,
    phone                TEXT,
    email                TEXT,
    address              TEXT,
    involvement_notes    TEXT,
    is_unpaid_carer      INTEGER,
    is_next_of_kin       INTEGER,
    is_emergency_contact INTEGER,
    lpa_health_welfare   INTEGER,
    do_not_contact       INTEGER,
    _deleted             INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX related_person_person ON related_person(person_id);

CREATE TABLE about_me (
    id                    TEXT PRIMARY KEY,
    person_id             TEXT NOT NULL,
    what_matters          TEXT,
    people_important      TEXT,
    communication         TEXT,
    wellness              TEXT,
    please_do             TEXT,
    how_to_support        TEXT,
    worth_knowing         TEXT,
    appreciate            TEXT,
    supported_to_write_by TEXT,
    shareable_with_vcse   INTEGER,
    _deleted              INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX about_me_person ON about_me(person_id);

CREATE TABLE plan_review (
    id               TEXT PRIMARY KEY,
    person_id        TEXT NOT NULL,
    care_plan_id     TEXT,
    review_date      TEXT,
    outcome          TEXT,
    summary          TEXT,
    next_review_date TEXT,
    reviewed_by      TEXT,
    with_person      INTEGER,
    status           TEXT,
    _deleted         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX plan_review_person ON plan_review(person_id);

CREATE TABLE observation (
    id           TEXT PRIMARY KEY,
    person_id    TEXT NOT NULL,
    visit_id     TEXT,
    kind         TEXT,
    value        TEXT,
    unit         TEXT,
    author       TEXT,
    occurred_at  TEXT,
    recorded_at  TEXT,
    status       TEXT,
    error_reason TEXT,
    _deleted     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX observation_person ON observation(person_id);

CREATE TABLE goal_progress (
    id                 TEXT PRIMARY KEY,
    person_id          TEXT NOT NULL,
    goal_id            TEXT,
    rating             INTEGER,
    in_own_words       TEXT,
    achievement_status TEXT,
    author             TEXT,
    occurred_at        TEXT,
    recorded_at        TEXT,
    status             TEXT,
    error_reason       TEXT,
    _deleted           INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX goal_progress_person ON goal_progress(person_id);

CREATE TABLE consent (
    id           TEXT PRIMARY KEY,
    person_id    TEXT NOT NULL,
    sector       TEXT,
    decision     TEXT,
    data_class   TEXT,
    basis        TEXT,
    recorded_by  TEXT,
    recorded_at  TEXT,
    notes        TEXT,
    status       TEXT,
    withdrawn_at TEXT,
    _deleted     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX consent_person ON consent(person_id);

CREATE TABLE alert (
    id           TEXT PRIMARY KEY,
    person_id    TEXT NOT NULL,
    category     TEXT,
    text         TEXT,
    audience     TEXT,
    status       TEXT,
    period_start TEXT,
    period_end   TEXT,
    raised_by    TEXT,
    _deleted     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX alert_person ON alert(person_id);
