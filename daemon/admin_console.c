/* SPDX-License-Identifier: MIT */
/* admin_console.c - `caresyncd user passwd` (a console password and a new TOTP secret, shown
 * as an otpauth URI and a QR code) and `caresyncd user totp` (the current code, for demos and
 * tests). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "admin.h"
#include "console.h"
#include "macro.h"
#include "store.h"

static void store_freep(struct store **p)
{
    store_free(*p);
}

/* One line from standard input into @buf, without its newline; echo off at a terminal. */
static int read_line(const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char *got;

    if (tty) {
        fputs(prompt, stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    got = fgets(buf, (int)size, stdin);
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!got)
        return -ENODATA;
    if (!strchr(buf, '\n') && !feof(stdin))
        return -E2BIG;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

int admin_user_passwd(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_(store_freep) struct store *s = NULL;
    _cleanup_free_ char *svg = NULL;
    const char *name = o->args[0];
    char pw[CONSOLE_PASSWORD_MAX + 2], again[CONSOLE_PASSWORD_MAX + 2];
    char hash[STORE_PHC_MAX], secret[STORE_TOTP_MAX], uri[512];
    struct store_staff_login l;
    int r;

    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_staff_login_get(s, name, &l);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND, "no user named '%s'; see 'caresyncd user list'", name);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "reading the user failed (%s); nothing was changed",
                   strerror(-r));
    if (!store_role_is_coordinator(l.role) && !streq(l.role, "admin"))
        return admin_fail(ADMIN_EXIT_USAGE,
                   "'%s' has a field role; only coordinators and administrators sign in to the "
                   "console", name);
    r = read_line("New console password: ", pw, sizeof(pw));
    if (r == 0 && isatty(STDIN_FILENO)) {
        r = read_line("Again: ", again, sizeof(again));
        if (r == 0 && !streq(pw, again)) {
            explicit_bzero(pw, sizeof(pw));
            explicit_bzero(again, sizeof(again));
            return admin_fail(ADMIN_EXIT_USAGE, "the two passwords differ; nothing was changed%s", "");
        }
        explicit_bzero(again, sizeof(again));
    }
    if (r == 0)
        r = console_password_hash(pw, hash, sizeof(hash));
    explicit_bzero(pw, sizeof(pw));
    if (r == -EINVAL || r == -E2BIG || r == -ENODATA) {
        fprintf(stderr, "caresyncd: give a password of %d to %d characters on standard input; "
                        "nothing was changed\n", CONSOLE_PASSWORD_MIN, CONSOLE_PASSWORD_MAX);
        return ADMIN_EXIT_USAGE;
    }
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "hashing the password failed (%s); nothing was changed",
                   strerror(-r));
    r = console_totp_secret_new(secret, sizeof(secret));
    if (r >= 0)
        r = console_otpauth_uri(name, secret, uri, sizeof(uri));
    if (r >= 0 && o->qr)
        r = console_qr_svg(uri, &svg);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "making the TOTP secret failed (%s); nothing was changed",
                   strerror(-r));
    if (svg) {
        r = file_write_sync(o->qr, svg, strlen(svg), 0600);
        if (r < 0)
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot write the QR code to %s; nothing was changed",
                       o->qr);
    }
    r = store_staff_login_set(s, name, hash, secret);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "saving the password failed (%s); nothing was changed",
                   strerror(-r));
    printf("set the console password of %s; their sessions signed in before have ended\n", name);
    printf("authenticator app: scan %s or enter the secret %s\n",
           o->qr ? o->qr : "the QR code (run again with --qr FILE.svg)", secret);
    printf("otpauth URI: %s\n", uri);
    return ADMIN_EXIT_OK;
}

int admin_user_totp(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_(store_freep) struct store *s = NULL;
    struct store_staff_login l;
    char code[8];
    int r;

    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_staff_login_get(s, o->args[0], &l);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND, "no user named '%s'; see 'caresyncd user list'",
                   o->args[0]);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "reading the user failed (%s)", strerror(-r));
    if (!l.has_login)
        return admin_fail(ADMIN_EXIT_NOT_FOUND,
                   "'%s' has no console password yet; set one with 'caresyncd user passwd'",
                   o->args[0]);
    r = console_totp_now(l.totp_secret, code);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "the stored TOTP secret does not decode (%s); set a new "
                                       "one with 'caresyncd user passwd'", strerror(-r));
    printf("%s\n", code);
    return ADMIN_EXIT_OK;
}
