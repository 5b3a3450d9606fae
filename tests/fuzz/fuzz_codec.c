/*
 * fuzz_codec.c -- libFuzzer target for the decompressors
 * (src/core/codec.c), which run on compressed record sections from
 * producers and from disk.
 *
 * The first byte picks the codec (1 gzip, 2 snappy, 3 lz4, 4 zstd; any
 * other value is taken modulo 4, so every input means something); the rest
 * is decompressed with a 1 MiB limit.  Beyond "no crash, no leak", the
 * result must be one of the documented outcomes and never larger than the
 * limit.  When decompression succeeds, the output is compressed again and
 * must round-trip.
 */
#include "core/codec.h"
#include "core/kp_assert.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_MAX_OUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int codec = data[0] >= 1 && data[0] <= 4 ? data[0] : 1 + data[0] % 4;
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = kp_decompress(codec, data + 1, size - 1, FUZZ_MAX_OUT, &out, &out_len);
    if (rc != 0) {
        KP_ASSERT(rc == KP_ECORRUPT || rc == KP_ETOOLARGE);
        KP_ASSERT(out == NULL);
        return 0;
    }
    KP_ASSERT(out_len <= FUZZ_MAX_OUT);

    uint8_t *z = NULL, *back = NULL;
    size_t zlen = 0, back_len = 0;
    KP_ASSERT(kp_compress(codec, out, out_len, &z, &zlen) == 0);
    KP_ASSERT(kp_decompress(codec, z, zlen, out_len, &back, &back_len) == 0);
    KP_ASSERT(back_len == out_len);
    KP_ASSERT(out_len == 0 || memcmp(back, out, out_len) == 0);
    kp_free(back);
    kp_free(z);
    kp_free(out);
    return 0;
}
