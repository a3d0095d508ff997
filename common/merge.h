/* SPDX-License-Identifier: MIT */
/* merge.h - the merge rules as pure functions: which version wins a field, and when a lost value
 * belongs in the conflict log. Used by the daemon's store and by devices; docs/internals/merge.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A field version: the clock and device of the write that set it. hlc 0 = no version. */
struct merge_version {
    uint64_t hlc;
    const char *device;
};

/* merge_cmp() - total order of versions: clock, then device id. <0, 0, >0. */
int merge_cmp(struct merge_version a, struct merge_version b);

/* merge_wins() - true when @incoming replaces @current (NULL = the field has no version yet). */
bool merge_wins(struct merge_version incoming, const struct merge_version *current);

/*
 * merge_unseen() - true when a writer whose base was @base had not seen version @v: its base
 * is older than @v.
 */
bool merge_unseen(struct merge_version base, struct merge_version v);

/*
 * merge_concurrent_loss() - the pairwise rule for the conflict log. The value written by @x is
 * logged as lost to @y when @y is the newer version, @y's writer had not seen @x (y_base older
 * than x) and the values differ (NULL = cleared). Independent of arrival order: whichever of the
 * two arrives second detects the pair.
 */
bool merge_concurrent_loss(struct merge_version x, const char *x_value, struct merge_version y,
                           struct merge_version y_base, const char *y_value);

/*
 * merge_hidden_by_delete() - an edit @x to a row is logged as edit-after-delete against a
 * tombstone whose base (the highest row version its writer held) was @t_base when the deleting
 * device had not seen @x.
 */
bool merge_hidden_by_delete(struct merge_version x, struct merge_version t_base);

/*
 * merge_same_writer() - true when versions @p and @q were written by one device and the later
 * of the two had seen the earlier: a device holds its own writes, so its later write follows
 * its earlier one unless the later version is not the device's own clock (@*_restamped: the
 * server re-stamped it, a clamped clock or a domain rule); then only its base (@*_base at
 * least the earlier version) says so. Such a pair is one device's successive edits and never a
 * conflict (docs/internals/merge.md).
 */
bool merge_same_writer(struct merge_version p, struct merge_version p_base, bool p_restamped,
                       struct merge_version q, struct merge_version q_base, bool q_restamped);
