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
#include "hlc.h"
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
    _cleanup_(proto_conflicts_done) struct proto_conflicts a = {0};
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
    else if ((r = store_conflicts_query(c->store, &f, &a)) < 0)
        console_reply_store_failure(rp, r, "listing conflicts");
    else
        console_reply_json(rp, 200, (resp = proto_conflicts_encode(&a)));
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
        _cleanup_(proto_conflict_done) struct proto_conflict one = {0};
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
    _cleanup_(proto_devices_done) struct proto_devices a = {0};
    _cleanup_json_ cJSON *resp = NULL;
    int r = store_devices_health(c->store, &a);

    if (r < 0) {
        console_reply_store_failure(rp, r, "listing devices");
        return;
    }
    resp = proto_devices_encode(&a);
    if (resp && !cJSON_AddNumberToObject(resp, "lock_after_days", c->lock_after_days))
        cJSON_Delete(TAKE_PTR(resp));
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
    _cleanup_(proto_people_done) struct proto_people list = {0};
    _cleanup_json_ cJSON *resp = NULL;
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
        size_t kept = 0;

        for (size_t i = 0; i < list.n_people; i++) {
            struct proto_person *p = &list.people[i];

            if (p->birth_date && streq(p->birth_date, iso))
                list.people[kept++] = *p;
            else
                proto_person_done(p);
        }
        list.n_people = kept;
    }
    resp = proto_people_encode(&list);
    console_reply_json(rp, 200, resp);
}

/* GET ?id=PERSON: the person (store_person_get) with their team and named coordinator. */
static void api_person(struct console *c, const struct console_request *rq,
                       const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *person = NULL, *team = NULL, *record = NULL;
    _cleanup_(proto_person_done) struct proto_person one = {0};
    _cleanup_(proto_team_done) struct proto_team t = {0};
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
    r = store_person_get(c->store, f.person_id, &one);
    if (r >= 0 && !(person = proto_person_encode(&one)))
        r = -ENOMEM;
    if (r >= 0)
        r = store_person_team(c->store, &s->p, f.person_id, &t);
    if (r >= 0 && !(team = proto_team_encode(&t)))
        r = -ENOMEM;
    if (r >= 0)
        r = store_person_record(c->store, &s->p, f.person_id, &record);
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
    if (wire_add_item(person, "named_coordinator", item ? item : cJSON_CreateNull()) < 0 ||
        wire_add_item(person, "record", TAKE_PTR(record)) < 0) {
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
    _cleanup_(proto_transfer_reply_done) struct proto_transfer_reply moved = {0};
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
                ? store_caseload_transfer(c->store, &s->p, from, to, person, &moved, &which)
                : -ENOENT;
    if (r == -EINVAL)
        which = "choose two different members of the team (not an administrator)";
    if (r < 0) {
        caseload_refused(rp, r, which, "transferring a person");
        return;
    }
    resp = proto_transfer_reply_encode(&moved);
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
    _cleanup_(proto_person_done) struct proto_person one = {0};
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
                                                    &one, &why)
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
    console_reply_json(rp, 200, (resp = proto_person_encode(&one)));
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

/* ---- staff (administrators) ---- */

static bool staff_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= STORE_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* POST {"name", "role"} */
static void api_staff_add(struct console *c, const struct console_request *rq,
                          const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    const char *name, *role;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "name", true, STORE_NAME_MAX, &name, rp) < 0 ||
        console_member(body, "role", true, STORE_ROLE_MAX, &role, rp) < 0)
        return;
    if (!staff_name_ok(name)) {
        console_reply_error(rp, 400, "bad_field",
                            "a user name is 1 to %d letters, digits, '.', '_' or '-'",
                            STORE_NAME_MAX);
        return;
    }
    if (!store_role_valid(role)) {
        console_reply_error(rp, 400, "bad_field", "the role must be one of %s",
                            store_role_list());
        return;
    }
    r = store_user_add(c->store, name, role);
    if (r == -EEXIST) {
        console_reply_error(rp, 409, "exists", "a user named %s already exists; pick another name",
                            name);
        return;
    }
    if (r < 0) {
        console_reply_store_failure(rp, r, "adding a member of staff");
        return;
    }
    log_info("console: %s added user %s (%s)", s->s.user, name, role);
    resp = cJSON_CreateObject();
    if (resp && (wire_add_string(resp, "name", name) < 0 || wire_add_string(resp, "role", role) < 0))
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

/* POST {"name"} */
/* What store_user_disable() did, as the reply body: {"user", "devices_revoked": [ids],
 * "codes_voided", "was_disabled"}. NULL on out of memory. */
static cJSON *leaver_json(const char *name, const struct store_leaver *l)
{
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *devs;

    if (!o || wire_add_string(o, "user", name) < 0 ||
        !(devs = cJSON_AddArrayToObject(o, "devices_revoked")))
        return NULL;
    for (size_t i = 0; i < l->n_devices_revoked; i++) {
        cJSON *id = cJSON_CreateString(l->devices_revoked[i]);

        if (!id || !cJSON_AddItemToArray(devs, id)) {
            cJSON_Delete(id);
            return NULL;
        }
    }
    if (!cJSON_AddNumberToObject(o, "codes_voided", (double)l->codes_voided) ||
        !cJSON_AddBoolToObject(o, "was_disabled", l->was_disabled))
        return NULL;
    return TAKE_PTR(o);
}

static void api_staff_disable(struct console *c, const struct console_request *rq,
                              const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    _cleanup_(store_leaver_done) struct store_leaver l = {0};
    const char *name;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "name", true, STORE_NAME_MAX, &name, rp) < 0)
        return;
    if (streq(name, s->s.user)) {
        console_reply_error(rp, 409, "not_allowed",
                            "you cannot disable your own account; ask another administrator");
        return;
    }
    r = store_user_disable(c->store, name, &l);
    if (r == -ENOENT) {
        console_reply_error(rp, 404, "not_found", "no user named %s; reload the list", name);
        return;
    }
    if (r < 0) {
        console_reply_store_failure(rp, r, "disabling a member of staff");
        return;
    }
    log_info("console: %s disabled user %s", s->s.user, name);
    resp = leaver_json(name, &l);
    if (!resp) {
        console_reply_store_failure(rp, -ENOMEM, "disabling a member of staff");
        return;
    }
    console_reply_json(rp, 200, resp);
}

/* POST {"name", "role"} */
static void api_staff_role(struct console *c, const struct console_request *rq,
                           const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    const char *name, *role;
    int devices = 0, r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "name", true, STORE_NAME_MAX, &name, rp) < 0 ||
        console_member(body, "role", true, STORE_ROLE_MAX, &role, rp) < 0)
        return;
    r = store_user_role_set(c->store, name, role, &devices);
    if (r == -ENOENT)
        console_reply_error(rp, 404, "not_found", "no user named %s; reload the list", name);
    else if (r == -EINVAL)
        console_reply_error(rp, 400, "bad_field", "the role must be one of %s",
                            store_role_list());
    else if (r == -EPERM)
        console_reply_error(rp, 409, "not_allowed",
                            "an administrator's account cannot change role, nor become one; add "
                            "a new account instead");
    else if (r < 0)
        console_reply_store_failure(rp, r, "changing a role");
    if (r < 0)
        return;
    resp = cJSON_CreateObject();
    if (resp && (wire_add_string(resp, "name", name) < 0 ||
                 wire_add_string(resp, "role", role) < 0 ||
                 !cJSON_AddBoolToObject(resp, "changed", r == 1) ||
                 !cJSON_AddNumberToObject(resp, "devices_to_redecide", devices)))
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

#define CONSOLE_ENROL_TTL_S (24 * 3600)

/* POST {"name"}: a one-time enrolment code, valid 24 hours, and its QR code (SVG text). */
static void api_staff_enrol(struct console *c, const struct console_request *rq,
                            const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *body = NULL, *resp = NULL;
    _cleanup_free_ char *svg = NULL;
    char code[STORE_CODE_MAX];
    const char *name;
    int r;

    if (console_body(rq, &body, rp) < 0 ||
        console_member(body, "name", true, STORE_NAME_MAX, &name, rp) < 0)
        return;
    r = store_user_disabled(c->store, name);
    if (r == 1) {
        console_reply_error(rp, 409, "user_disabled", "%s is disabled; no code was made", name);
        return;
    }
    r = r < 0 ? r : store_enrol_code_new(c->store, name, CONSOLE_ENROL_TTL_S, code);
    if (r == -ENOENT) {
        console_reply_error(rp, 404, "not_found", "no user named %s; reload the list", name);
        return;
    }
    if (r >= 0)
        r = console_qr_svg(code, &svg);
    if (r < 0) {
        console_reply_store_failure(rp, r, "making an enrolment code");
        return;
    }
    log_info("console: %s made an enrolment code for %s", s->s.user, name);
    resp = cJSON_CreateObject();
    if (resp && (wire_add_string(resp, "name", name) < 0 || wire_add_string(resp, "code", code) < 0 ||
                 !cJSON_AddNumberToObject(resp, "expires_in_s", CONSOLE_ENROL_TTL_S) ||
                 wire_add_string(resp, "qr_svg", svg) < 0))
        cJSON_Delete(TAKE_PTR(resp));
    console_reply_json(rp, 200, resp);
}

/* ---- population ---- */

/* ?days=N (1..3650): the "not synced for more than N days" of the page; default 7. */
static int stale_days(struct evkeyvalq *q, unsigned *ret, struct console_reply *rp)
{
    const char *v = param(q, "days");
    uint64_t n = STORE_STALE_DAYS;

    if (v && (parse_u64(v, &n) < 0 || n < 1 || n > 3650)) {
        console_reply_error(rp, 400, "invalid_value", "days must be a number from 1 to 3650");
        return -EINVAL;
    }
    *ret = (unsigned)n;
    return 0;
}

static void api_population(struct console *c, const struct console_request *rq,
                           const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *resp = NULL;
    struct evkeyvalq q;
    unsigned days;
    int r;

    if (query_params(rq, &q, rp) < 0)
        return;
    r = stale_days(&q, &days, rp);
    evhttp_clear_headers(&q);
    if (r < 0)
        return;
    r = store_population(c->store, (int64_t)hlc_wall_ms(), days, &resp);
    if (r < 0)
        console_reply_store_failure(rp, r, "counting the population");
    else
        console_reply_json(rp, 200, resp);
}

/* One CSV field (RFC 4180), a formula-looking text made inert with a leading quote. */
static int csv_field(struct console_buf *b, const cJSON *v)
{
    char num[32];
    const char *t = "";

    if (cJSON_IsString(v))
        t = v->valuestring;
    else if (cJSON_IsNumber(v))
        t = (snprintf(num, sizeof(num), "%.0f", v->valuedouble), num);
    else if (cJSON_IsBool(v))
        t = cJSON_IsTrue(v) ? "true" : "false";
    if (strchr("=+-@\t\r", t[0]) && t[0] && console_buf_put(b, "'", 1) < 0)
        return -ENOMEM;
    if (!strpbrk(t, ",\"\r\n"))
        return console_buf_put(b, t, strlen(t));
    if (console_buf_put(b, "\"", 1) < 0)
        return -ENOMEM;
    for (const char *p = t; *p; p++)
        if (console_buf_put(b, p, 1) < 0 || (*p == '"' && console_buf_put(b, "\"", 1) < 0))
            return -ENOMEM;
    return console_buf_put(b, "\"", 1);
}

/* The array of objects @rows as CSV: a header of the first row's keys, then every row. */
static int csv_of(const cJSON *rows, const char *const *keys, char **ret, size_t *ret_len)
{
    struct console_buf b = {0};
    const cJSON *row;
    int r = 0;

    for (size_t k = 0; keys[k] && r >= 0; k++)
        r = console_buf_put(&b, k ? "," : "", k ? 1 : 0) < 0 ? -ENOMEM
                                                             : console_buf_put(&b, keys[k],
                                                                               strlen(keys[k]));
    if (r >= 0)
        r = console_buf_put(&b, "\r\n", 2);
    cJSON_ArrayForEach (row, rows) {
        for (size_t k = 0; keys[k] && r >= 0; k++) {
            if (k)
                r = console_buf_put(&b, ",", 1);
            if (r >= 0)
                r = csv_field(&b, cJSON_GetObjectItemCaseSensitive(row, keys[k]));
        }
        if (r >= 0)
            r = console_buf_put(&b, "\r\n", 2);
    }
    if (r < 0) {
        free(b.data);
        return -ENOMEM;
    }
    *ret = b.data ? b.data : strdup("");
    *ret_len = b.len;
    return *ret ? 0 : -ENOMEM;
}

/* GET ?what=&arg=&days=&format=csv|json */
static void api_population_list(struct console *c, const struct console_request *rq,
                                const struct console_session *s, struct console_reply *rp)
{
    _cleanup_json_ cJSON *rows = NULL, *resp = NULL;
    const char *what, *arg, *format;
    char what_copy[32] = "", arg_copy[64] = "";
    struct evkeyvalq q;
    unsigned days;
    int r;

    if (query_params(rq, &q, rp) < 0)
        return;
    what = param(&q, "what");
    arg = param(&q, "arg");
    format = param(&q, "format");
    r = stale_days(&q, &days, rp);
    if (r >= 0 && (!store_population_list_valid(what) || (arg && strlen(arg) >= sizeof(arg_copy)) ||
                   (format && !streq(format, "csv") && !streq(format, "json")))) {
        console_reply_error(rp, 400, "invalid_value",
                            "what must be status, without_agreed_plan, reviews_overdue, "
                            "reviews_due, visits, missed_reason, goals or devices_not_synced; "
                            "format csv or json");
        r = -EINVAL;
    }
    if (r >= 0) {
        copy_text(what_copy, sizeof(what_copy), what);
        copy_text(arg_copy, sizeof(arg_copy), arg ? arg : "");
        r = store_population_list(c->store, (int64_t)hlc_wall_ms(), days, what_copy,
                                  arg ? arg_copy : NULL, &rows);
        if (r < 0)
            console_reply_store_failure(rp, r, "listing the population");
    }
    if (r < 0) {
        evhttp_clear_headers(&q);
        return;
    }
    if (format && streq(format, "csv")) {
        static const char *const empty[] = {NULL};
        const char *keys[16];
        size_t n = 0;
        const cJSON *k;
        char *text;
        size_t len;

        /* The columns: the first row's keys (every row has the same). */
        cJSON_ArrayForEach (k, cJSON_GetArrayItem(rows, 0))
            if (n < ELEMENTSOF(keys) - 1)
                keys[n++] = k->string;
        keys[n] = NULL;
        r = csv_of(rows, n ? keys : empty, &text, &len);
        evhttp_clear_headers(&q);
        if (r < 0) {
            console_reply_json(rp, 500, NULL);
            return;
        }
        rp->status = 200;
        rp->content_type = "text/csv; charset=utf-8";
        rp->owned = text;
        rp->body = text;
        rp->body_len = len;
        snprintf(rp->disposition, sizeof(rp->disposition),
                 "attachment; filename=\"caresync-%s%s%s.csv\"", what_copy, arg ? "-" : "",
                 arg && strspn(arg_copy, "abcdefghijklmnopqrstuvwxyz-") == strlen(arg_copy)
                         ? arg_copy
                         : "");
        return;
    }
    evhttp_clear_headers(&q);
    resp = cJSON_CreateObject();
    if (resp && wire_add_item(resp, "rows", TAKE_PTR(rows)) < 0)
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
        {"staff/add", true, CONSOLE_ADMIN, "add staff", api_staff_add},
        {"staff/disable", true, CONSOLE_ADMIN, "disable staff", api_staff_disable},
        {"staff/role", true, CONSOLE_ADMIN, "change a role", api_staff_role},
        {"staff/enrol", true, CONSOLE_ADMIN, "make enrolment codes", api_staff_enrol},
        {"population", false, CONSOLE_SIGNED_IN, "see the population", api_population},
        {"population/list", false, CONSOLE_SIGNED_IN, "see the population",
         api_population_list},
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
