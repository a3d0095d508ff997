/* SPDX-License-Identifier: MIT */
/* admin.c - the admin subcommands of caresyncd: make a data directory, add users, make
 * enrolment codes, add and assign people, list and revoke devices. Each opens the store,
 * calls it once and closes it; they work while 'caresyncd serve' runs (WAL + busy timeout). */
#include "admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fhir.h"
#include "hlc.h"
#include "store.h"
#include "util.h"

#define ADMIN_EXPIRES_DEFAULT_MIN 1440        /* one day */
#define ADMIN_EXPIRES_MAX_MIN     (30 * 1440) /* thirty days */

static inline void store_freep(struct store **p)
{
    store_free(*p);
}
#define _cleanup_store_ _cleanup_(store_freep)

/* Print "caresyncd: <message>" on stderr and return @code. */
int admin_fail(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("caresyncd: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int admin_usage(const struct admin_command *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "caresyncd %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see 'caresyncd %s --help'\n", cmd->name);
    return ADMIN_EXIT_USAGE;
}

int admin_path_in(const char *dir, const char *name, char buf[static PATH_MAX])
{
    if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

/* A store call failed for a reason that is not the caller's. */
int admin_store_failure(int r, const char *what)
{
    if (r == -EBUSY)
        return admin_fail(ADMIN_EXIT_FAILURE, "the store is busy; nothing was changed; try again");
    return admin_fail(ADMIN_EXIT_FAILURE, "%s failed: %s; nothing was changed", what, strerror(-r));
}

/*
 * @url as it may be shown: the password of a URI's user (postgresql://USER:PASSWORD@...) and
 * every password=... parameter (a URI's query or a key=value string) replaced by ***.
 */
const char *admin_url_shown(const char *url, char *buf, size_t size)
{
    const char *scheme = strstr(url, "://");
    size_t o = 0;

    for (const char *p = url; *p && o + 4 < size;) {
        const char *at = scheme && p == scheme + 3 ? strpbrk(p, "@/") : NULL;
        const char *colon = at && *at == '@' ? memchr(p, ':', (size_t)(at - p)) : NULL;

        if (colon) { /* USER:PASSWORD@ */
            size_t n = (size_t)(colon - p) + 1;

            if (o + n + 4 >= size)
                break;
            memcpy(buf + o, p, n);
            o += n;
            memcpy(buf + o, "***", 3);
            o += 3;
            p = at;
            continue;
        }
        if (strncasecmp(p, "password=", 9) == 0 && (p == url || strchr(" ?&", p[-1]))) {
            if (o + 12 >= size)
                break;
            memcpy(buf + o, "password=***", 12);
            o += 12;
            p += 9;
            if (*p == '\'') /* a quoted key=value: to the closing quote */
                p = strchr(p + 1, '\'') ? strchr(p + 1, '\'') + 1 : p + strlen(p);
            else
                p += strcspn(p, " &");
            continue;
        }
        buf[o++] = *p++;
    }
    buf[o] = '\0';
    return buf;
}

/* The PostgreSQL store's URL from DIR/store.url into *ret (malloc'd): 1, 0 when there is no
 * such file (the store is DIR/store.db), or -errno. */
static int read_store_url(const char *dir, char **ret)
{
    char path[PATH_MAX], line[4096];
    bool got;
    FILE *f;
    size_t n;

    if (admin_path_in(dir, "store.url", path) < 0)
        return -ENAMETOOLONG;
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!got)
        return -EBADMSG;
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (n == 0)
        return -EBADMSG;
    *ret = strdup(line);
    return *ret ? 1 : -ENOMEM;
}

int admin_store_is_url(const char *dir)
{
    _cleanup_free_ char *url = NULL;

    return read_store_url(dir, &url);
}

/* Open the PostgreSQL store at @url (from --store or DIR/store.url, named by @from in
 * messages): 0, or the exit code after saying why. */
static int open_url(const char *url, const char *from, struct store **ret, bool *ret_joined)
{
    char shown[1024], why[256] = "";
    int r = store_open_url_why(url, ret, ret_joined, why, sizeof(why));

    if (r >= 0)
        return ADMIN_EXIT_OK;
    admin_url_shown(url, shown, sizeof(shown));
    if (r == -ENOTCONN)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot connect to the PostgreSQL store %s (%s): "
                          "%s; check the URL, that the database is up and the login", shown,
                          from, why[0] ? why : "the connection was lost");
    if (r == -EPROTO)
        return admin_fail(ADMIN_EXIT_FAILURE, "the PostgreSQL store %s was migrated by a newer "
                          "caresyncd; upgrade caresyncd", shown);
    if (r == -EUCLEAN)
        return admin_fail(ADMIN_EXIT_FAILURE, "the database %s (%s) holds tables that are not a "
                          "caresync store's; give an empty database", shown, from);
    return admin_fail(ADMIN_EXIT_FAILURE, "cannot open the PostgreSQL store %s (%s): %s",
                      shown, from, strerror(-r));
}

int admin_open_store(const char *dir, struct store **ret)
{
    _cleanup_free_ char *url = NULL;
    char path[PATH_MAX];
    int r;

    if (admin_path_in(dir, "store.db", path) < 0)
        return admin_fail(ADMIN_EXIT_USAGE, "the --data path '%s' is too long", dir);
    r = read_store_url(dir, &url);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot read %s/store.url: %s; it holds the "
                          "PostgreSQL store's URL on one line", dir, strerror(-r));
    if (r > 0)
        return open_url(url, "from store.url", ret, NULL);
    r = store_open(path, false, ret);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_FAILURE, "no store at %s; run 'caresyncd init --data %s' first",
                    path, dir);
    if (r == -EPROTO)
        return admin_fail(ADMIN_EXIT_FAILURE,
                    "the store at %s was written by a newer caresyncd; upgrade caresyncd", path);
    if (r == -EACCES)
        return admin_fail(ADMIN_EXIT_FAILURE,
                    "cannot open %s: permission denied; run as the user that owns it", path);
    if (r == -EBUSY)
        return admin_fail(ADMIN_EXIT_FAILURE, "the store at %s is busy; try again", path);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot open the store at %s: %s; check the file", path,
                    strerror(-r));
    return ADMIN_EXIT_OK;
}

/* Print @json (borrowed) formatted on stdout. */
static int print_json(const cJSON *json)
{
    char *text = cJSON_Print(json);

    if (!text)
        return admin_fail(ADMIN_EXIT_FAILURE, "out of memory formatting the list");
    puts(text);
    cJSON_free(text);
    return ADMIN_EXIT_OK;
}

/* One table cell: strings as they are, whole numbers without decimals, booleans yes/no. */
static const char *cell(const cJSON *row, const char *key, char buf[static 32])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

    if (cJSON_IsString(v) && v->valuestring && v->valuestring[0])
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        snprintf(buf, 32, "%.0f", v->valuedouble);
        return buf;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    return "-";
}

/* Print the objects of array @rows as a table with @n columns (@keys, headed @heads). */
static void print_table(const cJSON *rows, const char *const *keys, const char *const *heads,
                        size_t n)
{
    size_t width[16] = {0};
    const cJSON *row;
    char buf[32];

    for (size_t c = 0; c < n && c < ELEMENTSOF(width); c++)
        width[c] = strlen(heads[c]);
    cJSON_ArrayForEach (row, rows)
        for (size_t c = 0; c < n && c < ELEMENTSOF(width); c++) {
            size_t w = strlen(cell(row, keys[c], buf));

            if (w > width[c])
                width[c] = w;
        }
    for (size_t c = 0; c < n; c++)
        printf("%-*s%s", c + 1 < n ? (int)width[c] : 0, heads[c], c + 1 < n ? "  " : "\n");
    cJSON_ArrayForEach (row, rows)
        for (size_t c = 0; c < n; c++)
            printf("%-*s%s", c + 1 < n ? (int)width[c] : 0, cell(row, keys[c], buf),
                   c + 1 < n ? "  " : "\n");
}

/* ---- init ---- */

/* Write @url to DIR/store.url: one line, mode 0600 (it may hold a password), made whole under
 * another name first so that a store.url is never half written. 0 or -errno. */
static int write_store_url(const char *dir, const char *url)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    size_t n = strlen(url);
    int fd, r = 0;

    if (admin_path_in(dir, "store.url", path) < 0 || admin_path_in(dir, "store.url.new", tmp) < 0)
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (write(fd, url, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
        r = -errno ? -errno : -EIO;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(tmp);
    return r;
}

int admin_init(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    char path[PATH_MAX], url_path[PATH_MAX], shown[1024];
    bool joined = false;
    struct stat st;
    int r;

    for (size_t i = 0; i < o->n_sans; i++)
        if (!tls_san_valid(o->sans[i]))
            return admin_usage(cmd, "--san '%s' is neither an IP address nor a DNS name",
                               o->sans[i]);
    if (o->store && (!o->store[0] || strpbrk(o->store, "\r\n")))
        return admin_usage(cmd, "--store needs a PostgreSQL URL on one line, such as "
                           "postgresql://caresync@db.example/caresync");
    if (admin_path_in(o->data, "store.db", path) < 0 ||
        admin_path_in(o->data, "store.url", url_path) < 0)
        return admin_usage(cmd, "the --data path is too long");
    if (mkdir(o->data, 0700) < 0) {
        if (errno != EEXIST)
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot create %s: %s; check the parent directory",
                        o->data, strerror(errno));
        if (stat(o->data, &st) < 0 || !S_ISDIR(st.st_mode))
            return admin_fail(ADMIN_EXIT_FAILURE,
                        "%s exists and is not a directory; pick another "
                        "--data DIR",
                        o->data);
    }
    if (lstat(path, &st) == 0 || lstat(url_path, &st) == 0)
        return admin_fail(ADMIN_EXIT_EXISTS,
                    "%s already exists, so %s is initialised already; use "
                    "another --data DIR",
                    lstat(path, &st) == 0 ? path : url_path, o->data);
    /* Certificates first, store last: a store.db (or store.url) only exists once init has
     * fully worked, and a failed init can simply be run again. */
    r = o->no_dev_ca ? 0 : tls_pki_create(o->data, o->sans, o->n_sans);
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE,
                    "could not make the certificates in %s; nothing usable "
                    "was made",
                    o->data);
    if (o->store) {
        r = open_url(o->store, "--store", &s, &joined);
        if (r != ADMIN_EXIT_OK)
            return r;
        r = write_store_url(o->data, o->store);
        if (r < 0)
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot write %s: %s; check the folder is "
                              "writable, then run init again", url_path, strerror(-r));
    } else {
        r = store_open(path, true, &s);
        if (r < 0)
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot create the store at %s: %s", path,
                              strerror(-r));
    }

    printf("caresyncd: initialised %s\n", o->data);
    if (o->store && joined)
        printf("  store.url   joined the caresync store already in PostgreSQL at %s: this\n"
               "              daemon shares it with the others (nothing in it was changed)\n",
               admin_url_shown(o->store, shown, sizeof(shown)));
    else if (o->store)
        printf("  store.url   a new caresync store in PostgreSQL at %s\n",
               admin_url_shown(o->store, shown, sizeof(shown)));
    else
        printf("  store.db    the server store\n");
    if (o->no_dev_ca) {
        printf("no certificate was made (--no-dev-ca): give serve your own with tls_certificate\n"
               "and tls_key in the configuration file (or --tls-certificate, --tls-key)\n");
        printf("next:\n");
        printf("  caresyncd user add --data %s alice --role nurse\n", o->data);
        printf("  caresyncd serve --data %s --listen 0.0.0.0:8443 --tls-certificate FILE "
               "--tls-key FILE\n", o->data);
        return ADMIN_EXIT_OK;
    }
    printf("  ca.pem      development CA certificate: every device needs a copy\n");
    printf("  ca.key      development CA key: serve never reads it; move it off this machine\n"
           "              and bring it back only for 'caresyncd cert renew'\n");
    printf("  server.pem  server certificate for 127.0.0.1, ::1, localhost");
    for (size_t i = 0; i < o->n_sans; i++)
        printf(", %s", o->sans[i]);
    printf("\n  server.key  server key\n");
    printf("next:\n");
    printf("  caresyncd user add --data %s alice --role nurse\n", o->data);
    printf("  caresyncd enrol --data %s alice\n", o->data);
    printf("  caresyncd serve --data %s --listen 127.0.0.1:8443\n", o->data);
    return ADMIN_EXIT_OK;
}

/* ---- users ---- */

/* The display name and registrations of user @name from the options: 0, -errno, or an exit
 * code (> 0) after printing the usage error. */
static struct store_user_profile profile_of(const struct admin_opts *o)
{
    return (struct store_user_profile){
            .display_name = o->display_name,
            .nmc_pin = o->nmc,
            .hcpc_number = o->hcpc,
            .swe_number = o->swe,
    };
}

static int set_profile(const struct admin_command *cmd, struct store *s, const char *name,
                       const struct admin_opts *o)
{
    const struct store_user_profile p = profile_of(o);
    const char *why = NULL;
    int r = store_user_set_profile(s, name, &p, &why);

    if (r == -EINVAL)
        return admin_usage(cmd, "%s", why);
    return r;
}

int admin_user_set(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    const char *name = o->args[0];
    int r;

    if (!o->display_name && !o->nmc && !o->hcpc && !o->swe)
        return admin_usage(cmd, "give what to set: --display-name, --nmc, --hcpc or --swe");
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = set_profile(cmd, s, name, o);
    if (r > 0)
        return r;
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND, "no user named '%s'; see 'caresyncd user list'", name);
    if (r < 0)
        return admin_store_failure(r, "setting the user's details");
    printf("set the details of user %s\n", name);
    return ADMIN_EXIT_OK;
}

int admin_user_add(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    struct store_user_profile profile;
    const char *name = o->args[0], *why;
    int r;

    if (!o->role)
        return admin_usage(cmd, "--role ROLE is required (one of %s)", store_role_list());
    if (!store_role_valid(o->role))
        return admin_usage(cmd, "unknown role '%s'; use one of %s", o->role, store_role_list());
    profile = profile_of(o);
    if ((why = store_user_profile_invalid(&profile)))
        return admin_usage(cmd, "%s", why); /* before anything is written */
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_user_add(s, name, o->role);
    if (r >= 0 && (o->display_name || o->nmc || o->hcpc || o->swe))
        r = set_profile(cmd, s, name, o);
    if (r > 0)
        return r; /* a usage error, printed */
    if (r == -EEXIST)
        return admin_fail(ADMIN_EXIT_EXISTS,
                    "a user named '%s' already exists; pick another name "
                    "(see 'caresyncd user list')",
                    name);
    if (r == -EINVAL)
        return admin_usage(cmd,
                           "'%s' is not a valid user name (1 to %d letters, digits, '.', "
                           "'_' or '-')",
                           name, STORE_NAME_MAX);
    if (r < 0)
        return admin_store_failure(r, "adding the user");
    printf("added user %s (%s); next: caresyncd enrol --data %s %s\n", name, o->role, o->data,
           name);
    return ADMIN_EXIT_OK;
}

/* A listing command: the store's rows as JSON (--json) or a table with @heads over @keys. */
static int list_command(struct admin_opts *o, int (*list)(struct store *, cJSON **),
                        const char *what, const char *const *keys, const char *const *heads,
                        size_t n)
{
    _cleanup_store_ struct store *s = NULL;
    _cleanup_json_ cJSON *rows = NULL;
    int r;

    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = list(s, &rows);
    if (r < 0)
        return admin_store_failure(r, what);
    if (o->json)
        return print_json(rows);
    print_table(rows, keys, heads, n);
    return ADMIN_EXIT_OK;
}

int admin_user_list(const struct admin_command *cmd, struct admin_opts *o)
{
    static const char *const keys[] = {"name", "role", "people", "devices"};
    static const char *const heads[] = {"NAME", "ROLE", "PEOPLE", "DEVICES"};

    return list_command(o, store_user_list, "listing users", keys, heads, ELEMENTSOF(keys));
}

int admin_user_disable(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    _cleanup_(store_leaver_done) struct store_leaver res = {0};
    const char *name = o->args[0];
    int r;

    (void)cmd;
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_user_disable(s, name, &res);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND, "no user named '%s'; see 'caresyncd user list'", name);
    if (r < 0)
        return admin_store_failure(r, "disabling the user");
    printf("disabled user %s: %zu device(s) revoked (each wipes its replica when it next "
           "connects), %" PRId64 " unused enrolment code(s) void\n",
           name, res.n_devices_revoked, res.codes_voided);
    return ADMIN_EXIT_OK;
}

int admin_user_role(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    const char *name = o->args[0], *role = o->args[1];
    int r, devices = 0;

    if (!store_role_valid(role))
        return admin_usage(cmd, "unknown role '%s'; use one of %s", role, store_role_list());
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_user_role_set(s, name, role, &devices);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND, "no user named '%s'; see 'caresyncd user list'", name);
    if (r == -EPERM)
        return admin_fail(ADMIN_EXIT_EXISTS,
                    "an admin account cannot change to or from another role; add a new user "
                    "and disable this one");
    if (r < 0)
        return admin_store_failure(r, "changing the role");
    if (r == 0)
        printf("%s is a %s already; nothing changed\n", name, role);
    else
        printf("%s is now a %s, from their next request; %d device(s) re-read their caseload "
               "at their next sync\n",
               name, role, devices);
    return ADMIN_EXIT_OK;
}

/* ---- enrolment ---- */

int admin_enrol(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    const char *name = o->args[0];
    char code[STORE_CODE_MAX];
    uint64_t minutes = ADMIN_EXPIRES_DEFAULT_MIN;
    int r;

    if (o->expires &&
        (parse_u64(o->expires, &minutes) < 0 || minutes == 0 || minutes > ADMIN_EXPIRES_MAX_MIN))
        return admin_usage(cmd, "--expires takes whole minutes from 1 to %d, not '%s'",
                           ADMIN_EXPIRES_MAX_MIN, o->expires);
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_user_disabled(s, name);
    if (r > 0)
        return admin_fail(ADMIN_EXIT_EXISTS,
                    "user '%s' is disabled (see 'caresyncd user disable'); no code was made", name);
    if (r >= 0)
        r = store_enrol_code_new(s, name, minutes * 60, code);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND,
                    "no user named '%s'; add one with 'caresyncd user add "
                    "--data %s %s --role ROLE'",
                    name, o->data, name);
    if (r < 0)
        return admin_store_failure(r, "making the enrolment code");
    puts(code);
    return ADMIN_EXIT_OK;
}

/* ---- people and caseloads ---- */

/* An ODS organisation code: 3 to 10 capital letters and digits (A81001, RX1). */
static bool ods_code_valid(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

    return n >= 3 && n <= 10 && !s[n];
}

int admin_person_add(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    struct store_person_fields f = {
            .name = o->name,
            .birth_date = o->dob,
            .phone = o->phone,
            .address = o->address,
            .preferred_name = o->preferred_name,
            .family_name = o->family,
            .given_names = o->given,
            .name_prefix = o->title,
            .address_line1 = o->lines[0],
            .address_line2 = o->lines[1],
            .address_city = o->city,
            .address_postcode = o->postcode,
            .gp_practice = o->gp,
            .gp_ods_code = o->gp_ods,
    };
    char id[UUID_STR_MAX];
    const char *why = NULL;
    int r;

    if (!o->name || !o->name[0])
        return admin_usage(cmd, "--name \"Full Name\" is required");
    if (o->dob && !date_valid(o->dob))
        return admin_usage(cmd, "--dob must be a real date YYYY-MM-DD, not '%s'", o->dob);
    if (o->gp_ods && !ods_code_valid(o->gp_ods))
        return admin_usage(cmd, "--gp-ods must be an ODS code, 3 to 10 capital letters and digits "
                                "(A81001), not '%s'", o->gp_ods);
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_person_add(s, &f, id, &why);
    if (r == -EINVAL || r == -E2BIG)
        return admin_usage(cmd, "%s", why ? why : "a value is not valid");
    if (r < 0)
        return admin_store_failure(r, "adding the person");
    puts(id);
    return ADMIN_EXIT_OK;
}

int admin_person_list(const struct admin_command *cmd, struct admin_opts *o)
{
    static const char *const keys[] = {"person_id", "name", "status", "closed_reason",
                                       "nhs_number", "gp_practice", "assigned"};
    static const char *const heads[] = {"ID", "NAME", "STATUS", "CLOSED", "NHS NUMBER", "GP",
                                        "CASELOAD OF"};
    _cleanup_store_ struct store *s = NULL;
    _cleanup_(proto_people_done) struct proto_people people = {0};
    _cleanup_json_ cJSON *list = NULL;
    const cJSON *rows;
    char nhs[16];
    size_t n = 0;
    int r;

    if (o->nhs) {
        for (const char *c = o->nhs; *c && n < sizeof(nhs) - 1; c++)
            if (*c != ' ')
                nhs[n++] = *c;
        nhs[n] = '\0';
        if (!store_nhs_number_valid(nhs))
            return admin_usage(cmd, "'%s' is not a valid NHS number (10 digits with a "
                                    "modulus 11 check digit)", o->nhs);
    }
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_people_list(s, &(struct store_people_filter){.name = o->name,
                                                           .nhs_number = o->nhs ? nhs : NULL},
                          &people);
    if (r < 0)
        return admin_store_failure(r, "listing people");
    list = proto_people_encode(&people);
    rows = cJSON_GetObjectItemCaseSensitive(list, "people");
    if (!rows)
        return admin_fail(ADMIN_EXIT_FAILURE, "out of memory formatting the list");
    if (o->json)
        return print_json(rows);
    print_table(rows, keys, heads, ELEMENTSOF(keys));
    return ADMIN_EXIT_OK;
}

static int assignment(const struct admin_command *cmd, struct admin_opts *o, bool assign)
{
    _cleanup_store_ struct store *s = NULL;
    const char *person = o->args[0], *name = o->args[1], *which = NULL;
    int r;

    if (!uuid_valid(person))
        return admin_usage(cmd,
                           "PERSON_ID must be a lower-case UUID as printed by 'caresyncd "
                           "person add', not '%s'",
                           person);
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = assign ? store_assign(s, person, name, &which) : store_unassign(s, person, name, &which);
    if (r == -ENOENT && which && streq(which, "user"))
        return admin_fail(ADMIN_EXIT_NOT_FOUND, "no user named '%s'; see 'caresyncd user list'", name);
    if (r == -EINVAL)
        return admin_fail(ADMIN_EXIT_EXISTS,
                    "'%s' is an admin account, which holds no caseload; assign a worker", name);
    if (r == -EPERM)
        return admin_fail(ADMIN_EXIT_EXISTS,
                    "'%s' is disabled (a leaver) and takes on nobody new; assign a worker who is "
                    "still here", name);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND,
                    "no person with id %s; check the id printed by "
                    "'caresyncd person add'",
                    person);
    if (r < 0)
        return admin_store_failure(r, assign ? "assigning" : "unassigning");
    if (assign)
        printf(r > 0 ? "assigned person %s to %s; it reaches their devices at the next sync\n"
                     : "person %s was already assigned to %s; nothing changed\n",
               person, name);
    else
        printf(r > 0 ? "ended the assignment of person %s to %s; their devices purge the person "
                       "at the next sync\n"
                     : "person %s was not assigned to %s; nothing changed\n",
               person, name);
    return ADMIN_EXIT_OK;
}

int admin_assign(const struct admin_command *cmd, struct admin_opts *o)
{
    return assignment(cmd, o, true);
}

int admin_unassign(const struct admin_command *cmd, struct admin_opts *o)
{
    return assignment(cmd, o, false);
}

/* ---- devices ---- */

int admin_device_list(const struct admin_command *cmd, struct admin_opts *o)
{
    static const char *const keys[] = {"id",           "user",    "role",      "name",
                                       "last_sync_at", "pending", "revoked_at"};
    static const char *const heads[] = {"ID",        "USER",    "ROLE",      "NAME",
                                        "LAST SYNC", "PENDING", "REVOKED AT"};

    return list_command(o, store_device_list, "listing devices", keys, heads, ELEMENTSOF(keys));
}

int admin_device_revoke(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    const char *id = o->args[0];
    int r;

    if (!uuid_valid(id))
        return admin_usage(cmd,
                           "DEVICE_ID must be a lower-case UUID as shown by 'caresyncd "
                           "device list', not '%s'",
                           id);
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = store_device_revoke(s, id);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND, "no device with id %s; see 'caresyncd device list'", id);
    if (r < 0)
        return admin_store_failure(r, "revoking the device");
    printf("revoked device %s; it is told to wipe its replica when it next connects\n", id);
    return ADMIN_EXIT_OK;
}

/* ---- export ---- */

/* "--max-entries N": 1 to 100000 entries per Bundle, in *ret. */
static bool parse_max_entries(const char *v, size_t *ret)
{
    int64_t n;

    if (!v || parse_i64(v, &n) < 0 || n < 1 || n > 100000)
        return false;
    *ret = (size_t)n;
    return true;
}

/* One resource type's NDJSON file of the bulk export. */
struct ndjson_file {
    char type[64];
    FILE *f;
};

/* Every resource of @bundle, one line each, into DIR/<Type>.ndjson; resources that more than
 * one person shares (CodeSystem, Practitioner, Organization...) only the first time. */
static int ndjson_append(const char *dir, const cJSON *bundle, struct ndjson_file *files,
                         size_t *n_files, size_t max_files, cJSON *seen, size_t *ret_written)
{
    const cJSON *e;

    cJSON_ArrayForEach (e, cJSON_GetObjectItemCaseSensitive(bundle, "entry")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r,
                                                                                 "resourceType"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id"));
        _cleanup_free_ char *line = NULL;
        char key[160];
        size_t i;

        if (!type || !id || strlen(type) >= sizeof(files[0].type))
            return -EINVAL;
        snprintf(key, sizeof(key), "%s/%s", type, id);
        if (cJSON_GetObjectItemCaseSensitive(seen, key))
            continue;
        if (!cJSON_AddTrueToObject(seen, key))
            return -ENOMEM;
        for (i = 0; i < *n_files && !streq(files[i].type, type); i++)
            ;
        if (i == *n_files) {
            char path[PATH_MAX];
            int fd;

            if (i == max_files)
                return -E2BIG;
            snprintf(path, sizeof(path), "%s/%s.ndjson", dir, type);
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0)
                return -errno;
            files[i].f = fdopen(fd, "w");
            if (!files[i].f) {
                close(fd);
                return -errno;
            }
            snprintf(files[i].type, sizeof(files[i].type), "%s", type);
            (*n_files)++;
        }
        line = cJSON_PrintUnformatted(r);
        if (!line)
            return -ENOMEM;
        if (fputs(line, files[i].f) < 0 || fputc('\n', files[i].f) == EOF)
            return -EIO;
        (*ret_written)++;
    }
    return 0;
}

#define NDJSON_MAX_TYPES 32

/* caresyncd export --all --ndjson DIR: every person, a file per resource type. */
static int export_all_ndjson(struct store *s, const char *dir)
{
    struct ndjson_file files[NDJSON_MAX_TYPES] = {{{0}, NULL}};
    _cleanup_(proto_people_done) struct proto_people people = {0};
    _cleanup_json_ cJSON *seen = cJSON_CreateObject();
    size_t n_files = 0, n_people = 0, n_res = 0;
    char now[ISO_TIME_MAX];
    int r = 0;

    if (!seen)
        return admin_fail(ADMIN_EXIT_FAILURE, "out of memory; nothing was exported");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot make %s: %s; check the path", dir,
                    strerror(errno));
    r = store_people_list(s, &(struct store_people_filter){.name = NULL}, &people);
    if (r < 0)
        return admin_store_failure(r, "listing people");
    iso_time(hlc_wall_ms(), now);
    for (size_t i = 0; i < people.n_people; i++) {
        const char *pid = people.people[i].person_id;
        _cleanup_json_ cJSON *tree = NULL, *bundle = NULL;

        r = store_person_tree(s, pid, &tree);
        if (r < 0)
            break;
        bundle = fhir_bundle(tree, now);
        if (!bundle) {
            r = -ENOMEM;
            break;
        }
        /* Audited before it leaves the store, as every export. */
        r = store_export_audit(s, NULL, pid, "fhir-r4-ndjson");
        if (r < 0)
            break;
        r = ndjson_append(dir, bundle, files, &n_files, NDJSON_MAX_TYPES, seen, &n_res);
        if (r < 0)
            break;
        n_people++;
    }
    for (size_t i = 0; i < n_files; i++)
        if (fclose(files[i].f) != 0 && r >= 0)
            r = -errno;
    if (r < 0)
        return admin_fail(ADMIN_EXIT_FAILURE,
                    "the bulk export stopped after %zu people: %s; the files in %s are "
                    "incomplete, fix the cause and run it again",
                    n_people, strerror(-r), dir);
    printf("exported %zu people, %zu resources, to %zu files in %s\n", n_people, n_res, n_files,
           dir);
    return ADMIN_EXIT_OK;
}

int admin_export(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_store_ struct store *s = NULL;
    _cleanup_json_ cJSON *tree = NULL, *bundle = NULL;
    _cleanup_free_ char *text = NULL;
    const char *person = o->n_args > 0 ? o->args[0] : NULL;
    char now[ISO_TIME_MAX];
    size_t max = 0;
    int r;

    if (o->all != !!o->ndjson)
        return admin_usage(cmd, "--all and --ndjson DIR go together: 'caresyncd export --data "
                                "DIR --all --ndjson OUT_DIR'");
    if (o->ndjson && !o->ndjson[0])
        return admin_usage(cmd, "--ndjson needs a directory");
    if (o->all && (o->output || o->max_entries))
        return admin_usage(cmd, "--all --ndjson writes a directory; --output and "
                                "--max-entries are for one person");
    if (o->max_entries && !parse_max_entries(o->max_entries, &max))
        return admin_usage(cmd, "--max-entries must be a whole number from 1 to 100000, not "
                                "'%s'",
                           o->max_entries);
    if (!o->all && !uuid_valid(person))
        return admin_usage(cmd,
                           "PERSON_ID must be a lower-case UUID as printed by 'caresyncd "
                           "person add', not '%s'",
                           person);
    if (o->output && !o->output[0])
        return admin_usage(cmd, "--output needs a file name");
    r = admin_open_store(o->data, &s);
    if (r != ADMIN_EXIT_OK)
        return r;
    if (o->all)
        return export_all_ndjson(s, o->ndjson);
    r = store_person_tree(s, person, &tree);
    if (r == -ENOENT)
        return admin_fail(ADMIN_EXIT_NOT_FOUND,
                    "no person with id %s; check the id printed by 'caresyncd person add'",
                    person);
    if (r < 0)
        return admin_store_failure(r, "reading the person's record");
    bundle = fhir_bundle(tree, iso_time(hlc_wall_ms(), now));
    text = !bundle ? NULL : max ? fhir_split_lines(bundle, max) : cJSON_Print(bundle);
    if (!text)
        return admin_fail(ADMIN_EXIT_FAILURE, "out of memory building the FHIR Bundle; nothing was "
                                        "exported");
    /* Audited before it leaves the store: an export that cannot be audited is not made. */
    r = store_export_audit(s, NULL, person, "fhir-r4");
    if (r < 0)
        return admin_store_failure(r, "recording the export in the audit log");
    if (o->output) {
        r = file_write_sync(o->output, text, strlen(text), 0600);
        if (r < 0)
            return admin_fail(ADMIN_EXIT_FAILURE, "cannot write %s: %s; check the path", o->output,
                        strerror(-r));
        return ADMIN_EXIT_OK;
    }
    if (fputs(text, stdout) < 0 || (!max && putchar('\n') == EOF) || fflush(stdout) != 0)
        return admin_fail(ADMIN_EXIT_FAILURE, "cannot write the Bundle to stdout: %s", strerror(errno));
    return ADMIN_EXIT_OK;
}
