/*
 * codec.c -- gzip, snappy, lz4 and zstd for RecordBatch record sections,
 * on top of Debian's zlib, snappy (C API), liblz4 (frame API) and libzstd.
 *
 * Decompression reads bytes that came off the network or a disk, so it is
 * written against a hostile peer:
 *
 *   (1) Our output buffer never holds more than max_out + 1 bytes.  It grows
 *       geometrically and is capped at that limit; the extra byte is how a
 *       streaming decoder shows it has more than max_out to give, which is
 *       refused with KP_ETOOLARGE.  Snappy declares its length up front, so
 *       it is checked before anything is allocated.
 *   (2) The libraries' own working memory is bounded by constants, not by
 *       the input: lz4 blocks are at most 4 MiB, and zstd windows are capped
 *       (codec_zstd_window_log) so a 20-byte frame header cannot demand a
 *       128 MiB window.
 *   (3) Malformed input, including truncation and trailing bytes after the
 *       last gzip member or frame, is KP_ECORRUPT and never a crash.
 *   (4) zlib, zstd and lz4 allocate through kp_malloc (their custom-allocator
 *       hooks), so fault injection reaches their failure paths too.  Only
 *       snappy allocates on its own (C++ new, a few KiB of scratch).
 *
 * Compression output is what every Kafka client reads: gzip with a gzip
 * header, snappy in xerial framing with 32 KiB chunks (as Java writes it),
 * lz4 frames with independent 64 KiB blocks (the only kind Java's
 * KafkaLZ4BlockInputStream accepts), and a single zstd frame.
 */
#define ZSTD_STATIC_LINKING_ONLY      /* ZSTD_create[CD]Ctx_advanced: custom allocator */
#define LZ4F_STATIC_LINKING_ONLY      /* LZ4F_createDecompressionContext_advanced */

#include "codec.h"
#include "kp_endian.h"
#include "kp_error.h"
#include "kp_mem.h"

#include <limits.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define CODEC_OUT_MIN           4096
#define CODEC_XERIAL_HEADER     16
#define CODEC_XERIAL_CHUNK      (32 * 1024)
#define CODEC_ZSTD_WINDOW_MIN   23    /* 8 MiB: covers zstd levels 1..19 without a content size */

static const uint8_t codec_xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };
static const uint8_t codec_empty[1];

const char *kp_codec_name(int codec)
{
    switch (codec) {
    case KP_CODEC_NONE:   return "none";
    case KP_CODEC_GZIP:   return "gzip";
    case KP_CODEC_SNAPPY: return "snappy";
    case KP_CODEC_LZ4:    return "lz4";
    case KP_CODEC_ZSTD:   return "zstd";
    default:              return NULL;
    }
}

/* ---- allocator hooks ------------------------------------------------------ */

static voidpf codec_zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return kp_calloc(items, size);
}

static void codec_zlib_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    kp_free(p);
}

static void *codec_lib_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return kp_malloc(size);
}

static void codec_lib_free(void *opaque, void *p)
{
    (void)opaque;
    kp_free(p);
}

static const ZSTD_customMem codec_zstd_mem = { codec_lib_alloc, codec_lib_free, NULL };
static const LZ4F_CustomMem codec_lz4_mem = { codec_lib_alloc, NULL, codec_lib_free, NULL };

/* ---- the growing output buffer -------------------------------------------- */

typedef struct codec_out {
    uint8_t *p;
    size_t len, cap;
    size_t first;       /* what the first allocation guesses (still capped) */
    size_t limit;       /* max_out + 1: the byte that proves "too large" */
    size_t max_out;
} codec_out_t;

static void codec_out_init(codec_out_t *o, size_t max_out, size_t first)
{
    o->p = NULL;
    o->len = o->cap = 0;
    o->first = first;
    o->max_out = max_out;
    o->limit = max_out < SIZE_MAX ? max_out + 1 : SIZE_MAX;
}

/*
 * Make at least `need` free bytes (1 for streaming decoders, which fill
 * whatever they are given).  Doubles the capacity, capped at the limit;
 * KP_ETOOLARGE when the cap is already reached and full.
 */
static int codec_out_room(codec_out_t *o, size_t need)
{
    if (o->p && o->cap - o->len >= need)
        return 0;
    if (need > o->limit - o->len)
        return KP_ETOOLARGE;
    size_t want = o->len + need;
    size_t cap;
    if (!o->p) {
        cap = o->first < CODEC_OUT_MIN ? CODEC_OUT_MIN : o->first;
    } else {
        cap = o->cap <= SIZE_MAX / 2 ? o->cap * 2 : SIZE_MAX;
    }
    if (cap < want)
        cap = want;
    if (cap > o->limit)
        cap = o->limit;
    uint8_t *p = kp_realloc(o->p, cap);
    if (!p)
        return KP_ENOMEM;
    o->p = p;
    o->cap = cap;
    return 0;
}

/* Hand the buffer to the caller, or free it on error. */
static int codec_out_finish(codec_out_t *o, int rc, uint8_t **out, size_t *out_len)
{
    if (rc == 0 && o->len > o->max_out)
        rc = KP_ETOOLARGE;
    if (rc == 0 && !o->p) {
        o->p = kp_malloc(1);
        if (!o->p)
            rc = KP_ENOMEM;
    }
    if (rc) {
        kp_free(o->p);
        o->p = NULL;
        return rc;
    }
    *out = o->p;
    *out_len = o->len;
    return 0;
}

/* A first guess at the decompressed size: compressed Kafka batches of
 * text-like records usually shrink 3-5x. */
static size_t codec_out_hint(size_t in_len)
{
    return in_len <= SIZE_MAX / 4 ? in_len * 4 : SIZE_MAX;
}

/* ---- gzip ----------------------------------------------------------------- */

/*
 * Several gzip members back to back decompress to their concatenation
 * (RFC 1952 2.2, and what Java's GZIPInputStream does).  Anything after the
 * last member that is not another member is corrupt.
 */
static int codec_gzip_decompress(const uint8_t *in, size_t in_len, codec_out_t *o)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = codec_zlib_alloc;
    zs.zfree = codec_zlib_free;
    int zrc = inflateInit2(&zs, 15 + 32);
    if (zrc != Z_OK)
        return zrc == Z_MEM_ERROR ? KP_ENOMEM : KP_ECORRUPT;

    int rc = 0;
    size_t in_pos = 0;
    for (;;) {
        rc = codec_out_room(o, 1);
        if (rc)
            break;
        size_t in_avail = in_len - in_pos;
        size_t out_avail = o->cap - o->len;
        zs.next_in = (Bytef *)(uintptr_t)(in + in_pos);
        zs.avail_in = in_avail > UINT_MAX ? UINT_MAX : (uInt)in_avail;
        zs.next_out = o->p + o->len;
        zs.avail_out = out_avail > UINT_MAX ? UINT_MAX : (uInt)out_avail;
        uInt given_in = zs.avail_in, given_out = zs.avail_out;

        zrc = inflate(&zs, Z_NO_FLUSH);
        in_pos += given_in - zs.avail_in;
        o->len += given_out - zs.avail_out;

        if (zrc == Z_STREAM_END) {
            if (in_pos == in_len)
                break;
            /* Another member must start with the gzip magic; zlib would
             * otherwise take a zlib or raw header here too. */
            if (in_len - in_pos < 2 || in[in_pos] != 0x1f || in[in_pos + 1] != 0x8b) {
                rc = KP_ECORRUPT;
                break;
            }
            if (inflateReset(&zs) != Z_OK) {
                rc = KP_ECORRUPT;
                break;
            }
            continue;
        }
        if (zrc == Z_MEM_ERROR) {
            rc = KP_ENOMEM;
            break;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = KP_ECORRUPT;       /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            break;
        }
        /* No input left and room left over: the stream was cut short. */
        if (in_pos == in_len && zs.avail_out > 0) {
            rc = KP_ECORRUPT;
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}

static int codec_gzip_compress(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = codec_zlib_alloc;
    zs.zfree = codec_zlib_free;
    int zrc = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                           Z_DEFAULT_STRATEGY);
    if (zrc != Z_OK)
        return zrc == Z_MEM_ERROR ? KP_ENOMEM : KP_EINVAL;

    /* deflateBound() takes a uLong; on LP64 that is size_t. */
    size_t cap = deflateBound(&zs, (uLong)in_len);
    uint8_t *buf = kp_malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return KP_ENOMEM;
    }
    size_t in_pos = 0, out_pos = 0;
    int rc = 0;
    for (;;) {
        size_t in_avail = in_len - in_pos, out_avail = cap - out_pos;
        zs.next_in = (Bytef *)(uintptr_t)(in + in_pos);
        zs.avail_in = in_avail > UINT_MAX ? UINT_MAX : (uInt)in_avail;
        zs.next_out = buf + out_pos;
        zs.avail_out = out_avail > UINT_MAX ? UINT_MAX : (uInt)out_avail;
        uInt given_in = zs.avail_in, given_out = zs.avail_out;
        int flush = in_avail == given_in ? Z_FINISH : Z_NO_FLUSH;

        zrc = deflate(&zs, flush);
        in_pos += given_in - zs.avail_in;
        out_pos += given_out - zs.avail_out;
        if (zrc == Z_STREAM_END)
            break;
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = KP_EINVAL;
            break;
        }
        if (out_pos == cap) {
            rc = KP_EINVAL;     /* deflateBound() is a promise; never here */
            break;
        }
    }
    deflateEnd(&zs);
    if (rc) {
        kp_free(buf);
        return rc;
    }
    *out = buf;
    *out_len = out_pos;
    return 0;
}

/* ---- snappy --------------------------------------------------------------- */

/* One raw snappy block appended to o; its declared length is checked
 * against the limit before any room is made. */
static int codec_snappy_block(const uint8_t *in, size_t in_len, codec_out_t *o)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, in_len, &n) != SNAPPY_OK)
        return KP_ECORRUPT;
    if (n > o->max_out - o->len)
        return KP_ETOOLARGE;
    if (n == 0) {
        /* Still a stream to validate: a zero length with trailing bytes. */
        return snappy_validate_compressed_buffer((const char *)in, in_len) == SNAPPY_OK
               ? 0 : KP_ECORRUPT;
    }
    int rc = codec_out_room(o, n);
    if (rc)
        return rc;
    size_t got = n;
    if (snappy_uncompress((const char *)in, in_len, (char *)o->p + o->len, &got) != SNAPPY_OK
        || got != n)
        return KP_ECORRUPT;
    o->len += n;
    return 0;
}

/*
 * xerial framing: the 16-byte header (magic, version, compatible version;
 * the versions are not checked, as librdkafka does not), then chunks of
 * [int32 BE compressed length][raw snappy].  Otherwise the input is one raw
 * snappy block, as librdkafka writes it.
 */
static int codec_snappy_decompress(const uint8_t *in, size_t in_len, codec_out_t *o)
{
    if (in_len < sizeof codec_xerial_magic
        || memcmp(in, codec_xerial_magic, sizeof codec_xerial_magic) != 0) {
        o->first = 0;   /* the exact size is known: no guessed first allocation */
        return codec_snappy_block(in, in_len, o);
    }
    if (in_len < CODEC_XERIAL_HEADER)
        return KP_ECORRUPT;
    size_t pos = CODEC_XERIAL_HEADER;
    while (pos < in_len) {
        if (in_len - pos < 4)
            return KP_ECORRUPT;
        uint32_t chunk = kp_be32(in + pos);
        pos += 4;
        if (chunk == 0 || chunk > in_len - pos)
            return KP_ECORRUPT;
        int rc = codec_snappy_block(in + pos, chunk, o);
        if (rc)
            return rc;
        pos += chunk;
    }
    return 0;
}

static int codec_snappy_compress(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    size_t chunks = in_len / CODEC_XERIAL_CHUNK + (in_len % CODEC_XERIAL_CHUNK != 0);
    size_t per_chunk = 4 + snappy_max_compressed_length(CODEC_XERIAL_CHUNK);
    if (chunks > (SIZE_MAX - CODEC_XERIAL_HEADER) / per_chunk)
        return KP_ETOOLARGE;
    size_t cap = CODEC_XERIAL_HEADER + chunks * per_chunk;
    uint8_t *buf = kp_malloc(cap);
    if (!buf)
        return KP_ENOMEM;

    /* Version 1, compatible version 1: what xerial's SnappyOutputStream writes. */
    memcpy(buf, codec_xerial_magic, sizeof codec_xerial_magic);
    kp_put_be32(buf + 8, 1);
    kp_put_be32(buf + 12, 1);
    size_t pos = CODEC_XERIAL_HEADER;
    for (size_t off = 0; off < in_len; off += CODEC_XERIAL_CHUNK) {
        size_t n = in_len - off < CODEC_XERIAL_CHUNK ? in_len - off : CODEC_XERIAL_CHUNK;
        size_t clen = cap - pos - 4;
        if (snappy_compress((const char *)in + off, n, (char *)buf + pos + 4, &clen)
            != SNAPPY_OK) {
            kp_free(buf);
            return KP_EINVAL;
        }
        kp_put_be32(buf + pos, (uint32_t)clen);
        pos += 4 + clen;
    }
    *out = buf;
    *out_len = pos;
    return 0;
}

/* ---- lz4 ------------------------------------------------------------------ */

/* Frames back to back decompress to their concatenation, as lz4(1) does. */
static int codec_lz4_decompress(const uint8_t *in, size_t in_len, codec_out_t *o)
{
    LZ4F_dctx *dctx = LZ4F_createDecompressionContext_advanced(codec_lz4_mem, LZ4F_VERSION);
    if (!dctx)
        return KP_ENOMEM;
    int rc = 0;
    size_t in_pos = 0;
    for (;;) {
        rc = codec_out_room(o, 1);
        if (rc)
            break;
        size_t src = in_len - in_pos, dst = o->cap - o->len;
        size_t dst_given = dst;
        size_t hint = LZ4F_decompress(dctx, o->p + o->len, &dst, in + in_pos, &src, NULL);
        if (LZ4F_isError(hint)) {
            rc = LZ4F_getErrorCode(hint) == LZ4F_ERROR_allocation_failed
                 ? KP_ENOMEM : KP_ECORRUPT;
            break;
        }
        in_pos += src;
        o->len += dst;
        if (hint == 0) {            /* a frame ended */
            if (in_pos == in_len)
                break;
            continue;
        }
        if (in_pos == in_len && dst < dst_given) {
            rc = KP_ECORRUPT;       /* wants more input than there is */
            break;
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static int codec_lz4_compress(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    size_t cap = LZ4F_compressFrameBound(in_len, &prefs);
    if (LZ4F_isError(cap))
        return KP_ETOOLARGE;
    uint8_t *buf = kp_malloc(cap);
    if (!buf)
        return KP_ENOMEM;
    size_t n = LZ4F_compressFrame(buf, cap, in, in_len, &prefs);
    if (LZ4F_isError(n)) {
        kp_free(buf);
        return KP_EINVAL;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* ---- zstd ----------------------------------------------------------------- */

/*
 * The largest window a frame may ask for.  zstd allocates the window when
 * it reads a frame header, before any output, so the cap is what bounds a
 * hostile frame's cost.  A frame never needs a window larger than its
 * output, but frames without a content size (Java's zstd-jni streams)
 * declare their level's window regardless, hence the 8 MiB floor.
 */
static int codec_zstd_window_log(size_t max_out)
{
    int log = CODEC_ZSTD_WINDOW_MIN;
    while (log < ZSTD_WINDOWLOG_LIMIT_DEFAULT && ((size_t)1 << log) < max_out)
        log++;
    return log;
}

static int codec_zstd_error(size_t r)
{
    switch (ZSTD_getErrorCode(r)) {
    case ZSTD_error_memory_allocation:
        return KP_ENOMEM;
    case ZSTD_error_frameParameter_windowTooLarge:
        return KP_ETOOLARGE;
    default:
        return KP_ECORRUPT;
    }
}

/* Frames (and skippable frames) back to back decompress to their
 * concatenation, as zstd(1) does. */
static int codec_zstd_decompress(const uint8_t *in, size_t in_len, codec_out_t *o)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx_advanced(codec_zstd_mem);
    if (!dctx)
        return KP_ENOMEM;
    int rc = 0;
    size_t r = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax,
                                      codec_zstd_window_log(o->max_out));
    if (ZSTD_isError(r)) {
        rc = KP_EINVAL;
        goto done;
    }
    ZSTD_inBuffer ib = { in, in_len, 0 };
    for (;;) {
        rc = codec_out_room(o, 1);
        if (rc)
            break;
        ZSTD_outBuffer ob = { o->p, o->cap, o->len };
        r = ZSTD_decompressStream(dctx, &ob, &ib);
        o->len = ob.pos;
        if (ZSTD_isError(r)) {
            rc = codec_zstd_error(r);
            break;
        }
        if (r == 0) {               /* a frame ended and is flushed */
            if (ib.pos == ib.size)
                break;
            continue;
        }
        if (ib.pos == ib.size && ob.pos < ob.size) {
            rc = KP_ECORRUPT;       /* wants more input than there is */
            break;
        }
    }
done:
    ZSTD_freeDCtx(dctx);
    return rc;
}

static int codec_zstd_compress(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    size_t cap = ZSTD_compressBound(in_len);
    if (ZSTD_isError(cap))
        return KP_ETOOLARGE;
    ZSTD_CCtx *cctx = ZSTD_createCCtx_advanced(codec_zstd_mem);
    if (!cctx)
        return KP_ENOMEM;
    uint8_t *buf = kp_malloc(cap);
    if (!buf) {
        ZSTD_freeCCtx(cctx);
        return KP_ENOMEM;
    }
    size_t n = ZSTD_compressCCtx(cctx, buf, cap, in, in_len, ZSTD_CLEVEL_DEFAULT);
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n)) {
        kp_free(buf);
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? KP_ENOMEM : KP_EINVAL;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* ---- entry points --------------------------------------------------------- */

int kp_decompress(int codec, const uint8_t *in, size_t in_len, size_t max_out,
                  uint8_t **out, size_t *out_len)
{
    codec_out_t o;
    codec_out_init(&o, max_out, codec_out_hint(in_len));
    int rc;
    if (!in)
        in = codec_empty;       /* NULL + 0 is undefined; callers may pass (NULL, 0) */
    switch (codec) {
    case KP_CODEC_NONE:
        if (in_len > max_out)
            return KP_ETOOLARGE;
        o.first = in_len;
        rc = codec_out_room(&o, in_len);
        if (rc == 0 && in_len) {
            memcpy(o.p, in, in_len);
            o.len = in_len;
        }
        break;
    case KP_CODEC_GZIP:   rc = codec_gzip_decompress(in, in_len, &o); break;
    case KP_CODEC_SNAPPY: rc = codec_snappy_decompress(in, in_len, &o); break;
    case KP_CODEC_LZ4:    rc = codec_lz4_decompress(in, in_len, &o); break;
    case KP_CODEC_ZSTD:   rc = codec_zstd_decompress(in, in_len, &o); break;
    default:
        return KP_EUNSUPPORTED;
    }
    return codec_out_finish(&o, rc, out, out_len);
}

int kp_compress(int codec, const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    if (!in)
        in = codec_empty;
    switch (codec) {
    case KP_CODEC_NONE: {
        uint8_t *buf = kp_malloc(in_len);
        if (!buf)
            return KP_ENOMEM;
        if (in_len)
            memcpy(buf, in, in_len);
        *out = buf;
        *out_len = in_len;
        return 0;
    }
    case KP_CODEC_GZIP:   return codec_gzip_compress(in, in_len, out, out_len);
    case KP_CODEC_SNAPPY: return codec_snappy_compress(in, in_len, out, out_len);
    case KP_CODEC_LZ4:    return codec_lz4_compress(in, in_len, out, out_len);
    case KP_CODEC_ZSTD:   return codec_zstd_compress(in, in_len, out, out_len);
    default:
        return KP_EUNSUPPORTED;
    }
}
