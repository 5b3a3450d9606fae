/*
 * api_versions.c -- ApiVersions (key 18): the versions kappa speaks.
 *
 * The ranges come from msg.c's table, which follows PROTOCOL.md: raising a
 * minimum silently disables client features (librdkafka enables record
 * format v2 only if Produce includes 3 and Fetch includes 4, and so on).
 */
#include "broker.h"
#include "kerr.h"

static void answer(kreq_t *r, int16_t error)
{
    api_versions_resp_t resp = {0};
    api_versions_resp_api_version_t *v =
        arena_alloc(&r->arena, (size_t)kapi_count * sizeof *v);
    if (!v) {
        kreq_no_response(r);
        return;
    }
    int n = 0;
    for (int i = 0; i < kapi_count; i++) {
        if (!kapi_served(kapi_table[i].key))
            continue;       /* advertising an API we cannot serve misleads clients */
        v[n].api_key = kapi_table[i].key;
        v[n].min_version = kapi_table[i].min_version;
        v[n].max_version = kapi_table[i].max_version;
        n++;
    }
    resp.error_code = error;
    resp.api_keys = (karray_t){v, n};
    kreq_respond(r, &resp);
}

void handle_api_versions(kreq_t *r)
{
    answer(r, KERR_NONE);
}

void api_versions_unsupported(kreq_t *r)
{
    answer(r, KERR_UNSUPPORTED_VERSION);
}

/* No SASL mechanisms are configured: say so, listing none. */
void handle_sasl_handshake(kreq_t *r)
{
    sasl_handshake_resp_t resp = {0};
    resp.error_code = KERR_UNSUPPORTED_SASL_MECHANISM;
    resp.mechanisms = (karray_t){NULL, 0};
    kreq_respond(r, &resp);
}
