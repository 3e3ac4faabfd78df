/* vae train: parse options, handle --resume and signals, show progress, and
 * hand the work to vae_train() in the core library. */
/* realpath() is an X/Open function in glibc's headers */
#define _XOPEN_SOURCE 700
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "vae/blas.h"
#include "vae/checkpoint.h"
#include "vae/dist.h"
#include "vae/tensorboard.h"
#include "vae/idx.h"
#include "vae/progress.h"
#include "vae/train.h"

static const char *const LOSS_NAMES[] = {"bce", "mse", NULL};
static const char *const PRECISION_NAMES[] = {"fp32", "bf16", NULL};   /* VaePrecision order */
static const char *const BINARIZE_NAMES[] = {"none", "dynamic", "static", NULL};
static const char *const ACT_NAMES[] = {"relu", "tanh", NULL};

/* No output on an input: every file of the run folder that training would
 * replace (model.safetensors, metrics.csv, sample-NN.png, recon-NN.png) must
 * not be a data file or, but for the checkpoint being continued in place,
 * the resumed checkpoint. */
static int check_run_outputs(const CommandSpec *cmd, const char *out, const char *data, const char *resume) {
    DIR *d = opendir(out);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        const char *nm = e->d_name;
        size_t len = strlen(nm);
        int is_model = strcmp(nm, "model.safetensors") == 0;
        int is_output = is_model || strcmp(nm, "metrics.csv") == 0 || strcmp(nm, "best.safetensors") == 0 ||
                        strcmp(nm, "config.ini") == 0 || strcmp(nm, "curves.png") == 0 ||
                        ((strncmp(nm, "sample-", 7) == 0 || strncmp(nm, "recon-", 6) == 0) && len > 4 &&
                         strcmp(nm + len - 4, ".png") == 0);
        if (!is_output) continue;
        char path[CHECKPOINT_DATASET_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", out, nm);
        rc = cli_check_output(cmd, "--out", path, is_model ? NULL : resume, data);
    }
    closedir(d);
    return rc;
}

/* the same folder: the same file system object when both exist, else the same text */
static int same_folder(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return strcmp(a, b) == 0;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

/* SIGINT/SIGTERM are taken by one watcher thread (sigwait), never by a
 * thread that computes. oneDNN 2.x's JIT sgemm kernels point rsp at a heap
 * workspace while they run (oneDNN issue #4845, fixed in 3.11): a handler
 * run on such a thread has the kernel push its signal frame into the heap,
 * and glibc aborts on the corrupted chunk later ("corrupted size vs.
 * prev_size"). So the signals are blocked in this thread before the
 * training threads exist (the pool's, OpenMP's, which inherit the mask) and
 * the watcher waits for them. Threads that were there before (OpenBLAS's
 * server threads, MPI's) may still run on_signal; they never run oneDNN. */
static void *signal_watcher(void *arg) {
    sigset_t *set = arg;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) == 0) stop_signal = sig;
    }
    return NULL;
}

static void catch_stop_signals(void) {
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a closed terminal (SIGHUP) saves the run too, unless the user asked for
       the hang-up to be ignored (nohup, disown -h): that choice stands, and an
       ignored signal must not be blocked either, or sigwait would take it */
    struct sigaction old;
    if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_IGN) {
        sigaction(SIGHUP, &sa, NULL);
        sigaddset(&set, SIGHUP);
    }
    pthread_t tid;
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return;
    if (pthread_create(&tid, NULL, signal_watcher, &set) != 0) {
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);   /* no watcher: the handler, as before */
        return;
    }
    pthread_detach(tid);
}

typedef struct {
    int tty, json;
    int bar_shown;
    double last_draw;
    TbWriter *tb;           /* --tensorboard, or NULL */
    const char *out;        /* the run folder, where the grids are */
    int images, tb_failed;
    int cur_epoch;              /* epoch whose steps are running */
    double epoch_t0;            /* when its first step was reported (about when it started) */
    double eval_t0;             /* when its last step was reported: evaluation starts */
    double epoch_secs, eval_secs;   /* measured on the last whole epoch; -1 = not yet */
    int eae;                        /* the regulariser is -H(z): print the entropy, not a KL */
} ProgressCtx;

/* Columns of the terminal on stderr: the window size, else $COLUMNS, else 80. */
static int term_width(void) {
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    long v;
    const char *why;
    if (c && parse_long_strict(c, 1, 10000, &v, &why) == 0) return (int)v;
    return 80;
}

static void draw(ProgressCtx *c, const TrainProgress *p, int evaluating) {
    ProgressView v = {*p, -1, evaluating};
    double now = vae_now_seconds();
    v.run_eta = progress_run_eta(p, c->eval_t0 > c->epoch_t0 ? c->eval_t0 - c->epoch_t0 : now - c->epoch_t0,
                                 c->epoch_secs, c->eval_secs);
    char line[512];
    progress_format(line, sizeof line, term_width(), &v);
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    c->bar_shown = 1;
}

static void show_progress(const TrainProgress *p, void *ctx) {
    ProgressCtx *c = ctx;
    double now = vae_now_seconds();
    if (p->epoch != c->cur_epoch) {
        c->cur_epoch = p->epoch;
        c->epoch_t0 = now;
        c->eval_t0 = 0;
    }
    if (!c->tty) return;
    /* redraw at most ten times a second, and always at an epoch's last step,
       after which the test set runs: say so, as it takes a while */
    if (now - c->last_draw < 0.1 && p->step != p->steps) return;
    c->last_draw = now;
    if (p->step == p->steps) {
        c->eval_t0 = now;
        draw(c, p, 1);
    } else {
        draw(c, p, 0);
    }
}

static void show_epoch(const TrainEpoch *e, void *ctx) {
    ProgressCtx *c = ctx;
    double now = vae_now_seconds();
    if (c->cur_epoch == e->epoch && c->eval_t0 > 0) {
        c->eval_secs = now - c->eval_t0;
        c->epoch_secs = now - c->epoch_t0;
    }
    if (c->bar_shown) fprintf(stderr, "\r\033[K");
    c->bar_shown = 0;
    fprintf(stderr, "epoch %d/%d  train %.3f", e->epoch, e->epochs, e->train_loss);
    if (e->has_val) fprintf(stderr, "  val %.3f%s", e->val.loss, e->best ? " (best)" : "");
    fprintf(stderr, "  test %.3f (recon %.3f, %s %.3f; z=mu %.3f)  %.0f img/s, %.1f s\n", e->test.loss,
            e->test.recon, c->eae ? "entropy" : "kl", c->eae ? -e->test.kl : e->test.kl, e->test.loss_mu,
            e->images_per_sec, e->seconds);
    /* a failed event file stops the logging, not the training; the exit status says so */
    VaeError err;
    if (c->tb && !c->tb_failed && tb_write_epoch(c->tb, e, c->out, c->images, &err) != VAE_OK) {
        runtime_error("%s (TensorBoard logging stopped)", err.msg);
        c->tb_failed = 1;
    }
}

/* ---- under an MPI launcher: N copies of this command, one run ----
 * Until the ranks agree to train, each rank's stderr goes to a temporary
 * file; then the lowest failing rank's text (or rank 0's) is printed once,
 * by rank 0, and every rank exits with that rank's code: a usage error, a
 * missing file on one node or a bad option in one rank's command line stops
 * them all the same way, and none is left waiting in a collective. */
typedef struct {
    VaeDist dist;
    FILE *tmp;                  /* the captured stderr, or NULL */
    int saved_fd;               /* the real stderr */
    int agreed;                 /* the ranks agreed (once per run) */
} Launch;

static void capture_start(Launch *L) {
    L->tmp = NULL;
    if (L->dist.size <= 1) return;
    fflush(stderr);
    L->tmp = tmpfile();
    L->saved_fd = L->tmp ? dup(STDERR_FILENO) : -1;
    if (L->saved_fd < 0 || dup2(fileno(L->tmp), STDERR_FILENO) < 0) {
        if (L->saved_fd >= 0) close(L->saved_fd);
        if (L->tmp) fclose(L->tmp);
        L->tmp = NULL;   /* no capture: messages print on every rank, nothing is lost */
    }
}

/* Ends the capture and agrees on the exit code (0: every rank trains). */
static int launch_agree(Launch *L, int code) {
    if (L->agreed || L->dist.size <= 1) return code;
    L->agreed = 1;
    char text[8192] = "";
    if (L->tmp) {
        fflush(stderr);
        dup2(L->saved_fd, STDERR_FILENO);
        close(L->saved_fd);
        rewind(L->tmp);
        size_t n = fread(text, 1, sizeof text - 1, L->tmp);
        text[n] = '\0';
        fclose(L->tmp);
        L->tmp = NULL;
    }
    int agreed = vae_dist_agree_text(&L->dist, code, text, sizeof text);
    if (L->dist.rank == 0) fputs(text, stderr);
    return agreed;
}

static int train_command(int argc, char **argv, Launch *L);

int cmd_train(int argc, char **argv) {
    Launch L;
    memset(&L, 0, sizeof L);
    VaeError err;
    if (vae_dist_init(&L.dist, &argc, &argv, &err) != VAE_OK) {
        /* before MPI works, only the launcher's rank 0 speaks */
        int rank;
        vae_dist_launched(&rank);
        if (rank == 0) runtime_error("%s", err.msg);
        vae_dist_finalize(&L.dist);
        return EXIT_RUNTIME;
    }
    /* only rank 0 prints a report (--json, --help, --print-config) */
    if (L.dist.rank > 0 && !freopen("/dev/null", "w", stdout)) return EXIT_RUNTIME;
    capture_start(&L);
    int rc = train_command(argc, argv, &L);
    rc = launch_agree(&L, rc);   /* a rank that stopped before training */
    vae_dist_finalize(&L.dist);
    return rc;
}

static int train_command(int argc, char **argv, Launch *L) {
    const VaeDist *dist = &L->dist;
    const int root = dist->rank == 0;
    VaeConfig model;
    cli_model_defaults(&model);
    int loss = VAE_LOSS_BCE, arch = VAE_ARCH_MLP;
    float alpha = 1.0f, beta = 1.0f, lr = 1e-3f;
    int batch = 128, epochs = 15, threads = default_threads(), no_images = 0, json = 0, print_config = 0, force = 0, new_data = 0;
    int conditional = 0, kind = VAE_MODEL_VAE, precision = VAE_PREC_FP32;
    uint64_t seed = 1;
    long limit = 0, val = 0;
    int early_stop = 0;
    const char *data = "data/mnist", *out = "runs/default", *resume = NULL, *tensorboard = NULL, *config = NULL;
    int binarize = BINARIZE_NONE, warmup = 0, lr_decay = 0, activation = 0;
    float free_bits = 0.0f, adam_beta1 = 0.9f, adam_beta2 = 0.999f, adam_eps = 1e-8f;
    /* ranks on one machine share its cores */
    if (dist->local_size > 1) threads = threads / dist->local_size > 0 ? threads / dist->local_size : 1;
    static char threads_def[48];
    snprintf(threads_def, sizeof threads_def, "%d (cores%s)", default_threads(),
             dist->local_size > 1 ? " / ranks on this machine" : "");

    Opt opts[] = {
        {"data", 0, OPT_STRING, &data, 0, 0, 0, "DIR", "data/mnist", "data folder with the four IDX files", NULL, 0},
        {"out", 0, OPT_STRING, &out, 0, 0, 0, "DIR", "runs/default", "run folder, one run at a time (with --resume: the checkpoint's folder)", NULL, 0},
        {"zdim", 'z', OPT_INT, &model.zdim, 1, 4096, 0, "Z", "20", "latent dimensions", NULL, 0},
        OPT_ARCH(&arch),
        OPT_HIDDEN_LIST(&model),
        OPT_CHANNEL_LIST(&model),
        {"conditional", 0, OPT_FLAG, &conditional, 0, 0, 0, NULL, "off", "conditional VAE: the one-hot label (classes = max label + 1) joins the encoder's features and z", NULL, 0},
        OPT_MODEL_KIND("model", &kind),
        OPT_EAE_LAMBDA(&model),
        OPT_EAE_KNN(&model),
        OPT_EAE_MOMENTUM(&model),
        {"activation", 0, OPT_CHOICE, &activation, 0, 0, 0, "relu|tanh", "relu", "activation of the mlp's hidden layers (Burda et al.: tanh)", ACT_NAMES, 0},
        {"loss", 0, OPT_CHOICE, &loss, 0, 0, 0, "bce|mse", "bce", "reconstruction term: BCE or SSE, summed over pixels", LOSS_NAMES, 0},
        {"alpha", 0, OPT_FLOAT, &alpha, 0, 1e6, 0, "A", "1", "weight of the reconstruction term", NULL, 0},
        {"beta", 0, OPT_FLOAT, &beta, 0, 1e6, 0, "B", "1", "weight of the KL term (beta-VAE: --beta 4)", NULL, 0},
        {"lr", 0, OPT_FLOAT, &lr, 0, 10, 1, "LR", "0.001", "Adam learning rate", NULL, 0},
        {"batch", 'b', OPT_INT, &batch, 1, 1 << 16, 0, "N", "128", "mini-batch size", NULL, 0},
        {"epochs", 'e', OPT_INT, &epochs, 1, 100000, 0, "N", "15", "total epochs (with --resume: the new total)", NULL, 0},
        {"seed", 0, OPT_U64, &seed, 0, 0, 0, "S", "1", "random seed (init, shuffling, eps)", NULL, 0},
        {"threads", 't', OPT_INT, &threads, 1, 1024, 0, "N", threads_def, "CPU threads (per rank under mpirun)", NULL, 0},
        {"precision", 0, OPT_CHOICE, &precision, 0, 0, 0, "fp32|bf16", "fp32",
         "GEMM inputs in bf16 (fp32 sums, weights, Adam); needs oneDNN and AVX-512 BF16 (vae --version)",
         PRECISION_NAMES, 0},
        {"limit", 0, OPT_LONG, &limit, 1, 1L << 32, 0, "N", "all", "train on the first N training images", NULL, 0},
        {"val", 0, OPT_LONG, &val, 0, 1L << 32, 0, "N", "0", "hold out N of the training images (chosen by --seed) and report their loss each epoch; the best model goes to OUT/best.safetensors", NULL, 0},
        {"early-stop", 0, OPT_INT, &early_stop, 0, 100000, 0, "P", "0 (off)", "stop when the validation loss has not improved for P epochs (needs --val)", NULL, 0},
        {"config", 0, OPT_STRING, &config, 0, 0, 0, "FILE", "none", "read settings from an INI file: key = value, the keys being these long options; options given here win", NULL, 0},
        {"resume", 0, OPT_STRING, &resume, 0, 0, 0, "PATH", "none", "continue from a checkpoint (model, Adam, RNG, data order)", NULL, 0},
        {"tensorboard", 0, OPT_STRING, &tensorboard, 0, 0, 0, "DIR", "none", "also log every epoch to a TensorBoard event file in DIR", NULL, 0},
        {"binarize", 0, OPT_CHOICE, &binarize, 0, 0, 0, "dynamic|static|none", "none",
         "Bernoulli-sample the images: dynamic = afresh at every use, static = once; the test set once, fixed seed",
         BINARIZE_NAMES, 0},
        {"warmup", 0, OPT_INT, &warmup, 0, 100000, 0, "N", "0", "KL weight rises linearly (per step) from 0 to beta over N epochs", NULL, 0},
        {"free-bits", 0, OPT_FLOAT, &free_bits, 0, 1e6, 0, "L", "0", "per-dimension KL floor in nats: KL term = sum_j max(L, batch-mean KL_j)", NULL, 0},
        {"lr-decay", 0, OPT_FLAG, &lr_decay, 0, 0, 0, NULL, "off", "Burda's stages: stage i = 0..7 lasts 3^i epochs at lr * 10^(-i/7)", NULL, 0},
        {"adam-beta1", 0, OPT_FLOAT, &adam_beta1, 0, 0.9999999f, 1, "B1", "0.9", "Adam's first-moment decay", NULL, 0},
        {"adam-beta2", 0, OPT_FLOAT, &adam_beta2, 0, 0.9999999f, 1, "B2", "0.999", "Adam's second-moment decay", NULL, 0},
        {"adam-eps", 0, OPT_FLOAT, &adam_eps, 0, 1, 1, "E", "1e-08", "Adam's epsilon (Burda's code: 1e-4)", NULL, 0},
        {"new-data", 0, OPT_FLAG, &new_data, 0, 0, 0, NULL, "off", "with --resume: continue on another --data folder (same image size)", NULL, 0},
        {"force", 0, OPT_FLAG, &force, 0, 0, 0, NULL, "off", "start over in a run folder that holds a checkpoint, replacing it", NULL, 0},
        {"no-images", 0, OPT_FLAG, &no_images, 0, 0, 0, NULL, "off", "skip the per-epoch PNGs (sample/recon grids, curves.png)", NULL, 0},
        {"json", 0, OPT_FLAG, &json, 0, 0, 0, NULL, "off", "print one JSON object with the final metrics on stdout", NULL, 0},
        {"print-config", 0, OPT_FLAG, &print_config, 0, 0, 0, NULL, "off", "print the settings in effect (what OUT/config.ini would hold) and exit without training", NULL, 0},
        OPT_END,
    };
    CommandSpec cmd = {
        "train", "", "vae train [options]",
        "Trains a VAE with Adam: an MLP (encoder D-hidden-2Z with mu and log-variance heads,\n"
        "reparameterization, mirrored decoder with sigmoid output), or with --arch conv a convolutional\n"
        "one (per --channels entry a 4x4 stride-2 convolution + ReLU, then --hidden, mirrored with\n"
        "transposed convolutions), or --arch resnet (conv plus a residual block x + Conv3x3(ReLU(\n"
        "Conv3x3(ReLU(x)))) after each convolution and before each transposed one); 'vae layers'\n"
        "prints the layer list. The loss is reported PER IMAGE:\n"
        "  loss = alpha * R + beta * KL,  R = BCE or SSE summed over the pixels of one image,\n"
        "  KL = -1/2 sum_j (1 + log s2_j - mu_j^2 - s2_j) summed over latent dimensions,\n"
        "and every number printed is the mean of that over images. After each epoch the test set is\n"
        "evaluated (loss with a sampled z, and with z = mu), a row goes to OUT/metrics.csv, its curves\n"
        "to OUT/curves.png, grids to OUT/sample-NN.png and OUT/recon-NN.png, and the checkpoint to\n"
        "OUT/model.safetensors.\n"
        "Ctrl-C (SIGINT), SIGTERM or a hang-up (SIGHUP, unless ignored as under nohup) finishes the\n"
        "current step, saves the checkpoint and exits 130/143/129;\n"
        "continue with --resume OUT/model.safetensors. The settings in effect are written to\n"
        "OUT/config.ini, which --config reads back.\n"
        "A run folder belongs to one run: a second train into it exits 1 at once, and a folder that\n"
        "already holds a checkpoint is refused unless you --resume it or start over with --force.\n"
        "With --resume, these may differ from the checkpoint: --epochs (the new total), --lr (e.g. lower\n"
        "after a divergence), --precision (left out: the checkpoint's), --threads, --out, --no-images,\n"
        "--json, --tensorboard, and --data with --new-data. The architecture (--arch, --zdim, --hidden,\n"
        "--channels, --conditional, --model and the eae's options), --loss, --alpha, --beta, --batch,\n"
        "--seed, --limit and the schedule options must match it (they are taken from it when left out).\n"
        "Many processes, one run (MPI): mpirun -np N vae train ... (or srun) trains data-parallel;\n"
        "--batch stays the global batch, each rank takes its share of every batch (the same shuffled\n"
        "order and noise, from --seed), the gradients are summed over the ranks every step, and rank 0\n"
        "alone evaluates and writes OUT (the others write nothing). Every rank must read the same\n"
        "--data (and --resume checkpoint); a rank that fails at start-up stops all with its message.\n"
        "A checkpoint resumes under any number of ranks. --model eae trains in one process only.",
        "vae train --zdim 20 --epochs 15 --out runs/default", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    static const char *const NOT_IN_FILES[] = {"config", "resume", "json", "print-config", NULL};
    if (config && (rc = opt_load_config(&cmd, config, NOT_IN_FILES)) != 0) return rc;
    /* the channel list as given: cli_model_finish drops it when --arch is
       mlp (the default), and --resume compares it with the checkpoint's,
       whose architecture --arch may leave unsaid */
    char given_ch[128] = "";
    if (opt_given(&cmd, "channels")) {
        VaeConfig g = model;
        g.arch = VAE_ARCH_CONV;
        vae_channels_str(&g, given_ch, sizeof given_ch);
    }
    cli_model_finish(&cmd, &model, arch);
    if (new_data && !resume) return usage_error(&cmd, "--new-data", "only applies with --resume");
    if (new_data && !opt_given(&cmd, "data"))
        return usage_error(&cmd, "--new-data", "needs the new folder as --data");
    if (strlen(data) >= CHECKPOINT_DATASET_MAX)
        return usage_error(&cmd, "--data", "is %zu bytes long; a checkpoint records a data path of at most %d bytes",
                           strlen(data), CHECKPOINT_DATASET_MAX - 1);
    model.model = (VaeModelKind)kind;
    /* the class count is read from the training labels (vae_train) */
    model.n_classes = conditional ? VAE_CLASSES_FROM_DATA : 0;
    if (model.model == VAE_MODEL_EAE && model.knn >= batch)
        return usage_error(&cmd, "--knn", "%d must be below the batch size %d (the neighbours are found in the batch)",
                           model.knn, batch);
    if (model.model == VAE_MODEL_EAE && opt_given(&cmd, "beta"))
        return usage_error(&cmd, "--beta", "an entropic autoencoder has no KL term; its weight is --lambda");
    /* as a usage error before the data is read (vae_train refuses it too, exit 1) */
    if (model.model == VAE_MODEL_EAE && (warmup > 0 || free_bits > 0))
        return usage_error(&cmd, warmup > 0 ? "--warmup" : "--free-bits",
                           "weights a KL term; an entropic autoencoder has none");
    model.loss = (VaeLossKind)loss;
    model.hidden_act = activation ? VAE_ACT_TANH : VAE_ACT_RELU;
    model.alpha = alpha;
    model.beta = beta;
    /* with --resume the checkpoint's architecture and kind decide what applies
       (--arch and --model may be left out): checked against it below */
    if (!resume && (rc = cli_model_options_fit(&cmd, &model)) != 0) return rc;

    if (resume) {
        /* the checkpoint decides the model and the run's settings; options that
           contradict it are refused rather than silently ignored */
        Vae ck;
        TrainState st;
        VaeError err;
        if (checkpoint_load(resume, &ck, &st, &err) != VAE_OK) return runtime_error("%s", err.msg);
        char have[128], want[128], have_ch[128];
        vae_hidden_str(&ck.cfg, have, sizeof have);
        vae_hidden_str(&model, want, sizeof want);
        vae_channels_str(&ck.cfg, have_ch, sizeof have_ch);
        const char *bad = NULL;
        char detail[600] = "";
        const int ck_vae = ck.cfg.model != VAE_MODEL_EAE;
        if (opt_given(&cmd, "zdim") && model.zdim != ck.cfg.zdim) bad = "--zdim", snprintf(detail, sizeof detail, "zdim %d", ck.cfg.zdim);
        else if (opt_given(&cmd, "arch") && model.arch != ck.cfg.arch) bad = "--arch", snprintf(detail, sizeof detail, "arch %s", vae_arch_name(ck.cfg.arch));
        else if (opt_given(&cmd, "channels") && strcmp(have_ch, given_ch) != 0) bad = "--channels", snprintf(detail, sizeof detail, "channels %s", have_ch[0] ? have_ch : "none (mlp)");
        else if (opt_given(&cmd, "hidden") && strcmp(have, want) != 0) bad = "--hidden", snprintf(detail, sizeof detail, "hidden %s", have);
        else if (opt_given(&cmd, "conditional") && ck.cfg.n_classes == 0) bad = "--conditional", snprintf(detail, sizeof detail, "an unconditional model");
        else if (opt_given(&cmd, "model") && model.model != ck.cfg.model) bad = "--model", snprintf(detail, sizeof detail, "model %s", vae_model_name(ck.cfg.model));
        else if (ck_vae && (opt_given(&cmd, "lambda") || opt_given(&cmd, "knn") || opt_given(&cmd, "bn-momentum")))
            bad = opt_given(&cmd, "lambda") ? "--lambda" : opt_given(&cmd, "knn") ? "--knn" : "--bn-momentum",
            snprintf(detail, sizeof detail, "a vae: the option applies to --model eae only");
        else if (opt_given(&cmd, "lambda") && model.lambda != ck.cfg.lambda) bad = "--lambda", snprintf(detail, sizeof detail, "lambda %g", ck.cfg.lambda);
        else if (opt_given(&cmd, "knn") && model.knn != ck.cfg.knn) bad = "--knn", snprintf(detail, sizeof detail, "knn %d", ck.cfg.knn);
        else if (opt_given(&cmd, "bn-momentum") && model.bn_momentum != ck.cfg.bn_momentum) bad = "--bn-momentum", snprintf(detail, sizeof detail, "bn-momentum %g", ck.cfg.bn_momentum);
        else if (opt_given(&cmd, "loss") && model.loss != ck.cfg.loss) bad = "--loss", snprintf(detail, sizeof detail, "loss %s", LOSS_NAMES[ck.cfg.loss]);
        else if (opt_given(&cmd, "alpha") && alpha != ck.cfg.alpha) bad = "--alpha", snprintf(detail, sizeof detail, "alpha %g", ck.cfg.alpha);
        else if (opt_given(&cmd, "beta") && beta != ck.cfg.beta) bad = "--beta", snprintf(detail, sizeof detail, "beta %g", ck.cfg.beta);
        else if (opt_given(&cmd, "batch") && batch != st.batch) bad = "--batch", snprintf(detail, sizeof detail, "batch %d", st.batch);
        else if (opt_given(&cmd, "seed") && seed != st.seed) bad = "--seed", snprintf(detail, sizeof detail, "seed %llu", (unsigned long long)st.seed);
        else if (opt_given(&cmd, "limit") && limit != st.limit) bad = "--limit", snprintf(detail, sizeof detail, "limit %ld", st.limit);
        else if (opt_given(&cmd, "activation") && model.hidden_act != (ck.cfg.hidden_act == VAE_ACT_TANH ? VAE_ACT_TANH : VAE_ACT_RELU)) bad = "--activation", snprintf(detail, sizeof detail, "activation %s", ck.cfg.hidden_act == VAE_ACT_TANH ? "tanh" : "relu");
        else if (opt_given(&cmd, "binarize") && binarize != (int)st.binarize) bad = "--binarize", snprintf(detail, sizeof detail, "binarize %s", BINARIZE_NAMES[st.binarize]);
        else if (opt_given(&cmd, "warmup") && warmup != st.warmup) bad = "--warmup", snprintf(detail, sizeof detail, "warmup %d", st.warmup);
        else if (opt_given(&cmd, "free-bits") && free_bits != st.free_bits) bad = "--free-bits", snprintf(detail, sizeof detail, "free bits %g", st.free_bits);
        else if (opt_given(&cmd, "lr-decay") && lr_decay != st.lr_decay) bad = "--lr-decay", snprintf(detail, sizeof detail, "lr decay %s", st.lr_decay ? "on" : "off");
        else if (opt_given(&cmd, "adam-beta1") && adam_beta1 != st.adam_beta1) bad = "--adam-beta1", snprintf(detail, sizeof detail, "adam beta1 %g", st.adam_beta1);
        else if (opt_given(&cmd, "adam-beta2") && adam_beta2 != st.adam_beta2) bad = "--adam-beta2", snprintf(detail, sizeof detail, "adam beta2 %g", st.adam_beta2);
        else if (opt_given(&cmd, "adam-eps") && adam_eps != st.adam_eps) bad = "--adam-eps", snprintf(detail, sizeof detail, "adam eps %g", st.adam_eps);
        else if (opt_given(&cmd, "epochs") && epochs < st.epoch) bad = "--epochs", snprintf(detail, sizeof detail, "%d epochs already trained", st.epoch);
        else if (opt_given(&cmd, "val") && val != st.val) bad = "--val", snprintf(detail, sizeof detail, "val %ld", st.val);
        else if (opt_given(&cmd, "early-stop") && early_stop != st.early_stop) bad = "--early-stop", snprintf(detail, sizeof detail, "early-stop %d", st.early_stop);
        /* another data set changes what the model learns: only on request */
        else if (opt_given(&cmd, "data") && !new_data && st.dataset[0] && !same_folder(data, st.dataset))
            bad = "--data", snprintf(detail, sizeof detail, "it was trained on %.200s; add --new-data to continue on %.200s",
                                     st.dataset, data);
        model = ck.cfg;
        arch = (int)ck.cfg.arch;
        kind = (int)ck.cfg.model;
        conditional = ck.cfg.n_classes > 0;
        loss = (int)ck.cfg.loss;
        alpha = ck.cfg.alpha;
        beta = ck.cfg.beta;
        val = st.val;
        early_stop = st.early_stop;
        /* the learning rate may change on resume, e.g. lowered after a divergence */
        if (!opt_given(&cmd, "lr")) lr = st.lr;
        batch = st.batch;
        seed = st.seed;
        limit = st.limit;
        binarize = (int)st.binarize;
        warmup = st.warmup;
        free_bits = st.free_bits;
        lr_decay = st.lr_decay;
        adam_beta1 = st.adam_beta1;
        adam_beta2 = st.adam_beta2;
        adam_eps = st.adam_eps;
        if (!opt_given(&cmd, "epochs")) epochs = st.epochs > st.epoch ? st.epochs : st.epoch;
        /* the precision may change on resume; left out, the run goes on in its own */
        if (!opt_given(&cmd, "precision")) precision = (int)st.precision;
        if (!opt_given(&cmd, "data") && st.dataset[0]) {
            static char ds[CHECKPOINT_DATASET_MAX];
            snprintf(ds, sizeof ds, "%s", st.dataset);
            data = ds;
        }
        train_state_free(&st);
        vae_free(&ck);
        if (bad) return usage_error(&cmd, bad, "conflicts with the checkpoint %s (%s)", resume, detail);
        /* without --out, a resumed run continues in the checkpoint's own folder */
        if (!opt_given(&cmd, "out")) {
            static char dir[CHECKPOINT_DATASET_MAX];
            const char *slash = strrchr(resume, '/');
            if (!slash) snprintf(dir, sizeof dir, ".");
            else if (slash == resume) snprintf(dir, sizeof dir, "/");
            else snprintf(dir, sizeof dir, "%.*s", (int)(slash - resume), resume);
            out = dir;
        }
    }

    if (!resume) {
        /* the image size decides whether the architecture fits: check it now,
           as a usage error, rather than after loading the training set */
        IdxSplit probe = {0};
        VaeError perr;
        if (idx_load_split(&probe, data, IDX_TEST, &perr) == VAE_OK) {
            model.rows = (int)probe.images.rows;
            model.cols = (int)probe.images.cols;
            idx_split_free(&probe);
            VaeConfig chk = model;
            if (chk.n_classes == VAE_CLASSES_FROM_DATA) chk.n_classes = 10;   /* the layout's shape does not depend on it */
            if ((rc = cli_model_check(&cmd, &chk)) != 0) return rc;
        }
        /* a data folder that does not load is reported by vae_train */
    }

    if (early_stop > 0 && val == 0) return usage_error(&cmd, "--early-stop", "needs a validation split (--val N)");
    char why[200];
    if (precision == VAE_PREC_BF16 && !vae_bf16_available(why, sizeof why))
        return usage_error(&cmd, "--precision", "bf16 is not available: %s%s", why,
                           resume && !opt_given(&cmd, "precision")
                               ? " (the checkpoint trained in bf16; --precision fp32 continues in fp32)"
                               : "");
    /* the EAE's batch norm and kNN entropy see the whole batch at once */
    if (dist->size > 1 && kind == VAE_MODEL_EAE)
        return usage_error(&cmd, "--model", "eae couples the images of a batch (batch norm, nearest-neighbour entropy) "
                           "and trains in one process; run it without mpirun (%d ranks here)", dist->size);

    /* the settings in effect, for OUT/config.ini (the table points at the variables above) */
    char config_text[8192];
    /* settings that do not apply to this kind of model stay out: read back, they would be refused */
    static const char *const NOT_FOR_VAE[] = {"config", "resume", "json", "print-config", "lambda", "knn", "bn-momentum",
                                              NULL};
    static const char *const NOT_FOR_EAE[] = {"config", "resume", "json", "print-config", "beta", NULL};
    if (opt_config_text(&cmd, kind == VAE_MODEL_EAE ? NOT_FOR_EAE : NOT_FOR_VAE,
                        "the settings of this run: vae train --config FILE reads them back",
                        config_text, sizeof config_text) < 0)
        return runtime_error("internal: the settings do not fit in %zu bytes", sizeof config_text);
    if (print_config) {
        fputs(config_text, stdout);
        return 0;
    }
    /* rank 0 alone writes the run folder */
    if (root && (rc = check_run_outputs(&cmd, out, data, resume)) != 0) return rc;

    catch_stop_signals();   /* before set_threads: the threads it starts inherit the blocked mask */
    set_threads(threads);

    TbWriter tb;
    if (tensorboard && root) {
        VaeError terr;
        if (tb_open(&tb, tensorboard, &terr) != VAE_OK) return runtime_error("%s", terr.msg);
    } else {
        tensorboard = NULL;
    }
    /* every rank is ready (or all stop here with the failing rank's message) */
    if ((rc = launch_agree(L, 0)) != 0) return rc;
    ProgressCtx pc = {isatty(STDERR_FILENO), json, 0, 0, tensorboard ? &tb : NULL, out, !no_images, 0, 0, 0, 0, -1, -1, 0};
    pc.eae = model.model == VAE_MODEL_EAE;
    TrainConfig tc = {0};
    tc.model = model;
    tc.lr = lr;
    tc.batch = batch;
    tc.epochs = epochs;
    tc.seed = seed;
    tc.limit = limit;
    tc.val = val;
    tc.early_stop = early_stop;
    tc.config_text = config_text;
    tc.data_dir = data;
    /* the checkpoint records the data folder as an absolute path, so that
       `vae eval` run from another folder still finds it (--data overrides);
       a path too long for the checkpoint's field stays as given */
    static char data_abs[sizeof((TrainState *)0)->dataset];
    char *real = realpath(data, NULL);
    if (real && strlen(real) < sizeof data_abs) {
        memcpy(data_abs, real, strlen(real) + 1);
        tc.data_dir = data_abs;
    }
    free(real);
    tc.out_dir = out;
    tc.resume = resume;
    tc.binarize = binarize;
    tc.warmup = warmup;
    tc.free_bits = free_bits;
    tc.lr_decay = lr_decay;
    tc.adam_beta1 = adam_beta1;
    tc.adam_beta2 = adam_beta2;
    tc.adam_eps = adam_eps;
    tc.artifacts = !no_images;
    tc.threads = threads;
    tc.precision = (VaePrecision)precision;
    tc.force = force;
    tc.stop = &stop_signal;
    tc.on_progress = show_progress;
    tc.on_epoch = show_epoch;
    tc.ctx = &pc;
    tc.dist = dist;

    TrainResult res;
    VaeError err;
    if (vae_train(&tc, &res, &err) != VAE_OK) {
        if (pc.bar_shown) fprintf(stderr, "\n");
        /* an error every rank saw alike (start-up, a divergence): rank 0
           reports it and all exit; one rank's own error stops the others */
        if (dist->size <= 1) return runtime_error("%s", err.msg);
        if (res.collective_error) return root ? runtime_error("%s", err.msg) : EXIT_RUNTIME;
        runtime_error("%s (rank %d of %d; stopping every rank)", err.msg, dist->rank, dist->size);
        fflush(stderr);
        vae_dist_abort(dist, EXIT_RUNTIME);
        return EXIT_RUNTIME;
    }
    if (res.outcome == TRAIN_STOPPED) {
        /* the signal the ranks agreed on (a rank may have had none) */
        int sig = res.stop_signal ? res.stop_signal : (int)stop_signal;
        if (pc.bar_shown) fprintf(stderr, "\n");
        if (root)
            fprintf(stderr,
                    "vae: stopped by signal %d after epoch %d (step %ld); checkpoint saved to %s\n"
                    "resume with: vae train --resume %s --out %s\n",
                    sig, res.epoch, res.step, res.checkpoint, res.checkpoint, out);
        return 128 + sig;
    }
    /* a signal during the last epoch's evaluation (or after the last step):
       the run is complete and saved, but the user asked to stop, so the exit
       status says so (a script's `vae train ... && next` must not go on) */
    int late = res.stop_signal ? res.stop_signal : (int)stop_signal;
    if (late) {
        if (pc.bar_shown) fprintf(stderr, "\n");
        if (root)
            fprintf(stderr, "vae: stopped by signal %d after the last epoch (%d, step %ld): the run is complete; "
                    "checkpoint saved to %s\n", late, res.epoch, res.step, res.checkpoint);
        return 128 + late;
    }
    if (!root) return 0;   /* rank 0 reports */
    if (res.early_stopped)
        fprintf(stderr, "vae: %s after epoch %d: the validation loss has not improved for %d epochs; the best "
                "(epoch %d, val %.3f) is in %s/best.safetensors\n", res.epochs_run ? "stopped early" : "already stopped early",
                res.epoch, early_stop, res.best_epoch, res.best_val_loss, out);
    else if (res.epochs_run == 0)
        fprintf(stderr, "vae: %s already has %d epochs; nothing to train\n", res.checkpoint, res.epoch);
    if (pc.tb_failed) return EXIT_RUNTIME;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        const TrainEpoch *e = &res.last;
        cJSON_AddNumberToObject(o, "epochs", res.epoch);
        cJSON_AddNumberToObject(o, "step", (double)res.step);
        cJSON_AddNumberToObject(o, "loss", e->test.loss);
        cJSON_AddNumberToObject(o, "recon", e->test.recon);
        cJSON_AddNumberToObject(o, "kl", e->test.kl);
        cJSON_AddNumberToObject(o, "loss_mu", e->test.loss_mu);
        cJSON_AddNumberToObject(o, "recon_mu", e->test.recon_mu);
        cJSON_AddNumberToObject(o, "images", (double)e->test.images);
        if (res.epochs_run > 0 && e->has_val) {
            cJSON_AddNumberToObject(o, "val_loss", e->val.loss);
            cJSON_AddNumberToObject(o, "val_loss_mu", e->val.loss_mu);
        }
        if (val > 0) {
            cJSON_AddNumberToObject(o, "best_epoch", res.best_epoch);
            cJSON_AddNumberToObject(o, "best_val_loss", res.best_val_loss);
            cJSON_AddBoolToObject(o, "early_stopped", res.early_stopped);
        }
        if (res.epochs_run > 0) {
            cJSON_AddNumberToObject(o, "train_loss", e->train_loss);
            cJSON_AddNumberToObject(o, "train_recon", e->train_recon);
            cJSON_AddNumberToObject(o, "train_kl", e->train_kl);
        }
        cJSON_AddNumberToObject(o, "train_seconds", res.train_seconds);
        cJSON_AddNumberToObject(o, "train_images", (double)res.train_images);
        cJSON_AddNumberToObject(o, "train_images_per_sec",
                                res.train_seconds > 0 ? (double)res.train_images / res.train_seconds : 0);
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddStringToObject(o, "precision", vae_precision_name((VaePrecision)precision));
        cJSON_AddNumberToObject(o, "ranks", dist->size);
        if (dist->size > 1) cJSON_AddNumberToObject(o, "allreduce_seconds", res.reduce_seconds);
        VaeBlasInfo blas;
        vae_blas_info(&blas);
        cJSON_AddStringToObject(o, "blas_kernels", blas.core);
        cJSON_AddStringToObject(o, "checkpoint", res.checkpoint);
        char *txt = cJSON_PrintUnformatted(o);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        fprintf(stderr, "checkpoint: %s\n", res.checkpoint);
    }
    return 0;
}
