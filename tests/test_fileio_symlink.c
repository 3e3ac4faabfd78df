/* Writing through a symbolic link must write the file it names and keep the
 * link: renaming a temp file over the path would replace the link itself
 * (and, as root, /dev/stdout). The named file is replaced atomically in its
 * own folder (temp file, fsync, rename), so a failed write leaves it whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "vae/fileio.h"

int main(void) {
    const char *target = check_path("target.txt");
    const char *link = check_path("link.txt");
    const char *dangling = check_path("dangling.txt");
    const char *missing = check_path("not-yet.txt");
    CHECK(check_write(target, "old contents that are longer", 28) == 0);
    CHECK(symlink(target, link) == 0);
    VaeError err;
    CHECK(vae_write_file(link, "new", 3, &err) == VAE_OK);
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode));
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(vae_read_file(target, &buf, &len, 1024, &err) == VAE_OK);
    CHECK(len == 3 && buf && memcmp(buf, "new", 3) == 0);
    free(buf);
    /* a link to a file that does not exist yet creates that file */
    CHECK(symlink(missing, dangling) == 0);
    CHECK(vae_write_file(dangling, "abc", 3, &err) == VAE_OK);
    CHECK(stat(missing, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 3);
    CHECK(lstat(dangling, &sb) == 0 && S_ISLNK(sb.st_mode));
    /* a link to a folder is refused like the folder itself */
    const char *dirlink = check_path("dirlink");
    CHECK(symlink(check_tmpdir(), dirlink) == 0);
    CHECK(vae_write_file(dirlink, "x", 1, &err) == VAE_ERR);
    check_contains("link to a folder", err.msg, "is a directory");
    /* a model behind a link in another folder: a write that fails part-way
       (full disk) leaves it whole; it used to be truncated in place */
    const char *real = check_path("real");
    CHECK(mkdir(real, 0777) == 0);
    char model[4200], mlink[4200];
    snprintf(model, sizeof model, "%s/model.bin", real);
    snprintf(mlink, sizeof mlink, "%s", check_path("model.link"));
    const char precious[] = "the only copy of a trained model";
    CHECK(check_write(model, precious, sizeof precious) == 0);
    CHECK(symlink(model, mlink) == 0);
    size_t big = 3u << 20; /* written in 1 MB chunks: the failure lands mid-file */
    char *data = calloc(big, 1);
    CHECK(data != NULL);
    vae_fileio_fail_after = 2;
    CHECK(vae_write_file(mlink, data, big, &err) == VAE_ERR);
    vae_fileio_fail_after = 0;
    check_contains("failed write through a link", err.msg, "No space left on device");
    CHECK(vae_read_file(model, &buf, &len, 1 << 20, &err) == VAE_OK);
    CHECK_MSG(len == sizeof precious && buf && memcmp(buf, precious, len) == 0,
              "the linked file is whole after a failed write (%zu bytes)", len);
    free(buf);
    CHECK(lstat(mlink, &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK_MSG(check_count_entries(real) == 1, "no temp file left in the target's folder");
    /* a good write replaces the file by rename (a new inode) and keeps the link */
    struct stat before;
    CHECK(stat(model, &before) == 0);
    CHECK(vae_write_file(mlink, data, big, &err) == VAE_OK);
    CHECK(stat(model, &sb) == 0 && sb.st_size == (off_t)big && sb.st_ino != before.st_ino);
    CHECK(lstat(mlink, &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(check_count_entries(real) == 1);
    free(data);
    /* a relative link is resolved from the link's own folder */
    const char *rel = check_path("rel.link");
    CHECK(symlink("real/model.bin", rel) == 0);
    CHECK(vae_write_file(rel, "rel", 3, &err) == VAE_OK);
    CHECK(stat(model, &sb) == 0 && sb.st_size == 3);
    CHECK(lstat(rel, &sb) == 0 && S_ISLNK(sb.st_mode));
    return check_done("test_fileio_symlink");
}
