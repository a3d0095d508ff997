/* SPDX-License-Identifier: MIT */
/* man.c - roff escaping for the generated man pages (man.h). */
#include "man.h"

void man_text(FILE *f, const char *text)
{
    int bol = 1;

    for (const char *p = text; *p; p++) {
        if (bol && (*p == '.' || *p == '\''))
            fputs("\\&", f);
        bol = *p == '\n';
        if (*p == '\\')
            fputs("\\e", f);
        else if (*p == '-')
            fputs("\\-", f);
        else
            fputc(*p, f);
    }
    if (!bol)
        fputc('\n', f);
}
