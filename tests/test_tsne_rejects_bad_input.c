/* t-SNE refuses what it cannot embed, with a message: too few points, a
 * perplexity too large for the sample, non-finite input, bad settings. */
#include <math.h>

#include "check.h"
#include "vae/tsne.h"

int main(void) {
    float x[20 * 2];
    double y[20 * 2];
    for (int i = 0; i < 40; i++) x[i] = (float)(i % 7);
    TsneConfig c;
    tsne_default_config(&c);
    VaeError err = {{0}};
    CHECK(tsne_run(&c, x, 1, 2, y, NULL, &err) == VAE_ERR);
    check_contains("one point", err.msg, "at least 2 points");
    /* default perplexity 30 needs more than 90 points */
    CHECK(tsne_run(&c, x, 20, 2, y, NULL, &err) == VAE_ERR);
    check_contains("perplexity", err.msg, "perplexity 30 is out of range for 20 points");
    c.perplexity = 5;
    c.iterations = 10;
    x[7] = NAN;
    CHECK(tsne_run(&c, x, 20, 2, y, NULL, &err) == VAE_ERR);
    check_contains("nan", err.msg, "input value 7 is not finite");
    x[7] = 1;
    c.learning_rate = 0;
    CHECK(tsne_run(&c, x, 20, 2, y, NULL, &err) == VAE_ERR);
    check_contains("settings", err.msg, "invalid settings");
    c.learning_rate = 200;
    CHECK(tsne_run(&c, x, 20, 2, y, NULL, &err) == VAE_OK);
    return check_done("test_tsne_rejects_bad_input");
}
