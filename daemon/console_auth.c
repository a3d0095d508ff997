/* SPDX-License-Identifier: MIT */
/* console_auth.c - the console's credentials: Argon2id password hashes (libargon2), TOTP
 * secrets, codes and otpauth URIs (common/totp.c), and QR codes as SVG (libqrencode). */
#include <argon2.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "macro.h"
#include "totp.h"
#include "util.h"

/* OWASP's Argon2id configuration: 19 MiB, two passes, one lane (about 50 ms here). */
#define ARGON2_T_COST    2
#define ARGON2_M_COST_KB (19 * 1024)
#define ARGON2_LANES     1
#define ARGON2_SALT      16
#define ARGON2_HASH      32

int console_password_hash(const char *password, char *out, size_t size)
{
    uint8_t salt[ARGON2_SALT];
    size_t len = strlen(password);
    int r;

    if (len < CONSOLE_PASSWORD_MIN || len > CONSOLE_PASSWORD_MAX)
        return -EINVAL;
    r = random_bytes(salt, sizeof(salt));
    if (r < 0)
        return r;
    if (argon2_encodedlen(ARGON2_T_COST, ARGON2_M_COST_KB, ARGON2_LANES, ARGON2_SALT, ARGON2_HASH,
                          Argon2_id) > size)
        return -ENOBUFS;
    r = argon2id_hash_encoded(ARGON2_T_COST, ARGON2_M_COST_KB, ARGON2_LANES, password, len, salt,
                              sizeof(salt), ARGON2_HASH, out, size);
    if (r == ARGON2_MEMORY_ALLOCATION_ERROR)
        return -ENOMEM;
    return r == ARGON2_OK ? 0 : -EIO;
}

int console_password_verify(const char *hash, const char *password)
{
    return argon2id_verify(hash, password, strlen(password)) == ARGON2_OK;
}

int console_totp_secret_new(char *out, size_t size)
{
    uint8_t key[TOTP_SECRET_BYTES];
    int r = random_bytes(key, sizeof(key));

    if (r >= 0)
        r = totp_base32_encode(key, sizeof(key), out, size);
    OPENSSL_cleanse(key, sizeof(key));
    return r < 0 ? r : 0;
}

static int totp_at(const char *secret, uint64_t step, uint32_t *ret)
{
    uint8_t key[TOTP_B32_MAX];
    int n = totp_base32_decode(secret, key, sizeof(key));
    int r;

    if (n <= 0)
        return -EINVAL;
    r = totp_hotp(key, (size_t)n, step, TOTP_DIGITS, ret);
    OPENSSL_cleanse(key, sizeof(key));
    return r;
}

int console_totp_now(const char *secret, char out[static 8])
{
    uint32_t code;
    int r = totp_at(secret, totp_step((uint64_t)time(NULL)), &code);

    if (r < 0)
        return r;
    snprintf(out, 8, "%06" PRIu32, code);
    return 0;
}

int console_totp_check(const char *secret, const char *code, uint64_t now_s, int64_t *ret_step)
{
    uint64_t step = totp_step(now_s);
    int hit = 0;

    if (strlen(code) != TOTP_DIGITS || strspn(code, "0123456789") != TOTP_DIGITS)
        return 0;
    /* Every candidate is computed and compared in constant time, whichever matches. */
    for (uint64_t s = step - 1; s <= step + 1; s++) {
        char want[8];
        uint32_t v;
        int r = totp_at(secret, s, &v);

        if (r < 0)
            return r;
        snprintf(want, sizeof(want), "%06" PRIu32, v);
        if (CRYPTO_memcmp(want, code, TOTP_DIGITS) == 0 && !hit) {
            hit = 1;
            *ret_step = (int64_t)s;
        }
    }
    return hit;
}

/* Percent-encode @s for a URI path or query into @out; false when it does not fit. */
static bool uri_escape(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (o + 4 > size)
            return false;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return true;
}

int console_otpauth_uri(const char *user, const char *secret, char *out, size_t size)
{
    char u[3 * 64 + 1];

    if (!uri_escape(user, u, sizeof(u)))
        return -E2BIG;
    if ((size_t)snprintf(out, size,
                         "otpauth://totp/caresync:%s?secret=%s&issuer=caresync&algorithm=SHA1"
                         "&digits=%d&period=%d",
                         u, secret, TOTP_DIGITS, TOTP_STEP_S) >= size)
        return -E2BIG;
    return 0;
}

int console_qr_svg(const char *text, char **ret)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    size_t cap, o = 0;
    int w, n;
    char *svg;

    if (!qr)
        return errno == ERANGE || errno == EINVAL ? -E2BIG : -ENOMEM;
    w = qr->width;
    /* One path of unit squares, four modules of quiet zone each side. */
    cap = 256 + (size_t)w * (size_t)w * 24;
    svg = malloc(cap);
    if (!svg) {
        QRcode_free(qr);
        return -ENOMEM;
    }
    n = snprintf(svg, cap,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                 "shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\">"
                 "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                 w + 8, w + 8, w + 8, w + 8);
    o = (size_t)n;
    for (int y = 0; y < w; y++)
        for (int x = 0; x < w; x++)
            if (qr->data[y * w + x] & 1)
                o += (size_t)snprintf(svg + o, cap - o, "M%d %dh1v1h-1z", x + 4, y + 4);
    snprintf(svg + o, cap - o, "\"/></svg>\n");
    QRcode_free(qr);
    *ret = svg;
    return 0;
}
