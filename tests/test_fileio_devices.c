/* vae_write_file on existing non-regular paths writes in place: /dev/null
 * takes anything and stays a device, /dev/full reports ENOSPC cleanly. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/fileio.h"

int main(void) {
    VaeError err;
    struct stat sb;
    char data[5000];
    memset(data, 'a', sizeof data);
    if (stat("/dev/null", &sb) != 0 || !S_ISCHR(sb.st_mode)) return check_skip("test_fileio_devices", "no /dev/null");
    CHECK(vae_write_file("/dev/null", data, sizeof data, &err) == VAE_OK);
    /* still a character device: no temp file was renamed over it */
    CHECK(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode));

    if (stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode)) {
        strcpy(err.msg, "");
        CHECK(vae_write_file("/dev/full", data, sizeof data, &err) == VAE_ERR);
        check_contains("/dev/full", err.msg, "/dev/full: No space left on device");
        CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode));
    }

    /* reading a device works up to the cap: /dev/null is empty */
    uint8_t *buf;
    size_t len;
    CHECK(vae_read_file("/dev/null", &buf, &len, 100, &err) == VAE_OK && len == 0);
    if (buf) free(buf);
    /* /dev/zero never ends: the cap stops it */
    CHECK(vae_read_file("/dev/zero", &buf, &len, 10000, &err) == VAE_ERR);
    check_contains("/dev/zero", err.msg, "/dev/zero: ");
    check_contains("/dev/zero", err.msg, "limit");
    return check_done("test_fileio_devices");
}
