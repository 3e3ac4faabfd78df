/* The CSV table reader: quoted fields (commas, quotes and newlines inside),
 * CRLF and a missing final newline, strict numbers, and every refusal naming
 * the file and the line. */
#include <string.h>

#include "check.h"
#include "vae/csv.h"

static int parse(const char *text, CsvTable *t, VaeError *err) { return csv_parse(text, strlen(text), "t.csv", t, err); }

static void refused(const char *text, size_t len, const char *want) {
    CsvTable t;
    VaeError err = {{0}};
    CHECK_MSG(csv_parse(text, len, "t.csv", &t, &err) == VAE_ERR, "accepted: %.40s", text);
    check_contains(want, err.msg, want);
}

int main(void) {
    CsvTable t;
    VaeError err = {{0}};
    CHECK(parse("a,b,c\n1,\"x,y\",3\r\n4,\"say \"\"hi\"\"\",\n\"multi\nline\",5,6", &t, &err) == VAE_OK);
    CHECK(t.n_cols == 3 && t.n_rows == 3);
    if (t.n_cols == 3 && t.n_rows == 3) {
        CHECK(csv_column(&t, "b") == 1 && csv_column(&t, "z") == -1);
        CHECK(strcmp(csv_cell(&t, 0, 1), "x,y") == 0);
        CHECK(strcmp(csv_cell(&t, 0, 2), "3") == 0);
        CHECK(strcmp(csv_cell(&t, 1, 1), "say \"hi\"") == 0);
        CHECK(strcmp(csv_cell(&t, 1, 2), "") == 0);
        CHECK(strcmp(csv_cell(&t, 2, 0), "multi\nline") == 0);
        CHECK(strcmp(csv_cell(&t, 2, 2), "6") == 0);
    }
    csv_free(&t);
    /* a comma ending the file is one more, empty field */
    CHECK(parse("a,b\n1,", &t, &err) == VAE_OK && t.n_rows == 1 && strcmp(csv_cell(&t, 0, 1), "") == 0);
    csv_free(&t);
    CHECK(parse("only,a,header\n", &t, &err) == VAE_OK && t.n_rows == 0 && t.n_cols == 3);
    csv_free(&t);

    refused("", 0, "t.csv: empty file");
    refused("a,b\n1,2\n3\n", 10, "t.csv: line 3 has 1 field but the header has 2");
    refused("a,b\n1,2,3\n", 10, "t.csv: line 2 has 3 fields but the header has 2");
    refused("a,b\n\"1,2\n", 9, "t.csv: line 2: unterminated quote");
    refused("a,b\n\"1\"x,2\n", 11, "t.csv: line 2: text after a closing quote");
    refused("a,b\n1\0,2\n", 9, "t.csv: contains a NUL byte");

    double v = 0;
    CHECK(csv_number("1.5e2", &v) == 0 && v == 150.0);
    CHECK(csv_number("-0.25", &v) == 0 && v == -0.25);
    const char *bad[] = {"", " 1", "1 ", "1x", "nan", "inf", "1e999", "0x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_MSG(csv_number(bad[i], &v) != 0, "'%s' taken for a number", bad[i]);

    /* a missing file names the path */
    CHECK(csv_read(check_path("nope.csv"), &t, &err) == VAE_ERR);
    check_contains("missing", err.msg, "nope.csv");
    return check_done("test_csv_parse");
}
