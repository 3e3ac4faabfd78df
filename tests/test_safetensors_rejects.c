/* The safetensors reader refuses malformed files with a message that names
 * the file and the problem: each case is a hand-written header. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/safetensors.h"

/* u64 length + header + data_len bytes of data -> parse; returns the rc */
static int parse_raw(const char *header, size_t data_len, VaeError *err) {
    size_t hl = strlen(header), len = 8 + hl + data_len;
    uint8_t *buf = calloc(len, 1);
    if (!buf) return -2;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    StFile f;
    int rc = st_parse(&f, buf, len, "t.safetensors", err);
    st_free(&f);
    free(buf);
    return rc;
}

static void expect_fail(const char *header, size_t data_len, const char *needle) {
    VaeError err;
    err.msg[0] = '\0';
    int rc = parse_raw(header, data_len, &err);
    CHECK_MSG(rc == VAE_ERR, "accepted: %s", header);
    if (rc == VAE_ERR) {
        check_contains(header, err.msg, "t.safetensors: ");
        check_contains(header, err.msg, needle);
    }
}

int main(void) {
    VaeError err;
    /* the baseline is valid, so each failure below comes from its one change */
    CHECK(parse_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &err) == VAE_OK);
    CHECK(parse_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}      ", 8, &err) == VAE_OK);
    CHECK(parse_raw("{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1,
                    &err) == VAE_OK);

    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON");
    expect_fail("[1,2,3]", 0, "not start with a JSON object");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "unexpected bytes after");
    expect_fail("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F33'");
    expect_fail("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape entry 0");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape entry 0");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "not an array");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, "dimensions");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
                "too large");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown field 'x'");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "appears twice");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing field 'shape'");
    expect_fail("{\"a\":[1]}", 8, "not an object");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12, "hold 12 bytes");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they begin");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "two non-negative integers");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8,
                "data_offsets [4, 12] beyond the 8-byte data section");
    /* a hole at the start, at the end, and an overlap */
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "bytes [0, 4)");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "bytes [4, 8) of the data section");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, "overlap");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
                8, "'a' appears twice");
    expect_fail("{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "not a string");
    expect_fail("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "'k' appears twice");
    expect_fail("{\"__metadata__\":[]}", 0, "not an object");
    expect_fail("{}", 4, "no tensors");

    /* framing: too short, length past the end, oversized header */
    uint8_t small[5] = {1, 2, 3, 4, 5};
    StFile f;
    CHECK(st_parse(&f, small, sizeof small, "t.safetensors", &err) == VAE_ERR);
    check_contains("short", err.msg, "too short");
    uint8_t past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(st_parse(&f, past, sizeof past, "t.safetensors", &err) == VAE_ERR);
    check_contains("past end", err.msg, "header length 100 runs past the end of the 16-byte file");
    uint8_t huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80};
    CHECK(st_parse(&f, huge, sizeof huge, "t.safetensors", &err) == VAE_ERR);
    check_contains("huge", err.msg, "runs past the end");
    /* NUL inside the header */
    uint8_t nul[8 + 8] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', 0, '"', ':', '1', '}'};
    CHECK(st_parse(&f, nul, sizeof nul, "t.safetensors", &err) == VAE_ERR);
    check_contains("nul", err.msg, "NUL");
    st_free(&f);
    return check_done("test_safetensors_rejects");
}
