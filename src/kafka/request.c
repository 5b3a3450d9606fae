/*
 * request.c -- framing and request-header decoding (see request.h).
 *
 * Invariants:
 *  (1) A frame size is checked against socket.request.max.bytes before the
 *      caller allocates anything for the frame.
 *  (2) The header's client_id keeps its int16 length even in flexible
 *      header v2 (PROTOCOL.md: the trap librdkafka relies on).
 */
#include "request.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"

int kframe_size(const uint8_t *buf, size_t len, int64_t max, int32_t *size)
{
    if (len < 4)
        return 0;
    int32_t n = (int32_t)kp_be32(buf);
    if (n <= 0)
        return KP_ECORRUPT;
    if (n > max)
        return KP_ETOOLARGE;
    *size = n;
    return 1;
}

int kreq_decode_header(krd_t *r, kreq_header_t *h)
{
    h->api_key = krd_i16(r);
    h->api_version = krd_i16(r);
    h->correlation_id = krd_i32(r);
    h->client_id = KSTR_NULL;
    h->flexible = false;
    h->api = NULL;
    if (r->err)
        return KP_ECORRUPT;
    h->api = kapi_find(h->api_key);
    if (!h->api)
        return KP_ENOTFOUND;
    if (h->api_version < h->api->min_version || h->api_version > h->api->max_version)
        return KP_EUNSUPPORTED;
    h->flexible = kapi_flexible(h->api, h->api_version);
    h->client_id = krd_str(r, false, true);
    if (h->flexible)
        krd_tags(r);
    return r->err ? KP_ECORRUPT : 0;
}

int kreq_decode_body(krd_t *r, const kreq_header_t *h, arena_t *a, void **body)
{
    *body = arena_alloc(a, h->api->req->size);
    if (!*body)
        return KP_ENOMEM;
    int rc = schema_decode(h->api->req, r, h->api_version, h->flexible, a, *body);
    /* Bytes after the body mean the client and we disagree on the schema
     * (or someone pads frames to pin memory): refuse, as Kafka does. */
    if (rc == 0 && krd_left(r) > 0)
        rc = KP_ECORRUPT;
    return rc;
}
