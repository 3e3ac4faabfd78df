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

#include <ini.h>

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

void (*opt_describe_hook)(const CommandSpec *cmd, void *ctx);
void *opt_describe_ctx;

int opt_parse_operands(const CommandSpec *cmd, int argc, char **argv, const char **operands, int max, int *n) {
    if (opt_describe_hook) {
        opt_describe_hook(cmd, opt_describe_ctx);
        return 1;
    }
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

/* ---- settings files (vae train --config run.ini), read with libinih ---- */

/* libinih hands the handler no line number in Debian's build
   (INI_HANDLER_LINENO 0), so the reader counts lines itself. */
typedef struct {
    FILE *f;
    int line;
    int too_long;               /* first line longer than inih's buffer, or 0 */
} CfgReader;

typedef struct {
    const CommandSpec *cmd;
    const char *path;
    CfgReader *rd;
    const char *const *skip;
    unsigned char cli_seen[128];    /* given on the command line: those win */
    unsigned char file_seen[128];   /* given earlier in this file */
    int rc;                         /* first error's exit code, 0 while none */
} CfgState;

#define CFG_MAX_STRINGS 64
static char *cfg_strings[CFG_MAX_STRINGS];
static int n_cfg_strings;

static char *cfg_read(char *str, int num, void *stream) {
    CfgReader *r = stream;
    char *s = fgets(str, num, r->f);
    if (!s) return NULL;
    r->line++;
    if (!strchr(s, '\n') && !feof(r->f)) {
        /* the rest of an overlong line would come back as lines of its own */
        if (!r->too_long) r->too_long = r->line;
        int c;
        while ((c = fgetc(r->f)) != EOF && c != '\n') {
        }
    }
    return s;
}

static int skipped(const char *const *skip, const char *name) {
    for (int i = 0; skip && skip[i]; i++)
        if (strcmp(skip[i], name) == 0) return 1;
    return 0;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value) {
    CfgState *s = user;
    if (s->rc) return 0;
    char where[600];
    snprintf(where, sizeof where, "%s:%d", s->path, s->rd->line);
    if (section[0] && strcmp(section, s->cmd->name) != 0) {
        s->rc = usage_error(s->cmd, where, "unknown section [%s] (use [%s] or none)", section, s->cmd->name);
        return 0;
    }
    Opt *o = NULL;
    int k = 0, idx = -1;
    for (Opt *p = s->cmd->opts; p && p->name; p++, k++)
        if (p->help && strcmp(p->name, name) == 0 && !skipped(s->skip, name)) o = p, idx = k;
    if (!o || idx >= (int)sizeof s->cli_seen) {
        s->rc = usage_error(s->cmd, where, "unknown key '%s' (the keys are the long options of 'vae %s')", name,
                            s->cmd->name);
        return 0;
    }
    if (s->file_seen[idx]) {
        s->rc = usage_error(s->cmd, where, "'%s' is given twice", name);
        return 0;
    }
    s->file_seen[idx] = 1;
    char shown[700];
    snprintf(shown, sizeof shown, "%s: %s", where, name);
    if (o->type == OPT_FLAG) {
        int v;
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "1")) v = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") || !strcmp(value, "0")) v = 0;
        else {
            s->rc = usage_error(s->cmd, shown, "'%s' is not true or false", value);
            return 0;
        }
        if (!s->cli_seen[idx]) {
            *(int *)o->dest = v;
            o->seen = v;
        }
        return 1;
    }
    if (s->cli_seen[idx]) return 1;     /* the command line overrides the file */
    const char *val = value;
    if (o->type == OPT_STRING) {
        if (n_cfg_strings == CFG_MAX_STRINGS) {
            s->rc = usage_error(s->cmd, where, "too many string settings");
            return 0;
        }
        char *copy = strdup(value);   /* inih's buffer is reused for the next line */
        if (!copy) {
            s->rc = runtime_error("%s: out of memory", where);
            return 0;
        }
        if (n_cfg_strings == 0) atexit(opt_free_config);   /* they live as long as the options */
        cfg_strings[n_cfg_strings++] = copy;
        val = copy;
    }
    int rc = set_value(s->cmd, o, shown, val);
    if (rc) {
        s->rc = rc;
        return 0;
    }
    o->seen = 1;
    return 1;
}

int opt_load_config(const CommandSpec *cmd, const char *path, const char *const *skip) {
    CfgReader rd = {fopen(path, "r"), 0, 0};
    if (!rd.f) return runtime_error("%s: %s", path, strerror(errno));
    CfgState s;
    memset(&s, 0, sizeof s);
    s.cmd = cmd;
    s.path = path;
    s.rd = &rd;
    s.skip = skip;
    int k = 0;
    for (const Opt *p = cmd->opts; p && p->name && k < (int)sizeof s.cli_seen; p++, k++) s.cli_seen[k] = (unsigned char)p->seen;
    int line = ini_parse_stream(cfg_read, &rd, cfg_handler, &s);
    int read_error = ferror(rd.f);
    fclose(rd.f);
    if (read_error) return runtime_error("%s: read error", path);
    if (s.rc) return s.rc;
    char where[600];
    if (rd.too_long) {
        snprintf(where, sizeof where, "%s:%d", path, rd.too_long);
        return usage_error(cmd, where, "line longer than %d characters", INI_MAX_LINE - 2);
    }
    if (line > 0) {
        snprintf(where, sizeof where, "%s:%d", path, line);
        return usage_error(cmd, where, "not a 'key = value' line or a [section]");
    }
    if (line < 0) return runtime_error("%s: out of memory", path);
    return 0;
}

void opt_free_config(void) {
    for (int i = 0; i < n_cfg_strings; i++) free(cfg_strings[i]);
    n_cfg_strings = 0;
}

int opt_config_text(const CommandSpec *cmd, const char *const *skip, const char *comment, char *buf, size_t cap) {
    size_t used = 0;
    int k = snprintf(buf, cap, "# %s\n[%s]\n", comment, cmd->name);
    if (k < 0 || (size_t)k >= cap) return -1;
    used = (size_t)k;
    for (const Opt *o = cmd->opts; o && o->name; o++) {
        if (!o->help || skipped(skip, o->name)) continue;
        char v[512];
        switch (o->type) {
        case OPT_FLAG: snprintf(v, sizeof v, "%s", *(const int *)o->dest ? "true" : "false"); break;
        /* an integer outside its range is the "not set" default (--limit 0 = all) */
        case OPT_INT:
            if (*(const int *)o->dest < o->min || *(const int *)o->dest > o->max) continue;
            snprintf(v, sizeof v, "%d", *(const int *)o->dest);
            break;
        case OPT_LONG:
            if (*(const long *)o->dest < o->min || *(const long *)o->dest > o->max) continue;
            snprintf(v, sizeof v, "%ld", *(const long *)o->dest);
            break;
        case OPT_U64: snprintf(v, sizeof v, "%llu", (unsigned long long)*(const uint64_t *)o->dest); break;
        case OPT_FLOAT: {
            /* the shortest of %g and %.9g that reads back as the same float (0.001, not 0.00100000005) */
            float f = *(const float *)o->dest;
            snprintf(v, sizeof v, "%g", (double)f);
            if (strtof(v, NULL) != f) snprintf(v, sizeof v, "%.9g", (double)f);
            break;
        }
        case OPT_STRING: {
            const char *s = *(const char *const *)o->dest;
            if (!s) continue;    /* not set: the default applies */
            snprintf(v, sizeof v, "%s", s);
            break;
        }
        case OPT_HIDDEN: vae_hidden_str((const VaeConfig *)o->dest, v, sizeof v); break;
        case OPT_CHANNELS:
            vae_channels_str((const VaeConfig *)o->dest, v, sizeof v);
            if (!v[0]) continue;    /* an MLP has none */
            break;
        case OPT_CHOICE: snprintf(v, sizeof v, "%s", o->choices[*(const int *)o->dest]); break;
        }
        k = snprintf(buf + used, cap - used, "%s = %s\n", o->name, v);
        if (k < 0 || (size_t)k >= cap - used) return -1;
        used += (size_t)k;
    }
    return (int)used;
}
