/* Paths that are not readable files: a missing file and a path through a
 * regular file give the errno text, a directory says so, all prefixed by the
 * path. */
#include "test_idx_util.h"
#include "vae/idx.h"

int main(void) {
    IdxImages im;
    IdxLabels lb;
    VaeError err = {{0}};
    const char *missing = check_path("no-such-file");
    CHECK(idx_load_images(&im, missing, &err) == VAE_ERR);
    check_contains("missing", err.msg, missing);
    check_contains("missing", err.msg, "No such file or directory");
    CHECK(im.pixels == NULL);

    CHECK(idx_load_labels(&lb, check_tmpdir(), &err) == VAE_ERR);
    check_contains("directory", err.msg, check_tmpdir());
    check_contains("directory", err.msg, "is a directory");
    CHECK(idx_load_images(&im, check_tmpdir(), &err) == VAE_ERR);
    check_contains("directory", err.msg, "is a directory");

    const char *file = check_path("plain");
    CHECK(check_write(file, "x", 1) == 0);
    const char *through = check_path("plain/child");
    CHECK(idx_load_images(&im, through, &err) == VAE_ERR);
    check_contains("not a dir", err.msg, "Not a directory");
    check_contains("not a dir", err.msg, through);
    return check_done("test_idx_rejects_bad_path");
}
