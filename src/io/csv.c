/* CSV tables with a header (see include/vae/csv.h): one pass that copies the
 * fields, unquoted, into one buffer and records where each starts. */
#include "vae/csv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vae/fileio.h"

#define CSV_MAX_BYTES (64u << 20)

void csv_free(CsvTable *t) {
    free(t->cells);
    free(t->text);
    memset(t, 0, sizeof *t);
}

typedef struct {
    char **cells;
    size_t n, cap;
} Cells;

static int push_cell(Cells *c, char *p) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        char **q = realloc(c->cells, cap * sizeof *q);
        if (!q) return -1;
        c->cells = q;
        c->cap = cap;
    }
    c->cells[c->n++] = p;
    return 0;
}

int csv_parse(const char *text, size_t len, const char *name, CsvTable *t, VaeError *err) {
    memset(t, 0, sizeof *t);
    if (len == 0) return vae_fail(err, "%s: empty file", name);
    if (memchr(text, '\0', len)) return vae_fail(err, "%s: contains a NUL byte (not a CSV file)", name);
    /* unquoting only shrinks a field, and each field gains one terminator:
       at most len + 1 fields, so 2 * len + 2 bytes always suffice */
    char *out = malloc(2 * len + 2);
    Cells c = {0};
    if (!out) return vae_fail(err, "%s: out of memory", name);
    size_t o = 0, i = 0;
    long line = 1;
    int fields = 0, header_fields = -1, rows = 0, rc = VAE_OK;
    while (i < len && rc == VAE_OK) {
        if (push_cell(&c, out + o) != 0) {
            rc = vae_fail(err, "%s: out of memory", name);
            break;
        }
        if (text[i] == '"') {
            long opened = line;
            i++;
            for (;;) {
                if (i >= len) {
                    rc = vae_fail(err, "%s: line %ld: unterminated quote", name, opened);
                    break;
                }
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        out[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (text[i] == '\n') line++;
                out[o++] = text[i++];
            }
            if (rc != VAE_OK) break;
        } else {
            while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') out[o++] = text[i++];
        }
        out[o++] = '\0';
        fields++;
        if (i < len && text[i] == ',') {
            i++;
            if (i < len) continue;
            /* a comma ending the file: one more, empty field */
            if (push_cell(&c, out + o) != 0) {
                rc = vae_fail(err, "%s: out of memory", name);
                break;
            }
            out[o++] = '\0';
            fields++;
        } else if (i < len && text[i] != '\n' && text[i] != '\r') {
            rc = vae_fail(err, "%s: line %ld: text after a closing quote", name, line);
            break;
        }
        if (i < len && text[i] == '\r') i++;
        if (i < len && text[i] == '\n') i++;
        if (header_fields < 0)
            header_fields = fields;
        else if (fields != header_fields)
            rc = vae_fail(err, "%s: line %ld has %d field%s but the header has %d", name, line, fields,
                          fields == 1 ? "" : "s", header_fields);
        else
            rows++;
        fields = 0;
        line++;
    }
    if (rc == VAE_OK && header_fields < 0) rc = vae_fail(err, "%s: empty file", name);
    if (rc != VAE_OK) {
        free(out);
        free(c.cells);
        return VAE_ERR;
    }
    t->n_cols = header_fields;
    t->n_rows = rows;
    t->cells = c.cells;
    t->text = out;
    return VAE_OK;
}

int csv_read(const char *path, CsvTable *t, VaeError *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    memset(t, 0, sizeof *t);
    if (vae_read_file(path, &buf, &len, CSV_MAX_BYTES, err) != VAE_OK) return VAE_ERR;
    int rc = csv_parse((const char *)buf, len, path, t, err);
    free(buf);
    return rc;
}

int csv_column(const CsvTable *t, const char *name) {
    for (int j = 0; j < t->n_cols; j++)
        if (strcmp(t->cells[j], name) == 0) return j;
    return -1;
}

const char *csv_cell(const CsvTable *t, int row, int col) { return t->cells[(size_t)(row + 1) * t->n_cols + col]; }

int csv_number(const char *s, double *out) {
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || errno == ERANGE) return -1;
    *out = v;
    return 0;
}
