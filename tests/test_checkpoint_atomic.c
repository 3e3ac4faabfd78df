/* A checkpoint save that fails half way (injected ENOSPC) reports the error,
 * leaves the previous checkpoint loadable and unchanged, and leaves no temp
 * file in the folder. */
#include <string.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/fileio.h"

int main(void) {
    VaeError err;
    /* big enough (~7.8 MB) that the file takes several write chunks */
    VaeConfig c = {.rows = 28, .cols = 28, .zdim = 20, .n_hidden = 1, .hidden = {400},
                   .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 1.0f};
    Vae a, b, l;
    Rng r;
    CHECK(vae_init(&a, &c, &err) == VAE_OK);
    CHECK(vae_init(&b, &c, &err) == VAE_OK);
    rng_seed(&r, 1);
    vae_init_params(&a, &r);
    vae_init_params(&b, &r);
    CHECK(memcmp(a.params, b.params, a.n_params * sizeof(float)) != 0);

    const char *p = check_path("model.safetensors");
    CHECK(checkpoint_save(p, &a, NULL, &err) == VAE_OK);
    for (int when = 1; when <= 3; when++) {
        vae_fileio_fail_after = when;
        CHECK(checkpoint_save(p, &b, NULL, &err) == VAE_ERR);
        check_contains("save failure", err.msg, "No space left on device");
        vae_fileio_fail_after = 0;
        CHECK(check_count_entries(check_tmpdir()) == 1);
        CHECK(checkpoint_load(p, &l, NULL, &err) == VAE_OK);
        CHECK(l.params && memcmp(l.params, a.params, a.n_params * sizeof(float)) == 0);
        vae_free(&l);
    }
    /* and a save that succeeds replaces it */
    CHECK(checkpoint_save(p, &b, NULL, &err) == VAE_OK);
    CHECK(checkpoint_load(p, &l, NULL, &err) == VAE_OK);
    CHECK(l.params && memcmp(l.params, b.params, b.n_params * sizeof(float)) == 0);
    vae_free(&l);
    vae_free(&a);
    vae_free(&b);
    return check_done("test_checkpoint_atomic");
}
