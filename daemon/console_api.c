/* SPDX-License-Identifier: MIT */
/* console_api.c - the console's JSON endpoints under /console/api/ (docs/PROTOCOL.md, "The
 * console"): conflicts, devices, people, staff and audit, each one call of the store's
 * interface (store.h) for a signed-in session that console.c has checked. */
#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "catalogue.h"
#include "console_int.h"
#include "log.h"
#include "wire.h"

#define CONSOLE_BULK_MAX 200 /* conflicts resolved in one request */

/* The query's parameters; an empty value counts as absent. Free with evhttp_clear_headers. */
static int query_params(const struct console_request *rq, struct evkeyvalq *ret,
                        struct console_reply *rp)
{
    TAILQ_INIT(ret);
    if (rq->query && evhttp_parse_query_str(rq->query, ret) < 0) {
        console_reply_error(rp, 400, "bad_query", "the query string does not parse");
        return -EBADMSG;
    }
    return 0;
}

static const char *param(struct evkeyvalq *q, const char *key)
{
    const char *v = evhttp_find_header(q, key);

    return v && v[0] ? v : NULL;
}

/* ---- conflicts ---- */

static void api_conflicts(struct console *c, const struct console_request *rq,
                          const struct console_session *s, struct console_reply *rp)
{
    struct store_conflict_filter f = {.viewer = &s->p};
    _cleanup_json_ cJSON *resp = NULL;
    struct evkeyvalq q;
    int r;

    if (query_params(rq, &q, rp) < 0)
        return;
    f.status = param(&q, "status");
    f.person_id = param(&q, "person");
    f.worker = param(&q, "worker");
    f.table = param(&q, "table");
    f.kind = param(&q, "kind");
    f.priority = param(&q, "priority");
    if (f.status && !streq(f.status, "open") && !streq(f.status, "resolved") &&
        !streq(f.status, "all"))
        console_reply_error(rp, 400, "invalid_value", "status must be open, resolved or all");
    else if (f.person_id && !uuid_valid(f.person_id))
        console_reply_error(rp, 400, "invalid_value", "person must be a person's id");
    else if (f.table && !catalogue_table(f.table))
        console_reply_error(rp, 400, "invalid_value", "table must be a synced table");
    else if (f.kind && !store_conflict_kind_valid(f.kind))
        console_reply_error(rp, 400, "invalid_value", "kind is not a kind of conflict");
    else if (f.priority && !streq(f.priority, "high") && !streq(f.priority, "normal"))
        console_reply_error(rp, 400, "invalid_value", "priority must be high or normal");
    else if ((r = store_conflicts_query(c->store, &f, &resp)) < 0)
        console_reply_store_failure(rp, r, "listing conflicts");
    else
        console_reply_json(rp, 200, resp);
    evhttp_clear_headers(&q);
}

/* POST {"ids": [..], "action": "keep"|"restore"|"value", "value"?, "reason"}: every conflict
 * resolved alike, each in its own transaction; the reply lists each one's outcome. */
static void api_resolve(struct console *c, const struct console_request *rq,
                        const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = cJSON_CreateObject();
    const char *action, *value, *reason;
    const cJSON *ids, *id;
    cJSON *results = cJSON_AddArrayToObject(resp, "results");
    int n = 0, done = 0;

    if (!resp || !results) {
        console_reply_json(rp, 500, NULL);
        return;
    }
    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "action", true, 16, &action, rp) < 0 ||
        console_member(body, "value", false, 64 * 1024, &value, rp) < 0 ||
        console_member(body, "reason", true, STORE_REASON_MAX, &reason, rp) < 0)
        return;
    ids = cJSON_GetObjectItemCaseSensitive(body, "ids");
    if (!cJSON_IsArray(ids) || (n = cJSON_GetArraySize(ids)) < 1 || n > CONSOLE_BULK_MAX) {
        console_reply_error(rp, 400, "bad_field",
                            "'ids' must list 1 to %d conflict ids", CONSOLE_BULK_MAX);
        return;
    }
    cJSON_ArrayForEach (id, ids)
        if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > 9e15 ||
            id->valuedouble != (double)(int64_t)id->valuedouble) {
            console_reply_error(rp, 400, "bad_field", "'ids' must be conflict ids (numbers)");
            return;
        }
    cJSON_ArrayForEach (id, ids) {
        _cleanup_json_ cJSON *one = NULL;
        cJSON *o = cJSON_CreateObject();
        const char *why = NULL;
        int r;

        if (!o || !cJSON_AddItemToArray(results, o)) {
            cJSON_Delete(o);
            console_reply_json(rp, 500, NULL);
            return;
        }
        r = store_conflict_resolve(c->store, &s->p, (int64_t)id->valuedouble, action, value,
                                   reason, &one, &why);
        if (!cJSON_AddNumberToObject(o, "id", id->valuedouble) ||
            !cJSON_AddBoolToObject(o, "resolved", r >= 0) ||
            (r < 0 && wire_add_string(o, "error", r == -ENOENT   ? "no such conflict"
                                                  : r == -EINVAL ? (why ? why : "refused")
                                                                 : strerror(-r)) < 0)) {
            console_reply_json(rp, 500, NULL);
            return;
        }
        if (r < 0 && r != -ENOENT && r != -EINVAL) {
            console_reply_store_failure(rp, r, "resolving a conflict");
            return;
        }
        done += r >= 0;
    }
    if (!cJSON_AddNumberToObject(resp, "resolved", done)) {
        console_reply_json(rp, 500, NULL);
        return;
    }
    console_reply_json(rp, done == n ? 200 : done ? 207 : 400, resp);
}

/* ---- devices ---- */

static void api_devices(struct console *c, const struct console_request *rq,
                        const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *resp = NULL;
    int r = store_devices_health(c->store, &resp);

    if (r < 0)
        console_reply_store_failure(rp, r, "listing devices");
    else
        console_reply_json(rp, 200, resp);
}

static void api_revoke(struct console *c, const struct console_request *rq,
                       const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    const char *device;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "device_id", true, UUID_STR_MAX, &device, rp) < 0)
        return;
    r = uuid_valid(device) ? store_device_revoke_by(c->store, &s->p, device) : -ENOENT;
    if (r == -ENOENT) {
        console_reply_error(rp, 404, "not_found", "no such device; reload the list");
        return;
    }
    if (r < 0) {
        console_reply_store_failure(rp, r, "revoking a device");
        return;
    }
    resp = cJSON_CreateObject();
    if (resp && (wire_add_string(resp, "device_id", device) < 0 ||
                 !cJSON_AddBoolToObject(resp, "already", r == 0)))
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

/* ---- people ---- */

/* True for "YYYY-MM-DD" or "DD/MM/YYYY" (a date of birth as typed), written as ISO to @iso. */
static bool dob_query(const char *q, char iso[static 11])
{
    if (date_valid(q)) {
        copy_text(iso, 11, q);
        return true;
    }
    if (strlen(q) == 10 && q[2] == '/' && q[5] == '/') {
        snprintf(iso, 11, "%.4s-%.2s-%.2s", q + 6, q + 3, q);
        return date_valid(iso);
    }
    return false;
}

/* GET ?q=TEXT: a name (part of it), an NHS number (ten digits, spaces allowed) or a date of
 * birth; no q: everyone. */
static void api_people(struct console *c, const struct console_request *rq,
                       const struct console_session *s, struct console_reply *rp)
{
    struct store_people_filter f = {0};
    _cleanup_json_ cJSON *list = NULL, *resp = NULL;
    const char *text;
    char digits[16] = "", iso[11] = "";
    struct evkeyvalq q;
    size_t nd = 0;
    int r;

    if (query_params(rq, &q, rp) < 0)
        return;
    text = param(&q, "q");
    if (text && strlen(text) > 100) {
        evhttp_clear_headers(&q);
        console_reply_error(rp, 400, "invalid_value", "search for at most 100 characters");
        return;
    }
    if (text) {
        for (const char *p = text; *p && nd < sizeof(digits) - 1; p++)
            if (*p >= '0' && *p <= '9')
                digits[nd++] = *p;
            else if (*p != ' ')
                nd = sizeof(digits); /* not only digits and spaces */
        if (nd == 10) {
            digits[10] = '\0';
            f.nhs_number = digits;
        } else if (!dob_query(text, iso)) {
            f.name = text;
        }
    }
    r = store_people_list(c->store, &f, &list);
    evhttp_clear_headers(&q);
    if (r < 0) {
        console_reply_store_failure(rp, r, "searching people");
        return;
    }
    if (iso[0]) {
        /* By date of birth: keep those born that day. */
        for (int i = cJSON_GetArraySize(list) - 1; i >= 0; i--) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, i),
                                                              "birth_date");

            if (!cJSON_IsString(b) || !streq(b->valuestring, iso))
                cJSON_DeleteItemFromArray(list, i);
        }
    }
    resp = cJSON_CreateObject();
    if (resp && wire_add_item(resp, "people", TAKE_PTR(list)) < 0)
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

/* GET ?id=PERSON: the person (store_people_list) with their team and named coordinator. */
static void api_person(struct console *c, const struct console_request *rq,
                       const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *person = NULL, *team = NULL;
    struct store_people_filter f = {0};
    struct evkeyvalq q;
    cJSON *item;
    int r;

    if (query_params(rq, &q, rp) < 0)
        return;
    f.person_id = param(&q, "id");
    if (!f.person_id || !uuid_valid(f.person_id)) {
        evhttp_clear_headers(&q);
        console_reply_error(rp, 400, "invalid_value", "id must be a person's id");
        return;
    }
    r = store_people_list(c->store, &f, &person);
    if (r >= 0)
        r = store_person_team(c->store, &s->p, f.person_id, &team);
    evhttp_clear_headers(&q);
    if (r == -ENOENT) {
        console_reply_error(rp, 404, "not_found", "no such person; search again");
        return;
    }
    if (r < 0) {
        console_reply_store_failure(rp, r, "reading a person");
        return;
    }
    item = cJSON_DetachItemFromObjectCaseSensitive(team, "team");
    if (wire_add_item(person, "team", item) < 0) {
        console_reply_json(rp, 500, NULL);
        return;
    }
    item = cJSON_DetachItemFromObjectCaseSensitive(team, "named_coordinator");
    if (wire_add_item(person, "named_coordinator", item ? item : cJSON_CreateNull()) < 0) {
        console_reply_json(rp, 500, NULL);
        return;
    }
    console_reply_json(rp, 200, person);
}

/* A caseload call's -ENOENT / -EINVAL as 404 / 400 naming @which. */
static void caseload_refused(struct console_reply *rp, int r, const char *which, const char *what)
{
    if (r == -ENOENT)
        console_reply_error(rp, 404, "not_found", "no such %s; reload the page",
                            which ? which : "person");
    else if (r == -EINVAL)
        console_reply_error(rp, 400, "refused", "%s", which ? which : "that cannot be done");
    else
        console_reply_store_failure(rp, r, what);
}

/* POST {"person_id", "user", "assign": bool} */
static void api_assign(struct console *c, const struct console_request *rq,
                       const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    const char *person, *user, *which = NULL;
    const cJSON *assign;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "person_id", true, UUID_STR_MAX, &person, rp) < 0 ||
        console_member(body, "user", true, STORE_NAME_MAX, &user, rp) < 0)
        return;
    assign = cJSON_GetObjectItemCaseSensitive(body, "assign");
    if (!cJSON_IsBool(assign)) {
        console_reply_error(rp, 400, "bad_field", "'assign' must be true or false");
        return;
    }
    if (cJSON_IsTrue(assign) && store_user_disabled(c->store, user) == 1) {
        console_reply_error(rp, 409, "user_disabled",
                            "%s is disabled and takes on nobody new; choose someone else", user);
        return;
    }
    r = uuid_valid(person) ? store_caseload_assign(c->store, &s->p, person, user,
                                                   cJSON_IsTrue(assign), &which)
                           : -ENOENT;
    if (r == -EINVAL)
        which = "an administrator's account holds no caseload; choose a member of the team";
    if (r < 0) {
        caseload_refused(rp, r, which, "changing an assignment");
        return;
    }
    resp = cJSON_CreateObject();
    if (resp && (wire_add_string(resp, "person_id", person) < 0 ||
                 wire_add_string(resp, "user", user) < 0 ||
                 !cJSON_AddBoolToObject(resp, "changed", r == 1)))
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

/* POST {"person_id", "from", "to"} */
static void api_transfer(struct console *c, const struct console_request *rq,
                         const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    const char *person, *from, *to, *which = NULL;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "person_id", true, UUID_STR_MAX, &person, rp) < 0 ||
        console_member(body, "from", true, STORE_NAME_MAX, &from, rp) < 0 ||
        console_member(body, "to", true, STORE_NAME_MAX, &to, rp) < 0)
        return;
    if (store_user_disabled(c->store, to) == 1) {
        console_reply_error(rp, 409, "user_disabled",
                            "%s is disabled and takes on nobody new; choose someone else", to);
        return;
    }
    r = uuid_valid(person)
                ? store_caseload_transfer(c->store, &s->p, from, to, person, &resp, &which)
                : -ENOENT;
    if (r == -EINVAL)
        which = "choose two different members of the team (not an administrator)";
    if (r < 0) {
        caseload_refused(rp, r, which, "transferring a person");
        return;
    }
    console_reply_json(rp, 200, resp);
}

/* POST {"person_id", "user"} */
static void api_named(struct console *c, const struct console_request *rq,
                      const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    const char *person, *user, *why = NULL;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "person_id", true, UUID_STR_MAX, &person, rp) < 0 ||
        console_member(body, "user", true, STORE_NAME_MAX, &user, rp) < 0)
        return;
    r = uuid_valid(person) ? store_named_coordinator_set(c->store, &s->p, person, user, &why)
                           : -ENOENT;
    if (r < 0) {
        caseload_refused(rp, r, why, "setting the named coordinator");
        return;
    }
    resp = cJSON_CreateObject();
    if (resp && (wire_add_string(resp, "named_coordinator", user) < 0 ||
                 !cJSON_AddBoolToObject(resp, "changed", r == 1)))
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

/* POST {"person_id", "action": "accept"|"close"|"reopen", "reason"?} */
static void api_lifecycle(struct console *c, const struct console_request *rq,
                          const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    const char *person, *action, *reason, *why = NULL;
    enum store_person_action a;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "person_id", true, UUID_STR_MAX, &person, rp) < 0 ||
        console_member(body, "action", true, 16, &action, rp) < 0 ||
        console_member(body, "reason", false, 32, &reason, rp) < 0)
        return;
    if (streq(action, "accept"))
        a = STORE_PERSON_ACCEPT;
    else if (streq(action, "close"))
        a = STORE_PERSON_CLOSE;
    else if (streq(action, "reopen"))
        a = STORE_PERSON_REOPEN;
    else {
        console_reply_error(rp, 400, "bad_field", "'action' must be accept, close or reopen");
        return;
    }
    if (a == STORE_PERSON_CLOSE && (!reason || !store_close_reason_valid(reason))) {
        console_reply_error(rp, 400, "bad_field",
                            "closing needs a reason: deceased, moved-away, discharged, declined, "
                            "duplicate or other");
        return;
    }
    r = uuid_valid(person) ? store_person_lifecycle(c->store, &s->p, person, a,
                                                    a == STORE_PERSON_CLOSE ? reason : NULL,
                                                    &resp, &why)
                           : -ENOENT;
    if (r == -EALREADY || r == -EINVAL) {
        console_reply_error(rp, 409, "not_allowed", "%s", why ? why : "not in this state");
        return;
    }
    if (r == -ENOENT) {
        console_reply_error(rp, 404, "not_found", "no such person; search again");
        return;
    }
    if (r < 0) {
        console_reply_store_failure(rp, r, "changing a record's status");
        return;
    }
    console_reply_json(rp, 200, resp);
}

/* ---- staff and audit ---- */

static void api_staff(struct console *c, const struct console_request *rq,
                      const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *list = NULL, *resp = NULL;
    int r = store_user_list(c->store, &list);

    if (r < 0) {
        console_reply_store_failure(rp, r, "listing staff");
        return;
    }
    resp = cJSON_CreateObject();
    if (resp && wire_add_item(resp, "staff", TAKE_PTR(list)) < 0)
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

static void api_audit(struct console *c, const struct console_request *rq,
                      const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *trail = NULL, *resp = NULL;
    const char *person;
    struct evkeyvalq q;
    int r;

    if (query_params(rq, &q, rp) < 0)
        return;
    person = param(&q, "person");
    r = person && uuid_valid(person) ? store_audit_export(c->store, person, &trail) : -EINVAL;
    evhttp_clear_headers(&q);
    if (r == -EINVAL) {
        console_reply_error(rp, 400, "invalid_value", "person must be a person's id");
        return;
    }
    if (r == -ENOENT) {
        console_reply_error(rp, 404, "not_found", "no such person and no audit trail for that id");
        return;
    }
    if (r < 0) {
        console_reply_store_failure(rp, r, "reading the audit trail");
        return;
    }
    resp = cJSON_CreateObject();
    if (resp && wire_add_item(resp, "events", TAKE_PTR(trail)) < 0)
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

static void api_audit_verify(struct console *c, const struct console_request *rq,
                             const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *resp = cJSON_CreateObject();
    int64_t rows = 0, bad = 0;
    int r = store_audit_verify(c->store, &rows, &bad);

    if (r < 0 && r != -EBADMSG) {
        console_reply_store_failure(rp, r, "verifying the audit chain");
        return;
    }
    if (resp && (!cJSON_AddBoolToObject(resp, "intact", r == 0) ||
                 !cJSON_AddNumberToObject(resp, "rows", (double)rows) ||
                 (r == -EBADMSG && !cJSON_AddNumberToObject(resp, "first_bad_id", (double)bad))))
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

static const struct console_route routes[] = {
        {"session", false, CONSOLE_SIGNED_IN, "", console_api_session},
        {"sign-out", true, CONSOLE_SIGNED_IN, "", console_api_sign_out},
        {"conflicts", false, CONSOLE_COORDINATOR, "see the conflict log", api_conflicts},
        {"conflicts/resolve", true, CONSOLE_COORDINATOR, "resolve conflicts", api_resolve},
        {"devices", false, CONSOLE_COORDINATOR, "see the devices", api_devices},
        {"devices/revoke", true, CONSOLE_COORDINATOR, "revoke devices", api_revoke},
        {"people", false, CONSOLE_COORDINATOR, "search people", api_people},
        {"person", false, CONSOLE_COORDINATOR, "read a person's record", api_person},
        {"person/assign", true, CONSOLE_COORDINATOR, "change caseloads", api_assign},
        {"person/transfer", true, CONSOLE_COORDINATOR, "change caseloads", api_transfer},
        {"person/named-coordinator", true, CONSOLE_COORDINATOR, "set a named coordinator",
         api_named},
        {"person/lifecycle", true, CONSOLE_COORDINATOR, "change a record's status",
         api_lifecycle},
        {"staff", false, CONSOLE_SIGNED_IN, "see the staff", api_staff},
        {"audit", false, CONSOLE_COORDINATOR, "read audit trails", api_audit},
        {"audit/verify", false, CONSOLE_SIGNED_IN, "verify the audit chain", api_audit_verify},
};

const struct console_route *console_route_find(const char *path)
{
    for (size_t i = 0; i < ELEMENTSOF(routes); i++)
        if (streq(routes[i].path, path))
            return &routes[i];
    return NULL;
}
