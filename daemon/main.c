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
#include "console.h"
#include "config.h"
#include "demo.h"
#include "http.h"
#include "work.h"
#include "log.h"
#include "man.h"
#include "metrics.h"
#include "service.h"
#include "store.h"
#include "tls.h"
#include "util.h"

static int serve_run(const struct admin_command *cmd, struct admin_opts *o);
static int cert_renew_run(const struct admin_command *cmd, struct admin_opts *o);
static int config_check_run(const struct admin_command *cmd, struct admin_opts *o);

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
static const char *arg_idle_timeout; /* serve --idle-timeout (http.h) */
enum { ARG_IDLE_TIMEOUT = 0x100 }; /* long options with no letter of their own */
static const char *arg_max_conns_per_addr;
static const char *arg_max_conns;
static const char *arg_max_body_buffer_kb;
/* serve --config and the options that only the configuration file had before (config.h). */
static const char *arg_config;
static const char *arg_metrics_listen, *arg_log_level, *arg_log_format;
static const char *arg_tls_certificate, *arg_tls_key, *arg_user;
/* serve --console-idle-timeout, --console-lifetime (console.h). */
static const char *arg_console_idle;
static const char *arg_console_lifetime;
/* serve --queue-depth, --readers (work.h). */
static const char *arg_queue_depth;
static const char *arg_readers;

/* ---- the command table ---- */

static const struct admin_command commands[] = {
        {"init", "ds70", 0, "init --data DIR [--store URL] [--san NAME]... [--no-dev-ca]",
         "Make a new data directory: the store (store.db), a development CA (ca.pem, ca.key)\n"
         "and a server certificate signed by it (server.pem, server.key). serve never reads\n"
         "ca.key: move it off the machine, and back only for 'cert renew'. The certificate\n"
         "names 127.0.0.1, ::1 and localhost; add each other address or host name that\n"
         "devices will use with --san. Both are valid from two days ago (a device whose clock\n"
         "is slow still accepts them): the server certificate for 365 days (renew it with\n"
         "'caresyncd cert renew'), the CA for 10 years. Refuses (exit 4) when DIR/store.db\n"
         "or DIR/store.url exists.\n"
         "\n"
         "With --store the store is a PostgreSQL database instead of DIR/store.db, for several\n"
         "daemons on one database (docs/DEPLOYMENT.md): init connects, migrates its schema and\n"
         "writes the URL to DIR/store.url (mode 0600), which every other command then uses. On a\n"
         "database that holds a caresync store already it joins that store and says so; it\n"
         "never wipes one. Exit 1 when the database cannot be reached or refuses the login.\n"
         "\n"
         "  -d, --data DIR          data directory (created mode 0700 if missing)\n"
         "      --store URL         PostgreSQL store: postgresql://USER@HOST/DB?sslmode=verify-full\n"
         "                          or a libpq key=value string (it may hold a password)\n"
         "  -s, --san NAME          extra IP address or DNS name for the certificate (repeat it)\n"
         "      --no-dev-ca         make the store only, no CA and no certificate: serve then\n"
         "                          needs your own (tls_certificate, tls_key)\n",
         admin_init},
        {"cert renew", "ds", 0, "cert renew --data DIR [--san NAME]...",
         "Reissue the server certificate (server.pem, server.key) from the development CA in DIR,\n"
         "before it ends (serve warns 30 days ahead). The CA (ca.pem, ca.key) stays as it is, so\n"
         "devices keep trusting the server and need nothing. The new certificate names what the\n"
         "old one named plus each --san, and is valid from two days ago for 365 days (never\n"
         "beyond the CA). Send serve SIGHUP to use it. Needs DIR/ca.key.\n"
         "\n"
         "  -d, --data DIR          data directory made by 'caresyncd init'\n"
         "  -s, --san NAME          another IP address or DNS name for the certificate (repeat it)\n",
         cert_renew_run},
        {"serve", "dlmqgLCETHBAMUFc12345uIW69", 0,
         "serve [--config FILE] --data DIR --listen ADDR:PORT... [--metrics-listen ADDR:PORT] "
         "[--tls-certificate FILE --tls-key FILE] [--user NAME] [--log-file FILE] "
         "[--log-level LEVEL] [--log-format text|json] [--max-skew-ms N] [--handover-grace-hours N] "
         "[--lock-after-days N] [--max-device-conflicts N] [--enrol-limit N/S] "
         "[--enrol-server-limit N/S] [--header-timeout S] [--body-timeout S] [--idle-timeout S] "
         "[--max-conns-per-addr N] [--max-conns N] [--max-body-buffer-kb N] "
         "[--queue-depth N] [--readers N] [--console-idle-timeout S] [--console-lifetime S] [--quiet]",
         "Serve the sync API (docs/PROTOCOL.md) over HTTPS until SIGTERM or SIGINT, which stop\n"
         "accepting, finish the replies in progress and exit 0. SIGHUP reloads the certificate\n"
         "and key (new connections use them, open ones are kept) and reopens the log file. One\n"
         "daemon serves a data directory: a second is refused (exit 4). Every option is also a\n"
         "key of the configuration file (its long name with '_' for '-': max_conns = 64); an\n"
         "option given here overrides the file. Started by systemd (Type=notify), it says when\n"
         "it is ready.\n"
         "\n"
         "  -c, --config FILE       read the options from FILE (default " CARESYNCD_CONFIG_DEFAULT ",\n"
         "                          when it exists); check one with 'caresyncd config check'\n"
         "  -d, --data DIR          data directory made by 'caresyncd init'\n"
         "  -l, --listen ADDR:PORT  IPv4 address or host name and port, or [IPv6]:PORT (port 0:\n"
         "                          any free port); repeat it to listen on several\n"
         "      --metrics-listen ADDR:PORT\n"
         "                          plain HTTP address of /metrics, /healthz and /readyz, no\n"
         "                          authentication: keep it on loopback or a management network\n"
         "                          (default 127.0.0.1:9469, skipped with a warning when taken;\n"
         "                          'off': none)\n"
         "      --tls-certificate FILE\n"
         "                          the server certificate, PEM, followed by its intermediate\n"
         "                          CA certificates (default DIR/server.pem)\n"
         "      --tls-key FILE      its private key, PEM (default DIR/server.key)\n"
         "      --user NAME         started as root: after binding, own DIR and its files by\n"
         "                          NAME and go on as NAME (its uid and group)\n"
         "  -F, --log-file FILE     append the log to FILE (reopened on SIGHUP, for logrotate)\n"
         "                          instead of standard error (the journal under systemd)\n"
         "      --log-level LEVEL   error, warn, info (default) or debug\n"
         "      --log-format FORMAT text (default) or json: one JSON object a line\n"
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
         "      --idle-timeout S    a connection with no byte read or written for S seconds,\n"
         "                          and no request waiting for the store, is closed\n"
         "                          (default 30)\n"
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
         "      --console-idle-timeout S\n"
         "                          a web console session unused for S seconds ends (default\n"
         "                          900)\n"
         "      --console-lifetime S\n"
         "                          a web console session ends S seconds after sign-in, however\n"
         "                          busy (default 28800, 8 hours)\n"
         "  -q, --quiet             no access log lines (key: quiet = true)\n",
         serve_run},
        {"config check", "c", -1, "config check [FILE]",
         "Check a configuration file (default " CARESYNCD_CONFIG_DEFAULT "): every line a\n"
         "comment ('#'), blank or 'key = value' with a known key and a good value. Prints\n"
         "'FILE: ok' and exits 0, or names the first bad line (FILE:LINE) and exits 2; exit 1\n"
         "when the file cannot be read. The keys are serve's options (see 'caresyncd serve\n"
         "--help'), '_' for '-'.\n"
         "\n"
         "  -c, --config FILE       the file (the same as giving FILE)\n",
         config_check_run},
        {"user add", "drDk8w", 1,
         "user add --data DIR NAME --role ROLE [--display-name NAME] [--nmc PIN] [--hcpc N] "
         "[--swe N]",
         "Add a member of staff. Roles decide what their devices receive (see 'caresyncd help').\n"
         "NAME is their login; exports show the display name and registrations\n"
         "(docs/internals/fhir.md, \"Staff\").\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -r, --role ROLE         one of the roles below\n"
         "  -D, --display-name NAME the name people know them by (\"Amira Khan\")\n"
         "  -k, --nmc PIN           Nursing and Midwifery Council PIN (12A3456B)\n"
         "      --hcpc NUMBER       Health and Care Professions Council number (PH123456)\n"
         "  -w, --swe NUMBER        Social Work England number (SW12345)\n",
         admin_user_add},
        {"user set", "dDk8w", 1,
         "user set --data DIR NAME [--display-name NAME] [--nmc PIN] [--hcpc N] [--swe N]",
         "Set how user NAME appears in exports: display name and professional registrations.\n"
         "An empty value (--nmc '') clears one. Audited. Exit 3 for an unknown user.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -D, --display-name NAME the name people know them by\n"
         "  -k, --nmc PIN           Nursing and Midwifery Council PIN (12A3456B)\n"
         "      --hcpc NUMBER       Health and Care Professions Council number (PH123456)\n"
         "  -w, --swe NUMBER        Social Work England number (SW12345)\n",
         admin_user_set},
        {"user passwd", "dQ", 1, "user passwd --data DIR NAME [--qr FILE.svg]",
         "Set the web console password of a coordinator or administrator (read from standard\n"
         "input: prompted twice at a terminal, else its first line; 10 to 128 characters) and\n"
         "a new TOTP secret for their authenticator app, printed with its otpauth URI (and as a\n"
         "QR code in FILE.svg with --qr). Sessions signed in before end. The console is at\n"
         "https://HOST:PORT/console/ of 'caresyncd serve'.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "      --qr FILE.svg       also write the QR code to scan, as SVG (mode 0600)\n",
         admin_user_passwd},
        {"user totp", "d", 1, "user totp --data DIR NAME",
         "Print the one-time code NAME's authenticator app shows now (for the demo and tests:\n"
         "whoever can read the data directory can sign in as anyone anyway).\n"
         "\n"
         "  -d, --data DIR          data directory\n",
         admin_user_totp},
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
        {"person add", "dnbpaPKGtOyzRV", 0,
         "person add --data DIR --name \"Full Name\" [--dob YYYY-MM-DD] [--phone P] [--address A] "
         "[--preferred-name N] [--family F] [--given G] [--title T] [--address-line L]... "
         "[--city C] [--postcode P] [--gp NAME] [--gp-ods CODE]",
         "Add a person who receives care and print only their id. Assign them to staff with\n"
         "'caresyncd assign'.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -n, --name NAME         full name (required)\n"
         "  -b, --dob YYYY-MM-DD    date of birth\n"
         "  -p, --phone PHONE       telephone number\n"
         "  -a, --address ADDRESS   address, one line\n"
         "  -P, --preferred-name N  what they like to be called\n"
         "  -K, --family NAME       family name (surname), for matching and FHIR\n"
         "  -G, --given NAMES       given names, space separated\n"
         "  -t, --title TITLE       Mrs, Mr, Dr, Revd...\n"
         "  -O, --address-line L    a line of the address (twice at most)\n"
         "  -y, --city TOWN         town or city\n"
         "  -z, --postcode PC       postcode\n"
         "  -R, --gp NAME           the GP practice's name\n"
         "  -V, --gp-ods CODE       the GP practice's ODS code (A81001)\n",
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
        {"export", "doXYZ", 1,
         "export --data DIR (PERSON_ID [--max-entries N] [--output FILE] | --all --ndjson OUT)",
         "Export one person's whole current record as a FHIR R4 transaction Bundle (JSON; the\n"
         "mapping is in docs/internals/fhir.md), the same as GET /v1/people/{id}/fhir. With\n"
         "--max-entries N, the record as several transaction Bundles of at most N entries,\n"
         "one per line (JSON Lines), to load in that order. --all --ndjson OUT writes every\n"
         "person as bulk NDJSON: a file OUT/<ResourceType>.ndjson per resource type, one\n"
         "resource a line, shared ones (staff, organisations, code systems) once. Every\n"
         "export is written to the audit log. Exit 3 for an unknown person.\n"
         "\n"
         "  -d, --data DIR          data directory\n"
         "  -o, --output FILE       write the Bundle(s) to FILE (mode 0600) instead of stdout\n"
         "  -X, --max-entries N     at most N entries per Bundle (1 to 100000)\n"
         "  -Y, --all               every person (with --ndjson)\n"
         "  -Z, --ndjson OUT        the directory of the bulk export (made if missing)\n",
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
        {"idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT},
        {"max-conns-per-addr", required_argument, NULL, 'A'},
        {"max-conns", required_argument, NULL, 'M'},
        {"max-body-buffer-kb", required_argument, NULL, 'U'},
        {"queue-depth", required_argument, NULL, '6'},
        {"readers", required_argument, NULL, '9'},
        {"person", required_argument, NULL, 'x'},
        {"profile", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'S'},
        {"output", required_argument, NULL, 'o'},
        {"input", required_argument, NULL, 'i'},
        {"nhs", required_argument, NULL, 'N'},
        {"config", required_argument, NULL, 'c'},
        {"metrics-listen", required_argument, NULL, '1'},
        {"log-level", required_argument, NULL, '2'},
        {"log-format", required_argument, NULL, '3'},
        {"tls-certificate", required_argument, NULL, '4'},
        {"tls-key", required_argument, NULL, '5'},
        {"user", required_argument, NULL, 'u'},
        {"no-dev-ca", no_argument, NULL, '7'},
        {"store", required_argument, NULL, '0'},
        {"display-name", required_argument, NULL, 'D'},
        {"nmc", required_argument, NULL, 'k'},
        {"hcpc", required_argument, NULL, '8'},
        {"swe", required_argument, NULL, 'w'},
        {"family", required_argument, NULL, 'K'},
        {"given", required_argument, NULL, 'G'},
        {"title", required_argument, NULL, 't'},
        {"address-line", required_argument, NULL, 'O'},
        {"city", required_argument, NULL, 'y'},
        {"postcode", required_argument, NULL, 'z'},
        {"gp", required_argument, NULL, 'R'},
        {"gp-ods", required_argument, NULL, 'V'},
        {"max-entries", required_argument, NULL, 'X'},
        {"all", no_argument, NULL, 'Y'},
        {"ndjson", required_argument, NULL, 'Z'},
        {"qr", required_argument, NULL, 'Q'},
        {"console-idle-timeout", required_argument, NULL, 'I'},
        {"console-lifetime", required_argument, NULL, 'W'},
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
            "  caresyncd help --man       (the manual page, caresyncd(8), in roff)\n"
            "  caresyncd --version\n"
            "\n"
            "Every command takes --help. Admin commands work while 'serve' runs.\n"
            "roles: %s\n"
            "\n"
            "exit codes: 0 ok, 1 failure (store, I/O, TLS), 2 usage error or a bad configuration\n"
            "file, 3 not found (user, person or device), 4 already exists or conflicts\n",
            store_role_list());
}

/*
 * caresyncd(8), printed by 'caresyncd help --man' from the same table as every --help (meson
 * installs it): the synopses, then each command's help text as --help shows it.
 */
static void man_page(void)
{
    printf(".TH CARESYNCD 8 \"\" \"caresync %s\" \"System Administration\"\n", CARESYNC_VERSION);
    printf(".SH NAME\ncaresyncd \\- the caresync sync server and its administration\n");
    printf(".SH SYNOPSIS\n.nf\n");
    for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
        printf("caresyncd ");
        man_text(stdout, commands[i].synopsis);
    }
    printf(".fi\n.SH DESCRIPTION\n");
    man_text(stdout,
             "caresyncd keeps the server copy of the caresync records and serves the sync API\n"
             "to the devices of health and social care staff (caresync(1)) over HTTPS. 'serve'\n"
             "runs the daemon; the other commands administer its data directory, also while it\n"
             "serves. Every command takes --help, which prints its section below.\n");
    printf(".SH COMMANDS\n");
    for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
        printf(".SS \"caresyncd ");
        man_text(stdout, commands[i].name);
        printf(".PP\n.nf\n");
        man_text(stdout, commands[i].help);
        if (streq(commands[i].name, "user add")) {
            printf("\nroles: ");
            man_text(stdout, store_role_list());
        }
        printf(".fi\n");
    }
    printf(".SH CONFIGURATION FILE\n");
    man_text(stdout,
             "serve reads " CARESYNCD_CONFIG_DEFAULT " when it exists, or the file named by\n"
             "--config: one 'key = value' a line, '#' comments; each key is a serve option's long\n"
             "name with '_' for '-' (max_conns = 64; listen may repeat). A flag overrides the\n"
             "file. 'caresyncd config check' names the first bad line.\n");
    printf(".SH EXIT STATUS\n");
    man_text(stdout, "0 ok, 1 failure (store, I/O, TLS), 2 usage error or a bad configuration\n"
                     "file, 3 not found (user, person or device), 4 already exists or conflicts.\n");
    printf(".SH SIGNALS\n");
    man_text(stdout, "SIGTERM, SIGINT: stop accepting, finish the replies in progress, exit 0.\n"
                     "SIGHUP: reload the certificate and key, reopen the log file.\n");
    printf(".SH SEE ALSO\ncaresync(1); docs/OPERATIONS.md and docs/PROTOCOL.md in the source\n");
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
    while ((c = getopt_long(argc, argv, ":hd:s:l:m:qr:je:n:b:p:a:P:f:S:o:i:g:x:L:E:T:N:c:D:k:w:K:G:t:O:y:z:R:V:X:YZ:", longopts, NULL)) != -1) {
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
        case ARG_IDLE_TIMEOUT:
            arg_idle_timeout = optarg;
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
        case '6':
            arg_queue_depth = optarg;
            break;
        case '9':
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
        case 'c':
            arg_config = optarg;
            break;
        case '1':
            arg_metrics_listen = optarg;
            break;
        case '2':
            arg_log_level = optarg;
            break;
        case '3':
            arg_log_format = optarg;
            break;
        case '4':
            arg_tls_certificate = optarg;
            break;
        case '5':
            arg_tls_key = optarg;
            break;
        case 'u':
            arg_user = optarg;
            break;
        case '7':
            o->no_dev_ca = true;
            break;
        case '0':
            o->store = optarg;
            break;
        case 'D':
            o->display_name = optarg;
            break;
        case 'k':
            o->nmc = optarg;
            break;
        case '8':
            o->hcpc = optarg;
            break;
        case 'w':
            o->swe = optarg;
            break;
        case 'K':
            o->family = optarg;
            break;
        case 'G':
            o->given = optarg;
            break;
        case 't':
            o->title = optarg;
            break;
        case 'O':
            if (o->n_lines == (int)ELEMENTSOF(o->lines))
                return admin_usage(cmd, "at most %d --address-line options",
                                   (int)ELEMENTSOF(o->lines));
            o->lines[o->n_lines++] = optarg;
            break;
        case 'y':
            o->city = optarg;
            break;
        case 'z':
            o->postcode = optarg;
            break;
        case 'R':
            o->gp = optarg;
            break;
        case 'V':
            o->gp_ods = optarg;
            break;
        case 'X':
            o->max_entries = optarg;
            break;
        case 'Y':
            o->all = true;
            break;
        case 'Z':
            o->ndjson = optarg;
            break;
        case 'Q':
            o->qr = optarg;
            break;
        case 'I':
            arg_console_idle = optarg;
            break;
        case 'W':
            arg_console_lifetime = optarg;
            break;
        }
    }
    o->args = argv + optind;
    o->n_args = argc - optind;
    /* serve may have DIR from its configuration file; config check needs none. */
    if (strchr(cmd->options, 'd') && cmd->run != serve_run && (!o->data || !o->data[0]))
        return admin_usage(cmd, "--data DIR is required");
    if (cmd->n_args < 0 && o->n_args > -cmd->n_args)
        return admin_usage(cmd, "unexpected argument '%s' (usage: %s)", o->args[-cmd->n_args],
                           cmd->synopsis);
    /* export --all takes no PERSON_ID */
    if (cmd->n_args >= 0 && o->n_args != cmd->n_args - (o->all ? 1 : 0)) {
        const char *syn = cmd->synopsis + strlen(cmd->name);

        if (o->n_args > cmd->n_args - (o->all ? 1 : 0))
            return admin_usage(cmd, "unexpected argument '%s' (usage: %s)",
                               o->args[o->n_args - 1], syn + 1);
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
    printf("next: send the running serve SIGHUP to use it (systemctl reload caresyncd)\n");
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
    service_notify("STOPPING=1");
    caresyncd_shutdown(sd);
}

/* What SIGHUP needs: the certificate and key paths and the live TLS context. */
struct reload {
    struct caresyncd *sd;
    const char *cert, *key;
    const char *log_file; /* NULL: standard error */
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

    service_notify("RELOADING=1");
    if (rl->log_file && log_reopen(rl->log_file) < 0)
        log_error("cannot reopen the log file %s: %s; still logging to the old one",
                  rl->log_file, strerror(errno));
    r = tls_server_ctx_new(rl->cert, rl->key, &ctx);
    if (r < 0) {
        log_error("SIGHUP: kept the certificate in use: %s and %s %s", rl->cert, rl->key,
                  r == -ENOENT ? "are missing or cannot be read" : "do not load (see above)");
        service_notify("READY=1");
        return;
    }
    caresyncd_set_ssl_ctx(rl->sd, ctx);
    SSL_CTX_free(*rl->ssl_ctx);
    *rl->ssl_ctx = ctx;
    log_info("SIGHUP: reloaded the certificate and key from %s; new connections use them",
             rl->cert);
    service_notify("READY=1");
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
static inline void metrics_server_freep(struct metrics_server **p)
{
    metrics_server_free(*p);
}

/*
 * The listener of /metrics, /healthz and /readyz: metrics_listen, or the default one, which is
 * skipped with a warning when its port is taken (another daemon on this machine has it). 0, or
 * an exit code.
 */
static int serve_metrics(struct event_base *base, const struct config *cfg, struct work *work,
                         const char *db, const struct store_checkpointer *ckpt,
                         struct metrics_server **ret)
{
    const char *addr = config_get(cfg, CONFIG_METRICS_LISTEN);
    char bound[INET6_ADDRSTRLEN + 16] = "";
    int r;

    if (addr && streq(addr, CONFIG_OFF))
        return ADMIN_EXIT_OK;
    r = metrics_server_new(base, addr ? addr : METRICS_LISTEN_DEFAULT, work, db, ckpt,
                           (unsigned)config_number(cfg, CONFIG_LOCK_AFTER_DAYS,
                                                   HTTP_LOCK_AFTER_DAYS),
                           bound, sizeof(bound), ret);
    if (r < 0 && !addr) {
        log_warn("no metrics: cannot listen on %s (%s); set metrics_listen to another address, "
                 "or to off", METRICS_LISTEN_DEFAULT, strerror(-r));
        return ADMIN_EXIT_OK;
    }
    if (r < 0)
        return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_FAILURE, "cannot listen on %s for metrics: %s; "
                       "pick another metrics_listen address", addr, strerror(-r));
    log_info("metrics, health and readiness on http://%s/metrics, /healthz, /readyz", bound);
    return ADMIN_EXIT_OK;
}

static inline void config_donep(struct config *c)
{
    config_done(c);
}

/* The configuration file to read: --config, or the default one when it exists (NULL: none). */
static const char *config_path(void)
{
    if (arg_config)
        return arg_config;
    return access(config_default_path(), F_OK) == 0 ? config_default_path() : NULL;
}

/*
 * serve's configuration: the flags first (each checked, a bad one is a usage error), then the
 * file, whose keys a flag gave already keep the flag's value. Returns -1 to go on, or the exit
 * code (2 for a bad flag or line, said on standard error).
 */
static int serve_config(const struct admin_command *cmd, struct admin_opts *o, struct config *c)
{
    const struct {
        enum config_key k;
        const char *v;
    } flags[] = {
            {CONFIG_DATA, o->data},
            {CONFIG_METRICS_LISTEN, arg_metrics_listen},
            {CONFIG_TLS_CERTIFICATE, arg_tls_certificate},
            {CONFIG_TLS_KEY, arg_tls_key},
            {CONFIG_USER, arg_user},
            {CONFIG_LOG_FILE, arg_log_file},
            {CONFIG_LOG_LEVEL, arg_log_level},
            {CONFIG_LOG_FORMAT, arg_log_format},
            {CONFIG_QUIET, o->quiet ? "true" : NULL},
            {CONFIG_MAX_SKEW_MS, o->max_skew_ms},
            {CONFIG_HANDOVER_GRACE_HOURS, o->grace_hours},
            {CONFIG_MAX_DEVICE_CONFLICTS, o->max_device_conflicts},
            {CONFIG_LOCK_AFTER_DAYS, arg_lock_after_days},
            {CONFIG_ENROL_LIMIT, arg_enrol_limit},
            {CONFIG_ENROL_SERVER_LIMIT, arg_enrol_server_limit},
            {CONFIG_HEADER_TIMEOUT, arg_header_timeout},
            {CONFIG_BODY_TIMEOUT, arg_body_timeout},
            {CONFIG_IDLE_TIMEOUT, arg_idle_timeout},
            {CONFIG_MAX_CONNS_PER_ADDR, arg_max_conns_per_addr},
            {CONFIG_MAX_CONNS, arg_max_conns},
            {CONFIG_MAX_BODY_BUFFER_KB, arg_max_body_buffer_kb},
            {CONFIG_QUEUE_DEPTH, arg_queue_depth},
            {CONFIG_READERS, arg_readers},
            {CONFIG_CONSOLE_IDLE_TIMEOUT, arg_console_idle},
            {CONFIG_CONSOLE_LIFETIME, arg_console_lifetime},
    };
    const char *path = config_path();
    char err[512];
    int r;

    for (size_t i = 0; i < arg_n_listens; i++)
        if (config_set(c, CONFIG_LISTEN, arg_listens[i], "--listen", true, err, sizeof(err)) < 0)
            return admin_usage(cmd, "%s", err);
    for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
        if (!flags[i].v)
            continue;
        r = config_set(c, flags[i].k, flags[i].v, config_key_flag(flags[i].k), true, err,
                       sizeof(err));
        if (r == -ENOMEM)
            return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_FAILURE, "out of memory");
        if (r < 0)
            return admin_usage(cmd, "%s", err);
    }
    if (path) {
        r = config_load(c, path);
        if (r == -ENOENT)
            return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_USAGE, "no configuration file %s; check "
                           "--config", path);
        if (r == -EINVAL)
            return ADMIN_EXIT_USAGE; /* config_load() named the line */
        if (r < 0)
            return ADMIN_EXIT_FAILURE;
    }
    if (!config_get(c, CONFIG_DATA))
        return admin_usage(cmd, "--data DIR (or data = DIR in the configuration file) is "
                           "required");
    if (!c->n_listens)
        return admin_usage(cmd, "--listen ADDR:PORT (or listen = ADDR:PORT in the configuration "
                           "file) is required, e.g. --listen 127.0.0.1:8443");
    if (!config_get(c, CONFIG_TLS_CERTIFICATE) != !config_get(c, CONFIG_TLS_KEY))
        return admin_usage(cmd, "tls_certificate and tls_key go together: give both, or "
                           "neither for DIR/server.pem and DIR/server.key");
    return -1;
}

/* ---- config check ---- */

static int config_check_run(const struct admin_command *cmd, struct admin_opts *o)
{
    _cleanup_(config_donep) struct config c = {0};
    const char *path = o->n_args > 0 ? o->args[0] : arg_config ? arg_config : config_default_path();
    int r;

    r = config_load(&c, path);
    if (r == -ENOENT)
        return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_FAILURE, "no configuration file %s; give the "
                       "path of one", path);
    if (r == -EINVAL)
        return ADMIN_EXIT_USAGE;
    if (r < 0)
        return ADMIN_EXIT_FAILURE;
    if (!config_get(&c, CONFIG_TLS_CERTIFICATE) != !config_get(&c, CONFIG_TLS_KEY)) {
        fprintf(stderr, "caresyncd: %s: tls_certificate and tls_key go together: give both, "
                "or neither\n", path);
        return ADMIN_EXIT_USAGE;
    }
    printf("%s: ok\n", path);
    return ADMIN_EXIT_OK;
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
    _cleanup_(metrics_server_freep) struct metrics_server *metrics = NULL;
    _cleanup_(event_freep) struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
    int lock_fd = -1; /* held until the process ends */
    struct reload rl = {0};
    char cert[PATH_MAX], key[PATH_MAX], db[PATH_MAX];
    char bound[HTTP_LISTEN_MAX * (INET6_ADDRSTRLEN + 16)] = "";
    struct sigaction sa = {.sa_handler = SIG_IGN};
    struct rlimit nofile;
    _cleanup_(config_donep) struct config cfg = {0};
    unsigned enrol_n = HTTP_ENROL_ADDR_FAILS, enrol_s = HTTP_ENROL_ADDR_WINDOW_S;
    unsigned enrol_all_n = HTTP_ENROL_ALL_FAILS, enrol_all_s = HTTP_ENROL_ALL_WINDOW_S;
    const char *data, *log_file, *user;
    int r;

    r = serve_config(cmd, o, &cfg);
    if (r >= 0)
        return r;
    data = config_get(&cfg, CONFIG_DATA);
    user = config_get(&cfg, CONFIG_USER);
    log_file = config_get(&cfg, CONFIG_LOG_FILE);
    config_rate(&cfg, CONFIG_ENROL_LIMIT, &enrol_n, &enrol_s);
    config_rate(&cfg, CONFIG_ENROL_SERVER_LIMIT, &enrol_all_n, &enrol_all_s);
    if ((size_t)snprintf(cert, sizeof(cert), "%s/server.pem", data) >= sizeof(cert) ||
        (size_t)snprintf(key, sizeof(key), "%s/server.key", data) >= sizeof(key) ||
        (size_t)snprintf(db, sizeof(db), "%s/store.db", data) >= sizeof(db))
        return admin_usage(cmd, "the --data path is too long");
    if (config_get(&cfg, CONFIG_TLS_CERTIFICATE)) {
        copy_text(cert, sizeof(cert), config_get(&cfg, CONFIG_TLS_CERTIFICATE));
        copy_text(key, sizeof(key), config_get(&cfg, CONFIG_TLS_KEY));
    }

    if (config_get(&cfg, CONFIG_LOG_LEVEL)) {
        enum log_level level = LOG_LEVEL_INFO;

        (void)log_level_from_name(config_get(&cfg, CONFIG_LOG_LEVEL), &level);
        log_set_level(level);
    }
    if (config_get(&cfg, CONFIG_LOG_FORMAT) && streq(config_get(&cfg, CONFIG_LOG_FORMAT), "json"))
        log_set_format(LOG_FORMAT_JSON);
    if (log_file && log_reopen(log_file) < 0)
        return log_msg(LOG_LEVEL_ERROR, ADMIN_EXIT_FAILURE, "cannot open the log file %s: %s; check the folder "
                    "exists and is writable", log_file, strerror(errno));
    log_set_timestamps(1);
    (void)log_journal_detect();
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
    r = serve_lock(data, &lock_fd);
    if (r != ADMIN_EXIT_OK)
        return r;
    r = admin_open_store(data, &store);
    if (r != ADMIN_EXIT_OK)
        return r;
    if (config_get(&cfg, CONFIG_MAX_SKEW_MS))
        store_set_max_forward(store, config_number(&cfg, CONFIG_MAX_SKEW_MS, 0));
    if (config_get(&cfg, CONFIG_HANDOVER_GRACE_HOURS))
        store_set_handover_grace(store,
                                 config_number(&cfg, CONFIG_HANDOVER_GRACE_HOURS, 0) * 3600 * 1000);
    if (config_get(&cfg, CONFIG_MAX_DEVICE_CONFLICTS))
        store_set_max_device_conflicts(store, config_number(&cfg, CONFIG_MAX_DEVICE_CONFLICTS, 0));
    /* PostgreSQL checkpoints itself; the file copy is the embedded store's. */
    r = store_is_postgresql(store) ? 0 : store_checkpointer_start(store, db, &ckpt);
    if (r < 0)
        log_warn("cannot start the background checkpoint (%s); commits will checkpoint "
                 "instead", strerror(-r));
    /* Everything in DIR exists now (lock, store, its WAL): hand it to the user served as. */
    if (user && service_own_data(data, user, log_file) < 0)
        return ADMIN_EXIT_FAILURE;
    r = tls_server_ctx_new(cert, key, &ssl_ctx);
    if (r == -ENOENT) {
        log_error("no server certificate and key at %s and %s; give your own with "
                  "tls_certificate and tls_key, or make a development pair with 'caresyncd init'",
                  cert, key);
        return ADMIN_EXIT_FAILURE;
    }
    if (r < 0)
        return ADMIN_EXIT_FAILURE; /* tls_server_ctx_new() said why */
    base = event_base_new();
    /* Two priorities: the store's finished jobs (work.c) before new network events, so that a
     * committed sync's reply never waits behind a burst of handshakes; everything else 1. */
    if (!base || event_base_priority_init(base, WORK_PRIORITIES) < 0) {
        log_error("cannot create the event loop");
        return ADMIN_EXIT_FAILURE;
    }
    sd = caresyncd_new(base, store, ssl_ctx, config_bool(&cfg, CONFIG_QUIET));
    if (!sd) {
        log_error("out of memory creating the HTTP server");
        return ADMIN_EXIT_FAILURE;
    }
    r = caresyncd_start_work(sd, db, (unsigned)config_number(&cfg, CONFIG_READERS, WORK_READERS),
                             (unsigned)config_number(&cfg, CONFIG_QUEUE_DEPTH, WORK_QUEUE_DEPTH));
    if (r < 0) {
        log_error("cannot start the store's worker threads: %s", strerror(-r));
        return ADMIN_EXIT_FAILURE;
    }
    caresyncd_set_lock_after_days(sd, (unsigned)config_number(&cfg, CONFIG_LOCK_AFTER_DAYS,
                                                              HTTP_LOCK_AFTER_DAYS));
    caresyncd_set_idle_timeout(sd, (unsigned)config_number(&cfg, CONFIG_IDLE_TIMEOUT,
                                                           HTTP_TIMEOUT_S));
    if (caresyncd_set_console(sd, &(struct console_options){
                                          .idle_s = (unsigned)config_number(
                                                  &cfg, CONFIG_CONSOLE_IDLE_TIMEOUT, 0),
                                          .lifetime_s = (unsigned)config_number(
                                                  &cfg, CONFIG_CONSOLE_LIFETIME, 0),
                                          .lock_after_days = (unsigned)config_number(
                                                  &cfg, CONFIG_LOCK_AFTER_DAYS,
                                                  HTTP_LOCK_AFTER_DAYS),
                                  }) < 0) {
        log_error("out of memory creating the web console");
        return ADMIN_EXIT_FAILURE;
    }
    caresyncd_set_enrol_limits(sd, enrol_n, enrol_s, enrol_all_n, enrol_all_s);
    caresyncd_set_conn_limits(sd, &(struct conn_limits){
                                          .header_timeout_s = (unsigned)config_number(
                                                  &cfg, CONFIG_HEADER_TIMEOUT, 0),
                                          .body_timeout_s = (unsigned)config_number(
                                                  &cfg, CONFIG_BODY_TIMEOUT, 0),
                                          .per_addr = (unsigned)config_number(
                                                  &cfg, CONFIG_MAX_CONNS_PER_ADDR, 0),
                                          .max_conns = (unsigned)config_number(
                                                  &cfg, CONFIG_MAX_CONNS, 0),
                                          .body_budget = config_number(
                                                  &cfg, CONFIG_MAX_BODY_BUFFER_KB, 0) * 1024,
                                  });
    {
        struct conn_limits l;

        caresyncd_get_conn_limits(sd, &l);
        log_info("connections: at most %u, %u per address; headers within %us, bodies within "
                 "%us; %" PRIu64 " KiB of request bodies at once",
                 l.max_conns, l.per_addr, l.header_timeout_s, l.body_timeout_s,
                 l.body_budget / 1024);
    }
    for (size_t i = 0; i < cfg.n_listens; i++) {
        size_t used = strlen(bound);

        r = caresyncd_listen(sd, cfg.listens[i], bound + used + (used > 0),
                             sizeof(bound) - used - (used > 0));
        if (r < 0) {
            log_error("cannot listen on %s: %s; %s", cfg.listens[i],
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
    r = serve_metrics(base, &cfg, caresyncd_work(sd), db, ckpt, &metrics);
    if (r != ADMIN_EXIT_OK)
        return r;
    /* Bound (ports below 1024 too): root is needed no more. */
    if (user) {
        if (service_drop(user) < 0)
            return ADMIN_EXIT_FAILURE;
        if (access(cert, R_OK) < 0 || access(key, R_OK) < 0)
            log_warn("user %s cannot read %s or %s: SIGHUP will not be able to reload them; "
                     "let its group read them", user, cert, key);
    } else if (geteuid() == 0) {
        log_warn("serving as root; set user (such as caresync) to drop root after binding");
    }
    rl.sd = sd;
    rl.cert = cert;
    rl.key = key;
    rl.ssl_ctx = &ssl_ctx;
    rl.log_file = log_file;
    ev_term = evsignal_new(base, SIGTERM, on_signal, sd);
    ev_int = evsignal_new(base, SIGINT, on_signal, sd);
    ev_hup = evsignal_new(base, SIGHUP, on_hup, &rl);
    if (!ev_term || !ev_int || !ev_hup || event_add(ev_term, NULL) < 0 ||
        event_add(ev_int, NULL) < 0 || event_add(ev_hup, NULL) < 0) {
        log_error("cannot install the signal handlers");
        return ADMIN_EXIT_FAILURE;
    }
    log_info("caresyncd %s listening on https://%s (data %s, pid %d)", CARESYNC_VERSION, bound,
             data, (int)getpid());
    service_notify("READY=1");
    if (event_base_dispatch(base) < 0) {
        log_error("the event loop failed");
        return ADMIN_EXIT_FAILURE;
    }
    sd = caresyncd_free(sd); /* logs what the store's threads did (work_free()) */
    metrics = metrics_server_free(metrics);
    log_info("stopped");
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
        if (argc == 3 && streq(argv[2], "--man")) {
            man_page();
            return ADMIN_EXIT_OK;
        }
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
