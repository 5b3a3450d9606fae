/*
 * codec.h -- the Kafka compression codecs: gzip, snappy, lz4, zstd.
 *
 * The numbers are the codec bits of RecordBatch attributes.  Snappy input
 * may be raw (librdkafka) or xerial-framed ("\x82SNAPPY\0", Java and
 * kafka-python); output is xerial-framed, which every client reads.  lz4 is
 * the standard LZ4 frame format.
 */
#ifndef KP_CODEC_H
#define KP_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum kp_codec {
    KP_CODEC_NONE = 0,
    KP_CODEC_GZIP = 1,
    KP_CODEC_SNAPPY = 2,
    KP_CODEC_LZ4 = 3,
    KP_CODEC_ZSTD = 4,
};

/* "none", "gzip", ...; NULL for an unknown number. */
const char *kp_codec_name(int codec);

/*
 * Decompress in[0..in_len) into a new kp_malloc'd buffer (*out, *out_len).
 * Output beyond max_out bytes is refused with KP_ETOOLARGE before it is
 * allocated, so a decompression bomb costs at most max_out bytes.
 * KP_ECORRUPT for malformed input, KP_EUNSUPPORTED for an unknown codec.
 */
int kp_decompress(int codec, const uint8_t *in, size_t in_len, size_t max_out,
                  uint8_t **out, size_t *out_len);

/* Compress into a new kp_malloc'd buffer.  KP_CODEC_NONE copies. */
int kp_compress(int codec, const uint8_t *in, size_t in_len,
                uint8_t **out, size_t *out_len);

#endif
