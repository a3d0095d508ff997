/* SPDX-License-Identifier: MIT */
/* coord.c - the coordinators' online calls besides the conflict log: sync health of every
 * device and revocation, caseload changes (assign, unassign, transfer, named coordinator), and
 * a person's team, which every role may read for the people on its caseload. */
#include "caresync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "caresync_int.h"
#include "wire.h"

static int need_user(struct caresync *c, const char *user, const char *what)
{
    if (access_user_valid(user))
        return CARESYNC_OK;
    return cs_fail(c, CARESYNC_EUSAGE, "bad %s '%s': a user name (letters, digits, '.', '_', '-')",
                   what, user ? user : "");
}

static int need_id(struct caresync *c, const char *id, const char *what)
{
    if (id && uuid_valid(id))
        return CARESYNC_OK;
    return cs_fail(c, CARESYNC_EUSAGE, "'%s' is not a %s id (a lower-case UUID)", id ? id : "",
                   what);
}

/*
 * A reply reader: decode the reply @root with the protocol codec (docs/PROTOCOL.md) and encode
 * again what the caller hands out, in *ret. 0, -EBADMSG (not the reply the protocol says) or
 * -ENOMEM.
 */
typedef int (*reply_reader)(const cJSON *root, cJSON **ret);

/*
 * One coordinator request: @method @path with @body (NULL for GET). On 200 *ret_json (when not
 * NULL) receives what @reader makes of the reply, printed; 403 is CARESYNC_EFORBIDDEN "only
 * coordinators can @verb"; 404 CARESYNC_ENOTFOUND and 400 CARESYNC_EUSAGE with the server's
 * message; a reply @reader does not understand CARESYNC_ESERVER.
 */
static int coord_request(struct caresync *c, const char *method, const char *path,
                         const cJSON *body, const char *what, const char *verb,
                         reply_reader reader, char **ret_json)
{
    _cleanup_json_ cJSON *tree = NULL;
    struct http_reply rep = {0};
    int r;

    r = transport_request(c, method, path, body, true, what, &rep);
    if (r != CARESYNC_OK)
        return r;
    if (rep.status == 403)
        r = cs_fail(c, CARESYNC_EFORBIDDEN, "not allowed: only coordinators can %s", verb);
    else if (rep.status == 404 && streq(rep.code, "not_found"))
        r = cs_fail(c, CARESYNC_ENOTFOUND, "%s failed: %s", what, rep.message);
    else if (rep.status == 400)
        r = cs_fail(c, CARESYNC_EUSAGE, "%s failed: %s (%s)", what, rep.message,
                    rep.code[0] ? rep.code : "bad request");
    else if (rep.status != 200)
        r = transport_fail(c, &rep, what);
    if (r == CARESYNC_OK && ret_json && reader) {
        r = reader(rep.json, &tree);
        if (r == -EBADMSG)
            r = cs_fail(c, CARESYNC_ESERVER,
                        "%s failed: the server's reply is not one caresync understands; check"
                        " that the server is caresyncd", what);
        else if (r < 0 || json_take_string(tree, ret_json) < 0)
            r = cs_fail_errno(c, -ENOMEM, what);
    }
    http_reply_done(&rep);
    return r;
}

static int begin_online(struct caresync *c)
{
    int r = cs_begin(c);

    return r == CARESYNC_OK ? cs_need_replica(c) : r;
}

/* GET /v1/devices: the "devices" array. */
static int read_devices(const cJSON *root, cJSON **ret)
{
    _cleanup_(proto_devices_done) struct proto_devices a = {0};
    _cleanup_json_ cJSON *o = NULL;
    int r = proto_devices_decode_json(root, &a);

    if (r < 0)
        return r;
    o = proto_devices_encode(&a);
    if (!o)
        return -ENOMEM;
    *ret = cJSON_DetachItemFromObjectCaseSensitive(o, "devices");
    return 0;
}

int caresync_devices_json(struct caresync *c, char **ret)
{
    int r = begin_online(c);

    if (r != CARESYNC_OK)
        return r;
    return coord_request(c, "GET", "/v1/devices", NULL, "listing devices", "see the devices",
                         read_devices, ret);
}

int caresync_device_revoke(struct caresync *c, const char *device_id)
{
    _cleanup_json_ cJSON *body = NULL;
    char path[128];
    int r = begin_online(c);

    if (r == CARESYNC_OK)
        r = need_id(c, device_id, "device");
    if (r != CARESYNC_OK)
        return r;
    body = cJSON_CreateObject(); /* the request has no members: proto_empty_request_decode() */
    if (!body)
        return cs_fail_errno(c, -ENOMEM, "revoking the device failed");
    snprintf(path, sizeof(path), "/v1/devices/%s/revoke", device_id);
    return coord_request(c, "POST", path, body, "revoking the device", "revoke devices", NULL,
                         NULL);
}

/* POST /v1/assignments: "changed", true or false. */
static int read_assignment(const cJSON *root, cJSON **ret)
{
    struct proto_assignment a;
    int r = proto_assignment_reply_decode_json(root, &a);

    if (r < 0)
        return r;
    *ret = cJSON_CreateBool(a.changed);
    return *ret ? 0 : -ENOMEM;
}

int caresync_assign(struct caresync *c, const char *person_id, const char *user, bool assign,
                    bool *ret_changed)
{
    _cleanup_json_ cJSON *body = NULL;
    _cleanup_free_ char *changed = NULL;
    struct proto_assignment q = {0};
    int r = begin_online(c);

    if (r == CARESYNC_OK)
        r = need_id(c, person_id, "person");
    if (r == CARESYNC_OK)
        r = need_user(c, user, "user");
    if (r != CARESYNC_OK)
        return r;
    copy_text(q.person_id, sizeof(q.person_id), person_id);
    copy_text(q.user, sizeof(q.user), user);
    copy_text(q.action, sizeof(q.action), assign ? "assign" : "unassign");
    body = proto_assignment_request_encode(&q);
    if (!body)
        return cs_fail_errno(c, -ENOMEM, "changing the caseload failed");
    r = coord_request(c, "POST", "/v1/assignments", body, assign ? "assigning" : "unassigning",
                      "change caseloads", read_assignment, &changed);
    /* The reply's "changed" is false when the caseload already was as asked. */
    if (r == CARESYNC_OK && ret_changed)
        *ret_changed = !streq(changed, "false");
    return r;
}

/* POST /v1/assignments/transfer: the whole reply. */
static int read_transfer(const cJSON *root, cJSON **ret)
{
    _cleanup_(proto_transfer_reply_done) struct proto_transfer_reply a = {0};
    int r = proto_transfer_reply_decode_json(root, &a);

    if (r < 0)
        return r;
    *ret = proto_transfer_reply_encode(&a);
    return *ret ? 0 : -ENOMEM;
}

int caresync_transfer(struct caresync *c, const char *from, const char *to,
                      const char *person_id, char **ret_json)
{
    _cleanup_json_ cJSON *body = NULL;
    struct proto_transfer_request q = {.has_person = person_id != NULL};
    int r = begin_online(c);

    if (r == CARESYNC_OK)
        r = need_user(c, from, "--from user");
    if (r == CARESYNC_OK)
        r = need_user(c, to, "--to user");
    if (r == CARESYNC_OK && person_id)
        r = need_id(c, person_id, "person");
    if (r != CARESYNC_OK)
        return r;
    copy_text(q.from, sizeof(q.from), from);
    copy_text(q.to, sizeof(q.to), to);
    if (person_id)
        copy_text(q.person_id, sizeof(q.person_id), person_id);
    body = proto_transfer_request_encode(&q);
    if (!body)
        return cs_fail_errno(c, -ENOMEM, "the transfer failed");
    return coord_request(c, "POST", "/v1/assignments/transfer", body, "the transfer",
                         "transfer caseloads", read_transfer, ret_json);
}

int caresync_named_coordinator(struct caresync *c, const char *person_id, const char *user)
{
    _cleanup_json_ cJSON *body = NULL;
    struct proto_named_coordinator_request q = {0};
    char path[128];
    int r = begin_online(c);

    if (r == CARESYNC_OK)
        r = need_id(c, person_id, "person");
    if (r == CARESYNC_OK)
        r = need_user(c, user, "user");
    if (r != CARESYNC_OK)
        return r;
    copy_text(q.user, sizeof(q.user), user);
    body = proto_named_coordinator_request_encode(&q);
    if (!body)
        return cs_fail_errno(c, -ENOMEM, "setting the named coordinator failed");
    snprintf(path, sizeof(path), "/v1/people/%s/named-coordinator", person_id);
    return coord_request(c, "POST", path, body, "setting the named coordinator",
                         "set a named coordinator", NULL, NULL);
}

/* GET /v1/people/{id}/team: the whole reply. */
static int read_team(const cJSON *root, cJSON **ret)
{
    _cleanup_(proto_team_done) struct proto_team a = {0};
    int r = proto_team_decode_json(root, &a);

    if (r < 0)
        return r;
    *ret = proto_team_encode(&a);
    return *ret ? 0 : -ENOMEM;
}

int caresync_team_json(struct caresync *c, const char *person_id, char **ret)
{
    char path[128];
    int r = begin_online(c);

    if (r == CARESYNC_OK)
        r = need_id(c, person_id, "person");
    if (r != CARESYNC_OK)
        return r;
    snprintf(path, sizeof(path), "/v1/people/%s/team", person_id);
    return coord_request(c, "GET", path, NULL, "reading the team", "read this team", read_team,
                         ret);
}

/* A lifecycle route's reply: the "person" object. */
static int read_person(const cJSON *root, cJSON **ret)
{
    _cleanup_(proto_person_done) struct proto_person a = {0};
    int r = proto_lifecycle_reply_decode_json(root, &a);

    if (r < 0)
        return r;
    *ret = proto_person_encode(&a);
    return *ret ? 0 : -ENOMEM;
}

int caresync_person_lifecycle(struct caresync *c, const char *person_id, const char *action,
                              const char *value, char **ret)
{
    static const struct {
        const char *action, *key, *what, *verb;
    } acts[] = {
            {"accept", NULL, "accepting the referral", "accept referrals"},
            {"close", "reason", "closing the record", "close records"},
            {"reopen", NULL, "reopening the record", "reopen records"},
            {"nhs-number", "nhs_number", "setting the NHS number", "set NHS numbers"},
            {"gp-practice", "gp_practice", "setting the GP practice", "set GP practices"},
    };
    _cleanup_json_ cJSON *body = NULL;
    char path[160], digits[16];
    size_t a, n = 0;
    int r = begin_online(c);

    if (r == CARESYNC_OK)
        r = need_id(c, person_id, "person");
    if (r != CARESYNC_OK)
        return r;
    for (a = 0; a < ELEMENTSOF(acts) && !streq(acts[a].action, action ? action : ""); a++)
        ;
    if (a == ELEMENTSOF(acts))
        return cs_fail(c, CARESYNC_EUSAGE, "unknown action '%s'", action ? action : "");
    if (acts[a].key && (!value || !*value))
        return cs_fail(c, CARESYNC_EUSAGE, "%s needs a %s", acts[a].what, acts[a].key);
    if (acts[a].key && streq(acts[a].key, "nhs_number")) {
        /* "943 476 5919" as printed on letters: the digits only. */
        for (const char *p = value; *p; p++)
            if (*p != ' ' && n < sizeof(digits) - 1)
                digits[n++] = *p;
        digits[n] = '\0';
        value = digits;
    }
    /* The encoder only reads the value: borrowed. */
    body = proto_lifecycle_request_encode(&(struct proto_lifecycle_request){
            .key = acts[a].key, .arg = acts[a].key ? (char *)value : NULL});
    if (!body)
        return cs_fail_errno(c, -ENOMEM, acts[a].what);
    snprintf(path, sizeof(path), "/v1/people/%s/%s", person_id, action);
    return coord_request(c, "POST", path, body, acts[a].what, acts[a].verb, read_person,
                         ret);
}
