/*
 * out.c -- table, text and JSON rendering of client subcommand results.
 */
#include "cli/out.h"

#include "core/kp_mem.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

struct out_table {
    int ncols;
    char **names;
    bool *numeric;
    char **cells;       /* nrows * ncols, row-major; NULL = missing */
    int nrows, cap;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kp_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

out_table_t *out_table_new(int ncols, ...)
{
    out_table_t *t = kp_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->names = kp_calloc((size_t)ncols, sizeof *t->names);
    t->numeric = kp_calloc((size_t)ncols, sizeof *t->numeric);
    if (!t->names || !t->numeric) {
        out_table_free(t);
        return NULL;
    }
    va_list ap;
    va_start(ap, ncols);
    for (int i = 0; i < ncols; i++)
        t->names[i] = dup_str(va_arg(ap, const char *));
    va_end(ap);
    return t;
}

void out_num(out_table_t *t, int col)
{
    if (t && col >= 0 && col < t->ncols)
        t->numeric[col] = true;
}

int out_row(out_table_t *t, ...)
{
    if (!t)
        return -1;
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **c = kp_realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
    va_list ap;
    va_start(ap, t);
    for (int i = 0; i < t->ncols; i++) {
        const char *v = va_arg(ap, const char *);
        row[i] = v ? dup_str(v) : NULL;
    }
    va_end(ap);
    t->nrows++;
    return 0;
}

void out_table_free(out_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++)
        kp_free(t->cells[i]);
    kp_free(t->cells);
    for (int i = 0; t->names && i < t->ncols; i++)
        kp_free(t->names[i]);
    kp_free(t->names);
    kp_free(t->numeric);
    kp_free(t);
}

void out_json_strn(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    size_t i = 0;
    while (i < n) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') {
            fputc('\\', f);
            fputc(ch, f);
            i++;
        } else if (ch == '\n') {
            fputs("\\n", f), i++;
        } else if (ch == '\r') {
            fputs("\\r", f), i++;
        } else if (ch == '\t') {
            fputs("\\t", f), i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            fprintf(f, "\\u%04x", ch), i++;
        } else if (ch < 0x80) {
            fputc(ch, f), i++;
        } else {
            /* Pass through a well-formed UTF-8 sequence; escape a stray byte
             * so the output stays valid JSON. */
            size_t len = ch >= 0xf0 && ch < 0xf5 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc2 && ch < 0xe0 ? 2 : 0;
            if (ch >= 0xf5)
                len = 0;
            bool ok = len > 0 && i + len <= n;
            for (size_t k = 1; ok && k < len; k++)
                ok = (p[i + k] & 0xc0) == 0x80;
            if (ok) {
                fwrite(p + i, 1, len, f);
                i += len;
            } else {
                fprintf(f, "\\u%04x", ch);
                i++;
            }
        }
    }
    fputc('"', f);
}

void out_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    out_json_strn(f, s, strlen(s));
}

static bool is_number(const char *s)
{
    if (!s || !*s)
        return false;
    const char *p = s;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

static void print_json(const out_table_t *t, FILE *f)
{
    fputc('[', f);
    for (int r = 0; r < t->nrows; r++) {
        char **row = t->cells + (size_t)r * (size_t)t->ncols;
        fputs(r ? ",\n {" : "{", f);
        for (int c = 0; c < t->ncols; c++) {
            if (c)
                fputs(", ", f);
            fputc('"', f);
            for (const char *n = t->names[c]; *n; n++)
                fputc(tolower((unsigned char)*n), f);
            fputs("\": ", f);
            const char *v = row[c];
            if (t->numeric[c]) {
                if (is_number(v))
                    fputs(v, f);
                else
                    fputs("null", f);
            } else {
                out_json_str(f, v);
            }
        }
        fputc('}', f);
    }
    fputs("]\n", f);
}

void out_print(const out_table_t *t, cli_format_t fmt, FILE *f)
{
    if (!t)
        return;
    if (fmt == CLI_FMT_JSON) {
        print_json(t, f);
        return;
    }
    if (fmt == CLI_FMT_TEXT) {
        for (int r = 0; r < t->nrows; r++) {
            char **row = t->cells + (size_t)r * (size_t)t->ncols;
            for (int c = 0; c < t->ncols; c++)
                fprintf(f, "%s%s", c ? "\t" : "", row[c] ? row[c] : "-");
            fputc('\n', f);
        }
        return;
    }
    size_t *w = kp_calloc((size_t)t->ncols, sizeof *w);
    if (!w)
        return;
    for (int c = 0; c < t->ncols; c++)
        w[c] = strlen(t->names[c]);
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *v = t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            size_t n = v ? strlen(v) : 1;
            if (n > w[c])
                w[c] = n;
        }
    for (int c = 0; c < t->ncols; c++)
        if (c + 1 < t->ncols)
            fprintf(f, "%-*s  ", (int)w[c], t->names[c]);
        else
            fputs(t->names[c], f);
    fputc('\n', f);
    for (int r = 0; r < t->nrows; r++) {
        char **row = t->cells + (size_t)r * (size_t)t->ncols;
        for (int c = 0; c < t->ncols; c++) {
            const char *v = row[c] ? row[c] : "-";
            if (c + 1 == t->ncols)
                fputs(v, f);
            else if (t->numeric[c])
                fprintf(f, "%*s  ", (int)w[c], v);
            else
                fprintf(f, "%-*s  ", (int)w[c], v);
        }
        fputc('\n', f);
    }
    kp_free(w);
}
