/* libFuzzer target for the IDX reader: the input is handed to both
 * idx_parse_images and idx_parse_labels (raw or gzip); anything accepted must
 * have a consistent shape and is freed. */
#include <stdint.h>
#include <stdlib.h>

#include "vae/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    VaeError err;
    IdxImages im;
    if (idx_parse_images(&im, data, size, "fuzz", &err) == VAE_OK) {
        if (!im.pixels || im.count == 0 || im.rows == 0 || im.cols == 0) abort();
        /* touch the last pixel: the buffer must really be count*rows*cols long */
        volatile uint8_t last = im.pixels[(size_t)im.count * im.rows * im.cols - 1];
        (void)last;
        idx_images_free(&im);
    } else if (im.pixels || err.msg[0] == '\0') {
        abort();
    }
    IdxLabels lb;
    if (idx_parse_labels(&lb, data, size, "fuzz", &err) == VAE_OK) {
        if (!lb.labels || lb.count == 0) abort();
        volatile uint8_t last = lb.labels[lb.count - 1];
        (void)last;
        idx_labels_free(&lb);
    } else if (lb.labels) {
        abort();
    }
    return 0;
}
