/* A small reader of comma-separated tables with a header line (metrics.csv,
 * a sweep's results.csv): fields split on commas, a field may be quoted with
 * double quotes ("" inside for a quote), CRLF or LF line ends, a missing
 * final newline tolerated. Every row must have as many fields as the header. */
#ifndef VAE_CSV_H
#define VAE_CSV_H

#include <stddef.h>
#include "vae/common.h"

typedef struct {
    int n_cols, n_rows;         /* n_rows excludes the header */
    char **cells;               /* (n_rows + 1) * n_cols pointers, row 0 the header; owned */
    char *text;                 /* the storage the cells point into; owned */
} CsvTable;

/* Parses len bytes of text; `name` (a path) prefixes every error:
 * "NAME: empty file", "NAME: line 3 has 4 fields but the header has 12",
 * "NAME: line 2: unterminated quote", "NAME: contains a NUL byte". */
int csv_parse(const char *text, size_t len, const char *name, CsvTable *t, VaeError *err);
/* Reads and parses a file of at most 64 MiB. */
int csv_read(const char *path, CsvTable *t, VaeError *err);
void csv_free(CsvTable *t);

/* Index of the header field `name`, or -1. */
int csv_column(const CsvTable *t, const char *name);
/* The field of data row `row` (0-based) in column `col`. */
const char *csv_cell(const CsvTable *t, int row, int col);

/* Strict number: the whole field is a finite decimal number. 0 ok, -1 not. */
int csv_number(const char *s, double *out);

#endif
