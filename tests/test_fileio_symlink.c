/* Writing through a symbolic link must write the file it names and keep the
 * link: renaming a temp file over the path would replace the link itself
 * (and, as root, /dev/stdout). */
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
    return check_done("test_fileio_symlink");
}
