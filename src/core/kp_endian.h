/*
 * kp_endian.h -- big-endian loads and stores for the Kafka wire format and
 * kappa's on-disk index files.  memcpy keeps them alignment-safe; compilers
 * turn each into a single load plus bswap.
 */
#ifndef KP_ENDIAN_H
#define KP_ENDIAN_H

#include <stdint.h>
#include <string.h>

static inline uint16_t kp_be16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}

static inline uint32_t kp_be32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

static inline uint64_t kp_be64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline void kp_put_be16(void *p, uint16_t v)
{
    v = __builtin_bswap16(v);
    memcpy(p, &v, 2);
}

static inline void kp_put_be32(void *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

static inline void kp_put_be64(void *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

#endif
