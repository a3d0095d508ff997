/* SPDX-License-Identifier: MIT */
/* totp.c - RFC 6238 TOTP and RFC 4226 HOTP with OpenSSL's HMAC-SHA1, and base32 (RFC 4648). */
#include "totp.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int totp_hotp(const uint8_t *key, size_t key_len, uint64_t counter, unsigned digits,
              uint32_t *ret)
{
    static const uint32_t pow10[] = {1000000, 10000000, 100000000};
    unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    uint32_t bin;
    unsigned off;

    if (digits < 6 || digits > 8 || !key || key_len == 0)
        return -EINVAL;
    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    if (!HMAC(EVP_sha1(), key, (int)key_len, msg, sizeof(msg), mac, &mac_len) || mac_len != 20)
        return -EIO;
    /* RFC 4226 section 5.3: dynamic truncation. */
    off = mac[19] & 0x0f;
    bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
          ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    *ret = bin % pow10[digits - 6];
    return 0;
}

uint64_t totp_step(uint64_t unix_s)
{
    return unix_s / TOTP_STEP_S;
}

int totp_base32_encode(const uint8_t *data, size_t n, char *out, size_t size)
{
    size_t len = (n * 8 + 4) / 5, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (len + 1 > size)
        return -ENOBUFS;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return (int)o;
}

int totp_base32_decode(const char *text, uint8_t *out, size_t size)
{
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    for (const char *p = text; *p; p++) {
        const char *hit;
        char c = *p;

        if (c == ' ' || c == '=' || c == '-')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        hit = strchr(b32_alphabet, c);
        if (!hit || c == '\0')
            return -EBADMSG;
        acc = (acc << 5) | (uint32_t)(hit - b32_alphabet);
        bits += 5;
        if (bits >= 8) {
            if (o == size)
                return -ENOBUFS;
            out[o++] = (uint8_t)((acc >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return (int)o;
}
