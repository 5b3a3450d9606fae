/*
 * views_api.h -- the view query API on kappa's HTTP listener:
 *
 *   GET  /v1/views                          views, versions, alias targets,
 *                                           row counts, lag and freshness
 *   GET  /v1/views/NAME/KEY                 point lookup (KEY may hold '/')
 *   GET  /v1/views/NAME?key=KEY             the same, for any key (also one
 *                                           named "changes")
 *   GET  /v1/views/NAME?prefix=&after=&limit=   ordered scan, paged
 *   GET  /v1/views/NAME/changes?from=SEQ|now    NDJSON change stream
 *   POST /v1/query  {"sql":"SELECT ..."}    read-only SQL, rows streamed
 *
 * NAME is a view (its alias target) or NAME@vN (one version).  Every route
 * runs on HTTP connection threads (http_route_threaded), never on the
 * broker's loop.  docs/views.md describes the JSON.
 */
#ifndef KP_VIEWS_API_H
#define KP_VIEWS_API_H

#include "serve/http.h"

#include <stdint.h>

typedef struct views_api views_api_t;

/* Register the routes on s, reading the view store at db_path. */
int views_api_register(http_server_t *s, const char *db_path, int64_t query_timeout_ms,
                       views_api_t **out);
/* Before http_stop: stop running queries and end streams, so stopping
 * the server does not wait for them. */
void views_api_shutdown(views_api_t *a);
/* Free after http_stop (no request may still be running). */
void views_api_free(views_api_t *a);

#endif
