/* SPDX-License-Identifier: MIT */
/* fhir.h - FHIR R4 export: one person's record as a transaction Bundle (docs/internals/fhir.md). */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>

/*
 * fhir_bundle() - the FHIR R4 transaction Bundle for the person described by @tree.
 *
 * @tree is the person object as `caresync show PERSON --json` prints it: the person's fields at
 * the top level, the child rows in arrays under their catalogue labels ("care_plans", "goals",
 * "contacts", ...), "about_me" an object or null, and optionally "team" (an array of
 * {"user", "role", "assignment"}). Every value is a string or null. Rows whose "_deleted" is "1"
 * are left out. @generated_at (an ISO 8601 time, may be NULL) becomes Bundle.timestamp.
 *
 * Every entry is a PUT of Type/<id> with a unique urn:uuid: fullUrl; every reference is "Type/id"
 * of an entry before the one that refers to it (load order), so any slice of the Bundle loads
 * once the slices before it have. Returns a new object the caller frees with
 * cJSON_Delete(), or NULL when out of memory or when @tree has no valid person id. Never logs.
 */
cJSON *fhir_bundle(const cJSON *tree, const char *generated_at);

/*
 * fhir_order_entries() - sort the entries of a Bundle's @entries array so that every
 * "Type/id" reference points to an entry before it (stable; a cycle is broken at its first
 * entry). fhir_bundle() does it; 0 or -ENOMEM (then @entries is unchanged).
 */
int fhir_order_entries(cJSON *entries);

/*
 * fhir_split() - @bundle (as fhir_bundle() made it, in load order) as transaction Bundles of at
 * most @max_entries entries each, in the order to load them: every reference of a slice points
 * into it or into an earlier one. Returns a new array of Bundles the caller frees with
 * cJSON_Delete(), or NULL when out of memory, @max_entries is 0 or @bundle has no entries array.
 */
cJSON *fhir_split(const cJSON *bundle, size_t max_entries);

/* fhir_split_lines() - the same, each Bundle unformatted on a line of its own (JSON Lines), in
 * a new string the caller frees with free(); NULL when out of memory or as fhir_split(). */
char *fhir_split_lines(const cJSON *bundle, size_t max_entries);

/*
 * fhir_set_authored() - note in @tree when the About Me was last written: @hlc (the highest
 * clock of its fields, 0 = unknown) becomes about_me._updated_at, which the export sends as
 * QuestionnaireResponse.authored. Nothing when the tree has no About Me. 0 or -ENOMEM.
 */
int fhir_set_authored(cJSON *tree, uint64_t hlc);
