/*
 * test_codec.c -- the compression codecs (src/core/codec.c): round trips,
 * both snappy framings, the max_out limit against decompression bombs,
 * corrupt and random input, and allocation failure at every step.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "core/codec.h"
#include "core/kp_endian.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "test.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define MIB (1024 * 1024)

static const int all_codecs[] = { KP_CODEC_NONE, KP_CODEC_GZIP, KP_CODEC_SNAPPY,
                                  KP_CODEC_LZ4, KP_CODEC_ZSTD };
static const int real_codecs[] = { KP_CODEC_GZIP, KP_CODEC_SNAPPY, KP_CODEC_LZ4,
                                   KP_CODEC_ZSTD };
#define N_ALL (sizeof all_codecs / sizeof all_codecs[0])
#define N_REAL (sizeof real_codecs / sizeof real_codecs[0])

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = kp_malloc(n);
    CHECK(p != NULL);
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(test_rand(&s) >> 56);
    return p;
}

/* Log-like text: a few words in a random order, which compresses about 4x. */
static uint8_t *text_bytes(size_t n, uint64_t seed)
{
    static const char *words[] = { "offset ", "partition ", "kappa ", "record ", "batch ",
                                   "2024-01-01T00:00:00Z ", "key=", "value\n", "{\"id\":",
                                   "42,", "\"topic\":\"orders\"}" };
    uint8_t *p = kp_malloc(n);
    CHECK(p != NULL);
    uint64_t s = seed | 1;
    size_t i = 0;
    while (i < n) {
        const char *w = words[test_rand(&s) % (sizeof words / sizeof words[0])];
        for (size_t j = 0; w[j] && i < n; j++)
            p[i++] = (uint8_t)w[j];
    }
    return p;
}

static void check_roundtrip(int codec, const uint8_t *in, size_t n)
{
    uint8_t *z = NULL, *back = NULL;
    size_t zlen = 0, blen = 0;
    CHECK_OK(kp_compress(codec, in, n, &z, &zlen));
    /* Exactly max_out bytes is allowed; one byte fewer is refused. */
    int rc = kp_decompress(codec, z, zlen, n, &back, &blen);
    if (rc)
        test_fail(__FILE__, __LINE__, "%s: decompress %zu -> %zu bytes: %s",
                  kp_codec_name(codec), zlen, n, kp_strerror(rc));
    CHECK_EQ_INT(blen, n);
    CHECK(n == 0 || memcmp(back, in, n) == 0);
    kp_free(back);
    if (n > 0) {
        back = NULL;
        CHECK_EQ_INT(kp_decompress(codec, z, zlen, n - 1, &back, &blen), KP_ETOOLARGE);
        CHECK(back == NULL);
    }
    kp_free(z);
}

TEST(names)
{
    CHECK(strcmp(kp_codec_name(KP_CODEC_NONE), "none") == 0);
    CHECK(strcmp(kp_codec_name(KP_CODEC_GZIP), "gzip") == 0);
    CHECK(strcmp(kp_codec_name(KP_CODEC_SNAPPY), "snappy") == 0);
    CHECK(strcmp(kp_codec_name(KP_CODEC_LZ4), "lz4") == 0);
    CHECK(strcmp(kp_codec_name(KP_CODEC_ZSTD), "zstd") == 0);
    CHECK(kp_codec_name(5) == NULL);
    CHECK(kp_codec_name(-1) == NULL);
}

TEST(unknown_codec)
{
    uint8_t in[4] = { 1, 2, 3, 4 }, *out = NULL;
    size_t n;
    CHECK_EQ_INT(kp_decompress(5, in, 4, MIB, &out, &n), KP_EUNSUPPORTED);
    CHECK_EQ_INT(kp_decompress(7, in, 4, MIB, &out, &n), KP_EUNSUPPORTED);
    CHECK_EQ_INT(kp_compress(6, in, 4, &out, &n), KP_EUNSUPPORTED);
    CHECK_EQ_INT(kp_compress(-1, in, 4, &out, &n), KP_EUNSUPPORTED);
    CHECK(out == NULL);
}

TEST(roundtrip_small)
{
    static const uint8_t one[1] = { 'x' };
    static const char hello[] = "hello, kappa";
    for (size_t c = 0; c < N_ALL; c++) {
        check_roundtrip(all_codecs[c], NULL, 0);
        check_roundtrip(all_codecs[c], one, 1);
        check_roundtrip(all_codecs[c], (const uint8_t *)hello, sizeof hello - 1);
    }
}

TEST(roundtrip_large)
{
    uint64_t seed = test_seed();
    /* 1 MiB random (incompressible), 1 MiB text, and sizes around the
     * 32 KiB xerial chunk and the 64 KiB lz4 block. */
    uint8_t *rnd = random_bytes(MIB, seed);
    uint8_t *txt = text_bytes(MIB, seed + 1);
    static const size_t sizes[] = { 32767, 32768, 32769, 65536, 65537, 100000 };
    for (size_t c = 0; c < N_ALL; c++) {
        check_roundtrip(all_codecs[c], rnd, MIB);
        check_roundtrip(all_codecs[c], txt, MIB);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            check_roundtrip(all_codecs[c], txt, sizes[i]);
            check_roundtrip(all_codecs[c], rnd, sizes[i]);
        }
    }
    kp_free(rnd);
    kp_free(txt);
}

TEST(compressible_shrinks)
{
    uint8_t *txt = text_bytes(MIB, 7);
    for (size_t c = 0; c < N_REAL; c++) {
        uint8_t *z;
        size_t zlen;
        CHECK_OK(kp_compress(real_codecs[c], txt, MIB, &z, &zlen));
        CHECK(zlen < MIB / 2);
        kp_free(z);
    }
    kp_free(txt);
}

/* librdkafka writes snappy as one raw block with no framing. */
TEST(snappy_raw)
{
    uint8_t *txt = text_bytes(200000, 3);
    size_t cap = snappy_max_compressed_length(200000), zlen = cap;
    char *z = kp_malloc(cap);
    CHECK(z != NULL);
    CHECK(snappy_compress((const char *)txt, 200000, z, &zlen) == SNAPPY_OK);
    uint8_t *out;
    size_t n;
    CHECK_OK(kp_decompress(KP_CODEC_SNAPPY, (uint8_t *)z, zlen, 200000, &out, &n));
    CHECK_EQ_INT(n, 200000);
    CHECK(memcmp(out, txt, n) == 0);
    kp_free(out);
    /* The declared length alone is enough to refuse. */
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, (uint8_t *)z, zlen, 199999, &out, &n),
                 KP_ETOOLARGE);
    /* A truncated raw block. */
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, (uint8_t *)z, zlen - 1, MIB, &out, &n),
                 KP_ECORRUPT);
    kp_free(z);
    kp_free(txt);
}

/* Append a xerial chunk of in[0..n) to buf at *pos. */
static void xerial_chunk(uint8_t *buf, size_t *pos, const uint8_t *in, size_t n)
{
    size_t zlen = snappy_max_compressed_length(n);
    CHECK(snappy_compress((const char *)in, n, (char *)buf + *pos + 4, &zlen) == SNAPPY_OK);
    kp_put_be32(buf + *pos, (uint32_t)zlen);
    *pos += 4 + zlen;
}

/* Java's and kafka-python's framing, written by hand: magic, version 1,
 * compatible version 1, then [length][raw snappy] chunks of any size. */
TEST(snappy_xerial)
{
    static const size_t chunks[] = { 32768, 1, 50000, 7 };
    size_t total = 0;
    for (size_t i = 0; i < 4; i++)
        total += chunks[i];
    uint8_t *txt = text_bytes(total, 11);
    size_t cap = 16;
    for (size_t i = 0; i < 4; i++)
        cap += 4 + snappy_max_compressed_length(chunks[i]);
    uint8_t *buf = kp_malloc(cap);
    CHECK(buf != NULL);
    memcpy(buf, "\x82SNAPPY\0", 8);
    kp_put_be32(buf + 8, 1);
    kp_put_be32(buf + 12, 1);
    size_t pos = 16, off = 0;
    for (size_t i = 0; i < 4; i++) {
        xerial_chunk(buf, &pos, txt + off, chunks[i]);
        off += chunks[i];
    }

    uint8_t *out;
    size_t n;
    CHECK_OK(kp_decompress(KP_CODEC_SNAPPY, buf, pos, total, &out, &n));
    CHECK_EQ_INT(n, total);
    CHECK(memcmp(out, txt, total) == 0);
    kp_free(out);
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, buf, pos, total - 1, &out, &n), KP_ETOOLARGE);

    /* Header only: an empty stream. */
    CHECK_OK(kp_decompress(KP_CODEC_SNAPPY, buf, 16, MIB, &out, &n));
    CHECK_EQ_INT(n, 0);
    kp_free(out);
    /* A header cut short, a chunk length cut short, a chunk cut short. */
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, buf, 12, MIB, &out, &n), KP_ECORRUPT);
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, buf, 18, MIB, &out, &n), KP_ECORRUPT);
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, buf, pos - 1, MIB, &out, &n), KP_ECORRUPT);
    /* A chunk length larger than what follows. */
    uint32_t first = kp_be32(buf + 16);
    kp_put_be32(buf + 16, first + 1000000);
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, buf, pos, MIB, &out, &n), KP_ECORRUPT);
    kp_put_be32(buf + 16, 0);
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, buf, pos, MIB, &out, &n), KP_ECORRUPT);
    kp_put_be32(buf + 16, first);

    /* Our own snappy output is xerial-framed, in chunks of 32 KiB input. */
    uint8_t *z;
    size_t zlen;
    CHECK_OK(kp_compress(KP_CODEC_SNAPPY, txt, total, &z, &zlen));
    CHECK(zlen > 16 && memcmp(z, "\x82SNAPPY\0", 8) == 0);
    CHECK_EQ_INT(kp_be32(z + 8), 1);
    CHECK_EQ_INT(kp_be32(z + 12), 1);
    size_t chunk_count = 0, zpos = 16, raw_total = 0;
    while (zpos < zlen) {
        uint32_t clen = kp_be32(z + zpos);
        size_t raw;
        CHECK(snappy_uncompressed_length((const char *)z + zpos + 4, clen, &raw) == SNAPPY_OK);
        CHECK(raw <= 32768);
        raw_total += raw;
        zpos += 4 + clen;
        chunk_count++;
    }
    CHECK_EQ_INT(zpos, zlen);
    CHECK_EQ_INT(raw_total, total);
    CHECK_EQ_INT(chunk_count, (total + 32767) / 32768);
    kp_free(z);
    kp_free(buf);
    kp_free(txt);
}

/* A highly compressible 10 MiB input must be refused at 1 MiB by every
 * codec, without the decoder producing it first. */
TEST(max_out_bomb)
{
    size_t n = 10 * MIB;
    uint8_t *zeros = kp_calloc(1, n);
    CHECK(zeros != NULL);
    for (size_t c = 0; c < N_ALL; c++) {
        uint8_t *z, *out = NULL;
        size_t zlen, olen;
        CHECK_OK(kp_compress(all_codecs[c], zeros, n, &z, &zlen));
        int rc = kp_decompress(all_codecs[c], z, zlen, MIB, &out, &olen);
        if (rc != KP_ETOOLARGE)
            test_fail(__FILE__, __LINE__, "%s: %d, expected KP_ETOOLARGE",
                      kp_codec_name(all_codecs[c]), rc);
        CHECK(out == NULL);
        /* And with the limit at the size, it all comes back. */
        CHECK_OK(kp_decompress(all_codecs[c], z, zlen, n, &out, &olen));
        CHECK_EQ_INT(olen, n);
        CHECK(memcmp(out, zeros, n) == 0);
        kp_free(out);
        kp_free(z);
    }
    /* Raw snappy, as librdkafka writes it. */
    size_t zlen = snappy_max_compressed_length(n);
    char *z = kp_malloc(zlen);
    CHECK(z != NULL);
    CHECK(snappy_compress((const char *)zeros, n, z, &zlen) == SNAPPY_OK);
    uint8_t *out = NULL;
    size_t olen;
    CHECK_EQ_INT(kp_decompress(KP_CODEC_SNAPPY, (uint8_t *)z, zlen, MIB, &out, &olen),
                 KP_ETOOLARGE);
    kp_free(z);
    kp_free(zeros);
}

TEST(max_out_zero)
{
    for (size_t c = 0; c < N_ALL; c++) {
        uint8_t *z, *out;
        size_t zlen, olen;
        CHECK_OK(kp_compress(all_codecs[c], NULL, 0, &z, &zlen));
        CHECK_OK(kp_decompress(all_codecs[c], z, zlen, 0, &out, &olen));
        CHECK_EQ_INT(olen, 0);
        kp_free(out);
        kp_free(z);
        CHECK_OK(kp_compress(all_codecs[c], (const uint8_t *)"a", 1, &z, &zlen));
        CHECK_EQ_INT(kp_decompress(all_codecs[c], z, zlen, 0, &out, &olen), KP_ETOOLARGE);
        kp_free(z);
    }
}

/* Several gzip members, lz4 frames or zstd frames back to back decompress to
 * the concatenation. */
TEST(concatenated_streams)
{
    static const int codecs[] = { KP_CODEC_GZIP, KP_CODEC_LZ4, KP_CODEC_ZSTD };
    uint8_t *txt = text_bytes(90000, 5);
    for (size_t c = 0; c < 3; c++) {
        uint8_t *a, *b, *both, *out;
        size_t alen, blen, olen;
        CHECK_OK(kp_compress(codecs[c], txt, 50000, &a, &alen));
        CHECK_OK(kp_compress(codecs[c], txt + 50000, 40000, &b, &blen));
        both = kp_malloc(alen + blen + 1);
        CHECK(both != NULL);
        memcpy(both, a, alen);
        memcpy(both + alen, b, blen);
        CHECK_OK(kp_decompress(codecs[c], both, alen + blen, MIB, &out, &olen));
        CHECK_EQ_INT(olen, 90000);
        CHECK(memcmp(out, txt, 90000) == 0);
        kp_free(out);
        CHECK_EQ_INT(kp_decompress(codecs[c], both, alen + blen, 89999, &out, &olen),
                     KP_ETOOLARGE);
        /* A stray byte after the last member or frame is corrupt. */
        both[alen + blen] = 0;
        CHECK_EQ_INT(kp_decompress(codecs[c], both, alen + blen + 1, MIB, &out, &olen),
                     KP_ECORRUPT);
        kp_free(a);
        kp_free(b);
        kp_free(both);
    }
    kp_free(txt);
}

/* Frames as other producers write them: zstd without a content size
 * (streaming), lz4 with linked blocks, a content size and checksums, gzip
 * from zlib's own compress2 (a zlib header, which inflate's 15+32 also
 * takes). */
TEST(foreign_frames)
{
    uint8_t *txt = text_bytes(300000, 9);
    uint8_t *out;
    size_t olen;

    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    CHECK(cctx != NULL);
    CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
    CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 19)));
    size_t zcap = ZSTD_compressBound(300000);
    uint8_t *z = kp_malloc(zcap);
    CHECK(z != NULL);
    ZSTD_inBuffer ib = { txt, 300000, 0 };
    ZSTD_outBuffer ob = { z, zcap, 0 };
    size_t left;
    do {
        left = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
        CHECK(!ZSTD_isError(left));
    } while (left);
    ZSTD_freeCCtx(cctx);
    CHECK(ZSTD_getFrameContentSize(z, ob.pos) == ZSTD_CONTENTSIZE_UNKNOWN);
    CHECK_OK(kp_decompress(KP_CODEC_ZSTD, z, ob.pos, MIB, &out, &olen));
    CHECK_EQ_INT(olen, 300000);
    CHECK(memcmp(out, txt, olen) == 0);
    kp_free(out);
    CHECK_EQ_INT(kp_decompress(KP_CODEC_ZSTD, z, ob.pos, 299999, &out, &olen), KP_ETOOLARGE);
    kp_free(z);

    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockMode = LZ4F_blockLinked;
    prefs.frameInfo.blockSizeID = LZ4F_max4MB;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
    prefs.frameInfo.contentSize = 300000;
    zcap = LZ4F_compressFrameBound(300000, &prefs);
    z = kp_malloc(zcap);
    CHECK(z != NULL);
    size_t zlen = LZ4F_compressFrame(z, zcap, txt, 300000, &prefs);
    CHECK(!LZ4F_isError(zlen));
    CHECK_OK(kp_decompress(KP_CODEC_LZ4, z, zlen, MIB, &out, &olen));
    CHECK_EQ_INT(olen, 300000);
    CHECK(memcmp(out, txt, olen) == 0);
    kp_free(out);
    /* The content checksum catches a flipped byte in the data. */
    z[zlen / 2] ^= 0x40;
    int rc = kp_decompress(KP_CODEC_LZ4, z, zlen, MIB, &out, &olen);
    CHECK(rc == KP_ECORRUPT || rc == KP_ETOOLARGE);
    kp_free(z);

    uLongf glen = compressBound(300000);
    z = kp_malloc(glen);
    CHECK(z != NULL);
    CHECK(compress2(z, &glen, txt, 300000, 9) == Z_OK);
    CHECK_OK(kp_decompress(KP_CODEC_GZIP, z, glen, MIB, &out, &olen));
    CHECK_EQ_INT(olen, 300000);
    CHECK(memcmp(out, txt, olen) == 0);
    kp_free(out);
    kp_free(z);
    kp_free(txt);
}

/*
 * A zstd frame whose header asks for a 1 GiB window is refused before the
 * window is allocated.  Written by hand: magic, a descriptor with no content
 * size, a window descriptor (exponent e: windowLog 10 + e), then one last
 * raw block holding "x".
 */
TEST(zstd_window_limit)
{
    uint8_t frame[] = { 0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x09, 0x00, 0x00, 'x' };
    uint8_t *out = NULL;
    size_t olen;
    frame[5] = 10 << 3;     /* 1 MiB: fine */
    CHECK_OK(kp_decompress(KP_CODEC_ZSTD, frame, sizeof frame, MIB, &out, &olen));
    CHECK_EQ_INT(olen, 1);
    CHECK(out[0] == 'x');
    kp_free(out);
    out = NULL;
    frame[5] = 20 << 3;     /* 1 GiB */
    CHECK_EQ_INT(kp_decompress(KP_CODEC_ZSTD, frame, sizeof frame, MIB, &out, &olen),
                 KP_ETOOLARGE);
    CHECK(out == NULL);
}

/* Cut every codec's output short at several points: always KP_ECORRUPT. */
TEST(truncated)
{
    uint8_t *txt = text_bytes(100000, 17);
    for (size_t c = 0; c < N_REAL; c++) {
        uint8_t *z, *out = NULL;
        size_t zlen, olen;
        CHECK_OK(kp_compress(real_codecs[c], txt, 100000, &z, &zlen));
        size_t cuts[] = { 0, 1, 2, 5, 10, 17, zlen / 3, zlen - 5, zlen - 1 };
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            int rc = kp_decompress(real_codecs[c], z, cuts[i], MIB, &out, &olen);
            if (rc != KP_ECORRUPT)
                test_fail(__FILE__, __LINE__, "%s cut at %zu of %zu: %d, expected KP_ECORRUPT",
                          kp_codec_name(real_codecs[c]), cuts[i], zlen, rc);
            CHECK(out == NULL);
        }
        kp_free(z);
    }
    kp_free(txt);
}

static void check_garbage(int codec, const uint8_t *in, size_t n)
{
    uint8_t *out = NULL;
    size_t olen = 0;
    int rc = kp_decompress(codec, in, n, 64 * 1024, &out, &olen);
    if (rc == 0) {
        CHECK(olen <= 64 * 1024);
        kp_free(out);
        return;
    }
    if (rc != KP_ECORRUPT && rc != KP_ETOOLARGE)
        test_fail(__FILE__, __LINE__, "%s: garbage gave %d (%s)", kp_codec_name(codec), rc,
                  kp_strerror(rc));
    CHECK(out == NULL);
}

/* Random bytes, random bytes behind each format's magic, and valid output
 * with bytes flipped: an error or some output, never a crash. */
TEST(garbage)
{
    uint64_t s = test_seed() ^ 0x9e3779b97f4a7c15ULL;
    static const uint8_t magic_gzip[] = { 0x1f, 0x8b, 8, 0 };
    static const uint8_t magic_xerial[] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                            0, 0, 0, 1, 0, 0, 0, 1 };
    static const uint8_t magic_lz4[] = { 0x04, 0x22, 0x4d, 0x18 };
    static const uint8_t magic_zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
    static const struct { const uint8_t *p; size_t n; } magic[] = {
        { NULL, 0 }, { magic_gzip, 4 }, { magic_xerial, 16 }, { magic_lz4, 4 },
        { magic_zstd, 4 },
    };
    uint8_t buf[2048];
    for (int iter = 0; iter < 2000; iter++) {
        int codec = real_codecs[iter % N_REAL];
        size_t n = (size_t)(test_rand(&s) % sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(test_rand(&s) >> 56);
        check_garbage(codec, buf, n);
        if (n >= magic[codec].n && magic[codec].p) {
            memcpy(buf, magic[codec].p, magic[codec].n);
            check_garbage(codec, buf, n);
        }
    }

    uint8_t *txt = text_bytes(20000, 19);
    for (size_t c = 0; c < N_REAL; c++) {
        uint8_t *z;
        size_t zlen;
        CHECK_OK(kp_compress(real_codecs[c], txt, 20000, &z, &zlen));
        for (int iter = 0; iter < 300; iter++) {
            size_t at = (size_t)(test_rand(&s) % zlen);
            uint8_t old = z[at];
            z[at] ^= (uint8_t)(1 + test_rand(&s) % 255);
            check_garbage(real_codecs[c], z, zlen);
            z[at] = old;
        }
        kp_free(z);
    }
    kp_free(txt);
}

/* Fail the Nth allocation for every N until the call succeeds: each
 * failure must be KP_ENOMEM and leave nothing allocated (ASan checks). */
TEST(alloc_failure)
{
    uint8_t *txt = text_bytes(200000, 23);
    for (size_t c = 0; c < N_ALL; c++) {
        int codec = all_codecs[c];
        uint8_t *z = NULL, *out = NULL;
        size_t zlen, olen;
        int rc = KP_ENOMEM;
        long n;
        for (n = 0; n < 1000 && rc; n++) {
            kp_mem_fail_after(n);
            rc = kp_compress(codec, txt, 200000, &z, &zlen);
            kp_mem_fail_reset();
            if (rc && rc != KP_ENOMEM)
                test_fail(__FILE__, __LINE__, "%s compress, fail after %ld: %d",
                          kp_codec_name(codec), n, rc);
        }
        CHECK_OK(rc);
        rc = KP_ENOMEM;
        for (n = 0; n < 1000 && rc; n++) {
            kp_mem_fail_after(n);
            rc = kp_decompress(codec, z, zlen, MIB, &out, &olen);
            kp_mem_fail_reset();
            if (rc && rc != KP_ENOMEM)
                test_fail(__FILE__, __LINE__, "%s decompress, fail after %ld: %d",
                          kp_codec_name(codec), n, rc);
        }
        CHECK_OK(rc);
        CHECK_EQ_INT(olen, 200000);
        CHECK(memcmp(out, txt, olen) == 0);
        kp_free(out);
        kp_free(z);
    }
    kp_free(txt);
}

int main(void)
{
    RUN(names);
    RUN(unknown_codec);
    RUN(roundtrip_small);
    RUN(roundtrip_large);
    RUN(compressible_shrinks);
    RUN(snappy_raw);
    RUN(snappy_xerial);
    RUN(max_out_bomb);
    RUN(max_out_zero);
    RUN(concatenated_streams);
    RUN(foreign_frames);
    RUN(zstd_window_limit);
    RUN(truncated);
    RUN(garbage);
    RUN(alloc_failure);
    return test_summary();
}
