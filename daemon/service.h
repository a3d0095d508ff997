/* SPDX-License-Identifier: MIT */
/* service.h - caresyncd as a system service: the data directory handed to the configured user,
 * privileges dropped to it after binding, and readiness told to systemd (sd_notify, when built
 * with libsystemd). docs/OPERATIONS.md. */
#pragma once

#include <stdbool.h>

/*
 * service_own_data() - started as root with a configured @user: make directory @dir (0700) and
 * each regular file directly in it (store, WAL, lock, keys: 0600; certificates keep theirs)
 * belong to @user and its group, and @log_file (may be NULL) too, so that @user can go on after
 * service_drop() and at its next start. Links are not followed. Not root: does nothing (0).
 * Returns 0, or -errno with one line logged.
 */
int service_own_data(const char *dir, const char *user, const char *log_file);

/*
 * service_drop() - become @user (its uid, its primary group, its supplementary groups) for
 * good. Started as root: after binding, before serving. Not root: fine when already @user,
 * -EPERM (logged) otherwise. Returns 0 or -errno, logged.
 */
int service_drop(const char *user);

/* service_notify() - tell systemd @state ("READY=1", "RELOADING=1", "STOPPING=1"); nothing
 * when not started by systemd (no NOTIFY_SOCKET) or built without libsystemd. */
void service_notify(const char *state);

/* service_notify_supported() - whether this build can tell systemd it is ready. */
bool service_notify_supported(void);
