/*
 * view.c -- `kappa view list | get VIEW KEY | query "SQL"`: the view query
 * API (docs/views.md) from the command line.
 *
 * The commands speak HTTP to `kappa server`'s listener (--http HOST:PORT,
 * default $KAPPA_HTTP or 127.0.0.1:9644) through libcurl, and render the
 * JSON answers as a table (default), tab-separated text, or with --json the
 * API's own JSON unchanged.  Exit statuses as the other client commands:
 * 0 success, 1 not found or refused, 2 usage, 3 the server is unreachable.
 * (`kappa view sink` is dispatched elsewhere: it runs a sink, not a query.)
 */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/out.h"

#include "core/json.h"
#include "core/kp_mem.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: kappa view list [options]\n"
            "       kappa view get VIEW KEY [options]\n"
            "       kappa view query \"SELECT ...\" [options]\n"
            "       kappa view sink ...      run a view sink (see `kappa view sink --help`)\n"
            "\n"
            "Read materialized views through kappa's HTTP query API.\n"
            "  list    views and their versions: VIEW, VERSION, ALIAS (* = the version the\n"
            "          stable name points at), ROWS, LAG (records not yet applied),\n"
            "          FRESHNESS_MS (age of the newest applied record), TOPIC\n"
            "  get     one row by key: VIEW, VERSION, KEY, VALUE, TS; VIEW may be NAME\n"
            "          (the alias) or NAME@vN; exit 1 if the key is absent or deleted\n"
            "  query   one read-only SQL statement over the views (stable names are SQL\n"
            "          views over the promoted version; versions are tables \"NAME@vN\");\n"
            "          exit 1 if the statement is refused or fails\n"
            "\n"
            "options:\n"
            "      --http HOST:PORT           kappa's HTTP listener (default 127.0.0.1:9644,\n"
            "                                 or $KAPPA_HTTP)\n"
            "      --format table|text|json   output format (default table; --json prints\n"
            "                                 the API's JSON answer)\n"
            "      --timeout MS               give up after MS milliseconds (default 10000)\n"
            "  -h, --help                     this help\n"
            "\n"
            "exit status: 0 ok, 1 not found or refused, 2 usage error, 3 server unreachable\n");
}

typedef struct reply {
    long status;
    jbuf_t body;
} reply_t;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    reply_t *r = ctx;
    jbuf_put(&r->body, p, size * n);
    return r->body.err ? 0 : size * n;
}

/* One request.  Returns 0 (any HTTP status) or an exit status after
 * printing why. */
static int call(const cli_common_t *c, const char *path, const char *post, reply_t *r)
{
    memset(r, 0, sizeof *r);
    CURL *h = curl_easy_init();
    if (!h)
        return cli_fail(c, "cannot initialise libcurl");
    char url[8192];
    snprintf(url, sizeof url, "http://%s%s", c->http, path);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kappa-cli");
    /* Talk to the server directly, whatever http_proxy says. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    if (post) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_off_t connect_us = 0;
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (rc == CURLE_OK && !r->body.err)
        return 0;
    jbuf_free(&r->body);
    if (rc == CURLE_OPERATION_TIMEDOUT && connect_us > 0)
        return cli_fail(c, "no complete answer from %s within %d ms (--timeout MS)", c->http,
                        c->timeout_ms);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_URL_MALFORMAT) {
        fprintf(stderr, "%s: cannot reach kappa's HTTP API at %s (%s): is `kappa server` "
                        "running? Use --http HOST:PORT.\n", c->prog, c->http,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return CLI_EXIT_UNREACHABLE;
    }
    return cli_fail(c, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* Parse the answer; on an HTTP error print its message and return 1. */
static int answer(const cli_common_t *c, reply_t *r, json_t **out)
{
    char err[256];
    *out = NULL;
    json_t *j = json_parse(r->body.buf ? r->body.buf : "", r->body.len, err, sizeof err);
    if (r->status != 200) {
        const json_t *e = json_get(j, "error");
        int rc = e && e->type == JSON_STR
                     ? cli_fail(c, "%s", e->s)
                     : cli_fail(c, "HTTP %ld from %s, not an answer of kappa's query API "
                                   "(is --http the server's kappa.http.listener?)",
                                r->status, c->http);
        json_free(j);
        return rc;
    }
    if (!j)
        return cli_fail(c, "malformed answer from the server: %s", err);
    *out = j;
    return 0;
}

/* Compact JSON of a parsed value. */
static void to_json(jbuf_t *b, const json_t *v)
{
    switch (v->type) {
    case JSON_NULL: jbuf_puts(b, "null"); break;
    case JSON_BOOL: jbuf_puts(b, v->b ? "true" : "false"); break;
    case JSON_NUM: jbuf_put(b, v->s, v->len); break;
    case JSON_STR: jbuf_str(b, v->s, v->len); break;
    case JSON_ARR:
    case JSON_OBJ:
        jbuf_puts(b, v->type == JSON_ARR ? "[" : "{");
        for (int i = 0; i < v->n; i++) {
            if (i)
                jbuf_puts(b, ",");
            if (v->type == JSON_OBJ) {
                jbuf_str(b, v->keys[i], strlen(v->keys[i]));
                jbuf_puts(b, ":");
            }
            to_json(b, v->items[i]);
        }
        jbuf_puts(b, v->type == JSON_ARR ? "]" : "}");
        break;
    }
}

/* A JSON value as a table cell: strings raw, numbers as written, the rest
 * as compact JSON.  Returns a kp_malloc'd string, or NULL for null. */
static char *cell(const json_t *v)
{
    if (!v || v->type == JSON_NULL)
        return NULL;
    if (v->type == JSON_STR || v->type == JSON_NUM) {
        char *s = kp_malloc(v->len + 1);
        if (s) {
            memcpy(s, v->s, v->len);
            s[v->len] = '\0';
        }
        return s;
    }
    jbuf_t b = {0};
    to_json(&b, v);
    return jbuf_take(&b, NULL);
}

/* The API's JSON answer as is (--json). */
static void print_raw(reply_t *r)
{
    fwrite(r->body.buf, 1, r->body.len, stdout);
    if (r->body.len && r->body.buf[r->body.len - 1] != '\n')
        putchar('\n');
}

/* Shared flag parsing: positional arguments into pos[] (at most npos). */
static int parse(cli_common_t *c, int argc, char **argv, const char **pos, int npos, int *got,
                 bool *help_done)
{
    *got = 0;
    *help_done = false;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help(stdout);
            *help_done = true;
            return 0;
        }
        int r = cli_common_flag(c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--") != 0)
            return cli_usage_error(c, "unknown option '%s'", argv[i]);
        if (*got == npos)
            return cli_usage_error(c, "unexpected argument '%s'", argv[i]);
        pos[(*got)++] = argv[i];
    }
    return 0;
}

static int cmd_list(cli_common_t *c, int argc, char **argv)
{
    bool done;
    int got, rc = parse(c, argc, argv, NULL, 0, &got, &done);
    if (rc || done)
        return rc;
    reply_t r;
    json_t *j;
    if ((rc = call(c, "/v1/views", NULL, &r)) != 0)
        return rc;
    if ((rc = answer(c, &r, &j)) != 0)
        goto out;
    if (c->format == CLI_FMT_JSON) {
        print_raw(&r);
        goto out;
    }
    out_table_t *t = out_table_new(7, "VIEW", "VERSION", "ALIAS", "ROWS", "LAG", "FRESHNESS_MS",
                                   "TOPIC");
    const json_t *views = json_get(j, "views");
    for (int i = 0; views && views->type == JSON_ARR && i < views->n; i++) {
        const json_t *v = views->items[i], *vers = json_get(v, "versions");
        const json_t *alias = json_get(v, "alias");
        for (int k = 0; vers && vers->type == JSON_ARR && k < vers->n; k++) {
            const json_t *ver = vers->items[k];
            char *name = cell(json_get(v, "view")), *version = cell(json_get(ver, "version"));
            char *rows = cell(json_get(ver, "rows")), *lag = cell(json_get(ver, "lag"));
            char *fresh = cell(json_get(ver, "freshness_ms"));
            char *topic = cell(json_get(ver, "topic"));
            bool target = alias && alias->type == JSON_NUM && version &&
                          strcmp(alias->s, version) == 0;
            out_row(t, name, version, target ? "*" : "", rows, lag, fresh, topic);
            kp_free(name), kp_free(version), kp_free(rows), kp_free(lag), kp_free(fresh);
            kp_free(topic);
        }
    }
    out_print(t, c->format, stdout);
    out_table_free(t);
out:
    json_free(j);
    jbuf_free(&r.body);
    return rc;
}

static int cmd_get(cli_common_t *c, int argc, char **argv)
{
    const char *pos[2];
    bool done;
    int got, rc = parse(c, argc, argv, pos, 2, &got, &done);
    if (rc || done)
        return rc;
    if (got != 2)
        return cli_usage_error(c, "expected VIEW KEY");
    CURL *h = curl_easy_init();
    char *ev = h ? curl_easy_escape(h, pos[0], 0) : NULL;
    char *ek = h ? curl_easy_escape(h, pos[1], 0) : NULL;
    if (!ev || !ek) {
        curl_free(ev), curl_free(ek), curl_easy_cleanup(h);
        return cli_fail(c, "out of memory");
    }
    /* ?key= reaches every key, also one named "changes". */
    size_t pl = strlen(ev) + strlen(ek) + 32;
    char *path = kp_malloc(pl);
    if (path)
        snprintf(path, pl, "/v1/views/%s?key=%s", ev, ek);
    curl_free(ev), curl_free(ek), curl_easy_cleanup(h);
    if (!path)
        return cli_fail(c, "out of memory");
    reply_t r;
    json_t *j = NULL;
    rc = call(c, path, NULL, &r);
    kp_free(path);
    if (rc)
        return rc;
    if ((rc = answer(c, &r, &j)) != 0)
        goto out;
    if (c->format == CLI_FMT_JSON) {
        print_raw(&r);
        goto out;
    }
    out_table_t *t = out_table_new(5, "VIEW", "VERSION", "KEY", "VALUE", "TS");
    char *v = cell(json_get(j, "view")), *ver = cell(json_get(j, "version"));
    char *k = cell(json_get(j, "key")), *val = cell(json_get(j, "value"));
    char *ts = cell(json_get(j, "ts"));
    out_row(t, v, ver, k, val, ts);
    kp_free(v), kp_free(ver), kp_free(k), kp_free(val), kp_free(ts);
    out_print(t, c->format, stdout);
    out_table_free(t);
out:
    json_free(j);
    jbuf_free(&r.body);
    return rc;
}

/* The query's rows as a table whose columns come from the answer. */
static void print_rows(const cli_common_t *c, const json_t *cols, const json_t *rows)
{
    int nc = cols && cols->type == JSON_ARR ? cols->n : 0;
    int nr = rows && rows->type == JSON_ARR ? rows->n : 0;
    if (nc == 0)
        return;
    char **cells = kp_calloc((size_t)(nr + 1) * (size_t)nc, sizeof *cells);
    size_t *w = kp_calloc((size_t)nc, sizeof *w);
    if (!cells || !w) {
        kp_free(cells), kp_free(w);
        cli_fail(c, "out of memory");
        return;
    }
    for (int i = 0; i < nc; i++) {
        char *h = cell(cols->items[i]);
        for (char *p = h; p && *p; p++)
            *p = (char)toupper((unsigned char)*p);
        cells[i] = h;
    }
    for (int r = 0; r < nr; r++) {
        const json_t *row = rows->items[r];
        for (int i = 0; i < nc; i++)
            cells[(size_t)(r + 1) * (size_t)nc + (size_t)i] =
                row->type == JSON_ARR && i < row->n ? cell(row->items[i]) : NULL;
    }
    for (int r = 0; r <= nr; r++)
        for (int i = 0; i < nc; i++) {
            const char *s = cells[(size_t)r * (size_t)nc + (size_t)i];
            size_t l = s ? strlen(s) : 1;
            if (l > w[i])
                w[i] = l;
        }
    for (int r = c->format == CLI_FMT_TABLE ? 0 : 1; r <= nr; r++) {
        for (int i = 0; i < nc; i++) {
            const char *s = cells[(size_t)r * (size_t)nc + (size_t)i];
            if (c->format == CLI_FMT_TABLE)
                printf("%-*s%s", i + 1 < nc ? (int)w[i] : 0, s ? s : "-",
                       i + 1 < nc ? "  " : "\n");
            else
                printf("%s%s", s ? s : "-", i + 1 < nc ? "\t" : "\n");
        }
    }
    for (size_t i = 0; i < (size_t)(nr + 1) * (size_t)nc; i++)
        kp_free(cells[i]);
    kp_free(cells);
    kp_free(w);
}

static int cmd_query(cli_common_t *c, int argc, char **argv)
{
    const char *pos[1];
    bool done;
    int got, rc = parse(c, argc, argv, pos, 1, &got, &done);
    if (rc || done)
        return rc;
    if (got != 1)
        return cli_usage_error(c, "expected one SQL statement, quoted");
    jbuf_t body = {0};
    jbuf_puts(&body, "{\"sql\":");
    jbuf_str(&body, pos[0], strlen(pos[0]));
    jbuf_puts(&body, "}");
    if (body.err)
        return cli_fail(c, "out of memory");
    reply_t r;
    json_t *j = NULL;
    rc = call(c, "/v1/query", body.buf, &r);
    jbuf_free(&body);
    if (rc)
        return rc;
    if ((rc = answer(c, &r, &j)) != 0)
        goto out;
    const json_t *e = json_get(j, "error");
    if (c->format == CLI_FMT_JSON)
        print_raw(&r);
    else
        print_rows(c, json_get(j, "columns"), json_get(j, "rows"));
    if (e && e->type == JSON_STR)
        rc = cli_fail(c, "%s", e->s);   /* failed after some rows */
out:
    json_free(j);
    jbuf_free(&r.body);
    return rc;
}

int cli_view(int argc, char **argv)
{
    cli_common_t c;
    if (argc < 1 || cli_is_help(argv[0])) {
        help(argc < 1 ? stderr : stdout);
        return argc < 1 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *sub = argv[0];
    char prog[64];
    snprintf(prog, sizeof prog, "kappa view %s", sub);
    cli_common_init(&c, prog);
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(sub, "list") == 0)
        rc = cmd_list(&c, argc - 1, argv + 1);
    else if (strcmp(sub, "get") == 0)
        rc = cmd_get(&c, argc - 1, argv + 1);
    else if (strcmp(sub, "query") == 0)
        rc = cmd_query(&c, argc - 1, argv + 1);
    else {
        c.prog = "kappa view";
        rc = cli_usage_error(&c, "unknown subcommand '%s' (list, get, query, sink)", sub);
    }
    curl_global_cleanup();
    return rc;
}
