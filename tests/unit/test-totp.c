/* SPDX-License-Identifier: MIT */
/* test-totp.c - TOTP against RFC 6238's appendix B vectors (SHA-1) and HOTP against RFC 4226's
 * appendix D, and base32 against RFC 4648's section 10 vectors. */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "totp.h"

static const uint8_t rfc_key[] = "12345678901234567890";

TEST(rfc6238_sha1_vectors)
{
    static const struct {
        uint64_t t;
        uint32_t code;
    } v[] = {
            {59, 94287082},          {1111111109, 7081804},   {1111111111, 14050471},
            {1234567890, 89005924},  {2000000000, 69279037},  {20000000000, 65353130},
    };
    uint32_t code;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ASSERT_OK(totp_hotp(rfc_key, 20, totp_step(v[i].t), 8, &code));
        ASSERT_EQ(code, v[i].code);
    }
}

TEST(rfc4226_hotp_vectors)
{
    static const uint32_t want[] = {755224, 287082, 359152, 969429, 338314,
                                    254676, 287922, 162583, 399871, 520489};
    uint32_t code;

    for (uint64_t c = 0; c < 10; c++) {
        ASSERT_OK(totp_hotp(rfc_key, 20, c, 6, &code));
        ASSERT_EQ(code, want[c]);
    }
    ASSERT_EQ(totp_hotp(rfc_key, 20, 0, 5, &code), -EINVAL);
    ASSERT_EQ(totp_hotp(rfc_key, 0, 0, 6, &code), -EINVAL);
}

TEST(base32_rfc4648)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB",
                                      "MZXW6YTBOI"};
    char out[TOTP_B32_MAX];
    uint8_t back[16];

    for (size_t i = 0; i < 7; i++) {
        ASSERT_EQ(totp_base32_encode((const uint8_t *)plain[i], strlen(plain[i]), out,
                                     sizeof(out)),
                  (int)strlen(enc[i]));
        ASSERT_STREQ(out, enc[i]);
        ASSERT_EQ(totp_base32_decode(enc[i], back, sizeof(back)), (int)strlen(plain[i]));
        ASSERT_TRUE(memcmp(back, plain[i], strlen(plain[i])) == 0);
    }
    ASSERT_EQ(totp_base32_decode("mzxw 6ytb oi======", back, sizeof(back)), 6);
    ASSERT_TRUE(memcmp(back, "foobar", 6) == 0);
    ASSERT_EQ(totp_base32_decode("MZXW1", back, sizeof(back)), -EBADMSG);
    ASSERT_EQ(totp_base32_decode("MZXW6YTBOI", back, 3), -ENOBUFS);
    ASSERT_EQ(totp_base32_encode((const uint8_t *)"foobar", 6, out, 10), -ENOBUFS);
}
