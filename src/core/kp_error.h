/*
 * kp_error.h -- kappa's error codes.
 *
 * Functions return int: 0 is success, a negative value is an error.  OS
 * errors are returned as -errno; kappa's own errors live in one enum in a
 * reserved range far below any errno value.  kp_strerror() decodes both.
 * Kafka protocol error codes are a different type and are mapped only at the
 * response boundary (src/kafka/), never here.
 */
#ifndef KP_ERROR_H
#define KP_ERROR_H

enum kp_err {
    KP_OK = 0,
    KP_ERR_BASE = -10000,       /* kappa's codes are below this; -errno above */
    KP_ECORRUPT = -10001,       /* bytes on disk or wire fail a structural check */
    KP_ECRC = -10002,           /* CRC-32C mismatch */
    KP_ETOOLARGE = -10003,      /* a length exceeds a configured or structural limit */
    KP_EOFFSET = -10004,        /* offset out of range of the log */
    KP_ENOTFOUND = -10005,      /* no such topic, partition or key */
    KP_EEXISTS = -10006,        /* topic already exists */
    KP_EINVAL = -10007,         /* invalid argument or configuration value */
    KP_EFAILED = -10008,        /* partition stopped taking writes after an I/O error */
    KP_ENOMEM = -10009,         /* allocation failed */
    KP_EBUSY = -10010,          /* operation not possible while a sync is in flight */
    KP_EUNSUPPORTED = -10011,   /* valid input kappa does not handle (e.g. old magic) */
    KP_ELOCKED = -10012,        /* the log directory is in use by another process */
    KP_ESEQUENCE = -10013,      /* idempotent producer: sequence out of order */
    KP_EFENCED = -10014,        /* idempotent producer: an older epoch */
    KP_EUNKNOWNPRODUCER = -10015, /* idempotent producer: no state, sequence not 0 */
};

/* True for a -errno value (an OS error), false for kappa's own codes. */
static inline int kp_is_os_error(int err)
{
    return err < 0 && err > KP_ERR_BASE;
}

/* A human-readable message for a kappa error or a -errno value. */
const char *kp_strerror(int err);

#endif
