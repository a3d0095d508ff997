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

/* TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are all AEAD already. */
#define TLS12_CIPHERS                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

#define TLS_CA_DAYS     3650
#define TLS_SERVER_DAYS 825
/* notBefore is back-dated so a device whose clock is a little slow still accepts the cert. */
#define TLS_BACKDATE_S  3600

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
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1)
        return ssl_fail_hint(cert_path, "it must be a PEM certificate (chain)");
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1)
        return ssl_fail_hint(key_path, "it must be the PEM private key of the server certificate");
    if (SSL_CTX_check_private_key(ctx) != 1)
        return ssl_fail_hint(key_path, "it does not match the server certificate");
    if (stat(key_path, &st) == 0 && (st.st_mode & 077))
        log_warn("%s can be read by other users; run 'chmod 600 %s'", key_path, key_path);
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
 * valid from an hour ago for @days days. Issuer, extensions and signature are left to the caller.
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
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
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

/* Write @len bytes to @dir/@name with @mode via a temporary file and rename, fsynced. */
static int write_file(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int fd, r = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp))
        return log_error_errno(-ENAMETOOLONG, "path for %s in %s is too long", name, dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return log_error_errno(-errno, "cannot create %s: %s", tmp, strerror(errno));
    if (fchmod(fd, mode) < 0)
        r = -errno;
    while (r == 0 && len > 0) {
        ssize_t k = write(fd, data, len);

        if (k < 0) {
            if (errno != EINTR)
                r = -errno;
            continue;
        }
        data += k;
        len -= (size_t)k;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return log_error_errno(r, "cannot write %s: %s", path, strerror(-r));
    }
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

int tls_pki_create(const char *dir, char *const *sans, size_t n_sans)
{
    _cleanup_(evp_pkey_freep) EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    _cleanup_(x509_freep) X509 *ca = NULL, *srv = NULL;
    _cleanup_(general_names_freep) GENERAL_NAMES *gens = NULL;
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

    /* The server certificate, signed by the CA. */
    srv_key = EVP_EC_gen("P-256");
    if (!srv_key)
        return ssl_fail("cannot generate the server key");
    srv = cert_new(srv_key, "caresyncd", TLS_SERVER_DAYS);
    if (!srv)
        return ssl_fail("cannot make the server certificate");
    if (X509_set_issuer_name(srv, X509_get_subject_name(ca)) != 1)
        return ssl_fail("cannot make the server certificate");
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
    for (size_t i = 0; r == 0 && i < n_sans; i++)
        if (!san_seen(sans[i], sans, i))
            r = san_push(gens, sans[i]);
    if (r < 0)
        return log_error_errno(r, "out of memory making the subject alternative names");
    if (X509_add1_ext_i2d(srv, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
        return ssl_fail("cannot add the subject alternative names");
    if (X509_sign(srv, ca_key, EVP_sha256()) <= 0)
        return ssl_fail("cannot sign the server certificate");

    /* Keys first: a certificate never sits on disk without its key. */
    r = write_pem(dir, "ca.key", NULL, ca_key, 0600);
    if (r == 0)
        r = write_pem(dir, "ca.pem", ca, NULL, 0644);
    if (r == 0)
        r = write_pem(dir, "server.key", NULL, srv_key, 0600);
    if (r == 0)
        r = write_pem(dir, "server.pem", srv, NULL, 0644);
    return r;
}
