/* SPDX-License-Identifier: MIT */
/* main.c - caresyncd: the command table, option parsing and help, and 'serve' (store, TLS,
 * event loop, signals). The admin subcommands live in admin.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "demo.h"
#include "http.h"
#include "work.h"
#include "log.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#define SERVE_MAX_SKEW_MAX_MS (7ULL * 24 * 3600 * 1000) /* a week */

static int serve_run(const struct admin_command *cmd, struct admin_opts *o);
static int cert_renew_run(const struct admin_command *cmd, struct admin_opts *o);

/* serve --lock-after-days, --enrol-limit, --enrol-server-limit: kept apart from struct
 * admin_opts (only serve reads them). */
static const char *arg_lock_after_days;
static const char *arg_enrol_limit;
static const char *arg_enrol_server_limit;
/* serve --header-timeout, --body-timeout, --max-conns-per-addr, --max-conns,
 * --max-body-buffer-kb (conn.h). */
static const char *arg_header_timeout;
static const char *arg_listens[HTTP_LISTEN_MAX];
static size_t arg_n_listens;
static const char *arg_log_file;
static const char *arg_body_timeout;
static const char *arg_max_conns_per_addr;
static const char *arg_max_conns;
static const char *arg_max_body_buffer_kb;
/* serve --queue-depth, --readers (work.h). */
static const char *arg_queue_depth;
static const char *arg_readers;

/* ---- the command table ---- */

static const struct admin_command commands[] = {
        {"init", "ds", 0, "init --data DIR [--san NAME]...",
         "Make a new data directory: the store (store.db), a development CA (ca.pem, ca.key)\n"
         "and a server certificate signed by it (server.pem, server.key). The certificate\n"
         "names 127.0.0.1, ::1 and localhost; add each other address or host name that\n"
         "devices will use with --san. Both are valid from two days ago (a device whose clock\n"
         "is slow still accepts them): the server certificate for 365 days (renew it with\n"
         "'caresyncd cert renew'), the CA for 10 years. Refuses (exit 4) when DIR/store.db\n"
         "exists.\n"
         "\n"
         "  -d, --data DIR          data directory (created mode 0700 if missing)\n"
         "  -s, --san NAME          extra IP address or DNS name for the certificate (repeat it)\n",
         admin_init},
        {"cert renew", "ds", 0, "cert renew --data DIR [--san NAME]...",
         "Reissue the server certificate (server.pem, server.key) from the development CA in DIR,\n"
         "before it ends (serve warns 30 days ahead). The CA (ca.pem, ca.key) stays as it is, so\n"
         "devices keep trusting the server and need nothing. The new certificate names what the\n"
         "old one named plus each --san, and is valid from two days ago for 365 days (never\n"
         "beyond the CA). Restart serve to use it. Needs DIR/ca.key.\n"
         "\n"
         "  -d, --data DIR          data directory made by 'caresyncd init'\n"
         "  -s, --san NAME          another IP address or DNS name for the certificate (repeat it)\n",
         cert_renew_run},
        {"serve", "dlmqgLCETHBAMUFQR", 0,
         "serve --data DIR --listen ADDR:PORT... [--log-file FILE] [--max-skew-ms N] [--handover-grace-hours N] "
         "[--lock-after-days N] [--max-device-conflicts N] [--enrol-limit N/S] "
         "[--enrol-server-limit N/S] [--header-timeout S] [--body-timeout S] "
         "[--max-conns-per-addr N] [--max-conns N] [--max-body-buffer-kb N] [--queue-depth N] "
         "[--readers N] [--quiet]",
         "Serve the sync API (docs/PROTOCOL.md) over HTTPS until SIGTERM or SIGINT, which stop\n"
         "accepting, finish the replies in progress and exit 0. SIGHUP reloads the certificate\n"
         "and key (server.pem, server.key; new connections use them, open ones are kept) and\n"
         "reopens the log file. One daemon serves a data directory: a second is refused (exit 4).\n"
         "\n"
         "  -d, --data DIR          data directory made by 'caresyncd init'\n"
         "  -l, --listen ADDR:PORT  IPv4 address or host name and port, or [IPv6]:PORT (port 0:\n"
         "                          any free port); repeat it to listen on several\n"
         "  -F, --log-file FILE     append the log to FILE (reopened on SIGHUP, for logrotate)\n"
         "                          instead of standard error\n"
         "  -m, --max-skew-ms N     how far ahead of this server's clock a device clock may be\n"
         "                          before its changes are clamped (default 300000, 5 min)\n"
         "  -g, --handover-grace-hours N\n"
         "                          edits this server receives up to N hours after a worker's\n"
         "                          assignment to a person ended (or a consent refusal took them\n"
         "                          off), from a device not yet told, are still applied; later\n"
         "                          ones go to the conflict log (default 72)\n"
         "  -C, --max-device-conflicts N\n"
         "                          values one device may have waiting in the conflict log; a\n"
         "                          push that would add more is refused with 429 (default 1000)\n"
         "  -L, --lock-after-days N a device that has not synced for more than N days locks\n"
         "                          itself until it syncs again (default 14; 0: never)\n"
         "  -E, --enrol-limit N/S   wrong enrolment codes allowed from one client address: N\n"
         "                          per S seconds, then 429 until the allowance refills\n"
         "                          (default 10/60)\n"
         "  -T, --enrol-server-limit N/S\n"
         "                          the same for all addresses together (default 100/60)\n"
         "      --header-timeout S  a request's headers must all arrive within S seconds of\n"
         "                          its first byte, or the connection is closed (default 10)\n"
         "      --body-timeout S    its body within S seconds of the headers (default 60)\n"
         "      --max-conns-per-addr N\n"
         "                          connections open from one client address (default 32)\n"
         "      --max-conns N       connections open in all; when full, the oldest idle one\n"
         "                          that never authenticated is closed for a new one (default:\n"
         "                          the open file limit less 64)\n"
         "      --max-body-buffer-kb N\n"
         "                          request bodies (as announced) read at once, all\n"
         "                          connections together; more get 503 (default 65536)\n"
         "      --queue-depth N     requests waiting for the store at once; more get 503\n"
         "                          queue_full with Retry-After (default 4096)\n"
         "      --readers N         threads answering read-only requests (conflict list,\n"
         "                          devices, team, FHIR export) beside the one writer thread\n"
         "                          (default 2; 0: the writer does them too)\n"
         "  -q, --quiet             no access log lines\n",
         serve_run},
        {"user add", "dr", 1, "user add --data DIR NAME --role ROLE",
         "Add a member of staff. Roles decide what their devices receive (see 'caresyncd help').\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -r, --role ROLE         one of the roles below\n",
         admin_user_add},
        {"user list", "dj", 0, "user list --data DIR [--json]",
         "List the staff with their roles and how many people are assigned to each.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -j, --json              print JSON instead of a table\n",
         admin_user_list},
        {"user disable", "d", 1, "user disable --data DIR NAME",
         "Disable user NAME, who is leaving: every device of theirs is revoked at once (told to\n"
         "wipe its replica when it next connects) and every enrolment code of theirs still\n"
         "unused stops working; 'caresyncd enrol' refuses them from then on. Exit 3 for an\n"
         "unknown user.\n"
         "\n"
         "  -d, --data DIR          data directory\n",
         admin_user_disable},
        {"user role", "d", 2, "user role --data DIR NAME ROLE",
         "Change user NAME's role. It takes effect at their next request; at its next sync each\n"
         "of their devices re-reads its caseload as the new role sees it and drops what that\n"
         "role may not hold (clinical notes on a volunteer's phone). Exit 3 for an unknown user.\n"
         "\n"
         "  -d, --data DIR          data directory\n",
         admin_user_role},
        {"enrol", "de", 1, "enrol --data DIR NAME [--expires MINUTES]",
         "Make a one-time enrolment code for user NAME and print only the code. A device\n"
         "redeems it with 'caresync enrol'; it works once and expires.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -e, --expires MINUTES   how long the code works (default 1440, a day; at most 43200)\n",
         admin_enrol},
        {"person add", "dnbpaP", 0,
         "person add --data DIR --name \"Full Name\" [--dob YYYY-MM-DD] [--phone P] [--address A] "
         "[--preferred-name N]",
         "Add a person who receives care and print only their id. Assign them to staff with\n"
         "'caresyncd assign'.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -n, --name NAME         full name (required)\n"
         "  -b, --dob YYYY-MM-DD    date of birth\n"
         "  -p, --phone PHONE       telephone number\n"
         "  -a, --address ADDRESS   address, one line\n"
         "  -P, --preferred-name N  what they like to be called\n",
         admin_person_add},
        {"person list", "dnNj", 0, "person list --data DIR [--name TEXT] [--nhs NUMBER] [--json]",
         "List people (not deleted) by name, with status, closure, NHS number, GP practice and\n"
         "who has them on their caseload; --name and --nhs search.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -n, --name TEXT         people whose name contains TEXT (any case)\n"
         "  -N, --nhs NUMBER        the person with this NHS number (spaces ignored)\n"
         "  -j, --json              print JSON instead of a table\n",
         admin_person_list},
        {"assign", "d", 2, "assign --data DIR PERSON_ID NAME",
         "Put a person on user NAME's caseload; their devices receive the person's whole\n"
         "record at the next sync.\n"
         "\n"
         "  -d, --data DIR          data directory\n",
         admin_assign},
        {"unassign", "d", 2, "unassign --data DIR PERSON_ID NAME",
         "Take a person off user NAME's caseload; their devices delete the person's record at the\n"
         "next sync, once nothing of theirs waits to be sent.\n"
         "\n"
         "  -d, --data DIR          data directory\n",
         admin_unassign},
        {"demo", "dfSj", 0, "demo --data DIR [--profile demo|load] [--seed N] [--json]",
         "Fill a store just made by 'caresyncd init' with invented staff, people and 90 days of\n"
         "care records (plus visits planned for today and the next 14 days), the same for the\n"
         "same seed on the same day. Prints what it wrote and how to enrol each member of staff.\n"
         "Refuses (exit 4) a store that already has staff or records.\n"
         "\n"
         "  -d, --data DIR          data directory made by 'caresyncd init'\n"
         "  -f, --profile NAME      demo: 9 staff, 30 people (default); load: 26 staff, 282\n"
         "                          people and about 9000 visits, for benchmarks\n"
         "  -S, --seed N            seed for the generator (default 1)\n"
         "  -j, --json              print the summary as JSON\n",
         demo_run},
        {"export", "do", 1, "export --data DIR PERSON_ID [--output FILE]",
         "Export one person's whole current record as a FHIR R4 transaction Bundle (JSON; the\n"
         "mapping is in docs/internals/fhir.md), the same as GET /v1/people/{id}/fhir. The\n"
         "export is written to the audit log. Exit 3 for an unknown person.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -o, --output FILE       write the Bundle to FILE (mode 0600) instead of stdout\n",
         admin_export},
        {"device list", "dj", 0, "device list --data DIR [--json]",
         "List enrolled devices: owner, name, last sync, changes pending on the device, revoked.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -j, --json              print JSON instead of a table\n",
         admin_device_list},
        {"backup", "do", 0, "backup --data DIR --output FILE",
         "Write a consistent backup of the data directory to FILE (mode 0600) while caresyncd\n"
         "serves: the store, copied with SQLite's online backup API, and the CA and server\n"
         "keys and certificates, in one SQLite file. README.md, \"Backup and restore\".\n"
         "\n"
         "  -d, --data DIR          the data directory\n"
         "  -o, --output FILE       the backup file to write\n",
         admin_backup},
        {"restore", "di", 0, "restore --data DIR --input FILE",
         "Put a backup made by 'caresyncd backup' back into DIR, with caresyncd stopped (it\n"
         "refuses while a process has DIR/store.db open). The store it replaces is kept as\n"
         "store.db.replaced-<ms>. The restored store becomes a new epoch: its sequence jumps\n"
         "past everything the old one numbered, the audit log records a 'restore' event with\n"
         "the span of the chain that was lost, and every device re-sends what the server lost\n"
         "and reads its caseload again at its next sync.\n"
         "\n"
         "  -d, --data DIR          the data directory\n"
         "  -i, --input FILE        the backup file\n",
         admin_restore},
        {"audit verify", "d", 0, "audit verify --data DIR",
         "Recompute the audit log's hash chain from its first entry. Exits 0 when every entry is\n"
         "intact, 1 naming the first entry that was edited, removed or reordered.\n"
         "\n"
         "  -d, --data DIR          data directory\n",
         admin_audit_verify},
        {"audit export", "dx", 0, "audit export --data DIR --person PERSON_ID",
         "Print one person's audit trail as JSON (for a subject access request): every change to\n"
         "their record with before and after values, every assignment change, resolution and\n"
         "every pull that sent their data to a device.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -x, --person ID         the person\n",
         admin_audit_export},
        {"device revoke", "d", 1, "device revoke --data DIR DEVICE_ID",
         "Revoke a device: its token stops working at once and it is told to wipe its replica.\n"
         "\n"
         "  -d, --data DIR          data directory\n",
         admin_device_revoke},
};

static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"data", required_argument, NULL, 'd'},
        {"san", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"log-file", required_argument, NULL, 'F'},
        {"max-skew-ms", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"role", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"expires", required_argument, NULL, 'e'},
        {"name", required_argument, NULL, 'n'},
        {"dob", required_argument, NULL, 'b'},
        {"phone", required_argument, NULL, 'p'},
        {"address", required_argument, NULL, 'a'},
        {"preferred-name", required_argument, NULL, 'P'},
        {"handover-grace-hours", required_argument, NULL, 'g'},
        {"max-device-conflicts", required_argument, NULL, 'C'},
        {"lock-after-days", required_argument, NULL, 'L'},
        {"enrol-limit", required_argument, NULL, 'E'},
        {"enrol-server-limit", required_argument, NULL, 'T'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"body-timeout", required_argument, NULL, 'B'},
        {"max-conns-per-addr", required_argument, NULL, 'A'},
        {"max-conns", required_argument, NULL, 'M'},
        {"max-body-buffer-kb", required_argument, NULL, 'U'},
        {"queue-depth", required_argument, NULL, 'Q'},
        {"readers", required_argument, NULL, 'R'},
        {"person", required_argument, NULL, 'x'},
        {"profile", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'S'},
        {"output", required_argument, NULL, 'o'},
        {"input", required_argument, NULL, 'i'},
        {"nhs", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
};

static void help_command(const struct admin_command *cmd)
{
    printf("usage: caresyncd %s\n\n%s", cmd->synopsis, cmd->help);
    printf("  -h, --help              show this help\n");
    if (streq(cmd->name, "user add"))
        printf("\nroles: %s\n", store_role_list());
}

static void help_all(FILE *f)
{
    fprintf(f,
            "caresyncd %s - the caresync sync server and its administration\n\n"
            "usage:\n",
            CARESYNC_VERSION);
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        fprintf(f, "  caresyncd %s\n", commands[i].synopsis);
    fprintf(f,
            "  caresyncd help [COMMAND]\n"
            "  caresyncd --version\n"
            "\n"
            "Every command takes --help. Admin commands work while 'serve' runs.\n"
            "roles: %s\n"
            "\n"
            "exit codes: 0 ok, 1 failure (store, I/O, TLS), 2 usage error, 3 not found (user,\n"
            "person or device), 4 already exists or conflicts\n",
            store_role_list());
}

/* Find the command named by argv[1] (and argv[2] for "user", "person", "device"). */
static const struct admin_command *find_command(int argc, char **argv, int *ret_words)
{
    char name[64];

    for (int words = 2; words >= 1; words--) {
        if (argc < 1 + words)
            continue;
        if (words == 2)
            snprintf(name, sizeof(name), "%s %s", argv[1], argv[2]);
        else
            snprintf(name, sizeof(name), "%s", argv[1]);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
            if (streq(commands[i].name, name)) {
                *ret_words = words;
                return &commands[i];
            }
    }
    return NULL;
}

/* Parse the options after the command words. Returns -1 to go on, or an exit code. */
static int parse_options(const struct admin_command *cmd, int argc, char **argv,
                         struct admin_opts *o)
{
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hd:s:l:m:qr:je:n:b:p:a:P:f:S:o:i:g:x:L:E:T:N:", longopts, NULL)) != -1) {
        if (c == 'h') {
            help_command(cmd);
            return ADMIN_EXIT_OK;
        }
        if (c == ':')
            return admin_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
        if (c == '?' || !strchr(cmd->options, c))
            return admin_usage(cmd, "unknown option '%s'", argv[optind - 1]);
        switch (c) {
        case 'd':
            o->data = optarg;
            break;
        case 's':
            if (o->n_sans >= TLS_SAN_MAX)
                return admin_usage(cmd, "at most %d --san names", TLS_SAN_MAX);
            o->sans[o->n_sans++] = optarg;
            break;
        case 'l':
            if (arg_n_listens == HTTP_LISTEN_MAX)
                return admin_usage(cmd, "at most %d --listen addresses", HTTP_LISTEN_MAX);
            arg_listens[arg_n_listens++] = optarg;
            o->listen = optarg;
            break;
        case 'F':
            arg_log_file = optarg;
            break;
        case 'm':
            o->max_skew_ms = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'r':
            o->role = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'e':
            o->expires = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'b':
            o->dob = optarg;
            break;
        case 'p':
            o->phone = optarg;
            break;
        case 'a':
            o->address = optarg;
            break;
        case 'P':
            o->preferred_name = optarg;
            break;
        case 'f':
            o->profile = optarg;
            break;
        case 'g':
            o->grace_hours = optarg;
            break;
        case 'C':
            o->max_device_conflicts = optarg;
            break;
        case 'L':
            arg_lock_after_days = optarg;
            break;
        case 'E':
            arg_enrol_limit = optarg;
            break;
        case 'T':
            arg_enrol_server_limit = optarg;
            break;
        case 'H':
            arg_header_timeout = optarg;
            break;
        case 'B':
            arg_body_timeout = optarg;
            break;
        case 'A':
            arg_max_conns_per_addr = optarg;
            break;
        case 'M':
            arg_max_conns = optarg;
            break;
        case 'U':
            arg_max_body_buffer_kb = optarg;
            break;
        case 'Q':
            arg_queue_depth = optarg;
            break;
        case 'R':
            arg_readers = optarg;
            break;
        case 'x':
            o->person = optarg;
            break;
        case 'S':
            o->seed = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'i':
            o->input = optarg;
            break;
        case 'N':
            o->nhs = optarg;
            break;
        }
    }
    o->args = argv + optind;
    o->n_args = argc - optind;
    if (!o->data || !o->data[0])
        return admin_usage(cmd, "--data DIR is required");
    if (o->n_args != cmd->n_args) {
        const char *syn = cmd->synopsis + strlen(cmd->name);

        if (o->n_args > cmd->n_args)
            return admin_usage(cmd, "unexpected argument '%s' (usage: %s)", o->args[cmd->n_args],
                               syn + 1);
        return admin_usage(cmd, "missing argument (usage: %s)", syn + 1);
    }
    return -1;
}

/* ---- cert renew ---- */

static int cert_renew_run(const struct admin_command *cmd, struct admin_opts *o)
{
    int r;

    for (size_t i = 0; i < o->n_sans; i++)
        if (!tls_san_valid(o->sans[i]))
            return admin_usage(cmd, "--san '%s' is neither an IP address nor a DNS name",
                               o->sans[i]);
    r = tls_server_cert_renew(o->data, o->sans, o->n_sans);
    if (r < 0)
        return ADMIN_EXIT_FAILURE; /* tls_server_cert_renew() said why, in one line */
    printf("caresyncd: renewed the server certificate in %s\n", o->data);
    printf("  server.pem  new server certificate, valid for 365 days\n");
    printf("  server.key  its new key\n");
    printf("  ca.pem      unchanged: devices need nothing\n");
    printf("next: restart 'caresyncd serve --data %s' to use it\n", o->data);
    return ADMIN_EXIT_OK;
}

/* ---- serve ---- */

static void on_signal(evutil_socket_t sig, short events, void *arg)
{
    struct caresyncd *sd = arg;
    static int count;

    if (count++ > 0) {
        log_warn("received %s again; stopping now", strsignal(sig));
        caresyncd_shutdown_now(sd);
        return;
    }
    log_info("received %s; no longer accepting connections, finishing replies in progress",
             strsignal(sig));
    caresyncd_shutdown(sd);
}

/* What SIGHUP needs: the certificate and key paths and the live TLS context. */
struct reload {
    struct caresyncd *sd;
    const char *cert, *key;
    SSL_CTX **ssl_ctx;
};

/*
 * SIGHUP: reopen the log file (logrotate has moved it) and load the certificate and key again
 * (renewed with 'caresyncd cert renew'). New connections use the new ones; open connections
 * keep theirs; a pair that does not load leaves the old one serving.
 */
static void on_hup(evutil_socket_t sig, short events, void *arg)
{
    struct reload *rl = arg;
    SSL_CTX *ctx = NULL;
    int r;

    if (arg_log_file && log_reopen(arg_log_file) < 0)
        log_error("cannot reopen the log file %s: %s; still logging to the old one",
                  arg_log_file, strerror(errno));
    r = tls_server_ctx_new(rl->cert, rl->key, &ctx);
    if (r < 0) {
        log_error("SIGHUP: kept the certificate in use: %s and %s %s", rl->cert, rl->key,
                  r == -ENOENT ? "are missing" : "do not load (see above)");
        return;
    }
    caresyncd_set_ssl_ctx(rl->sd, ctx);
    SSL_CTX_free(*rl->ssl_ctx);
    *rl->ssl_ctx = ctx;
    log_info("SIGHUP: reloaded the certificate and key from %s; new connections use them",
             rl->cert);
}

/*
 * One daemon per data directory: an exclusive lock on DIR/caresyncd.lock, held while serving
 * (the kernel drops it when the process ends, however it ends), with the pid written in it.
 */
static int serve_lock(const char *data, int *ret_fd)
{
    char path[PATH_MAX], pid[32] = "";
    int fd;
    ssize_t n;

    if ((size_t)snprintf(path, sizeof(path), "%s/caresyncd.lock", data) >= sizeof(path))
        return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_USAGE, "the --data path is too long");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_FAILURE, "cannot open %s: %s; check --data", path,
                    strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_EXISTS, "another caresyncd is already serving %s%s%s%s; stop "
                        "it first, or serve another --data", data, pid[0] ? " (pid " : "", pid,
                        pid[0] ? ")" : "");
        return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_FAILURE, "cannot lock %s: %s", path, strerror(e));
    }
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("cannot write the pid to %s: %s", path, strerror(errno));
    *ret_fd = fd;
    return ADMIN_EXIT_OK;
}

static inline void event_freep(struct event **p)
{
    if (*p)
        event_free(*p);
}
static inline void event_base_freep(struct event_base **p)
{
    if (*p)
        event_base_free(*p);
}
static inline void store_checkpointer_stopp(struct store_checkpointer **p)
{
    *p = store_checkpointer_stop(*p);
}

static inline void store_freep(struct store **p)
{
    store_free(*p);
}
static inline void caresyncd_freep(struct caresyncd **p)
{
    caresyncd_free(*p);
}

/* "N/S" with 1 <= N <= 1000000 and 1 <= S <= 86400 into *n and *s; 0 or -EINVAL. */
static int parse_rate(const char *text, unsigned *n, unsigned *s)
{
    char head[24];
    const char *slash = strchr(text, '/');
    uint64_t a, b;

    if (!slash || (size_t)(slash - text) >= sizeof(head))
        return -EINVAL;
    memcpy(head, text, (size_t)(slash - text));
    head[slash - text] = '\0';
    if (parse_u64(head, &a) < 0 || parse_u64(slash + 1, &b) < 0 || a < 1 || a > 1000000 ||
        b < 1 || b > 86400)
        return -EINVAL;
    *n = (unsigned)a;
    *s = (unsigned)b;
    return 0;
}

/* Optional @text, a whole number from @min to @max, into *ret (untouched when NULL). */
static int parse_serve_number(const struct admin_command *cmd, const char *name, const char *text,
                              uint64_t min, uint64_t max, uint64_t *ret)
{
    uint64_t v;

    if (!text)
        return 0;
    if (parse_u64(text, &v) < 0 || v < min || v > max)
        return admin_usage(cmd, "--%s takes a number from %llu to %llu, not '%s'", name,
                           (unsigned long long)min, (unsigned long long)max, text);
    *ret = v;
    return 0;
}

static int serve_run(const struct admin_command *cmd, struct admin_opts *o)
{
    /* Declared in the order they must be freed in reverse: the server before the store,
     * TLS context and event base it borrows. */
    _cleanup_(event_base_freep) struct event_base *base = NULL;
    _cleanup_ssl_ctx_ SSL_CTX *ssl_ctx = NULL;
    _cleanup_(store_freep) struct store *store = NULL;
    _cleanup_(store_checkpointer_stopp) struct store_checkpointer *ckpt = NULL;
    _cleanup_(caresyncd_freep) struct caresyncd *sd = NULL;
    _cleanup_(event_freep) struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
    int lock_fd = -1; /* held until the process ends */
    struct reload rl = {0};
    char cert[PATH_MAX], key[PATH_MAX], db[PATH_MAX];
    char bound[HTTP_LISTEN_MAX * (INET6_ADDRSTRLEN + 16)] = "";
    struct sigaction sa = {.sa_handler = SIG_IGN};
    struct rlimit nofile;
    uint64_t skew = 0, grace = 0, lock_days = HTTP_LOCK_AFTER_DAYS, conflicts = 0;
    unsigned enrol_n = HTTP_ENROL_ADDR_FAILS, enrol_s = HTTP_ENROL_ADDR_WINDOW_S;
    unsigned enrol_all_n = HTTP_ENROL_ALL_FAILS, enrol_all_s = HTTP_ENROL_ALL_WINDOW_S;
    uint64_t head_s = 0, body_s = 0, per_addr = 0, max_conns = 0, buffer_kb = 0;
    uint64_t queue_depth = WORK_QUEUE_DEPTH, readers = WORK_READERS;
    int r;

    if (!arg_n_listens)
        return admin_usage(cmd, "--listen ADDR:PORT is required, e.g. --listen 127.0.0.1:8443");
    for (size_t i = 0; i < arg_n_listens; i++) {
        char host[HTTP_HOST_MAX + 1], port[8];

        if (http_split_listen(arg_listens[i], host, sizeof(host), port, sizeof(port)) < 0)
            return admin_usage(cmd, "--listen takes HOST:PORT (an IPv4 address or a host name) "
                               "or [IPv6]:PORT, not '%s'", arg_listens[i]);
    }
    if (o->max_skew_ms && (parse_u64(o->max_skew_ms, &skew) < 0 || skew > SERVE_MAX_SKEW_MAX_MS))
        return admin_usage(cmd, "--max-skew-ms takes milliseconds from 0 to %llu, not '%s'",
                           SERVE_MAX_SKEW_MAX_MS, o->max_skew_ms);
    if (o->grace_hours && (parse_u64(o->grace_hours, &grace) < 0 || grace > 24 * 365))
        return admin_usage(cmd, "--handover-grace-hours takes hours from 0 to 8760, not '%s'",
                           o->grace_hours);
    if (o->max_device_conflicts &&
        (parse_u64(o->max_device_conflicts, &conflicts) < 0 || conflicts > 1000000))
        return admin_usage(cmd, "--max-device-conflicts takes a number from 0 to 1000000, not "
                           "'%s'", o->max_device_conflicts);
    if (arg_lock_after_days &&
        (parse_u64(arg_lock_after_days, &lock_days) < 0 || lock_days > HTTP_LOCK_AFTER_MAX))
        return admin_usage(cmd, "--lock-after-days takes days from 0 to %d, not '%s'",
                           HTTP_LOCK_AFTER_MAX, arg_lock_after_days);
    if (arg_enrol_limit && parse_rate(arg_enrol_limit, &enrol_n, &enrol_s) < 0)
        return admin_usage(cmd, "--enrol-limit takes N/SECONDS (such as 10/60), not '%s'",
                           arg_enrol_limit);
    if (arg_enrol_server_limit && parse_rate(arg_enrol_server_limit, &enrol_all_n, &enrol_all_s) < 0)
        return admin_usage(cmd, "--enrol-server-limit takes N/SECONDS (such as 100/60), not '%s'",
                           arg_enrol_server_limit);
    if (parse_serve_number(cmd, "header-timeout", arg_header_timeout, 1, 3600, &head_s) ||
        parse_serve_number(cmd, "body-timeout", arg_body_timeout, 1, 86400, &body_s) ||
        parse_serve_number(cmd, "max-conns-per-addr", arg_max_conns_per_addr, 1, 1000000,
                           &per_addr) ||
        parse_serve_number(cmd, "max-conns", arg_max_conns, 1, 1000000, &max_conns) ||
        parse_serve_number(cmd, "max-body-buffer-kb", arg_max_body_buffer_kb, 1,
                           64ULL * 1024 * 1024, &buffer_kb) ||
        parse_serve_number(cmd, "queue-depth", arg_queue_depth, 1, WORK_QUEUE_MAX, &queue_depth) ||
        parse_serve_number(cmd, "readers", arg_readers, 0, WORK_READERS_MAX, &readers))
        return ADMIN_EXIT_USAGE;
    if ((size_t)snprintf(cert, sizeof(cert), "%s/server.pem", o->data) >= sizeof(cert) ||
        (size_t)snprintf(key, sizeof(key), "%s/server.key", o->data) >= sizeof(key) ||
        (size_t)snprintf(db, sizeof(db), "%s/store.db", o->data) >= sizeof(db))
        return admin_usage(cmd, "the --data path is too long");

    if (arg_log_file && log_reopen(arg_log_file) < 0)
        return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_FAILURE, "cannot open the log file %s: %s; check the folder "
                    "exists and is writable", arg_log_file, strerror(errno));
    log_set_timestamps(1);
    /* A client that hangs up mid-reply must cost an EPIPE, not the process. */
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        log_error("cannot ignore SIGPIPE: %s", strerror(errno));
        return ADMIN_EXIT_FAILURE;
    }

    /* One descriptor per connected device: take all the kernel allows this process. */
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
            log_warn("cannot raise the open file limit: %s", strerror(errno));
    }
    r = serve_lock(o->data, &lock_fd);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = admin_open_store(o->data, &store);
    if (r != ADMIN_EXIT_OK)
        return r;
    if (o->max_skew_ms)
        store_set_max_forward(store, skew);
    if (o->grace_hours)
        store_set_handover_grace(store, grace * 3600 * 1000);
    if (o->max_device_conflicts)
        store_set_max_device_conflicts(store, conflicts);
    r = store_checkpointer_start(store, db, &ckpt);
    if (r < 0)
        log_warn("cannot start the background checkpoint (%s); commits will checkpoint "
                 "instead", strerror(-r));
    r = tls_server_ctx_new(cert, key, &ssl_ctx);
    if (r == -ENOENT) {
        log_error("no server certificate and key at %s and %s; put them there ('caresyncd "
                  "init' makes both)",
                  cert, key);
        return ADMIN_EXIT_FAILURE;
    }
    if (r < 0)
        return ADMIN_EXIT_FAILURE; /* tls_server_ctx_new() said why */
    base = event_base_new();
    if (!base) {
        log_error("cannot create the event loop");
        return ADMIN_EXIT_FAILURE;
    }
    sd = caresyncd_new(base, store, ssl_ctx, o->quiet);
    if (!sd) {
        log_error("out of memory creating the HTTP server");
        return ADMIN_EXIT_FAILURE;
    }
    r = caresyncd_start_work(sd, db, (unsigned)readers, (unsigned)queue_depth);
    if (r < 0) {
        log_error("cannot start the store's worker threads: %s", strerror(-r));
        return ADMIN_EXIT_FAILURE;
    }
    caresyncd_set_lock_after_days(sd, (unsigned)lock_days);
    caresyncd_set_enrol_limits(sd, enrol_n, enrol_s, enrol_all_n, enrol_all_s);
    caresyncd_set_conn_limits(sd, &(struct conn_limits){
                                          .header_timeout_s = (unsigned)head_s,
                                          .body_timeout_s = (unsigned)body_s,
                                          .per_addr = (unsigned)per_addr,
                                          .max_conns = (unsigned)max_conns,
                                          .body_budget = buffer_kb * 1024,
                                  });
    {
        struct conn_limits l;

        caresyncd_get_conn_limits(sd, &l);
        log_info("connections: at most %u, %u per address; headers within %us, bodies within "
                 "%us; %" PRIu64 " KiB of request bodies at once",
                 l.max_conns, l.per_addr, l.header_timeout_s, l.body_timeout_s,
                 l.body_budget / 1024);
    }
    for (size_t i = 0; i < arg_n_listens; i++) {
        size_t used = strlen(bound);

        r = caresyncd_listen(sd, arg_listens[i], bound + used + (used > 0),
                             sizeof(bound) - used - (used > 0));
        if (r < 0) {
            log_error("cannot listen on %s: %s; %s", arg_listens[i],
                      r == -ENOENT ? "no such host name" : strerror(-r),
                      r == -EADDRINUSE ? "stop the other server or pick another port"
                      : r == -EACCES   ? "pick a port above 1023 or run with the needed privilege"
                      : r == -ENOENT   ? "check the name, or give an address"
                                       : "check the address is one of this machine's");
            return ADMIN_EXIT_FAILURE;
        }
        if (used > 0)
            bound[used] = ' ';
    }
    rl.sd = sd;
    rl.cert = cert;
    rl.key = key;
    rl.ssl_ctx = &ssl_ctx;
    ev_term = evsignal_new(base, SIGTERM, on_signal, sd);
    ev_int = evsignal_new(base, SIGINT, on_signal, sd);
    ev_hup = evsignal_new(base, SIGHUP, on_hup, &rl);
    if (!ev_term || !ev_int || !ev_hup || event_add(ev_term, NULL) < 0 ||
        event_add(ev_int, NULL) < 0 || event_add(ev_hup, NULL) < 0) {
        log_error("cannot install the signal handlers");
        return ADMIN_EXIT_FAILURE;
    }
    log_info("caresyncd %s listening on https://%s (data %s, pid %d)", CARESYNC_VERSION, bound,
             o->data, (int)getpid());
    if (event_base_dispatch(base) < 0) {
        log_error("the event loop failed");
        return ADMIN_EXIT_FAILURE;
    }
    sd = caresyncd_free(sd); /* logs what the store's threads did (work_free()) */
    return ADMIN_EXIT_OK;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    struct admin_opts o = {0};
    const struct admin_command *cmd;
    int words = 0, r;

    log_set_prefix("caresyncd");
    /* Everything caresyncd creates (store, WAL, keys) is for its owner only. */
    umask(077);
    if (argc < 2) {
        help_all(stderr);
        return ADMIN_EXIT_USAGE;
    }
    if (streq(argv[1], "--version") || streq(argv[1], "version")) {
        printf("caresyncd %s\n", CARESYNC_VERSION);
        return ADMIN_EXIT_OK;
    }
    if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
        if (argc > 2) {
            cmd = find_command(argc - 1, argv + 1, &words);
            if (!cmd || words != argc - 2) {
                fprintf(stderr, "caresyncd: no command '%s'; run 'caresyncd help' for the list\n",
                        argv[2]);
                return ADMIN_EXIT_USAGE;
            }
            help_command(cmd);
            return ADMIN_EXIT_OK;
        }
        help_all(stdout);
        return ADMIN_EXIT_OK;
    }
    cmd = find_command(argc, argv, &words);
    if (!cmd) {
        bool group = streq(argv[1], "user") || streq(argv[1], "person") ||
                     streq(argv[1], "device") || streq(argv[1], "cert");

        if (group)
            fprintf(stderr, "caresyncd %s: %s '%s'; run 'caresyncd help' for the list\n", argv[1],
                    argc > 2 ? "unknown subcommand" : "missing subcommand after",
                    argc > 2 ? argv[2] : argv[1]);
        else
            fprintf(stderr, "caresyncd: unknown command '%s'; run 'caresyncd help' for the list\n",
                    argv[1]);
        return ADMIN_EXIT_USAGE;
    }
    /* getopt sees the last command word as its argv[0]. */
    r = parse_options(cmd, argc - words, argv + words, &o);
    if (r >= 0)
        return r;
    return cmd->run(cmd, &o);
}
