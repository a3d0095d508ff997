/* SPDX-License-Identifier: MIT */
/*
 * engine_pull.c - the rules of a pull page, written once over the storage backend (backend.h):
 * which fields and rows a principal may see (common/access.c), when a person is sent whole,
 * purged or re-decided, the page bound and the cursor. No SQL here: the page's stream and
 * caseload events come from ONE pull_load(), the facts about its people and rows from ONE
 * pull_facts() (docs/internals/backend.md, "The pull").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "engine.h"
#include "hlc.h"

/*
 * What one pull page may show its device (docs/internals/access.md): rows and fields filtered by
 * the role's rules, with per-page caches of row visibility and of the people's facts.
 */
struct viewer {
    struct backend *b;
    const struct store_principal *p;
    struct proto_sync_reply *reply; /* changes, purge and drop are added to it */
    size_t count;
    uint64_t pushed_after; /* field versions after this sequence number are this request's */
    struct pull_facts facts;   /* the page's people and rows (the first pull_facts()) */
    struct vis_row {
        char key[96]; /* table/row_id; "" = a free slot */
        bool decided;
        bool visible;
        bool whole;   /* every field already in this page */
    } *rows;          /* a hash table of cap_rows slots (a power of two) */
    size_t n_rows, cap_rows;
    struct vis_person {
        char id[UUID_STR_MAX];
        bool resent;  /* whole state already in this page */
        bool purged;
    } *people;
    size_t n_people, cap_people;
    /* Facts loaded after the first call, each call's own (freed at the end). */
    struct pull_facts *extra;
    size_t n_extra, cap_extra;
    /* The people whose whole state the page may send, in page order. */
    struct pull_person *wanted;
    size_t n_wanted;
};

static void viewer_done(struct viewer *v)
{
    backend_pull_facts_done(&v->facts);
    free(v->facts.people);
    free(v->facts.rows);
    for (size_t i = 0; i < v->n_extra; i++) {
        backend_pull_facts_done(&v->extra[i]);
        free(v->extra[i].people);
        free(v->extra[i].rows);
    }
    free(v->extra);
    free(v->wanted);
    free(v->rows);
    free(v->people);
}

static struct vis_person *viewer_person(struct viewer *v, const char *person_id)
{
    for (size_t i = 0; i < v->n_people; i++)
        if (streq(v->people[i].id, person_id))
            return &v->people[i];
    if (array_grow((void **)&v->people, &v->cap_people, v->n_people, sizeof(*v->people), 16) < 0)
        return NULL;
    memset(&v->people[v->n_people], 0, sizeof(v->people[0]));
    copy_text(v->people[v->n_people].id, UUID_STR_MAX, person_id);
    return &v->people[v->n_people++];
}

/* ---- the loaded facts ---- */

/* The facts of a person (NULL: not loaded yet), with @state its whole state too. */
static struct pull_person *facts_person(struct viewer *v, const char *person_id, bool state)
{
    for (size_t k = v->n_extra; k-- > 0;)
        for (size_t i = 0; i < v->extra[k].n_people; i++) {
            struct pull_person *fp = &v->extra[k].people[i];

            if (streq(fp->person_id, person_id) && (state ? fp->loaded : fp->known))
                return fp;
        }
    for (size_t i = 0; i < v->facts.n_people; i++) {
        struct pull_person *fp = &v->facts.people[i];

        if (streq(fp->person_id, person_id) && (state ? fp->loaded : fp->known))
            return fp;
    }
    return NULL;
}

static int person_state(struct viewer *v, const char *person_id, struct pull_person **ret);

static struct pull_row *facts_row(struct viewer *v, const struct cat_table *t, const char *row_id)
{
    for (size_t i = 0; i < v->facts.n_rows; i++)
        if (v->facts.rows[i].table == t && streq(v->facts.rows[i].row_id, row_id))
            return &v->facts.rows[i];
    for (size_t k = 0; k < v->n_extra; k++)
        for (size_t i = 0; i < v->extra[k].n_rows; i++)
            if (v->extra[k].rows[i].table == t && streq(v->extra[k].rows[i].row_id, row_id))
                return &v->extra[k].rows[i];
    return NULL;
}

/* One more pull_facts() call (rows learnt of from the first, states past its budget). */
static int viewer_load(struct viewer *v, struct pull_person *people, size_t n_people,
                       struct pull_row *rows, size_t n_rows)
{
    struct pull_facts *f;
    int r;

    if (array_grow((void **)&v->extra, &v->cap_extra, v->n_extra, sizeof(*v->extra), 4) < 0) {
        free(people);
        free(rows);
        return -ENOMEM;
    }
    f = &v->extra[v->n_extra++];
    *f = (struct pull_facts){.people = people, .n_people = n_people, .rows = rows,
                             .n_rows = n_rows, .state_budget = STORE_PULL_PAGE + 1};
    r = v->b->ops->pull_facts(v->b, v->p, f);
    return r < 0 ? r : 0;
}

/* A row's fields as the access rules read them: from a loaded state or a loaded row. */
struct row_src {
    const struct pull_field *f;
    size_t n;
    const struct cat_table *t;
    const char *row_id;
};

static const char *row_src_get(void *ctx, const char *field)
{
    const struct row_src *rs = ctx;

    for (size_t i = 0; i < rs->n; i++)
        if (rs->f[i].table == rs->t && rs->f[i].field && streq(rs->f[i].field->name, field) &&
            streq(rs->f[i].row_id, rs->row_id))
            return rs->f[i].value;
    return NULL;
}

/* Whether one of the principal's own actions serves goal @goal_id (a volunteer sees a goal
 * through their actions), among field states @f (a person's state, or a goal row's actions). */
static bool owns_action(const struct pull_field *f, size_t n, const char *user,
                        const char *goal_id)
{
    const struct cat_table *pa = catalogue_table("plan_action");

    for (size_t i = 0; i < n; i++) {
        struct row_src rs = {f, n, pa, f[i].row_id};
        const char *who;

        if (f[i].table != pa || !f[i].field || !streq(f[i].field->name, "goal_id") ||
            !f[i].value || !streq(f[i].value, goal_id))
            continue;
        who = row_src_get(&rs, "who");
        if (who && streq(who, user))
            return true;
    }
    return false;
}

/*
 * Where row @row_id of @t is loaded: its person's whole state, or the row itself (loaded now if
 * neither is, which the page's first facts make rare). 0 with *ret filled, or -errno.
 */
static int row_source(struct viewer *v, const struct cat_table *t, const char *row_id,
                      const char *person_id, struct row_src *ret, bool *ret_owns)
{
    struct pull_person *fp = person_id && *person_id ? facts_person(v, person_id, true) : NULL;
    struct pull_row *fr;
    int r;

    if (fp) {
        *ret = (struct row_src){fp->state, fp->n_state, t, row_id};
        *ret_owns = streq(t->name, "goal") &&
                    owns_action(fp->state, fp->n_state, v->p->user, row_id);
        return 0;
    }
    fr = facts_row(v, t, row_id);
    if (!fr) {
        struct pull_row *one = calloc(1, sizeof(*one));

        if (!one)
            return -ENOMEM;
        one->table = t;
        copy_text(one->row_id, sizeof(one->row_id), row_id);
        copy_text(one->person_id, sizeof(one->person_id), person_id);
        r = viewer_load(v, NULL, 0, one, 1);
        if (r < 0)
            return r;
        fr = &v->extra[v->n_extra - 1].rows[0];
    }
    *ret = (struct row_src){fr->fields, fr->n_fields, t, row_id};
    *ret_owns = streq(t->name, "goal") &&
                owns_action(fr->actions, fr->n_actions, v->p->user, row_id);
    return 0;
}

/* 1 when the person is off this worker's devices (a consent provision, or an expired closed
 * record), 0, or -errno. Coordinators are never denied. */
static int viewer_denied(struct viewer *v, const char *person_id)
{
    struct pull_person *fp;

    if (store_role_is_coordinator(v->p->role))
        return 0;
    fp = facts_person(v, person_id, false);
    if (!fp) {
        /* past the first call's budget: with the states of the people after them */
        int r = person_state(v, person_id, &fp);

        if (r < 0)
            return r;
    }
    return fp->denied || fp->expired;
}

/* The row cache's slot for table/row (open addressing; a page holds a few hundred rows). */
static struct vis_row *viewer_slot(struct viewer *v, const struct cat_table *t,
                                   const char *row_id, bool create)
{
    char key[96];
    size_t i, tl = strlen(t->name);

    /* table/row_id; a row id is a UUID, so it always fits */
    memcpy(key, t->name, tl);
    key[tl] = '/';
    copy_text(key + tl + 1, sizeof(key) - tl - 1, row_id);
    if (create && (v->n_rows + 1) * 2 > v->cap_rows) {
        size_t cap = v->cap_rows ? v->cap_rows * 2 : 256;
        struct vis_row *tab = calloc(cap, sizeof(*tab));

        if (!tab)
            return NULL;
        for (size_t j = 0; j < v->cap_rows; j++) {
            if (!v->rows[j].key[0])
                continue;
            for (i = (size_t)fnv1a(v->rows[j].key) & (cap - 1); tab[i].key[0];
                 i = (i + 1) & (cap - 1))
                ;
            tab[i] = v->rows[j];
        }
        free(v->rows);
        v->rows = tab;
        v->cap_rows = cap;
    }
    if (!v->cap_rows)
        return NULL;
    for (i = (size_t)fnv1a(key) & (v->cap_rows - 1); v->rows[i].key[0];
         i = (i + 1) & (v->cap_rows - 1))
        if (streq(v->rows[i].key, key))
            return &v->rows[i];
    if (!create)
        return NULL;
    memcpy(v->rows[i].key, key, sizeof(key));
    v->n_rows++;
    return &v->rows[i];
}

/* 1 when the row is visible (common/access.c over its current fields), 0, or -errno. */
static int viewer_row(struct viewer *v, const struct cat_table *t, const char *row_id,
                      const char *person_id)
{
    struct vis_row *vr = viewer_slot(v, t, row_id, true);
    struct access_row ar;
    struct row_src rs = {0};
    bool owns = false;
    int r;

    if (!vr)
        return -ENOMEM;
    if (vr->decided)
        return vr->visible;
    if (access_row_needs_fields(v->p->role, t)) {
        r = row_source(v, t, row_id, person_id, &rs, &owns);
        if (r < 0)
            return r;
        /* The cache may have moved while the row was loaded. */
        vr = viewer_slot(v, t, row_id, true);
        if (!vr)
            return -ENOMEM;
        if (access_class_of(v->p->role) != ACCESS_VCSE || !streq(t->name, "goal"))
            owns = false;
    }
    ar = (struct access_row){row_src_get, &rs};
    /* Being in scope already means no consent provision denies this worker's sector. */
    vr->visible = access_row_visible(v->p->role, v->p->user, t, &ar, owns, true);
    vr->decided = true;
    return vr->visible;
}

static int add_field(struct viewer *v, const struct pull_field *f)
{
    v->count++;
    return proto_sync_reply_add_change(v->reply, f->table, f->field, f->row_id, f->person_id,
                                       f->value, f->hlc, f->device);
}

/* Send every visible field of a row; later changes to the row in the same page are then
 * already there. */
static int send_row(struct viewer *v, const struct cat_table *t, const char *row_id,
                    const char *person_id)
{
    struct row_src rs;
    struct vis_row *vr;
    bool owns;
    int r = row_source(v, t, row_id, person_id, &rs, &owns);

    for (size_t i = 0; r >= 0 && i < rs.n; i++) {
        const struct pull_field *f = &rs.f[i];

        if (f->table != t || !streq(f->row_id, row_id) || !f->field ||
            !access_field_visible(v->p->role, t, f->field))
            continue;
        r = add_field(v, f);
    }
    if (r < 0)
        return r;
    vr = viewer_slot(v, t, row_id, false);
    if (vr)
        vr->whole = true;
    return 0;
}

static int drop_row(struct viewer *v, const struct cat_table *t, const char *row_id)
{
    v->count++;
    return proto_sync_reply_add_drop(v->reply, t, row_id);
}

static int purge_person(struct viewer *v, const char *person_id)
{
    struct vis_person *vp = viewer_person(v, person_id);

    if (!vp)
        return -ENOMEM;
    if (vp->purged)
        return 0;
    vp->purged = true;
    v->count++;
    return proto_sync_reply_add_purge(v->reply, person_id);
}

/* The person's whole current state (and facts): loaded by the page's facts, or now with those
 * of the people after them in the page (v->wanted, in page order) up to the budget. */
static int person_state(struct viewer *v, const char *person_id, struct pull_person **ret)
{
    struct pull_person *ask;
    size_t n = 0, from = 0;
    int r;

    *ret = facts_person(v, person_id, true);
    if (*ret)
        return 0;
    for (size_t i = 0; i < v->n_wanted; i++)
        if (streq(v->wanted[i].person_id, person_id)) {
            from = i;
            break;
        }
    ask = calloc(v->n_wanted - from + 1, sizeof(*ask));
    if (!ask)
        return -ENOMEM;
    copy_text(ask[n].person_id, UUID_STR_MAX, person_id);
    ask[n++].want_state = true;
    for (size_t i = from; i < v->n_wanted; i++)
        if (!streq(v->wanted[i].person_id, person_id) &&
            !facts_person(v, v->wanted[i].person_id, true)) {
            copy_text(ask[n].person_id, UUID_STR_MAX, v->wanted[i].person_id);
            ask[n++].want_state = true;
        }
    r = viewer_load(v, ask, n, NULL, 0);
    if (r < 0)
        return r;
    *ret = facts_person(v, person_id, true);
    return *ret ? 0 : -EIO; /* the first state asked for is always loaded */
}

struct page {
    struct viewer v;
    struct pull_load load;
};

/* The person's visible state: every visible field of every visible row set at or before @upto. */
static int send_person(struct page *pg, const char *person_id, uint64_t upto)
{
    struct viewer *v = &pg->v;
    struct pull_person *fp;
    int r;

    r = viewer_denied(v, person_id);
    if (r != 0)
        return r < 0 ? r : 0;
    r = person_state(v, person_id, &fp);
    if (r < 0)
        return r;
    for (size_t i = 0; i < fp->n_state; i++) {
        const struct pull_field *f = &fp->state[i];

        if (f->seq > upto || !f->table || !f->field ||
            !access_field_visible(v->p->role, f->table, f->field))
            continue;
        r = viewer_row(v, f->table, f->row_id, person_id);
        if (r > 0)
            r = add_field(v, f);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * true when the field's current version was written by this device's push in this same request:
 * the outcomes of this response already tell the device that version (with any re-stamped clock,
 * or the winning value when its change lost), so it is not sent back. Versions from earlier
 * requests are sent as usual: a device whose replica went back to an older copy gets them again.
 */
static bool pushed_now(const struct viewer *v, const struct pull_field *f)
{
    return f->seq > v->pushed_after && streq(f->device, v->p->device_id);
}

/* The goal a plan_action row serves (NULL: none), from its loaded fields. */
static int action_goal(struct viewer *v, const struct pull_field *f, const char **ret)
{
    struct row_src rs;
    bool owns;
    int r = row_source(v, f->table, f->row_id, f->person_id, &rs, &owns);

    *ret = r < 0 ? NULL : row_src_get(&rs, "goal_id");
    return r;
}

/*
 * One changed field from the stream. A consent change re-decides whether the person is on this
 * worker's devices (purge, or their whole visible state again); a change to a field that decides
 * a row's visibility sends the whole row or withdraws it; any other field is sent when its row
 * and the field itself are visible.
 */
static int view_field(struct page *pg, const struct pull_field *fs)
{
    struct viewer *v = &pg->v;
    const struct cat_table *t = fs->table;
    const struct cat_field *f = fs->field;
    bool coordinator = store_role_is_coordinator(v->p->role);
    const char *person_id = fs->person_id;
    int r;

    if (!t || !f)
        return 0;
    if (!coordinator && streq(t->name, "consent")) {
        struct vis_person *vp;

        r = viewer_denied(v, person_id);
        if (r < 0)
            return r;
        if (r > 0)
            return purge_person(v, person_id);
        vp = viewer_person(v, person_id);
        if (!vp)
            return -ENOMEM;
        if (!vp->resent) {
            vp->resent = true;
            vp->purged = false;
            return send_person(pg, person_id, UINT64_MAX);
        }
        return 0;
    }
    if (!coordinator) {
        r = viewer_denied(v, person_id);
        if (r != 0)
            return r < 0 ? r : 0;
    }
    if (access_field_decides(t, f)) {
        const char *goal;

        r = viewer_row(v, t, fs->row_id, person_id);
        if (r < 0)
            return r;
        /* The device that wrote a deciding field of a row it still sees holds the row (its
         * client writes only rows it holds; one that wrote a row it could not see gets the
         * other fields as they next change). */
        if (!r)
            r = drop_row(v, t, fs->row_id);
        else if (!pushed_now(v, fs))
            r = send_row(v, t, fs->row_id, person_id);
        else
            r = 0;
        if (r < 0 || !streq(t->name, "plan_action"))
            return r;
        /* A volunteer sees a goal through their actions: re-decide the goal too. */
        r = action_goal(v, fs, &goal);
        if (r < 0 || !goal)
            return r;
        {
            const struct cat_table *g = catalogue_table("goal");
            char goal_id[UUID_STR_MAX];

            copy_text(goal_id, sizeof(goal_id), goal);
            r = viewer_row(v, g, goal_id, person_id);
            if (r < 0)
                return r;
            return r ? send_row(v, g, goal_id, person_id) : drop_row(v, g, goal_id);
        }
    }
    if (!access_field_visible(v->p->role, t, f))
        return 0;
    if (pushed_now(v, fs))
        return 0;
    r = viewer_row(v, t, fs->row_id, person_id);
    if (r <= 0)
        return r;
    {
        struct vis_row *vr = viewer_slot(v, t, fs->row_id, false);

        if (vr && vr->whole)
            return 0;
    }
    return add_field(v, fs);
}

/*
 * A re-decision's start of assignment (the worker's role changed): the person's visible state as
 * for any start, and a drop of every row of theirs the new role may not see (a volunteer's
 * device then holds no clinical notes); a purge when consent now denies the role's sector.
 */
static int redecide_person(struct page *pg, const char *person_id, uint64_t upto)
{
    struct viewer *v = &pg->v;
    struct pull_person *fp;
    int r;

    r = viewer_denied(v, person_id);
    if (r != 0)
        return r < 0 ? r : purge_person(v, person_id);
    r = send_person(pg, person_id, upto);
    if (r < 0)
        return r;
    r = person_state(v, person_id, &fp);
    if (r < 0)
        return r;
    for (size_t i = 0; i < fp->n_state; i++) {
        const struct pull_field *f = &fp->state[i];
        bool seen = false;

        if (!f->table)
            continue;
        /* each row once */
        for (size_t j = 0; j < i && !seen; j++)
            seen = fp->state[j].table == f->table && streq(fp->state[j].row_id, f->row_id);
        if (seen)
            continue;
        r = viewer_row(v, f->table, f->row_id, person_id);
        if (r == 0)
            r = drop_row(v, f->table, f->row_id);
        if (r < 0)
            return r;
    }
    return 0;
}

static int event_cmp(const void *a, const void *b)
{
    const struct pull_event *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Add @person_id to the page's facts (once); @state asks for its whole state. */
static int want_person(struct pull_person **arr, size_t *n, size_t *cap, const char *person_id,
                       bool state)
{
    for (size_t i = 0; i < *n; i++)
        if (streq((*arr)[i].person_id, person_id)) {
            (*arr)[i].want_state |= state;
            return 0;
        }
    if (array_grow((void **)arr, cap, *n, sizeof(**arr), 16) < 0)
        return -ENOMEM;
    memset(&(*arr)[*n], 0, sizeof(**arr));
    copy_text((*arr)[*n].person_id, UUID_STR_MAX, person_id);
    (*arr)[(*n)++].want_state = state;
    return 0;
}

static int want_row(struct pull_row **arr, size_t *n, size_t *cap, const struct cat_table *t,
                    const char *row_id, const char *person_id)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i].table == t && streq((*arr)[i].row_id, row_id))
            return 0;
    if (array_grow((void **)arr, cap, *n, sizeof(**arr), 16) < 0)
        return -ENOMEM;
    memset(&(*arr)[*n], 0, sizeof(**arr));
    (*arr)[*n].table = t;
    copy_text((*arr)[*n].row_id, UUID_STR_MAX, row_id);
    copy_text((*arr)[*n].person_id, UUID_STR_MAX, person_id);
    (*n)++;
    return 0;
}

/*
 * The page's facts in one call: every person it names (a worker's), the whole states of the
 * people whose state a start, a re-decision or a consent change sends (in page order, up to the
 * budget), and the rows of its stream whose visibility reads their fields or that a deciding
 * field sends whole. Then, in one more call only when the page has any, the goals of the actions
 * whose deciding fields changed.
 */
static int page_facts(struct page *pg)
{
    struct viewer *v = &pg->v;
    const struct pull_load *l = &pg->load;
    bool coordinator = store_role_is_coordinator(v->p->role);
    size_t cap_people = 0, cap_rows = 0, cap_wanted = 0, ie = 0, jf = 0;
    struct pull_row *goals = NULL;
    size_t n_goals = 0, cap_goals = 0;
    int r = 0;

    /* In page order: the events and the stream merged by sequence number. */
    while (r >= 0 && (ie < l->n_events || jf < l->n_fields)) {
        bool ev = ie < l->n_events && (jf == l->n_fields || l->events[ie].seq < l->fields[jf].seq);

        if (ev) {
            const struct pull_event *e = &l->events[ie++];

            if (e->purge)
                continue;
            r = want_person(&v->facts.people, &v->facts.n_people, &cap_people, e->person_id,
                            true);
            if (r >= 0)
                r = want_person(&v->wanted, &v->n_wanted, &cap_wanted, e->person_id, true);
            continue;
        }
        {
            const struct pull_field *f = &l->fields[jf++];
            bool consent = !coordinator && f->table && streq(f->table->name, "consent");

            if (!f->table || !f->field)
                continue;
            if (!coordinator)
                r = want_person(&v->facts.people, &v->facts.n_people, &cap_people,
                                f->person_id, consent);
            if (r >= 0 && consent)
                r = want_person(&v->wanted, &v->n_wanted, &cap_wanted, f->person_id, true);
            if (r >= 0 && (access_row_needs_fields(v->p->role, f->table) ||
                           access_field_decides(f->table, f->field)))
                r = want_row(&v->facts.rows, &v->facts.n_rows, &cap_rows, f->table, f->row_id,
                             f->person_id);
        }
    }
    if (r < 0)
        return r;
    if (v->facts.n_people == 0 && v->facts.n_rows == 0)
        return 0;
    v->facts.state_budget = STORE_PULL_PAGE + 1;
    r = v->b->ops->pull_facts(v->b, v->p, &v->facts);
    if (r < 0)
        return r;
    /* The goals of actions whose deciding fields changed, not loaded yet. */
    for (size_t i = 0; i < l->n_fields && r >= 0; i++) {
        const struct pull_field *f = &l->fields[i];
        const struct cat_table *g = catalogue_table("goal");
        struct pull_row *fr;
        const char *goal;
        struct row_src rs;

        if (!f->table || !f->field || !streq(f->table->name, "plan_action") ||
            !access_field_decides(f->table, f->field))
            continue;
        fr = facts_row(v, f->table, f->row_id);
        if (!fr)
            continue;
        rs = (struct row_src){fr->fields, fr->n_fields, f->table, f->row_id};
        goal = row_src_get(&rs, "goal_id");
        if (goal && !facts_row(v, g, goal))
            r = want_row(&goals, &n_goals, &cap_goals, g, goal, f->person_id);
    }
    if (r < 0 || n_goals == 0) {
        free(goals);
        return r;
    }
    return viewer_load(v, NULL, 0, goals, n_goals);
}

int engine_pull(const struct engine *e, const struct store_principal *p, uint64_t cursor,
                uint64_t pushed_after, int redecide, struct proto_sync_reply *resp,
                uint64_t *ret_cursor)
{
    struct backend *b = e->b;
    struct page pg = {.v = {.b = b, .p = p, .reply = resp, .pushed_after = pushed_after}};
    struct viewer *v = &pg.v;
    struct pull_load *l = &pg.load;
    bool coordinator = store_role_is_coordinator(p->role), more = false;
    size_t i_ev = 0, i_f = 0;
    uint64_t last = cursor, limit_seq = UINT64_MAX;
    char buf[24];
    int r;

    l->cursor = cursor;
    l->limit = STORE_PULL_PAGE + 1;
    l->caseload = !coordinator;
    l->others = !coordinator && redecide == 2 && cursor == 0;
    r = b->ops->pull_load(b, p, l);
    if (r < 0)
        goto out;
    if (l->n_events > 1)
        qsort(l->events, l->n_events, sizeof(*l->events), event_cmp);
    if (l->n_fields > STORE_PULL_PAGE + 1) {
        r = -EIO; /* a backend that did not keep to the limit */
        goto out;
    }
    /* A re-decision's first page, for a worker who was a coordinator: a purge of every person
     * not on their caseload now. Purges are not counted against the page, so the first page
     * always carries them all. */
    for (size_t i = 0; i < l->n_others; i++) {
        r = purge_person(v, l->others_ids[i]);
        if (r < 0)
            goto out;
    }
    v->count = 0;
    r = page_facts(&pg);
    if (r < 0)
        goto out;

    /*
     * Merge the field stream with the caseload events by sequence number. A worker's stream, in
     * server order: a start of assignment sends the person's whole state as of that event; later
     * field writes to people on the caseload are sent one by one; an ended assignment sends a
     * purge. The page ends after the event that reaches STORE_PULL_PAGE items (a person is
     * never split), and the cursor is the last event sent, or the newest sequence number when
     * nothing is left.
     */
    for (bool fields_done = false;;) {
        uint64_t fseq = UINT64_MAX;

        if (!fields_done && i_f < l->n_fields) {
            if (i_f == STORE_PULL_PAGE) {
                /* Events past the last fetched field may hide unfetched fields before them. */
                limit_seq = last > cursor ? last : cursor;
                more = true;
                fields_done = true;
            } else {
                fseq = l->fields[i_f].seq;
            }
        } else {
            fields_done = true;
        }
        if (fseq == UINT64_MAX && i_ev == l->n_events)
            break;
        if (v->count >= STORE_PULL_PAGE) {
            more = true;
            break;
        }
        if (i_ev < l->n_events && l->events[i_ev].seq < fseq) {
            const struct pull_event *ev = &l->events[i_ev];

            if (ev->seq > limit_seq) {
                more = true;
                break;
            }
            if (!ev->purge && redecide)
                r = redecide_person(&pg, ev->person_id, ev->seq);
            else if (!ev->purge)
                r = send_person(&pg, ev->person_id, ev->seq);
            else
                r = purge_person(v, ev->person_id);
            if (r < 0)
                goto out;
            last = ev->seq;
            i_ev++;
            continue;
        }
        if (fseq == UINT64_MAX)
            break;
        r = view_field(&pg, &l->fields[i_f]);
        if (r < 0)
            goto out;
        i_f++;
        last = fseq;
    }
    if (!more)
        last = *b->seq > last ? *b->seq : last;
    snprintf(buf, sizeof(buf), "%" PRIu64, last);
    *ret_cursor = last;
    r = proto_sync_reply_set_cursor(resp, buf);
    resp->more = more;
out:
    backend_pull_load_done(l);
    viewer_done(v);
    return r < 0 ? r : 0;
}

/* ---- a sync's pull: the re-decision, the closed sweep, the page, what the device was given ---- */

int engine_sync_pull_begin(const struct engine *e, const struct store_principal *p,
                           const char *cursor, uint64_t *cur, struct engine_pull_state *st)
{
    struct backend *b = e->b;
    int r;

    *st = (struct engine_pull_state){0};
    r = b->ops->pull_device(b, p, &st->dev);
    if (r < 0)
        return r;
    /*
     * Whether this pull re-decides the device's replica after its user's role changed
     * (docs/internals/access.md, "Role changes"): 0 no; 1 (or 2: the user was a coordinator,
     * whose device may hold anyone) yes. A re-decision starts at cursor 0 and goes on while the
     * device sends back the cursor of its last re-decision page; it ends when the device sends
     * the cursor of the last page, so a lost reply only starts it again.
     */
    st->redecide = st->dev.redecide;
    if (st->redecide) {
        bool ours = st->dev.redecide_cursor[0] && cursor &&
                    streq(cursor, st->dev.redecide_cursor);

        if (ours && st->dev.redecide_done) {
            st->dev.redecide = 0;
            st->dev.redecide_cursor[0] = '\0';
            st->dev.redecide_done = false;
            st->redecide = 0;
            st->dirty = true;
        } else if (!ours) {
            *cur = 0;
        }
    }
    return 0;
}

int engine_sync_pull_sweep(const struct engine *e, bool write)
{
    struct backend *b = e->b;
    char cutoff[ISO_TIME_MAX];
    int r;

    /* Records closed on or before STORE_CLOSED_KEEP_DAYS ago (their server-written closed_on)
     * leave field workers' devices: one new sequence number for all found now, which the
     * caseload events turn into purges. Coordinators keep them. */
    iso_time(hlc_wall_ms() - (uint64_t)STORE_CLOSED_KEEP_DAYS * 86400 * 1000, cutoff);
    cutoff[10] = '\0'; /* YYYY-MM-DD, as closed_on */
    if (write) {
        r = b->ops->expire_closed(b, cutoff);
        return r < 0 ? r : 0;
    }
    /* Almost always none: then the page needs no write before it. */
    r = b->ops->closed_due(b, cutoff);
    return r < 0 ? r : r > 0;
}

int engine_sync_pull_page(const struct engine *e, const struct store_principal *p, uint64_t cur,
                          uint64_t pushed_after, struct proto_sync_reply *resp,
                          struct engine_pull_state *st)
{
    int r = engine_pull(e, p, cur, pushed_after, st->redecide, resp, &st->given);

    if (r < 0)
        return r;
    /* A re-decision starts: the device re-reads, and what the pull does not send it again (a
     * field its new role may not see) leaves it when the pull ends. */
    if (st->redecide > 0 && cur == 0)
        resp->reread = true;
    return 0;
}

int engine_sync_pull(const struct engine *e, const struct store_principal *p, const char *cursor,
                     uint64_t cur, uint64_t pushed_after, struct proto_sync_reply *resp,
                     struct engine_pull_state *st)
{
    int r = engine_sync_pull_begin(e, p, cursor, &cur, st);

    if (r >= 0)
        r = engine_sync_pull_sweep(e, true);
    return r < 0 ? r : engine_sync_pull_page(e, p, cur, pushed_after, resp, st);
}

int engine_sync_pull_end(const struct engine *e, const struct store_principal *p,
                         const struct proto_sync_reply *resp, struct engine_pull_state *st)
{
    struct backend *b = e->b;

    /* Committed with the reply: from now on the device has been told this much. */
    if (st->given > st->dev.given_cursor) {
        st->dev.given_cursor = st->given;
        st->dirty = true;
    }
    /* The cursor of a re-decision page just given, exactly as the reply gives it, and whether
     * it was the last. */
    if (st->redecide > 0) {
        copy_text(st->dev.redecide_cursor, sizeof(st->dev.redecide_cursor), resp->cursor);
        st->dev.redecide_done = !resp->more;
        st->dirty = true;
    }
    return st->dirty ? b->ops->pull_device_set(b, p, &st->dev) : 0;
}
