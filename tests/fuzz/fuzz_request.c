/*
 * fuzz_request.c -- the server's request path without sockets: split the
 * input into size-prefixed frames as conn.c does, decode each request
 * header and body exactly as the server does (kafka/request.c), then encode
 * the decoded request again.  Must never crash, over-read, leak, or use more
 * memory than the arena limit allows.  Seeds are frames captured from real
 * clients (KAPPA_CAPTURE_DIR), each prefixed with its size.
 */
#include "core/arena.h"
#include "core/kp_error.h"
#include "kafka/request.h"
#include "kafka/schema.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        int32_t n;
        if (kframe_size(data + off, size - off, 1 << 20, &n) != 1)
            break;
        if ((size_t)n > size - off - 4)
            break;
        krd_t r;
        kreq_header_t h;
        krd_init(&r, data + off + 4, (size_t)n);
        if (kreq_decode_header(&r, &h) == 0) {
            arena_t a;
            void *body;
            arena_init(&a, kreq_arena_limit((size_t)n));
            if (kreq_decode_body(&r, &h, &a, &body) == 0) {
                kwr_t w;
                kwr_init(&w);
                schema_encode(h.api->req, &w, h.api_version, h.flexible, body);
                kwr_free(&w);
            }
            arena_free(&a);
        }
        off += 4 + (size_t)n;
    }
    return 0;
}
