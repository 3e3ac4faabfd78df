/* TensorBoard event files: TFRecord framing (uint64 length, masked CRC-32C
 * of the length, data, masked CRC-32C of the data, all little-endian) around
 * protobuf Event messages, the few fields hand-encoded:
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
 *   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3;
 *             bytes encoded_image_string = 4; }
 * (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto).
 * The first record is an Event with file_version "brain.Event:2". Each call
 * rewrites the whole file atomically (vae_write_file), so a crash never
 * leaves a torn record. */
#ifndef VAE_TFEVENTS_H
#define VAE_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), and TFRecord's mask
 * of it: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t crc32c(const void *data, size_t len);
uint32_t tfrecord_masked_crc(const void *data, size_t len);

typedef struct {
    const char *tag;
    float value;
} TbScalar;

typedef struct {
    const char *tag;
    const uint8_t *png;       /* a whole PNG file */
    size_t png_len;
    int width, height;
    int colorspace;           /* 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA */
} TbImage;

typedef struct {
    char path[4400];          /* DIR/events.out.tfevents.<seconds>.<host>[.<k> when taken] */
} TbWriter;

/* mkdir -p dir, picks the file name from the time and host name, and writes
 * the file_version record. */
int tb_open(TbWriter *w, const char *dir, VaeError *err);
/* Appends one Event at `step` holding every scalar and image. */
int tb_add(TbWriter *w, long step, double wall_time, const TbScalar *s, int n_s, const TbImage *im, int n_im,
           VaeError *err);
/* Width, height and colorspace of a PNG from its IHDR chunk; VAE_ERR when it
 * is not a PNG of 8-bit samples. */
int tb_png_info(const uint8_t *png, size_t len, int *width, int *height, int *colorspace, VaeError *err);

#endif
