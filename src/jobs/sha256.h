/*
 * sha256.h -- SHA-256 (FIPS 180-4), for naming job plugins by content in
 * the registry (plugin/SHA256) and checking them when materialized.
 */
#ifndef KP_JOBS_SHA256_H
#define KP_JOBS_SHA256_H

#include <stddef.h>

/* hex receives 64 lower-case hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
