/*
 * errors.c -- mapping kappa's errors to Kafka error codes, at the response
 * boundary only.
 */
#include "broker.h"
#include "kerr.h"
#include "../core/kp_error.h"

#include <errno.h>

int16_t kerr_from_kp(int rc)
{
    switch (rc) {
    case 0: return KERR_NONE;
    case KP_ECORRUPT:
    case KP_ECRC: return KERR_CORRUPT_MESSAGE;
    case KP_ETOOLARGE: return KERR_MESSAGE_TOO_LARGE;
    case KP_EOFFSET: return KERR_OFFSET_OUT_OF_RANGE;
    case KP_ENOTFOUND: return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    case KP_EEXISTS: return KERR_TOPIC_ALREADY_EXISTS;
    case KP_EINVAL: return KERR_INVALID_REQUEST;
    case KP_EUNSUPPORTED: return KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case KP_EFAILED: return KERR_KAFKA_STORAGE_ERROR;
    case KP_EBUSY: return KERR_REQUEST_TIMED_OUT;
    case KP_ESEQUENCE: return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    case KP_EFENCED: return KERR_INVALID_PRODUCER_EPOCH;
    case KP_EUNKNOWNPRODUCER: return KERR_UNKNOWN_PRODUCER_ID;
    }
    /* An OS error from the disk (ENOSPC, EIO, ...): a storage error, which
     * clients treat as retriable. */
    if (kp_is_os_error(rc))
        return KERR_KAFKA_STORAGE_ERROR;
    return KERR_UNKNOWN_SERVER_ERROR;
}
