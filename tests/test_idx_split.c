/* Loading a standard split folder: plain or .gz names (plain first), the
 * message naming the folder and plain name when both are missing, and image
 * and label counts that must agree. Failures leave the split empty. */
#include "test_idx_util.h"
#include "vae/idx.h"

#include <stdio.h>
#include <sys/stat.h>

static const char *in_dir(const char *dir, const char *name) {
    static char buf[4][4200];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

int main(void) {
    size_t len;
    VaeError err = {{0}};
    IdxSplit s;
    const char *dir = check_path("mnist");
    CHECK(mkdir(dir, 0755) == 0);

    /* nothing there yet */
    CHECK(idx_load_split(&s, dir, IDX_TRAIN, &err) == VAE_ERR);
    check_contains("missing", err.msg, in_dir(dir, "train-images-idx3-ubyte: missing (also tried .gz); run scripts/get-data.sh"));

    /* train: images gzip, labels plain */
    uint8_t *ti = tidx_make(6, 4, 3, &len);
    CHECK(tidx_write_gz(in_dir(dir, "train-images-idx3-ubyte.gz"), ti, len) == 0);
    free(ti);
    CHECK(idx_load_split(&s, dir, IDX_TRAIN, &err) == VAE_ERR);
    check_contains("labels missing", err.msg, in_dir(dir, "train-labels-idx1-ubyte: missing (also tried .gz)"));
    uint8_t *tl = tidx_make(6, 0, 0, &len);
    CHECK(check_write(in_dir(dir, "train-labels-idx1-ubyte"), tl, len) == 0);
    free(tl);
    CHECK_MSG(idx_load_split(&s, dir, IDX_TRAIN, &err) == VAE_OK, "train split: %s", err.msg);
    CHECK(s.images.count == 6 && s.images.rows == 4 && s.images.cols == 3 && s.labels.count == 6);
    CHECK(s.labels.labels && s.labels.labels[5] == 5);
    check_contains("images path", s.images_path, "train-images-idx3-ubyte.gz");
    check_contains("labels path", s.labels_path, "train-labels-idx1-ubyte");
    CHECK(strstr(s.labels_path, ".gz") == NULL);
    idx_split_free(&s);
    CHECK(s.images.pixels == NULL && s.labels.labels == NULL);

    /* the plain name wins over .gz when both exist */
    uint8_t *pi = tidx_make(6, 2, 2, &len);
    CHECK(check_write(in_dir(dir, "train-images-idx3-ubyte"), pi, len) == 0);
    free(pi);
    CHECK_MSG(idx_load_split(&s, dir, IDX_TRAIN, &err) == VAE_OK, "plain first: %s", err.msg);
    CHECK(s.images.rows == 2 && s.images.cols == 2);
    CHECK(strstr(s.images_path, ".gz") == NULL);
    idx_split_free(&s);

    /* test split: counts disagree */
    uint8_t *ei = tidx_make(5, 4, 3, &len);
    CHECK(check_write(in_dir(dir, "t10k-images-idx3-ubyte"), ei, len) == 0);
    free(ei);
    uint8_t *el = tidx_make(4, 0, 0, &len);
    CHECK(tidx_write_gz(in_dir(dir, "t10k-labels-idx1-ubyte.gz"), el, len) == 0);
    free(el);
    memset(&s, 0xab, sizeof s);
    CHECK(idx_load_split(&s, dir, IDX_TEST, &err) == VAE_ERR);
    check_contains("mismatch", err.msg, "5 images but");
    check_contains("mismatch", err.msg, "has 4 labels");
    check_contains("mismatch", err.msg, "t10k-labels-idx1-ubyte.gz");
    CHECK(s.images.pixels == NULL && s.labels.labels == NULL);

    /* a bad file inside the split reports that file */
    CHECK(check_write(in_dir(dir, "t10k-images-idx3-ubyte"), "junk", 4) == 0);
    CHECK(idx_load_split(&s, dir, IDX_TEST, &err) == VAE_ERR);
    check_contains("bad file", err.msg, in_dir(dir, "t10k-images-idx3-ubyte: not an IDX file"));
    CHECK(s.images.pixels == NULL && s.labels.labels == NULL);

    /* a folder that does not exist */
    CHECK(idx_load_split(&s, check_path("nowhere"), IDX_TEST, &err) == VAE_ERR);
    check_contains("no folder", err.msg, "nowhere/t10k-images-idx3-ubyte: missing");
    return check_done("test_idx_split");
}
