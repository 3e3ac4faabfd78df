/* libFuzzer target for the checkpoint loader and every command's load path.
 *
 * Each input is parsed as a checkpoint with and without the training state;
 * anything accepted must be a consistent model (and state) and is freed; a
 * refusal must say why and leave nothing allocated. Because the CRC covers
 * the whole file, almost every mutation is refused by it, so the input is
 * parsed a second time with its CRC repaired: that reaches the range checks,
 * the tensor checks and the value checks behind it.
 *
 * Whatever loads is then written to a file and handed to every command that
 * reads a checkpoint (eval, sample, reconstruct, latent, scatter, manifold,
 * interpolate, train --resume), run in-process on a tiny 2x2-pixel data set
 * made at start-up, so the checks each command makes after loading (fixed
 * buffers, sizes, allocations) are fuzzed too. A command may refuse (exit 1
 * or 2) but must never crash. scatter, whose 300x300 PNG takes ~0.2 s to
 * encode under the sanitizers, runs once per architecture (image size, zdim,
 * hidden sizes, loss) rather than for every input, so the loader itself keeps
 * being fuzzed at speed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "cli.h"
#include "vae/checkpoint.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char work[256], data_dir[300], model_path[300];

static void check_model(const Vae *m) {
    if (!m->params || m->n_params == 0 || m->lay.n_tensors < 4) abort();
    /* touch the last moment: the block must hold 4 * n_params floats */
    volatile float last = m->adam_v[m->n_params - 1];
    (void)last;
}

/* Architectures scatter has already run on (a small open-addressing set). */
#define SEEN_SLOTS 4096
static uint64_t seen[SEEN_SLOTS];

static int first_time(const VaeConfig *c) {
    uint64_t h = 1469598103934665603ULL;
    int v[4 + VAE_MAX_HIDDEN] = {c->rows, c->cols, c->zdim, (int)c->loss};
    for (int i = 0; i < c->n_hidden; i++) v[4 + i] = c->hidden[i];
    for (int i = 0; i < 4 + c->n_hidden; i++) h = (h ^ (uint64_t)(uint32_t)v[i]) * 1099511628211ULL;
    h |= 1; /* 0 marks an empty slot */
    for (uint64_t i = h % SEEN_SLOTS, k = 0; k < SEEN_SLOTS; i = (i + 1) % SEEN_SLOTS, k++) {
        if (seen[i] == h) return 0;
        if (seen[i] == 0) {
            seen[i] = h;
            return 1;
        }
    }
    return 0; /* full: every architecture since has been seen often enough */
}

/* Both parses; returns 1 when the input loads as a model, with *epoch set to
 * its completed epochs (-1 for a weights-only checkpoint) and *cfg to its
 * architecture. */
static int parse_both(const uint8_t *data, size_t size, int *epoch, VaeConfig *cfg) {
    VaeError err;
    Vae m;
    TrainState st;
    err.msg[0] = '\0';
    *epoch = -1;
    if (checkpoint_parse(data, size, "fuzz", &m, &st, &err) == VAE_OK) {
        check_model(&m);
        if ((st.epoch_step > 0) != (st.order != NULL)) abort();
        for (uint32_t i = 0; i < st.n_order; i++)
            if (st.order[i] >= st.n_order) abort();
        if (!(st.lr > 0) || st.epoch > st.epochs || st.dataset[sizeof st.dataset - 1] != '\0') abort();
        *epoch = st.epoch;
        vae_free(&m);
        train_state_free(&st);
    } else if (m.params || st.order || err.msg[0] == '\0') {
        abort();
    }
    err.msg[0] = '\0';
    if (checkpoint_parse(data, size, "fuzz", &m, NULL, &err) == VAE_OK) {
        check_model(&m);
        *cfg = m.cfg;
        vae_free(&m);
        return 1;
    } else if (m.params || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}

/* Sets the crc32 value to the CRC vae would write (whole file, the 8 digits
 * read as '0'); 0 when the header has no place for it. */
static int repair_crc(uint8_t *b, size_t len) {
    if (len < 8) return 0;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    size_t end = hl < len - 8 ? 8 + (size_t)hl : len;
    char *at = NULL;
    for (size_t i = 8; i + 17 < end && !at; i++)
        if (memcmp(b + i, "\"crc32\":\"", 9) == 0) at = (char *)b + i + 9;
    if (!at) return 0;
    memcpy(at, "00000000", 8);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < len;) { /* crc32 takes a uInt length */
        uInt k = len - i > (1u << 30) ? (1u << 30) : (uInt)(len - i);
        crc = crc32(crc, b + i, k);
        i += k;
    }
    char digits[9];
    snprintf(digits, sizeof digits, "%08lx", crc & 0xffffffffUL);
    memcpy(at, digits, 8);
    return 1;
}

static void run(int (*cmd)(int, char **), const char *const *args) {
    char *argv[32];
    int argc = 0;
    while (args[argc] && argc < 31) {
        argv[argc] = (char *)args[argc];
        argc++;
    }
    argv[argc] = NULL;
    int rc = cmd(argc, argv);
    /* a refusal is fine; anything else (a signal, an abort) is a finding */
    if (rc != 0 && rc != EXIT_RUNTIME && rc != EXIT_USAGE) abort();
}

/* removes the files in a folder (a run folder has no subfolders) */
static void empty_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

static void run_commands(const uint8_t *data, size_t size, int epoch, const VaeConfig *cfg) {
    FILE *f = fopen(model_path, "wb");
    if (!f) abort();
    if (fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    char out[400], epochs[32];
#define OUT(name) (snprintf(out, sizeof out, "%s/%s", work, name), out)
    run(cmd_eval, (const char *const[]){"eval", "-m", model_path, "--data", data_dir, "-t", "1", NULL});
    run(cmd_sample, (const char *const[]){"sample", "-m", model_path, "-n", "3", "-o", OUT("s.png"), "-t", "1", NULL});
    run(cmd_reconstruct, (const char *const[]){"reconstruct", "-m", model_path, "--data", data_dir, "-n", "3", "-o",
                                               OUT("r.png"), "-t", "1", NULL});
    run(cmd_latent, (const char *const[]){"latent", "-m", model_path, "--data", data_dir, "-o", OUT("l.csv"), "-t",
                                          "1", NULL});
    if (first_time(cfg))
        run(cmd_scatter, (const char *const[]){"scatter", "-m", model_path, "--data", data_dir, "-o", OUT("sc.png"),
                                           "--perplexity", "1", "--iterations", "5", "--width", "300", "--height",
                                           "300", "-t", "1", NULL});
    run(cmd_manifold, (const char *const[]){"manifold", "-m", model_path, "--data", data_dir, "--steps", "2", "-o",
                                            OUT("m.png"), "-t", "1", NULL});
    run(cmd_interpolate, (const char *const[]){"interpolate", "-m", model_path, "--data", data_dir, "--steps", "2",
                                               "--from", "0", "--to", "1", "-o", OUT("i.png"), "-t", "1", NULL});
    if (epoch >= 0) {
        /* one more epoch at most, on the tiny data, in a fresh run folder */
        snprintf(epochs, sizeof epochs, "%d", epoch + 1);
        empty_folder(OUT("run"));
        run(cmd_train, (const char *const[]){"train", "--resume", model_path, "--out", OUT("run"), "--data",
                                             data_dir, "--new-data", "--epochs", epochs, "--no-images", "-t", "1",
                                             NULL});
    }
#undef OUT
}

/* IDX files of n images of 2x2 pixels (the corpus models' size) */
static void write_idx(const char *dir, const char *prefix, int n) {
    char p[400];
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, 2, 0, 0, 0, 2};
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    fwrite(hdr, 1, 16, f);
    for (int i = 0; i < 4 * n; i++) fputc((i * 37) & 255, f);
    fclose(f);
    uint8_t lh[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n};
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, prefix);
    f = fopen(p, "wb");
    if (!f) abort();
    fwrite(lh, 1, 8, f);
    for (int i = 0; i < n; i++) fputc(i % 10, f);
    fclose(f);
}

static void remove_work(void) {
    char p[400];
    snprintf(p, sizeof p, "%s/run", work);
    empty_folder(p);
    rmdir(p);
    empty_folder(data_dir);
    rmdir(data_dir);
    empty_folder(work);
    rmdir(work);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(work, sizeof work, "%s/vae-fuzz-XXXXXX", base);
    if (!mkdtemp(work)) abort();
    snprintf(data_dir, sizeof data_dir, "%s/data", work);
    snprintf(model_path, sizeof model_path, "%s/model.safetensors", work);
    if (mkdir(data_dir, 0777) != 0) abort();
    atexit(remove_work);
    write_idx(data_dir, "train", 4);
    write_idx(data_dir, "t10k", 6);
    /* the commands' reports are not what is fuzzed */
    if (!freopen("/dev/null", "w", stdout)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int epoch;
    VaeConfig cfg;
    if (parse_both(data, size, &epoch, &cfg)) run_commands(data, size, epoch, &cfg);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (repair_crc(copy, size) && memcmp(copy, data, size) != 0 && parse_both(copy, size, &epoch, &cfg))
        run_commands(copy, size, epoch, &cfg);
    free(copy);
    return 0;
}
