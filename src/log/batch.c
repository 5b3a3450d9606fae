/*
 * batch.c -- decoding and checking RecordBatch v2 headers.
 *
 * Everything here trusts nothing: lengths are checked against the bytes at
 * hand before use, because these bytes come from the network (produce) or
 * from a disk that may have torn a write (recovery).
 */
#include "batch.h"
#include "../core/crc32c.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"

int batch_header_decode(const uint8_t *buf, size_t len, batch_header_t *h)
{
    if (len < BATCH_HEADER_SIZE)
        return KP_ECORRUPT;
    h->base_offset = (int64_t)kp_be64(buf + 0);
    h->batch_length = (int32_t)kp_be32(buf + 8);
    h->leader_epoch = (int32_t)kp_be32(buf + 12);
    h->magic = (int8_t)buf[16];
    h->crc = kp_be32(buf + 17);
    h->attributes = (int16_t)kp_be16(buf + 21);
    h->last_offset_delta = (int32_t)kp_be32(buf + 23);
    h->base_timestamp = (int64_t)kp_be64(buf + 27);
    h->max_timestamp = (int64_t)kp_be64(buf + 35);
    h->producer_id = (int64_t)kp_be64(buf + 43);
    h->producer_epoch = (int16_t)kp_be16(buf + 51);
    h->base_sequence = (int32_t)kp_be32(buf + 53);
    h->record_count = (int32_t)kp_be32(buf + 57);

    if (h->magic != BATCH_MAGIC_V2)
        return h->magic >= 0 && h->magic < BATCH_MAGIC_V2 ? KP_EUNSUPPORTED : KP_ECORRUPT;
    if (h->batch_length < BATCH_MIN_LENGTH)
        return KP_ECORRUPT;
    if (h->last_offset_delta < 0 || h->record_count < 0)
        return KP_ECORRUPT;
    if (h->base_offset < 0)
        return KP_ECORRUPT;
    return 0;
}

int batch_crc_check(const uint8_t *batch, size_t size)
{
    if (size < BATCH_HEADER_SIZE)
        return KP_ECORRUPT;
    uint32_t want = kp_be32(batch + 17);
    uint32_t got = crc32c(0, batch + BATCH_CRC_START, size - BATCH_CRC_START);
    return want == got ? 0 : KP_ECRC;
}

void batch_crc_update(uint8_t *batch, size_t size)
{
    kp_put_be32(batch + 17, crc32c(0, batch + BATCH_CRC_START, size - BATCH_CRC_START));
}

int batch_validate_produced(const uint8_t *buf, size_t len, size_t max_bytes,
                            batch_header_t *h)
{
    int rc = batch_header_decode(buf, len, h);
    if (rc)
        return rc;
    if ((uint64_t)batch_size(h) != len)
        return KP_ECORRUPT;
    if (len > max_bytes)
        return KP_ETOOLARGE;
    if (h->record_count < 1 || h->last_offset_delta != h->record_count - 1)
        return KP_ECORRUPT;
    return batch_crc_check(buf, len);
}

void batch_set_base_offset(uint8_t *batch, int64_t base_offset)
{
    kp_put_be64(batch, (uint64_t)base_offset);
}

void batch_set_leader_epoch(uint8_t *batch, int32_t epoch)
{
    kp_put_be32(batch + 12, (uint32_t)epoch);
}
