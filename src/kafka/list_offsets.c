/*
 * list_offsets.c -- ListOffsets (key 2): earliest (-2), latest (-1), or the
 * first offset whose record timestamp is at or after a given time.
 * "Latest" is the high watermark, and the timestamp search only sees synced
 * records, so an offset handed out is always one a fetch can reach.
 */
#include "broker.h"
#include "kerr.h"
#include "../core/kp_error.h"

void handle_list_offsets(kreq_t *r)
{
    broker_t *b = r->b;
    list_offsets_req_t *req = r->body;
    list_offsets_resp_t resp = {0};
    int nt = req->topics.n > 0 ? req->topics.n : 0;
    list_offsets_req_list_offsets_topic_t *rt = req->topics.v;
    list_offsets_resp_list_offsets_topic_response_t *tops =
        arena_alloc(&r->arena, (size_t)(nt ? nt : 1) * sizeof *tops);
    if (!tops)
        goto oom;
    for (int i = 0; i < nt; i++) {
        int np = rt[i].partitions.n > 0 ? rt[i].partitions.n : 0;
        list_offsets_req_list_offsets_partition_t *rp = rt[i].partitions.v;
        list_offsets_resp_list_offsets_partition_response_t *ps =
            arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *ps);
        if (!ps)
            goto oom;
        tops[i].name = rt[i].name;
        tops[i].partitions = (karray_t){ps, np};
        int16_t terr;
        log_topic_t *t = broker_topic(b, rt[i].name, false, &terr);
        for (int j = 0; j < np; j++) {
            ps[j].partition_index = rp[j].partition_index;
            ps[j].timestamp = -1;
            ps[j].offset = -1;
            partition_t *p = t ? log_topic_partition(t, rp[j].partition_index) : NULL;
            if (!p) {
                ps[j].error_code = t ? KERR_UNKNOWN_TOPIC_OR_PARTITION : terr;
                continue;
            }
            int64_t ts = rp[j].timestamp;
            if (ts == -2) {
                ps[j].offset = partition_log_start_offset(p);
            } else if (ts == -1) {
                /* read_committed consumers start at the last stable offset. */
                ps[j].offset = req->isolation_level == 1 ? partition_last_stable_offset(p)
                                                         : partition_high_watermark(p);
            } else if (ts < 0) {
                ps[j].error_code = KERR_INVALID_REQUEST;
            } else {
                int64_t off, found;
                int rc = partition_offset_for_time(p, ts, &off, &found);
                if (rc == 0) {
                    ps[j].offset = off;
                    ps[j].timestamp = found;
                } else if (rc != KP_ENOTFOUND) {
                    ps[j].error_code = kerr_from_kp(rc);
                }
                /* Not found: offset -1, timestamp -1, as Kafka answers. */
            }
        }
    }
    resp.topics = (karray_t){tops, nt};
    kreq_respond(r, &resp);
    return;
oom:
    kreq_abort(r);
}
