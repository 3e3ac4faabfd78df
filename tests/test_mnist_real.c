/* The real MNIST files, when scripts/get-data.sh has fetched them into
 * $VAE_SOURCE_DIR/data/mnist: both splits load with the known sizes and first
 * labels, and the load time is printed. Skipped (exit 77) when absent. */
#include "check.h"
#include "vae/idx.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check_split(const char *dir, IdxSplitKind kind, uint32_t count, const uint8_t first[5]) {
    IdxSplit s;
    VaeError err = {{0}};
    double t0 = now_s();
    int rc = idx_load_split(&s, dir, kind, &err);
    double t = now_s() - t0;
    if (!CHECK_MSG(rc == VAE_OK, "%s", err.msg)) return;
    printf("%s split: %u images %ux%u from %s in %.3f s\n", kind == IDX_TRAIN ? "train" : "test", s.images.count,
           s.images.rows, s.images.cols, s.images_path, t);
    CHECK(s.images.count == count && s.labels.count == count);
    CHECK(s.images.rows == 28 && s.images.cols == 28);
    for (int i = 0; i < 5; i++)
        CHECK_MSG(s.labels.labels[i] == first[i], "label %d is %u, expected %u", i, s.labels.labels[i], first[i]);
    int in_range = 1;
    for (uint32_t i = 0; i < s.labels.count; i++) in_range &= s.labels.labels[i] < 10;
    CHECK_MSG(in_range, "a label outside 0..9");
    idx_split_free(&s);
}

int main(void) {
    char dir[4096], probe[4200], probe_gz[4300];
    snprintf(dir, sizeof dir, "%s/data/mnist", check_source_dir());
    snprintf(probe, sizeof probe, "%s/t10k-labels-idx1-ubyte", dir);
    snprintf(probe_gz, sizeof probe_gz, "%s.gz", probe);
    struct stat st;
    if (stat(probe, &st) != 0 && stat(probe_gz, &st) != 0)
        return check_skip("test_mnist_real", "no MNIST in data/mnist (run scripts/get-data.sh mnist)");
    const uint8_t train_first[5] = {5, 0, 4, 1, 9}, test_first[5] = {7, 2, 1, 0, 4};
    check_split(dir, IDX_TRAIN, 60000, train_first);
    check_split(dir, IDX_TEST, 10000, test_first);
    return check_done("test_mnist_real");
}
