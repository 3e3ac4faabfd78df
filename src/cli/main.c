/* vae: train, sample and inspect variational autoencoders from the command
 * line. This file dispatches `vae <command> [options]` to the command table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vae/plot.h"
#include "vae/blas.h"
#include "vae/gemm.h"
#include "vae/conv_dnnl.h"
#include "vae/dist.h"

#ifndef VAE_VERSION
#define VAE_VERSION "dev"
#endif

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command COMMANDS[] = {
    {"data", cmd_data, "show what the loader sees in a data folder (counts, sizes, labels)"},
    {"train", cmd_train, "train a VAE; writes metrics, grids and a checkpoint each epoch"},
    {"sample", cmd_sample, "decode z ~ N(0, I) into a grid of images"},
    {"reconstruct", cmd_reconstruct, "rows of test images alternating with their reconstructions; metrics"},
    {"eval", cmd_eval, "test-set loss, reconstruction and KL of a checkpoint"},
    {"latent", cmd_latent, "latent means (and labels) of every test image, as CSV or JSON"},
    {"scatter", cmd_scatter, "2-D scatter of test-set means by label (t-SNE when zdim > 2)"},
    {"manifold", cmd_manifold, "decode a grid over the latent plane, or traversals of each dimension"},
    {"interpolate", cmd_interpolate, "decode the straight line between two test images' means"},
    {"layers", cmd_layers, "the layer list of a model or of --arch options (table or --json)"},
    {"plot", cmd_plot, "training curves of run folders, or columns of a sweep's results.csv"},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void print_help(FILE *out) {
    fprintf(out,
            "Usage: vae <command> [options]\n\n"
            "Train, sample and inspect variational autoencoders on MNIST-style data.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out,
            "\nRun 'vae <command> --help' for its options.\n"
            "Example:\n  vae train --zdim 20 --epochs 15 && vae sample -n 128 -o grid.png\n\n"
            "Other options:\n  -h, --help     show this help\n  --version      version, BLAS library and kernel set, whether bf16 runs\n");
}

int main(int argc, char **argv) {
    atexit(plot_shutdown);   /* cairo and fontconfig caches, for leak checkers */
    /* before anything else: may re-execute this binary with OpenBLAS's
       AVX-512 kernels (see vae/blas.h and README "BLAS kernels") */
    vae_blas_select_kernels(argv);
    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return 0;
    }
    /* hidden: the man page and the shell completion, generated from the
       option tables (the build writes them for `cmake --install`) */
    if (strcmp(name, "--man") == 0 || strcmp(name, "--completion") == 0) {
        CliDocCommand docs[N_COMMANDS];
        for (size_t i = 0; i < N_COMMANDS; i++) docs[i] = (CliDocCommand){COMMANDS[i].name, COMMANDS[i].run, COMMANDS[i].summary};
        int rc;
        if (name[2] == 'm') {
            rc = cli_write_man(stdout, docs, N_COMMANDS, VAE_VERSION);
        } else if (argc == 3 && strcmp(argv[2], "bash") == 0) {
            rc = cli_write_bash_completion(stdout, docs, N_COMMANDS);
        } else {
            fprintf(stderr, "vae: --completion: needs the shell: bash\n");
            return EXIT_USAGE;
        }
        if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
            fprintf(stderr, "vae: stdout: %s\n", errno ? strerror(errno) : "write error");
            return EXIT_RUNTIME;
        }
        return rc;
    }
    if (strcmp(name, "--version") == 0) {
        char kernels[256];
        vae_blas_describe(kernels, sizeof kernels);
        VaeBlasInfo b;
        vae_blas_info(&b);
        char bf16[320], conv[128], gemm[200];
        vae_bf16_describe(bf16, sizeof bf16);
        vae_dnnl_describe(conv, sizeof conv);
        vae_sgemm_describe(gemm, sizeof gemm);
        printf("vae %s\nBLAS: %s\nkernels: %s\nfp32 GEMMs: %s\n%s\nconvolutions: %s\nMPI: %s\n", VAE_VERSION, b.config,
               kernels, gemm, bf16, conv, vae_dist_library());
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(COMMANDS[i].name, name) != 0) continue;
        int rc = COMMANDS[i].run(argc - 1, argv + 1);
        /* a report lost on a full disk or a closed pipe is an error, whatever the command */
        if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
            fprintf(stderr, "vae: stdout: %s\n", errno ? strerror(errno) : "write error");
            return EXIT_RUNTIME;
        }
        return rc;
    }
    fprintf(stderr, "vae: %s: unknown command\nTry 'vae --help'.\n", name);
    return EXIT_USAGE;
}
