/* Table-driven option parsing with strict number checks, and help screens
 * generated from the same table so --help cannot drift from the parser. */
#include "cli.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int parse_long_strict(const char *s, long min, long max, long *out, const char **why) {
    char *end = NULL;
    if (!s || !*s) {
        *why = "an empty value is not a number";
        return -1;
    }
    /* strtol skips leading blanks; a value with them is a quoting mistake */
    if (isspace((unsigned char)*s)) {
        *why = "is not an integer";
        return -1;
    }
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0') {
        *why = "is not an integer";
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        *why = "is out of range";
        return -1;
    }
    *out = v;
    return 0;
}

int parse_double_strict(const char *s, double min, double max, int min_exclusive, double *out, const char **why) {
    char *end = NULL;
    if (!s || !*s) {
        *why = "an empty value is not a number";
        return -1;
    }
    if (isspace((unsigned char)*s)) {
        *why = "is not a number";
        return -1;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') {
        *why = "is not a number";
        return -1;
    }
    if (!isfinite(v) || errno == ERANGE) {
        *why = "must be a finite number";
        return -1;
    }
    if (v < min || v > max || (min_exclusive && v <= min)) {
        *why = "is out of range";
        return -1;
    }
    *out = v;
    return 0;
}

int parse_hidden_list(const char *s, VaeConfig *cfg, const char **why) {
    int n = 0;
    const char *p = s;
    if (!s || !*s) {
        *why = "needs at least one layer size";
        return -1;
    }
    while (1) {
        char item[32];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof item) {
            *why = "must be a comma-separated list of layer sizes such as 400 or 512,256,128";
            return -1;
        }
        if (n == VAE_MAX_HIDDEN) {
            *why = "has too many layers (at most 8)";
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        long v;
        if (parse_long_strict(item, 1, 1 << 16, &v, why) != 0) {
            *why = "must list layer sizes between 1 and 65536, such as 400 or 512,256,128";
            return -1;
        }
        cfg->hidden[n++] = (int)v;
        if (!comma) break;
        p = comma + 1;
    }
    cfg->n_hidden = n;
    return 0;
}

int parse_channel_list(const char *s, VaeConfig *cfg, const char **why) {
    int n = 0;
    const char *p = s;
    if (!s || !*s) {
        *why = "needs at least one channel count";
        return -1;
    }
    while (1) {
        char item[32];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof item) {
            *why = "must be a comma-separated list of channel counts such as 32,64";
            return -1;
        }
        if (n == VAE_MAX_CHANNELS) {
            *why = "has too many entries (at most 6)";
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        long v;
        if (parse_long_strict(item, 1, 4096, &v, why) != 0) {
            *why = "must list channel counts between 1 and 4096, such as 32,64";
            return -1;
        }
        cfg->channels[n++] = (int)v;
        if (!comma) break;
        p = comma + 1;
    }
    cfg->n_channels = n;
    return 0;
}

int usage_error(const CommandSpec *cmd, const char *opt, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vae: ");
    if (opt) fprintf(stderr, "%s: ", opt);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vae %s%s--help'.\n", cmd ? cmd->name : "", cmd ? " " : "");
    return EXIT_USAGE;
}

int runtime_error(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vae: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_RUNTIME;
}

const Opt *opt_find(const CommandSpec *cmd, const char *name) {
    for (const Opt *o = cmd->opts; o && o->name; o++)
        if (strcmp(o->name, name) == 0) return o;
    return NULL;
}

int opt_given(const CommandSpec *cmd, const char *name) {
    const Opt *o = opt_find(cmd, name);
    return o && o->seen;
}

static int set_value(const CommandSpec *cmd, Opt *o, const char *shown, const char *val) {
    const char *why = NULL;
    switch (o->type) {
    case OPT_FLAG:
        *(int *)o->dest = 1;
        return 0;
    case OPT_INT:
    case OPT_LONG: {
        long v;
        if (parse_long_strict(val, (long)o->min, (long)o->max, &v, &why) != 0) {
            if (strcmp(why, "is out of range") == 0)
                return usage_error(cmd, shown, "'%s' is out of range (%.0f..%.0f)", val, o->min, o->max);
            return usage_error(cmd, shown, "'%s' %s", val, why);
        }
        if (o->type == OPT_INT)
            *(int *)o->dest = (int)v;
        else
            *(long *)o->dest = v;
        return 0;
    }
    case OPT_U64: {
        char *end = NULL;
        errno = 0;
        /* strtoull skips blanks and wraps negatives: " -1" would become 2^64-1 */
        if (!*val || *val == '-' || *val == '+' || isspace((unsigned char)*val)) return usage_error(cmd, shown, "'%s' is not a non-negative integer", val);
        unsigned long long v = strtoull(val, &end, 10);
        if (end == val || *end != '\0') return usage_error(cmd, shown, "'%s' is not a non-negative integer", val);
        if (errno == ERANGE) return usage_error(cmd, shown, "'%s' is out of range", val);
        *(uint64_t *)o->dest = (uint64_t)v;
        return 0;
    }
    case OPT_FLOAT: {
        double v;
        if (parse_double_strict(val, o->min, o->max, o->min_exclusive, &v, &why) != 0) {
            if (strcmp(why, "is out of range") == 0)
                return usage_error(cmd, shown, "'%s' must be %s %g and at most %g", val,
                                   o->min_exclusive ? "greater than" : "at least", o->min, o->max);
            return usage_error(cmd, shown, "'%s' %s", val, why);
        }
        /* a positive double can round to 0 as a float (--lr 1e-50) */
        if (o->min_exclusive && (double)(float)v <= o->min)
            return usage_error(cmd, shown, "'%s' must be greater than %g and at most %g", val, o->min, o->max);
        *(float *)o->dest = (float)v;
        return 0;
    }
    case OPT_STRING:
        if (!*val) return usage_error(cmd, shown, "needs a non-empty value");
        *(const char **)o->dest = val;
        return 0;
    case OPT_HIDDEN:
        if (parse_hidden_list(val, (VaeConfig *)o->dest, &why) != 0)
            return usage_error(cmd, shown, "'%s' %s", val, why);
        return 0;
    case OPT_CHANNELS:
        if (parse_channel_list(val, (VaeConfig *)o->dest, &why) != 0)
            return usage_error(cmd, shown, "'%s' %s", val, why);
        return 0;
    case OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(o->choices[i], val) == 0) {
                *(int *)o->dest = i;
                return 0;
            }
        return usage_error(cmd, shown, "'%s' is not one of the choices (see --help)", val);
    }
    return usage_error(cmd, shown, "internal: unknown option type");
}

int opt_parse(const CommandSpec *cmd, int argc, char **argv) { return opt_parse_operands(cmd, argc, argv, NULL, 0, NULL); }

int opt_parse_operands(const CommandSpec *cmd, int argc, char **argv, const char **operands, int max, int *n) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            opt_print_help(cmd, stdout);
            return 1;
        }
    int operands_only = 0;
    if (n) *n = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        Opt *o = NULL;
        if (!operands_only && strcmp(arg, "--") == 0 && operands) {
            operands_only = 1;
            continue;
        }
        if (operands_only || arg[0] != '-' || arg[1] == '\0') {
            if (!operands) return usage_error(cmd, NULL, "unexpected argument '%s'", arg);
            if (*n == max) return usage_error(cmd, NULL, "too many arguments (at most %d)", max);
            operands[(*n)++] = arg;
            continue;
        }
        const char *inline_val = NULL;
        char shown[96];
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
            const char *eq = strchr(arg + 2, '=');
            size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            for (Opt *p = cmd->opts; p && p->name; p++)
                if (strlen(p->name) == len && strncmp(p->name, arg + 2, len) == 0) o = p;
            snprintf(shown, sizeof shown, "--%.*s", (int)(len < 80 ? len : 80), arg + 2);
            if (eq) inline_val = eq + 1;
        } else if (arg[0] == '-' && arg[1] && arg[1] != '-' && arg[2] == '\0') {
            for (Opt *p = cmd->opts; p && p->name; p++)
                if (p->short_name == arg[1]) o = p;
            snprintf(shown, sizeof shown, "-%c", arg[1]);
        } else {
            return usage_error(cmd, NULL, "unexpected argument '%s'", arg);
        }
        if (!o) return usage_error(cmd, shown, "unknown option");
        /* entries sharing a destination are one option under two names */
        for (Opt *p = cmd->opts; p && p->name; p++)
            if (p == o || (p->dest == o->dest && p->type == o->type)) p->seen = 1;
        if (o->type == OPT_FLAG) {
            if (inline_val) return usage_error(cmd, shown, "takes no value");
            *(int *)o->dest = 1;
            continue;
        }
        const char *val = inline_val;
        if (!val) {
            /* "--out --epochs 3" is a missing value, not an output named "--epochs" */
            if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1] == '-' && argv[i + 1][2]))
                return usage_error(cmd, shown, "needs a value (%s)", o->metavar ? o->metavar : "VALUE");
            val = argv[++i];
        }
        int rc = set_value(cmd, o, shown, val);
        if (rc) return rc;
    }
    return 0;
}

/* Prints text word-wrapped to HELP_WIDTH columns; every line after the first
   starts at column `indent`. `col` is the column the first word starts at. */
#define HELP_WIDTH 79
#define HELP_LEFT 24
#define NBSP '\x1f'   /* a space the wrapper does not break at: "[number, default 1]" stays whole */
static void print_wrapped(FILE *out, const char *text, int col, int indent) {
    const char *p = text;
    int at_line_start = 1;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        int len = 0;
        while (p[len] && p[len] != ' ') len++;
        /* a word that does not fit goes to the next line, unless the line is empty */
        if (!at_line_start && col + 1 + len > HELP_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
            at_line_start = 1;
        }
        if (!at_line_start) {
            fputc(' ', out);
            col++;
        }
        for (int i = 0; i < len; i++) fputc(p[i] == NBSP ? ' ' : p[i], out);
        col += len;
        at_line_start = 0;
        p += len;
    }
    fputc('\n', out);
}

/* One option: "  -x, --name METAVAR" in a 24-column field, then the help.
   A left part that fills the field puts the help on the next line, so the
   two never run together; long help wraps under the help column. */
static void print_option(FILE *out, const char *left, const char *text) {
    int indent = 2 + HELP_LEFT + 1;
    if ((int)strlen(left) > HELP_LEFT - 1) {
        fprintf(out, "  %s\n%*s", left, indent, "");
    } else {
        fprintf(out, "  %-*s ", HELP_LEFT, left);
    }
    print_wrapped(out, text, indent, indent);
}

void opt_print_help(const CommandSpec *cmd, FILE *out) {
    fprintf(out, "Usage: %s\n\n%s\n\nExample:\n  %s\n\nOptions:\n", cmd->usage, cmd->description, cmd->example);
    for (const Opt *o = cmd->opts; o && o->name; o++) {
        if (!o->help) continue;   /* a hidden alias kept for old scripts */
        char left[96], text[512];
        const char *type = "";
        switch (o->type) {
        case OPT_FLAG: type = "flag"; break;
        case OPT_INT: case OPT_LONG: case OPT_U64: type = "integer"; break;
        case OPT_FLOAT: type = "number"; break;
        case OPT_STRING: type = "string"; break;
        case OPT_HIDDEN: case OPT_CHANNELS: type = "list"; break;
        case OPT_CHOICE: type = "choice"; break;
        }
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        int k = snprintf(text, sizeof text, "%s ", o->help);
        snprintf(text + k, sizeof text - (size_t)k, "[%s%s%s]", type, o->def ? ", default " : "", o->def ? o->def : "");
        for (char *c = text + k; *c; c++)
            if (*c == ' ') *c = NBSP;
        print_option(out, left, text);
    }
    print_option(out, "-h, --help", "show this help and exit");
}

int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 1024 ? (int)n : 1;
}

void set_threads(int n) { openblas_set_num_threads(n); }
