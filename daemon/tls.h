/* SPDX-License-Identifier: MIT */
/* tls.h - OpenSSL for caresyncd: the server's TLS context, and the development CA and server
 * certificate that 'caresyncd init' makes. */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

static inline void ssl_ctx_freep(SSL_CTX **p)
{
    if (*p)
        SSL_CTX_free(*p);
}
#define _cleanup_ssl_ctx_ _cleanup_(ssl_ctx_freep)

/* Most extra subject alternative names accepted by tls_pki_create(). */
#define TLS_SAN_MAX      32
/* Longest DNS name accepted as a subject alternative name. */
#define TLS_DNS_NAME_MAX 253

/*
 * tls_server_ctx_new() - a server SSL_CTX with TLS 1.2 as the minimum, TLS 1.2 cipher suites
 * restricted to ECDHE with AES-GCM or ChaCha20-Poly1305, no compression and no renegotiation,
 * loaded with the certificate chain @cert_path and the private key @key_path.
 *
 * Returns 0 and the context in *ret (caller frees with SSL_CTX_free), -ENOENT when either file
 * is missing (not logged), or -EIO when they cannot be loaded or do not match (logged, one line
 * with the OpenSSL reason and what to check).
 */
int tls_server_ctx_new(const char *cert_path, const char *key_path, SSL_CTX **ret);

/* tls_san_valid() - true when @name is an IPv4/IPv6 address or a plausible DNS name. */
bool tls_san_valid(const char *name);

/*
 * tls_pki_create() - make a development CA (ca.pem, ca.key) and a server certificate signed by
 * it (server.pem, server.key) in directory @dir. Keys are ECDSA P-256, signatures SHA-256. The
 * server certificate names IP:127.0.0.1, IP:::1, DNS:localhost and each of the @n_sans names in
 * @sans (an IP address when it parses as one, a DNS name otherwise), has the serverAuth extended
 * key usage and is valid for 365 days, the CA for 10 years, both from two days ago (a device
 * whose clock is slow still accepts them). Key files are written
 * mode 0600, certificates 0644; existing files are replaced.
 *
 * Returns 0, -EINVAL for an invalid name in @sans (checked before anything is written), or
 * -EIO/-errno with the reason logged.
 */
int tls_pki_create(const char *dir, char *const *sans, size_t n_sans);

/*
 * tls_server_cert_renew() - reissue the server certificate in @dir from the development CA there
 * (ca.pem and ca.key, both left as they are): a new P-256 key and a certificate valid from two
 * days ago for 365 days (never beyond the CA's end), naming what the old server.pem named plus
 * each of @sans. server.key and server.pem are replaced together; on failure the old pair stays.
 * A running 'serve' keeps the old pair until it is sent SIGHUP.
 *
 * Returns 0, -EINVAL for an invalid name in @sans (nothing logged), or a negative errno with one
 * line logged saying what to do (no CA in @dir, a missing ca.key, an I/O or OpenSSL failure).
 */
int tls_server_cert_renew(const char *dir, char *const *sans, size_t n_sans);
