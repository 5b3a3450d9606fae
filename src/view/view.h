/*
 * view.h -- names and row changes shared by every part of the serving layer
 * (the SQLite store, the sinks, the HTTP query API, the CLI).
 *
 * A view is a keyed table a job maintains with kappa_view() (kappa.h).  Each
 * job version writes its own version of the view:
 *
 *   view name      revenue            [A-Za-z_][A-Za-z0-9_]{0,63}: a plain SQL
 *                                     identifier, so the stable name needs
 *                                     no quoting in SQL
 *   versioned name revenue@v2         the table holding version 2's rows
 *   backing topic  __kappa_view.revenue.v2
 *                                     compacted; record key = row key, value
 *                                     = row (JSON text by convention), null
 *                                     value = the row is deleted
 *
 * The job writes the backing topic inside its Kafka transactions; a sink
 * (view/sink.h) reads it read_committed and applies it to a store, storing
 * the next offset of every partition in the same store transaction as the
 * rows.  The stable name is an alias switched atomically to one version.
 */
#ifndef KP_VIEW_H
#define KP_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIEW_NAME_MAX 64                /* without the terminating NUL */
#define VIEW_TOPIC_PREFIX "__kappa_view."

/* Is s a valid view name ([A-Za-z_][A-Za-z0-9_]{0,63})? */
bool view_name_valid(const char *s);

/* "revenue@v2" -> name "revenue", *version 2 (returns 0); "revenue" ->
 * name "revenue", *version 0 (the alias); -1 for anything else. */
int view_parse_ref(const char *ref, char name[VIEW_NAME_MAX + 1], int *version);

/* "__kappa_view.revenue.v2" into buf (cap >= 256).  Returns buf. */
char *view_topic(char *buf, size_t cap, const char *name, int version);
/* "revenue@v2" into buf.  Returns buf. */
char *view_table(char *buf, size_t cap, const char *name, int version);

/* One change read from a view's backing topic. */
typedef struct view_change {
    const void *key;            /* never NULL (null-key records are skipped) */
    size_t key_len;
    const void *value;          /* NULL: delete the row */
    size_t value_len;
    int64_t ts;                 /* record timestamp, ms */
    int32_t partition;          /* of the backing topic */
    int64_t offset;
} view_change_t;

#endif
