/* SPDX-License-Identifier: MIT */
/* tls.c - the server's OpenSSL context, and the development CA and server certificate made by
 * 'caresyncd init' with the OpenSSL 3 C API (no shelling out to openssl(1)). */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are all AEAD already. */
#define TLS12_CIPHERS                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* Lifetimes, counted from notBefore. The server certificate's is under the 398 days browsers
 * and CAs hold to, so that renewal ('caresyncd cert renew') is a yearly habit; the CA's is long,
 * since replacing it means giving every device a new ca.pem. */
#define TLS_CA_DAYS     3650
#define TLS_SERVER_DAYS 365
/* notBefore is back-dated by two days: a device whose clock is slow (a phone whose battery ran
 * flat, a laptop without network time) still accepts a certificate made just now. With one hour,
 * a device more than an hour slow could not enrol. */
#define TLS_BACKDATE_S  (2L * 24 * 3600)
/* serve warns at start when the server certificate ends within this many days. */
#define TLS_RENEW_WARN_DAYS 30

static inline void evp_pkey_freep(EVP_PKEY **p)
{
    EVP_PKEY_free(*p);
}
static inline void x509_freep(X509 **p)
{
    X509_free(*p);
}
static inline void bio_freep(BIO **p)
{
    BIO_free(*p);
}
static inline void general_names_freep(GENERAL_NAMES **p)
{
    GENERAL_NAMES_free(*p);
}
static inline void bn_freep(BIGNUM **p)
{
    BN_free(*p);
}

/* Log "@what: <oldest queued OpenSSL error>[; @hint]", clear the queue and return -EIO. */
static int ssl_fail_hint(const char *what, const char *hint)
{
    char buf[256] = "unknown OpenSSL error";
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return log_error_errno(-EIO, "%s: %s%s%s", what, buf, hint ? "; " : "", hint ? hint : "");
}

static int ssl_fail(const char *what)
{
    return ssl_fail_hint(what, NULL);
}

/* ---- server context ---- */

/* Warn when @x (loaded from @path) has ended or ends within TLS_RENEW_WARN_DAYS. */
static void warn_expiry(X509 *x, const char *path)
{
    const ASN1_TIME *end = x ? X509_get0_notAfter(x) : NULL;
    struct tm tm;
    char when[32] = "?";
    int days, secs;

    if (!end || ASN1_TIME_diff(&days, &secs, NULL, end) != 1)
        return;
    if (ASN1_TIME_to_tm(end, &tm) == 1)
        (void)strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    if (days < 0 || secs < 0)
        log_error("%s expired on %s and devices refuse it; run 'caresyncd cert renew --data DIR'"
                  " and restart serve",
                  path, when);
    else if (days < TLS_RENEW_WARN_DAYS)
        log_warn("%s expires on %s (in %d days); run 'caresyncd cert renew --data DIR' and"
                 " restart serve before then",
                 path, when, days);
}

int tls_server_ctx_new(const char *cert_path, const char *key_path, SSL_CTX **ret)
{
    _cleanup_ssl_ctx_ SSL_CTX *ctx = NULL;
    struct stat st;

    if (access(cert_path, F_OK) < 0 || access(key_path, F_OK) < 0)
        return -errno;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return ssl_fail("cannot create the TLS context");
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        return ssl_fail("cannot set TLS 1.2 as the minimum version");
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1)
        return ssl_fail("cannot set the TLS cipher suites");
    /* Compression invites CRIME-style attacks; renegotiation is unused and a DoS vector
     * (client-initiated renegotiation is already off by default in OpenSSL 3). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle keep-alive connections need not hold 2 x 16 KiB of TLS buffers each. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* No session resumption: caresync clients open one connection per sync and keep no
     * session between runs, so the two TLS 1.3 tickets OpenSSL would make and encrypt after
     * every handshake, and the session cache it would keep and sweep, went unused: an eighth
     * of a handshake's CPU (bench/README.md, issue 11). A browser on the console does a full
     * handshake per connection instead. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1)
        return ssl_fail_hint(cert_path, "it must be a PEM certificate (chain)");
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1)
        return ssl_fail_hint(key_path, "it must be the PEM private key of the server certificate");
    if (SSL_CTX_check_private_key(ctx) != 1)
        return ssl_fail_hint(key_path, "it does not match the server certificate");
    if (stat(key_path, &st) == 0 && (st.st_mode & 077))
        log_warn("%s can be read by other users; run 'chmod 600 %s'", key_path, key_path);
    warn_expiry(SSL_CTX_get0_certificate(ctx), cert_path);
    *ret = TAKE_PTR(ctx);
    return 0;
}

/* ---- development PKI ---- */

/* A DNS name: dot-separated labels of letters, digits and inner hyphens; "*." may lead. */
static bool dns_name_valid(const char *s)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > TLS_DNS_NAME_MAX)
        return false;
    if (strncmp(s, "*.", 2) == 0)
        s += 2;
    for (const char *p = s;; p++) {
        char c = *p;

        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-')
                return false;
            if (c == '\0')
                return true;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c == '-' && label > 0)))
            return false;
        label++;
    }
}

/* Parse @s as an IP address into @buf; returns its length (4 or 16), or 0 if it is not one. */
static int ip_parse(const char *s, unsigned char buf[static 16])
{
    if (inet_pton(AF_INET, s, buf) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, buf) == 1)
        return 16;
    return 0;
}

bool tls_san_valid(const char *name)
{
    unsigned char ip[16];

    return ip_parse(name, ip) > 0 || dns_name_valid(name);
}

/* Append @name to @gens as an iPAddress when it parses as one, else as a dNSName. */
static int san_push(GENERAL_NAMES *gens, const char *name)
{
    unsigned char ip[16];
    int iplen = ip_parse(name, ip);
    GENERAL_NAME *gn;
    ASN1_STRING *v;

    v = iplen ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (!v)
        return -ENOMEM;
    if ((iplen ? ASN1_OCTET_STRING_set(v, ip, iplen) : ASN1_STRING_set(v, name, -1)) != 1) {
        ASN1_STRING_free(v);
        return -ENOMEM;
    }
    gn = GENERAL_NAME_new();
    if (!gn) {
        ASN1_STRING_free(v);
        return -ENOMEM;
    }
    GENERAL_NAME_set0_value(gn, iplen ? GEN_IPADD : GEN_DNS, v);
    if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
        GENERAL_NAME_free(gn);
        return -ENOMEM;
    }
    return 0;
}

/* True when @name is already among the first @n entries of @names or the built-in SANs. */
static bool san_seen(const char *name, char *const *names, size_t n)
{
    if (streq(name, "127.0.0.1") || streq(name, "::1") || strcasecmp(name, "localhost") == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return ssl_fail("cannot make a certificate extension");
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : ssl_fail("cannot add a certificate extension");
}

/*
 * A new X.509 v3 certificate for @key named O=caresync, CN=@cn with a random 127-bit serial,
 * valid from TLS_BACKDATE_S ago for @days days in all. Issuer, extensions and signature are left
 * to the caller.
 */
static X509 *cert_new(EVP_PKEY *key, const char *cn, long days)
{
    _cleanup_(x509_freep) X509 *x = X509_new();
    _cleanup_(bn_freep) BIGNUM *serial = BN_new();
    X509_NAME *name;

    if (!x || !serial)
        return NULL;
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -TLS_BACKDATE_S) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, -TLS_BACKDATE_S, NULL) ||
        X509_set_pubkey(x, key) != 1)
        return NULL;
    name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"caresync", -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1)
        return NULL;
    return TAKE_PTR(x);
}

/* Write @len bytes to @dir/@name with @mode, durably (file_write_atomic()). */
static int write_file(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
    char path[PATH_MAX];
    int r;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return log_error_errno(-ENAMETOOLONG, "path for %s in %s is too long", name, dir);
    r = file_write_atomic(path, data, len, mode);
    if (r < 0)
        return log_error_errno(r, "cannot write %s: %s", path, strerror(-r));
    return 0;
}

/* PEM-encode @x (when non-NULL) or @key into @dir/@name. */
static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *key, mode_t mode)
{
    _cleanup_(bio_freep) BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int ok;

    if (!mem)
        return ssl_fail("cannot allocate a memory BIO");
    ok = x ? PEM_write_bio_X509(mem, x)
           : PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL);
    if (ok != 1)
        return ssl_fail("cannot PEM-encode");
    len = BIO_get_mem_data(mem, &data);
    if (len <= 0 || !data)
        return ssl_fail("cannot PEM-encode");
    return write_file(dir, name, data, (size_t)len, mode);
}

/*
 * Make a server key and a certificate for it signed by @ca/@ca_key, naming 127.0.0.1, ::1,
 * localhost and each of @names (duplicates skipped), and write them to @dir/server.key and
 * server.pem. The certificate never outlives the CA. With @pair_swap, both go to temporary names
 * first and are renamed together, so that a failure leaves the old pair in place.
 */
static int server_cert_issue(const char *dir, X509 *ca, EVP_PKEY *ca_key, char *const *names,
                             size_t n_names, bool pair_swap)
{
    _cleanup_(evp_pkey_freep) EVP_PKEY *srv_key = NULL;
    _cleanup_(x509_freep) X509 *srv = NULL;
    _cleanup_(general_names_freep) GENERAL_NAMES *gens = NULL;
    char key_tmp[PATH_MAX], pem_tmp[PATH_MAX], key_path[PATH_MAX], pem_path[PATH_MAX];
    int r;

    srv_key = EVP_EC_gen("P-256");
    if (!srv_key)
        return ssl_fail("cannot generate the server key");
    srv = cert_new(srv_key, "caresyncd", TLS_SERVER_DAYS);
    if (!srv)
        return ssl_fail("cannot make the server certificate");
    if (X509_set_issuer_name(srv, X509_get_subject_name(ca)) != 1)
        return ssl_fail("cannot make the server certificate");
    if (ASN1_TIME_compare(X509_get0_notAfter(ca), X509_get0_notAfter(srv)) < 0) {
        if (X509_set1_notAfter(srv, X509_get0_notAfter(ca)) != 1)
            return ssl_fail("cannot make the server certificate");
        log_warn("the development CA ends before a year is out, and so does this server"
                 " certificate; make a new CA with 'caresyncd init' in time and give devices"
                 " its ca.pem");
    }
    r = add_ext(srv, ca, NID_basic_constraints, "critical,CA:FALSE");
    if (r == 0)
        r = add_ext(srv, ca, NID_key_usage, "critical,digitalSignature");
    if (r == 0)
        r = add_ext(srv, ca, NID_ext_key_usage, "serverAuth");
    if (r == 0)
        r = add_ext(srv, ca, NID_subject_key_identifier, "hash");
    if (r == 0)
        r = add_ext(srv, ca, NID_authority_key_identifier, "keyid:always");
    if (r < 0)
        return r;
    gens = sk_GENERAL_NAME_new_null();
    if (!gens)
        return ssl_fail("cannot make the subject alternative names");
    r = san_push(gens, "127.0.0.1");
    if (r == 0)
        r = san_push(gens, "::1");
    if (r == 0)
        r = san_push(gens, "localhost");
    for (size_t i = 0; r == 0 && i < n_names; i++)
        if (!san_seen(names[i], names, i))
            r = san_push(gens, names[i]);
    if (r < 0)
        return log_error_errno(r, "out of memory making the subject alternative names");
    if (X509_add1_ext_i2d(srv, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
        return ssl_fail("cannot add the subject alternative names");
    if (X509_sign(srv, ca_key, EVP_sha256()) <= 0)
        return ssl_fail("cannot sign the server certificate");

    if (!pair_swap) {
        /* Key first: a certificate never sits on disk without its key. */
        r = write_pem(dir, "server.key", NULL, srv_key, 0600);
        if (r == 0)
            r = write_pem(dir, "server.pem", srv, NULL, 0644);
        return r;
    }
    if ((size_t)snprintf(key_path, sizeof(key_path), "%s/server.key", dir) >= sizeof(key_path) ||
        (size_t)snprintf(pem_path, sizeof(pem_path), "%s/server.pem", dir) >= sizeof(pem_path) ||
        (size_t)snprintf(key_tmp, sizeof(key_tmp), "%s/.server.key.new", dir) >= sizeof(key_tmp) ||
        (size_t)snprintf(pem_tmp, sizeof(pem_tmp), "%s/.server.pem.new", dir) >= sizeof(pem_tmp))
        return log_error_errno(-ENAMETOOLONG, "the path %s is too long", dir);
    r = write_pem(dir, ".server.key.new", NULL, srv_key, 0600);
    if (r == 0)
        r = write_pem(dir, ".server.pem.new", srv, NULL, 0644);
    if (r == 0 && rename(key_tmp, key_path) < 0)
        r = log_error_errno(-errno, "cannot replace %s: %s", key_path, strerror(errno));
    if (r == 0 && rename(pem_tmp, pem_path) < 0)
        r = log_error_errno(-errno, "cannot replace %s: %s; run 'caresyncd cert renew' again",
                            pem_path, strerror(errno));
    (void)unlink(key_tmp);
    (void)unlink(pem_tmp);
    return r;
}

int tls_pki_create(const char *dir, char *const *sans, size_t n_sans)
{
    _cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL;
    _cleanup_(x509_freep) X509 *ca = NULL;
    int r;

    if (n_sans > TLS_SAN_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n_sans; i++)
        if (!tls_san_valid(sans[i]))
            return -EINVAL;

    /* The CA: self-signed, may only sign certificates (and CRLs). */
    ca_key = EVP_EC_gen("P-256");
    if (!ca_key)
        return ssl_fail("cannot generate the CA key");
    ca = cert_new(ca_key, "caresync development CA", TLS_CA_DAYS);
    if (!ca)
        return ssl_fail("cannot make the CA certificate");
    if (X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1)
        return ssl_fail("cannot make the CA certificate");
    r = add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
    if (r == 0)
        r = add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (r == 0)
        r = add_ext(ca, ca, NID_subject_key_identifier, "hash");
    if (r < 0)
        return r;
    if (X509_sign(ca, ca_key, EVP_sha256()) <= 0)
        return ssl_fail("cannot sign the CA certificate");

    /* Keys first: a certificate never sits on disk without its key. */
    r = write_pem(dir, "ca.key", NULL, ca_key, 0600);
    if (r == 0)
        r = write_pem(dir, "ca.pem", ca, NULL, 0644);
    if (r == 0)
        r = server_cert_issue(dir, ca, ca_key, sans, n_sans, false);
    return r;
}

/* Read the PEM certificate (@key false) or private key (@key true) @dir/@name into *ret_x or
 * *ret_key. Logs one line saying what to do when it is missing or unreadable. */
static int read_pem(const char *dir, const char *name, bool key, X509 **ret_x, EVP_PKEY **ret_key)
{
    char path[PATH_MAX];
    FILE *f;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return log_error_errno(-ENAMETOOLONG, "the path %s is too long", dir);
    f = fopen(path, "re");
    if (!f) {
        int r = -errno;

        if (r == -ENOENT && streq(name, "ca.pem"))
            return log_error_errno(r, "%s: not found; is %s a data directory made by"
                                      " 'caresyncd init --data DIR'? Run that first",
                                   path, dir);
        if (r == -ENOENT && streq(name, "ca.key"))
            return log_error_errno(r, "%s: not found, and renewal needs the development CA's key;"
                                      " put it back, or with your own CA replace server.pem and"
                                      " server.key by hand",
                                   path);
        return log_error_errno(r, "cannot read %s: %s", path, strerror(-r));
    }
    if (key)
        *ret_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    else
        *ret_x = PEM_read_X509(f, NULL, NULL, NULL);
    (void)fclose(f);
    if (key ? !*ret_key : !*ret_x)
        return ssl_fail_hint(path, key ? "it must be a PEM private key" : "it must be a PEM"
                                                                          " certificate");
    return 0;
}

int tls_server_cert_renew(const char *dir, char *const *sans, size_t n_sans)
{
    _cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL;
    _cleanup_(x509_freep) X509 *ca = NULL, *old = NULL;
    _cleanup_(general_names_freep) GENERAL_NAMES *gens = NULL;
    char kept[TLS_SAN_MAX][TLS_DNS_NAME_MAX + 1];
    char *names[2 * TLS_SAN_MAX];
    size_t n = 0;
    int r;

    if (n_sans > TLS_SAN_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n_sans; i++)
        if (!tls_san_valid(sans[i]))
            return -EINVAL;
    r = read_pem(dir, "ca.pem", false, &ca, NULL);
    if (r == 0)
        r = read_pem(dir, "ca.key", true, NULL, &ca_key);
    if (r < 0)
        return r;
    if (X509_check_private_key(ca, ca_key) != 1)
        return ssl_fail_hint("ca.key", "it is not the key of ca.pem");

    /* The names the old certificate had stay (a missing server.pem: only the built-in ones). */
    if (read_pem(dir, "server.pem", false, &old, NULL) == 0)
        gens = X509_get_ext_d2i(old, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && n < TLS_SAN_MAX; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        int type;
        const ASN1_STRING *v = GENERAL_NAME_get0_value(gn, &type);
        const unsigned char *d = ASN1_STRING_get0_data(v);
        int len = ASN1_STRING_length(v);

        if (type == GEN_DNS && len > 0 && len <= TLS_DNS_NAME_MAX) {
            memcpy(kept[n], d, (size_t)len);
            kept[n][len] = '\0';
        } else if (type == GEN_IPADD && (len == 4 || len == 16)) {
            if (!inet_ntop(len == 4 ? AF_INET : AF_INET6, d, kept[n], sizeof(kept[n])))
                continue;
        } else {
            continue;
        }
        if (tls_san_valid(kept[n]))
            names[n] = kept[n], n++;
    }
    for (size_t i = 0; i < n_sans; i++)
        names[n++] = sans[i];
    return server_cert_issue(dir, ca, ca_key, names, n, true);
}
