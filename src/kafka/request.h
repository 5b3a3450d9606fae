/*
 * request.h -- the pure part of reading a request: framing, the request
 * header, and the body by schema.  No sockets and no broker state, so the
 * fuzzer (tests/fuzz/fuzz_request.c) runs exactly the code the server does.
 */
#ifndef KP_REQUEST_H
#define KP_REQUEST_H

#include "msg.h"
#include "wire.h"
#include "../core/arena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A frame is int32 size + size bytes.  Given the bytes received so far,
 * returns 1 with *size (the body length) once the prefix is complete and
 * valid, 0 when fewer than 4 bytes are there, and KP_ETOOLARGE or
 * KP_ECORRUPT for a size outside 1..max (the connection must close).
 */
int kframe_size(const uint8_t *buf, size_t len, int64_t max, int32_t *size);

typedef struct kreq_header {
    int16_t api_key, api_version;
    int32_t correlation_id;
    kstr_t client_id;
    bool flexible;
    const kapi_t *api;          /* NULL for an unknown key */
} kreq_header_t;

/*
 * Decode the request header.  Returns 0; KP_ECORRUPT (too short: close);
 * KP_ENOTFOUND (unknown API key); KP_EUNSUPPORTED (version outside the
 * advertised range: h->api is set so the caller can answer ApiVersions).
 * On 0, r is positioned at the body.
 */
int kreq_decode_header(krd_t *r, kreq_header_t *h);

/* Decode the body into a struct allocated from the arena (its limit caps
 * the memory a request can claim).  0, KP_ECORRUPT or KP_ENOMEM. */
int kreq_decode_body(krd_t *r, const kreq_header_t *h, arena_t *a, void **body);

/* The arena limit for a frame of n bytes: a small multiple of the frame. */
static inline size_t kreq_arena_limit(size_t n)
{
    return 4 * n + 65536;
}

#endif
