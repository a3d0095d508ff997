/* SPDX-License-Identifier: MIT */
/* fuzz.h - the libFuzzer entry points every tests/fuzz/fuzz-<target>.c defines. The same files
 * link with replay.c (no libFuzzer) to run their corpus as a regression test in `meson test`. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Called once before the first input; may be absent (weak: replay.c, like libFuzzer, calls it
 * only when a target defines it). */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* One input: must not crash, leak, hang or trip a sanitizer, whatever @data holds. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed property of the code under test: print what and abort, so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)
