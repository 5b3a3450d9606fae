/*
 * testlog.c -- batch building and reading helpers for tests and benchmarks.
 */
#include "testlog.h"
#include "test.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "io/file.h"

#include <stdio.h>
#include <string.h>

int tl_make_batch(int codec, int count, const char *prefix, int64_t first, int keys,
                  int64_t ts0, uint8_t **out, size_t *len)
{
    batch_builder_t b;
    int rc = batch_builder_init(&b, (int16_t)codec, ts0, -1, -1, -1);
    if (rc)
        return rc;
    for (int i = 0; i < count && rc == 0; i++) {
        char v[256], k[64];
        int vl = snprintf(v, sizeof v, "%s%lld", prefix, (long long)(first + i));
        int kl = keys ? snprintf(k, sizeof k, "k%lld", (long long)((first + i) % keys)) : -1;
        rc = batch_builder_add(&b, i, ts0 + i, keys ? k : NULL, kl, v, vl, NULL, 0, 0);
    }
    if (rc) {
        batch_builder_free(&b);
        return rc;
    }
    return batch_builder_finish(&b, -1, out, len);
}

int tl_make_kv(const char *key, const char *value, int64_t ts, uint8_t **out, size_t *len)
{
    batch_builder_t b;
    int rc = batch_builder_init(&b, 0, ts, -1, -1, -1);
    if (rc)
        return rc;
    rc = batch_builder_add(&b, 0, ts, key, key ? (int32_t)strlen(key) : -1, value,
                           value ? (int32_t)strlen(value) : -1, NULL, 0, 0);
    if (rc) {
        batch_builder_free(&b);
        return rc;
    }
    return batch_builder_finish(&b, -1, out, len);
}

int64_t tl_append(partition_t *p, uint8_t *batch, size_t len)
{
    partition_append_result_t r;
    CHECK_OK(partition_append(p, batch, len, &r));
    return r.base_offset;
}

int tl_read_all(partition_t *p, int64_t from, int64_t max_bytes, tl_rec_t **out)
{
    int n = 0, cap = 64;
    tl_rec_t *recs = kp_malloc((size_t)cap * sizeof *recs);
    int64_t off = from;
    int rc = 0;
    if (!recs)
        return KP_ENOMEM;
    for (;;) {
        log_read_t r;
        rc = partition_read(p, off, max_bytes, partition_high_watermark(p), &r);
        if (rc || r.len == 0)
            break;
        uint8_t *buf = kp_malloc((size_t)r.len);
        if (!buf) {
            rc = KP_ENOMEM;
            log_read_release(&r);
            break;
        }
        int64_t want = r.len, next = r.next_offset;
        ssize_t got = kp_file_pread_all(r.fd, buf, (size_t)r.len, r.pos);
        log_read_release(&r);
        if (got != want) {
            kp_free(buf);
            rc = got < 0 ? (int)got : KP_ECORRUPT;
            break;
        }
        size_t pos = 0;
        while (rc == 0 && pos < (size_t)got) {
            batch_header_t h;
            rc = batch_header_decode(buf + pos, (size_t)got - pos, &h);
            if (rc)
                break;
            size_t size = (size_t)batch_size(&h);
            if (size > (size_t)got - pos || (rc = batch_crc_check(buf + pos, size)) != 0) {
                rc = rc ? rc : KP_ECORRUPT;
                break;
            }
            record_iter_t it;
            record_t rec;
            int more;
            rc = record_iter_init(&it, buf + pos, size, 64u << 20);
            if (rc)
                break;
            while ((more = record_iter_next(&it, &rec)) == 1) {
                if (rec.offset < from)
                    continue;
                if (n == cap) {
                    cap *= 2;
                    tl_rec_t *nr = kp_realloc(recs, (size_t)cap * sizeof *nr);
                    if (!nr) {
                        more = KP_ENOMEM;
                        break;
                    }
                    recs = nr;
                }
                tl_rec_t *t = &recs[n++];
                memset(t, 0, sizeof *t);
                t->offset = rec.offset;
                t->timestamp = rec.timestamp;
                t->has_key = rec.key != NULL;
                if (rec.key)
                    snprintf(t->key, sizeof t->key, "%.*s", (int)rec.key_len, rec.key);
                t->has_value = rec.value != NULL;
                if (rec.value)
                    snprintf(t->value, sizeof t->value, "%.*s", (int)rec.value_len, rec.value);
            }
            record_iter_free(&it);
            if (more < 0)
                rc = more;
            pos += size;
        }
        kp_free(buf);
        if (rc)
            break;
        if (next <= off)
            break;
        off = next;
    }
    if (rc) {
        kp_free(recs);
        return rc;
    }
    *out = recs;
    return n;
}
