/*
 * kp_error.c -- one decoder for every error kappa returns, so log lines and
 * CLI messages use the same words for the same failure.
 */
#include "kp_error.h"

#include <string.h>

const char *kp_strerror(int err)
{
    switch (err) {
    case KP_OK:           return "success";
    case KP_ECORRUPT:     return "corrupt data";
    case KP_ECRC:         return "CRC-32C mismatch";
    case KP_ETOOLARGE:    return "size exceeds limit";
    case KP_EOFFSET:      return "offset out of range";
    case KP_ENOTFOUND:    return "not found";
    case KP_EEXISTS:      return "already exists";
    case KP_EINVAL:       return "invalid argument";
    case KP_EFAILED:      return "partition stopped taking writes after an I/O error";
    case KP_ENOMEM:       return "out of memory";
    case KP_EBUSY:        return "busy: a sync is in flight";
    case KP_EUNSUPPORTED: return "unsupported";
    case KP_ELOCKED:      return "log directory in use by another process";
    case KP_ESEQUENCE:    return "producer sequence out of order";
    case KP_EFENCED:      return "producer epoch is older than the current one (fenced)";
    case KP_EUNKNOWNPRODUCER: return "unknown producer id";
    default:
        break;
    }
    if (kp_is_os_error(err))
        return strerror(-err);
    return "unknown error";
}
