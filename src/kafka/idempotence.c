/*
 * idempotence.c -- InitProducerId (key 22): producer ids that are never
 * reused, the KIP-360 epoch bump of idempotent producers, and the hand-off
 * of transactional producers to the transaction coordinator (txn.c).
 *
 * Invariants:
 *  (1) A producer id is never handed out twice, across restarts: ids come
 *      from blocks whose end is made durable (producer-ids file, written
 *      atomically) before any id in the block is given out.  Idempotent
 *      and transactional producers draw from the same blocks.
 *  (2) The deduplication itself lives in the log (src/log/producer.c): this
 *      file only names producers.
 *  (3) An idempotent producer may bump only its own epoch: a producer id
 *      that belongs to a transactional id is never bumped here (the caller
 *      gets a fresh id instead), or it could fence that transaction's
 *      producer behind the coordinator's back.
 */
#include "txn_int.h"
#include "kerr.h"
#include "../core/kp_error.h"
#include "../core/logging.h"
#include "../core/kp_mem.h"
#include "../io/file.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PID_BLOCK 1000

static int reserve_block(broker_t *b)
{
    char path[4200], text[64];
    int64_t end = b->pid_next + PID_BLOCK;
    snprintf(path, sizeof path, "%s/producer-ids", b->cfg.log_dir);
    int len = snprintf(text, sizeof text, "next=%" PRId64 "\n", end);
    int rc = kp_file_write_atomic(path, text, (size_t)len);
    if (rc == 0)
        b->pid_reserved = end;
    return rc;
}

int producer_ids_start(broker_t *b)
{
    char path[4200], *buf;
    snprintf(path, sizeof path, "%s/producer-ids", b->cfg.log_dir);
    b->pid_next = 1000;         /* a fresh log starts its ids here */
    if (kp_file_read_whole(path, 4096, &buf, NULL) == 0) {
        char *p = strstr(buf, "next=");
        if (p)
            b->pid_next = strtoll(p + 5, NULL, 10);
        kp_free(buf);
    }
    /* Ids below the recorded end may have been handed out already. */
    return reserve_block(b);
}

int producer_id_alloc(broker_t *b, int64_t *out)
{
    if (b->pid_next >= b->pid_reserved) {
        int rc = reserve_block(b);
        if (rc)
            return rc;
    }
    *out = b->pid_next++;
    return 0;
}

void handle_init_producer_id(kreq_t *r)
{
    broker_t *b = r->b;
    init_producer_id_req_t *req = r->body;
    init_producer_id_resp_t resp = {0};
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    if (req->transactional_id.len >= 0) {
        txn_coord_init_producer_id(r);
        return;
    }
    if (req->producer_id >= 0 && req->producer_epoch >= 0 && req->producer_id < b->pid_next &&
        req->producer_epoch < INT16_MAX - 1 && !txn_coord_owns_producer_id(b, req->producer_id)) {
        /* KIP-360: an idempotent producer bumps its epoch to start its
         * sequences over after an error, keeping its id. */
        resp.producer_id = req->producer_id;
        resp.producer_epoch = (int16_t)(req->producer_epoch + 1);
        kreq_respond(r, &resp);
        return;
    }
    int64_t pid;
    int rc = producer_id_alloc(b, &pid);
    if (rc) {
        KP_ERROR("cannot reserve producer ids: %s", kp_strerror(rc));
        resp.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
        kreq_respond(r, &resp);
        return;
    }
    resp.producer_id = pid;
    resp.producer_epoch = 0;
    kreq_respond(r, &resp);
}
