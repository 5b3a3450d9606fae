/*
 * cut.h -- source tags and cuts: which input record an output record came
 * from, and "is that input before this point of the input log?".
 *
 * A runner started with source tags (kappa_run_opts_t.source_tags, implied
 * by versioned outputs) puts a header on every record a task writes to a
 * sink, view backing or repartition topic:
 *
 *   kappa.src = be32 partition | be64 offset | source topic name (the rest)
 *
 * "emitted while processing record OFFSET of PARTITION of SOURCE TOPIC".
 * A cut maps (source topic, partition) to an offset C; an input record is
 * before the cut when its offset < C.  `kappa job diff` compares two
 * versions' outputs for the inputs before a cut; promote splits a stable
 * topic between two versions at one (docs/jobs.md).
 *
 * Text form of a cut: "topic:partition=offset,..." (sorted by topic, then
 * partition; "" is the empty cut).
 */
#ifndef KP_JOBS_CUT_H
#define KP_JOBS_CUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CUT_TAG_HEADER "kappa.src"
#define CUT_TAG_FIXED 12                /* partition + offset */
#define CUT_TOPIC_MAX 249               /* Kafka's topic name limit */
#define CUT_TAG_MAX (CUT_TAG_FIXED + CUT_TOPIC_MAX)

typedef struct cut_tag {
    const char *topic;                  /* not NUL-terminated */
    size_t topic_len;
    int32_t partition;
    int64_t offset;
} cut_tag_t;

/* Encode into buf (cap >= CUT_TAG_FIXED + topic_len).  Returns the length,
 * or KP_EINVAL for an empty or over-long topic or a short buffer. */
int cut_tag_encode(const cut_tag_t *tag, uint8_t *buf, size_t cap);
/* Decode a header value; tag->topic points into p.  0 or KP_ECORRUPT. */
int cut_tag_decode(const void *p, size_t len, cut_tag_t *tag);

typedef struct cut_entry {
    char topic[CUT_TOPIC_MAX + 1];
    int32_t partition;
    int64_t offset;
} cut_entry_t;

/* Zero-initialize; entries kept sorted by (topic, partition). */
typedef struct cut {
    cut_entry_t *e;
    size_t n, cap;
} cut_t;

void cut_free(cut_t *c);
/* Insert or replace (topic, partition).  0, KP_EINVAL (bad topic) or KP_ENOMEM. */
int cut_set(cut_t *c, const char *topic, int32_t partition, int64_t offset);
/* The entry of (topic[0..tlen), partition), or NULL. */
const cut_entry_t *cut_find(const cut_t *c, const char *topic, size_t tlen, int32_t partition);
/*
 * Parse the text form into *c (emptied first).  Returns 0, or KP_EINVAL
 * with *why saying what is wrong (a malformed entry, a negative offset, a
 * partition given twice).
 */
int cut_parse(const char *s, cut_t *c, char *why, size_t cap);
/* The text form in a kp_malloc'ed string (NULL: out of memory). */
char *cut_format(const cut_t *c);
/*
 * Is the tagged input before the cut?  True when the cut has the tag's
 * (topic, partition) and tag offset < its offset.  A partition the cut
 * does not name counts as C = 0: nothing of it is before the cut.
 */
bool cut_before(const cut_t *c, const cut_tag_t *tag);

#endif
