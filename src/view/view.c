/*
 * view.c -- the names of views: validation, "view@vN" references, and the
 * backing topic and table names every part of the serving layer derives
 * from (view, version).
 *
 * A view name is a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]{0,63}), so
 * the stable name can be used unquoted in SQL and the derived topic and
 * table names never need escaping beyond the quotes SQL requires for '@'.
 */
#include "view/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

bool view_name_valid(const char *s)
{
    if (!s || !ident_start(s[0]))
        return false;
    size_t n = 1;
    for (; s[n]; n++)
        if (!ident_char(s[n]) || n >= VIEW_NAME_MAX)
            return false;
    return true;
}

int view_parse_ref(const char *ref, char name[VIEW_NAME_MAX + 1], int *version)
{
    if (!ref)
        return -1;
    const char *at = strchr(ref, '@');
    size_t nlen = at ? (size_t)(at - ref) : strlen(ref);
    if (nlen == 0 || nlen > VIEW_NAME_MAX)
        return -1;
    char tmp[VIEW_NAME_MAX + 1];
    memcpy(tmp, ref, nlen);
    tmp[nlen] = '\0';
    if (!view_name_valid(tmp))
        return -1;
    int v = 0;
    if (at) {
        /* "v" then a decimal version >= 1, nothing else (no sign, no
         * leading zero, no overflow). */
        const char *p = at + 1;
        if (*p++ != 'v' || *p < '1' || *p > '9')
            return -1;
        long long acc = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            acc = acc * 10 + (*p - '0');
            if (acc > 1000000000)
                return -1;
        }
        v = (int)acc;
    }
    memcpy(name, tmp, nlen + 1);
    *version = v;
    return 0;
}

char *view_topic(char *buf, size_t cap, const char *name, int version)
{
    snprintf(buf, cap, VIEW_TOPIC_PREFIX "%s.v%d", name, version);
    return buf;
}

char *view_table(char *buf, size_t cap, const char *name, int version)
{
    snprintf(buf, cap, "%s@v%d", name, version);
    return buf;
}
