/*
 * out.h -- tabular output for client subcommands, in three formats:
 *
 *   table  aligned columns under an upper-case header (the default; what
 *          rpk and kafka-topics print)
 *   text   one row per line, tab-separated, no header: for cut/awk
 *   json   one JSON array of objects keyed by the column names in
 *          lower_snake_case; numeric cells are emitted as JSON numbers
 *
 * Usage: t = out_table_new(3, "TOPIC", "PARTITIONS", "SIZE_BYTES");
 *        out_row(t, "orders", "3", "1024"); ... out_print(t, fmt, stdout);
 *        out_table_free(t);
 * Cells are copied.  Column names must be upper-case words joined by '_'
 * (the JSON key is the lower-cased name).  out_num() marks a column numeric
 * for JSON; a numeric cell that is "" or "-" is emitted as null.
 */
#ifndef KP_CLI_OUT_H
#define KP_CLI_OUT_H

#include "cli/client.h"

#include <stdio.h>

typedef struct out_table out_table_t;

out_table_t *out_table_new(int ncols, ...);
void out_num(out_table_t *t, int col);
/* Append a row of ncols strings (NULL is printed as "-" / JSON null). */
int out_row(out_table_t *t, ...);
void out_print(const out_table_t *t, cli_format_t fmt, FILE *f);
void out_table_free(out_table_t *t);

/* Write s as a JSON string literal (with quotes and escapes). */
void out_json_str(FILE *f, const char *s);
/* Write n bytes as a JSON string literal; invalid UTF-8 bytes become \u00XX. */
void out_json_strn(FILE *f, const char *s, size_t n);

#endif
