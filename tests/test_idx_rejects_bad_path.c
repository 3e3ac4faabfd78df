/* Paths that are not readable files: a missing file, a path through a
 * regular file and (when not root) a file without read permission give the
 * errno text, a directory says so, all prefixed by the path. */
#include "test_idx_util.h"
#include "vae/idx.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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

    /* root reads anything, so permission is only checked for other users */
    const char *locked = check_path("locked");
    CHECK(check_write(locked, "x", 1) == 0);
    CHECK(chmod(locked, 0) == 0);
    if (geteuid() != 0) {
        CHECK(idx_load_images(&im, locked, &err) == VAE_ERR);
        check_contains("no permission", err.msg, "Permission denied");
    } else {
        printf("running as root: permission-denied case not checked\n");
    }
    return check_done("test_idx_rejects_bad_path");
}
