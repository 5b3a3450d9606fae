/*
 * backend.c -- choosing a view sink backend from a target string
 * (view_backend_open in view/sink.h).
 *
 *   sqlite:PATH or a bare PATH          the embedded store (sink_sqlite.c)
 *   postgresql://... or postgres://...  PostgreSQL (libpq)
 *   clickhouse://HOST:PORT[/DB]         ClickHouse's HTTP interface
 *
 * A target with "://" and any other scheme is an error rather than a file
 * name, so a typo never silently creates a database called "mysql:".
 */
#include "view/sink.h"

#include "core/kp_error.h"
#include "core/logging.h"

#include <string.h>

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

int view_backend_open(const char *target, view_backend_t **out)
{
    *out = NULL;
    if (!target || !*target) {
        KP_ERROR("view target is empty: use sqlite:PATH, postgresql://... or clickhouse://...");
        return KP_EINVAL;
    }
    if (has_prefix(target, "sqlite:")) {
        const char *path = target + strlen("sqlite:");
        /* sqlite:///abs/path and sqlite://rel are URL spellings of the same */
        if (has_prefix(path, "//"))
            path += 2;
        if (!*path) {
            KP_ERROR("view target '%s' has no file path", target);
            return KP_EINVAL;
        }
        return view_backend_open_sqlite(path, out);
    }
    if (has_prefix(target, "postgresql://") || has_prefix(target, "postgres://") ||
        has_prefix(target, "clickhouse://")) {
        /* Wired in when the PostgreSQL and ClickHouse backends land
         * (view_backend_open_pg / view_backend_open_ch). */
        KP_ERROR("view target kind not available yet: %s", target);
        return KP_EINVAL;
    }
    const char *sep = strstr(target, "://");
    if (sep) {
        KP_ERROR("view target '%s': unknown scheme '%.*s' (use sqlite:PATH, postgresql://... "
                 "or clickhouse://...)", target, (int)(sep - target), target);
        return KP_EINVAL;
    }
    return view_backend_open_sqlite(target, out);
}
