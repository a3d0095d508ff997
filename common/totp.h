/* SPDX-License-Identifier: MIT */
/* totp.h - time-based one-time passwords (RFC 6238 over RFC 4226's HOTP, HMAC-SHA1, as every
 * authenticator app uses them) and the base32 text (RFC 4648) their secrets are shown in. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TOTP_STEP_S      30 /* RFC 6238's default time step */
#define TOTP_DIGITS      6
#define TOTP_SECRET_BYTES 20 /* 160 bits, RFC 4226's recommended key length */
#define TOTP_B32_MAX     64 /* base32 text of a secret of up to 39 bytes, with NUL */

/*
 * totp_hotp() - the RFC 4226 HOTP value of @key (@key_len bytes) for counter @counter, as a
 * number of @digits (6 to 8) decimal digits, in *ret. Returns 0, -EINVAL for bad digits or
 * an empty key, -EIO when OpenSSL's HMAC fails. No global state; safe from any thread.
 */
int totp_hotp(const uint8_t *key, size_t key_len, uint64_t counter, unsigned digits,
              uint32_t *ret);

/* totp_step() - the RFC 6238 time step of Unix time @unix_s (step TOTP_STEP_S, T0 = 0). */
uint64_t totp_step(uint64_t unix_s);

/*
 * totp_base32_encode() - RFC 4648 base32 of @n bytes, upper case, without padding, into @out
 * (@size bytes with the NUL). Returns the length, or -ENOBUFS when it does not fit.
 */
int totp_base32_encode(const uint8_t *data, size_t n, char *out, size_t size);

/*
 * totp_base32_decode() - decode base32 @text (either case; spaces and '=' padding ignored)
 * into @out (@size bytes). Returns the number of bytes, -EBADMSG for a character outside the
 * alphabet, -ENOBUFS when it does not fit.
 */
int totp_base32_decode(const char *text, uint8_t *out, size_t size);
