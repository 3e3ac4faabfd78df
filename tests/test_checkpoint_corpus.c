/* The committed fuzz seeds and regression inputs for the checkpoint loader
 * (tests/fuzz/corpus/checkpoint): "valid-state*" loads with its training
 * state, "valid-*" loads as a model, "bad-*" is refused with a message. This
 * also keeps the seeds in step with the format. "*-v1" and "*-v2" are files
 * of older format versions (v1: "vae-mlp", before the layer list), which
 * must keep loading; "*-conv" and "*-resnet" are small conv and resnet
 * checkpoints (4-d weights, the layer list in the metadata), "*-cond-*" and
 * "*-eae-*" conditional models and entropic autoencoders (2x2 images, as
 * the fuzzer's data set). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/fileio.h"

int main(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/checkpoint", check_source_dir());
    DIR *d = opendir(dir);
    if (!d) return check_skip("test_checkpoint_corpus", "corpus folder not found (set VAE_SOURCE_DIR)");
    int valid = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        int is_valid = strncmp(nm, "valid-", 6) == 0, is_bad = strncmp(nm, "bad-", 4) == 0;
        if (!is_valid && !is_bad) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        uint8_t *buf;
        size_t len;
        VaeError err;
        if (!CHECK(vae_read_file(path, &buf, &len, 1 << 24, &err) == VAE_OK)) continue;
        Vae m;
        TrainState st;
        err.msg[0] = '\0';
        int want_state = strncmp(nm, "valid-state", 11) == 0;
        int rc = checkpoint_parse(buf, len, nm, &m, want_state ? &st : NULL, &err);
        if (is_valid) {
            valid++;
            CHECK_MSG(rc == VAE_OK, "%s: %s", nm, err.msg);
            if (rc == VAE_OK) {
                CHECK(m.params != NULL && m.n_params > 0);
                vae_free(&m);
                if (want_state) train_state_free(&st);
            }
        } else {
            bad++;
            CHECK_MSG(rc == VAE_ERR, "%s was accepted", nm);
            if (rc == VAE_OK) vae_free(&m);
            check_contains(nm, err.msg, nm);
            CHECK(m.params == NULL);
        }
        free(buf);
    }
    closedir(d);
    CHECK(valid >= 2 && bad >= 3);
    return check_done("test_checkpoint_corpus");
}
