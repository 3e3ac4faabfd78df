/* The command layer: option tables, strict number parsing, help screens, and
 * the subcommands. Only this layer prints to the user and picks exit codes:
 * 0 success, 1 runtime error ("vae: <path>: <problem>"), 2 usage error. */
#ifndef VAE_CLI_H
#define VAE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "vae/checkpoint.h"
#include "vae/idx.h"
#include "vae/vae.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

typedef enum {
    OPT_FLAG,       /* no value; sets an int to 1 */
    OPT_INT,        /* int in [min, max] */
    OPT_LONG,       /* long in [min, max] */
    OPT_U64,        /* unsigned 64-bit in [min, max] (max 0 = no upper bound) */
    OPT_FLOAT,      /* finite float in [min, max]; min_exclusive makes it (min, max] */
    OPT_STRING,     /* non-empty string */
    OPT_HIDDEN,     /* comma list of layer sizes into a VaeConfig */
    OPT_CHANNELS,   /* comma list of channel counts into a VaeConfig */
    OPT_CHOICE      /* one of `choices` (NULL-terminated); stores the index as int */
} OptType;

typedef struct {
    const char *name;           /* long name without "--" */
    char short_name;            /* 0 if none */
    OptType type;
    void *dest;
    double min, max;
    int min_exclusive;
    const char *metavar;        /* "N", "PATH", ... */
    const char *def;            /* default, as shown in --help */
    const char *help;           /* NULL: a hidden alias (not in --help) of the entry with the same dest */
    const char *const *choices;
    int seen;                   /* set by the parser when the option was given */
} Opt;

typedef struct {
    const char *name;           /* "train" */
    const char *summary;        /* one line for the command table */
    const char *usage;          /* "vae train [options]" */
    const char *description;    /* a paragraph */
    const char *example;        /* one example command line */
    Opt *opts;                  /* terminated by an entry with name NULL */
} CommandSpec;

/* Entries every command that reads a checkpoint shares, and the terminator. */
#define DEFAULT_MODEL "runs/default/model.safetensors"
#define OPT_MODEL(dest) {"model", 'm', OPT_STRING, (dest), 0, 0, 0, "PATH", DEFAULT_MODEL, "checkpoint", NULL, 0}
#define OPT_DATA(dest, help) {"data", 0, OPT_STRING, (dest), 0, 0, 0, "DIR", "the checkpoint's", (help), NULL, 0}
#define OPT_THREADS(dest) {"threads", 't', OPT_INT, (dest), 1, 1024, 0, "N", "cores", "CPU threads", NULL, 0}
#define OPT_END {NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, 0}

/* Parses argv[1..argc) (argv[0] is the command name). Returns 0 on success,
 * 1 when --help was printed (exit 0), or EXIT_USAGE after printing the error. */
int opt_parse(const CommandSpec *cmd, int argc, char **argv);
/* The same for a command that takes operands (vae plot RUN_DIR...): arguments
 * that are not options, and everything after "--", go to operands[0..max)
 * with their count in *n; more than max is a usage error. */
int opt_parse_operands(const CommandSpec *cmd, int argc, char **argv, const char **operands, int max, int *n);

/* Set by `vae --man` and `vae --completion bash` (doc.c): opt_parse and
 * opt_parse_operands hand the command's table to this function instead of
 * parsing, and return 1 as after --help, so the command does nothing else. */
extern void (*opt_describe_hook)(const CommandSpec *cmd, void *ctx);
extern void *opt_describe_ctx;

/* The man page vae(1) and the bash completion script, generated from the
 * command table and every command's option table (doc.c); 0 or EXIT_RUNTIME. */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} CliDocCommand;
int cli_write_man(FILE *out, const CliDocCommand *cmds, size_t n, const char *version);
int cli_write_bash_completion(FILE *out, const CliDocCommand *cmds, size_t n);
void opt_print_help(const CommandSpec *cmd, FILE *out);
/* `vae: --name: message` and "Try 'vae CMD --help'." on stderr; returns EXIT_USAGE. */
int usage_error(const CommandSpec *cmd, const char *opt, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* `vae: message` on stderr; returns EXIT_RUNTIME. */
int runtime_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Settings files: KEY = VALUE lines (libinih), optionally under [CMD], the
 * keys being the long option names (those in `skip` refused). Options given on
 * the command line win; values are checked like the options', and an unknown
 * key, a bad value or a malformed line is a usage error naming FILE:LINE.
 * Returns 0, or the exit code after printing the error. Strings read from
 * the file live until opt_free_config() (registered with atexit). */
int opt_load_config(const CommandSpec *cmd, const char *path, const char *const *skip);
void opt_free_config(void);
/* The options' current values as a settings file that opt_load_config reads
 * back ("# comment", "[CMD]", "key = value" in table order; unset strings and
 * out-of-range "not set" integers left out). Length, or -1 if cap is short. */
int opt_config_text(const CommandSpec *cmd, const char *const *skip, const char *comment, char *buf, size_t cap);
const Opt *opt_find(const CommandSpec *cmd, const char *name);
int opt_given(const CommandSpec *cmd, const char *name);

/* Strict parsers shared by the option table: 0 ok, -1 with a reason in why. */
int parse_long_strict(const char *s, long min, long max, long *out, const char **why);
int parse_double_strict(const char *s, double min, double max, int min_exclusive, double *out, const char **why);
int parse_hidden_list(const char *s, VaeConfig *cfg, const char **why);
int parse_channel_list(const char *s, VaeConfig *cfg, const char **why);

/* The options that choose a model's architecture, shared by `train` and
 * `layers`; every default is said here once. cli_model_finish applies the
 * defaults that depend on --arch (--hidden 400 for mlp, 256 for conv/resnet)
 * after parsing. */
extern const char *const ARCH_NAMES[];
#define CLI_HIDDEN_DEFAULT "400 (mlp), 256 (conv, resnet)"
#define OPT_ARCH(dest) {"arch", 0, OPT_CHOICE, (dest), 0, 0, 0, "mlp|conv|resnet", "mlp", \
    "encoder/decoder family (see 'vae layers' for the layer list)", ARCH_NAMES, 0}
#define OPT_HIDDEN_LIST(cfg) {"hidden", 0, OPT_HIDDEN, (cfg), 0, 0, 0, "LIST", CLI_HIDDEN_DEFAULT, \
    "fully connected layer sizes, e.g. 512,256,128 (decoder mirrored)", NULL, 0}
#define OPT_CHANNEL_LIST(cfg) {"channels", 0, OPT_CHANNELS, (cfg), 0, 0, 0, "LIST", "32,64", \
    "conv/resnet: channels of the stride-2 convolutions; image sides must be divisible by 2^entries", NULL, 0}
extern const char *const MODEL_KIND_NAMES[];
#define OPT_MODEL_KIND(name, dest) {name, 0, OPT_CHOICE, (dest), 0, 0, 0, "vae|eae", "vae", \
    "vae, or eae: the entropic autoencoder (batch-normalised code, loss alpha*R - lambda*H(z))", MODEL_KIND_NAMES, 0}
#define OPT_EAE_LAMBDA(cfg) {"lambda", 0, OPT_FLOAT, &(cfg)->lambda, 0, 1e6, 0, "L", "1", \
    "eae: weight of the entropy term (both terms are in nats)", NULL, 0}
#define OPT_EAE_KNN(cfg) {"knn", 0, OPT_INT, &(cfg)->knn, 1, 4096, 0, "K", "5", \
    "eae: k of the k-nearest-neighbour entropy estimate (must be < --batch)", NULL, 0}
#define OPT_EAE_MOMENTUM(cfg) {"bn-momentum", 0, OPT_FLOAT, &(cfg)->bn_momentum, 1e-6, 1, 0, "M", "0.1", \
    "eae: running mean/var momentum of the latent batch norm (PyTorch's convention)", NULL, 0}
/* cfg starts as cli_model_defaults(); call cli_model_finish(cmd, cfg, arch) after opt_parse */
void cli_model_defaults(VaeConfig *cfg);
void cli_model_finish(const CommandSpec *cmd, VaeConfig *cfg, int arch);
/* Refuses (a usage error naming the option) an option given for an
 * architecture or model kind that has no use for it: --channels for an mlp,
 * --activation tanh for conv/resnet, --lambda/--knn/--bn-momentum for a vae.
 * cfg as after cli_model_finish, with model and hidden_act set; 0 if none. */
int cli_model_options_fit(const CommandSpec *cmd, const VaeConfig *cfg);
/* Checks cfg (with rows/cols set) can be laid out; a usage error naming
 * the option at fault (--channels for the image size) otherwise. */
int cli_model_check(const CommandSpec *cmd, const VaeConfig *cfg);

/* Default thread count: online CPUs. */
int default_threads(void);
/* Applies the thread count to OpenBLAS. */
void set_threads(int n);

int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_reconstruct(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_latent(int argc, char **argv);
int cmd_scatter(int argc, char **argv);
int cmd_manifold(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* The image format of -o PATH (cmd_plot.c): 0 with *fmt set; else prints the
 * error and returns EXIT_USAGE (an unknown extension) or EXIT_RUNTIME (PATH
 * is a directory). fmt is an int so cli.h need not include vae/plot.h. */
int cli_plot_format(const CommandSpec *cmd, const char *path, int *fmt);

/* Shared by the commands that read a checkpoint (model_common.c), wrappers of
 * vae/loader.h that print the error and return EXIT_RUNTIME (0 on success).
 * cli_load_model: a full or weights-only checkpoint into *m, and the data
 * folder it was trained on into dataset ("" if unknown), which must hold
 * CHECKPOINT_DATASET_MAX bytes (a path is never cut short).
 * cli_pick_data: the --data value if given, else the checkpoint's, else data/mnist.
 * cli_load_test_split: the test split of dir, checked against the model's image size. */
int cli_load_model(const char *path, Vae *m, char *dataset, size_t dlen);
/* "wrote PATH" after a command wrote a picture or a file: on stdout, unless
 * stdout carries the command's data (stdout_busy) or is that very file. */
void cli_wrote(const char *path, int stdout_busy);
const char *cli_pick_data(const char *given, const char *from_ckpt);
int cli_load_test_split(IdxSplit *test, const char *dir, const Vae *m);

/* No output on an input: cli_check_output refuses (a usage error naming opt,
 * exit 2, before anything is written) an output path that is the same file
 * (device and inode) as the checkpoint `model` or a data file of `data_dir`
 * (either may be NULL); 0 when it is neither. cli_same_file: 1 when both
 * paths exist and are one file. */
int cli_check_output(const CommandSpec *cmd, const char *opt, const char *out, const char *model,
                     const char *data_dir);
int cli_same_file(const char *a, const char *b);

#endif
