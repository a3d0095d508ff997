/* SPDX-License-Identifier: MIT */
/* man.h - roff for the man pages that caresyncd and caresync print from their own help tables
 * ('caresyncd help --man', 'caresync help --man'; meson installs the result), so a page and
 * the --help text it shows cannot differ. */
#pragma once

#include <stdio.h>

/* man_text() - @text as roff input: '\' as "\e", '-' as "\-", a line opening with '.' or '\''
 * guarded by "\&". Lines stay lines (use it inside .nf/.fi to keep --help's layout). */
void man_text(FILE *f, const char *text);
