/* SPDX-License-Identifier: MIT */
/* merge.c - last-writer-wins by (hlc, device) and the conflict-log rules. */
#include "merge.h"

#include <string.h>

#include "hlc.h"

int merge_cmp(struct merge_version a, struct merge_version b)
{
    return hlc_version_cmp(a.hlc, a.device, b.hlc, b.device);
}

bool merge_wins(struct merge_version incoming, const struct merge_version *current)
{
    return !current || merge_cmp(incoming, *current) > 0;
}

bool merge_unseen(struct merge_version base, struct merge_version v)
{
    return merge_cmp(base, v) < 0;
}

static bool same_value(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool merge_concurrent_loss(struct merge_version x, const char *x_value, struct merge_version y,
                           struct merge_version y_base, const char *y_value)
{
    return merge_cmp(y, x) > 0 && merge_unseen(y_base, x) && !same_value(x_value, y_value);
}

bool merge_hidden_by_delete(struct merge_version x, struct merge_version t_base)
{
    return merge_unseen(t_base, x);
}

bool merge_same_writer(struct merge_version p, struct merge_version p_base, bool p_restamped,
                       struct merge_version q, struct merge_version q_base, bool q_restamped)
{
    if (!p.device || !q.device || strcmp(p.device, q.device) != 0)
        return false;
    /* q is the later one; otherwise swap the roles. */
    if (merge_cmp(p, q) > 0)
        return !p_restamped || !merge_unseen(p_base, q);
    return !q_restamped || !merge_unseen(q_base, p);
}
