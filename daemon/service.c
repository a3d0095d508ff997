/* SPDX-License-Identifier: MIT */
/* service.c - the data directory's owner, the privilege drop and sd_notify (service.h). */
#include "service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "macro.h"

static int lookup(const char *user, struct passwd *ret)
{
    struct passwd *pw;

    errno = 0;
    pw = getpwnam(user);
    if (!pw)
        return log_error_errno(errno ? -errno : -ENOENT,
                               "no user '%s' on this machine; create it (useradd --system) or "
                               "set user to another", user);
    *ret = *pw;
    return 0;
}

/* Keys, the store and its companions are the owner's alone; certificates may be read by all. */
static bool private_file(const char *name)
{
    size_t n = strlen(name);

    return !(n > 4 && streq(name + n - 4, ".pem"));
}

int service_own_data(const char *dir, const char *user, const char *log_file)
{
    struct passwd pw;
    struct dirent *e;
    DIR *d;
    int dfd, r = 0;

    if (geteuid() != 0)
        return 0;
    r = lookup(user, &pw);
    if (r < 0)
        return r;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return log_error_errno(-errno, "cannot open the data directory %s: %s", dir,
                               strerror(errno));
    if (fchown(dfd, pw.pw_uid, pw.pw_gid) < 0 || fchmod(dfd, 0700) < 0) {
        r = -errno;
        close(dfd);
        return log_error_errno(r, "cannot give %s to user %s: %s", dir, user, strerror(-r));
    }
    d = fdopendir(dfd);
    if (!d) {
        r = -errno;
        close(dfd);
        return log_error_errno(r, "cannot read the data directory %s: %s", dir, strerror(-r));
    }
    while ((e = readdir(d))) {
        struct stat st;

        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (fchownat(dfd, e->d_name, pw.pw_uid, pw.pw_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            (private_file(e->d_name) && fchmodat(dfd, e->d_name, 0600, 0) < 0)) {
            r = -errno;
            log_error("cannot give %s/%s to user %s: %s", dir, e->d_name, user, strerror(-r));
            break;
        }
    }
    closedir(d);
    if (r == 0 && log_file && chown(log_file, pw.pw_uid, pw.pw_gid) < 0) {
        r = -errno;
        log_error("cannot give the log file %s to user %s: %s", log_file, user, strerror(-r));
    }
    return r;
}

int service_drop(const char *user)
{
    struct passwd pw;
    int r;

    r = lookup(user, &pw);
    if (r < 0)
        return r;
    if (geteuid() != 0) {
        if (geteuid() == pw.pw_uid)
            return 0;
        return log_error_errno(-EPERM, "cannot become user %s: not started as root (run it as "
                               "root, or as %s, or leave user out)", user, user);
    }
    if (initgroups(pw.pw_name, pw.pw_gid) < 0 || setgid(pw.pw_gid) < 0 ||
        setuid(pw.pw_uid) < 0)
        return log_error_errno(-errno, "cannot become user %s: %s", user, strerror(errno));
    /* For good: root must not come back. */
    if (pw.pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return log_error_errno(-EPERM, "became user %s but could go back to root; stopping",
                               user);
    log_info("running as user %s (uid %u, gid %u)", user, (unsigned)pw.pw_uid,
             (unsigned)pw.pw_gid);
    return 0;
}

void service_notify(const char *state)
{
#if HAVE_LIBSYSTEMD
    int r = sd_notify(0, state);

    if (r < 0)
        log_warn("cannot tell systemd %s: %s", state, strerror(-r));
#else
    (void)state;
#endif
}

bool service_notify_supported(void)
{
    return HAVE_LIBSYSTEMD;
}
