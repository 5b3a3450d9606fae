/*
 * gen.h -- the Nexmark event generator: persons, auctions and bids of an
 * online auction, as in the standard Nexmark benchmark generator (Beam, Flink,
 * RisingWave's nexmark-bench), and their one-line JSON form.
 *
 * Pure: no I/O, no clock, no global state.  Event i is a function of
 * (config, i) only -- each event draws from its own pseudo-random stream
 * seeded by (seed, i) -- so the same seed and config give byte-identical
 * events on any machine, and a generator may start anywhere.
 *
 *   nexmark_config_t cfg;
 *   nexmark_config_default(&cfg);
 *   cfg.seed = 42;
 *   nexmark_gen_t g;
 *   if (nexmark_gen_init(&g, &cfg) < 0) ...;
 *   nexmark_event_t ev;
 *   char *buf = malloc(NEXMARK_JSON_MAX + 2 * cfg.extra_bytes + 1);
 *   while (...) {
 *       nexmark_gen_next(&g, &ev);
 *       int n = nexmark_event_json(&ev, buf, cap);
 *   }
 *   nexmark_gen_free(&g);
 *
 * docs/nexmark.md describes the event stream and the JSON schema.
 */
#ifndef KP_NEXMARK_GEN_H
#define KP_NEXMARK_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Events come in groups of 50: 1 person, then 3 auctions, then 46 bids. */
#define NEXMARK_PERSON_PROPORTION 1
#define NEXMARK_AUCTION_PROPORTION 3
#define NEXMARK_BID_PROPORTION 46
#define NEXMARK_PROPORTION_TOTAL 50

#define NEXMARK_FIRST_PERSON_ID 1000
#define NEXMARK_FIRST_AUCTION_ID 1000
#define NEXMARK_FIRST_CATEGORY_ID 10
#define NEXMARK_NUM_CATEGORIES 10

/* 2026-01-01T00:00:00Z in milliseconds since the epoch. */
#define NEXMARK_DEFAULT_BASE_TIME_MS 1767225600000LL
#define NEXMARK_DEFAULT_RATE 10000

/* The largest --extra-bytes we accept (the extra field's mean length). */
#define NEXMARK_EXTRA_BYTES_MAX (1u << 20)

/* An upper bound on one event's JSON length without its extra field. */
#define NEXMARK_JSON_MAX 512

typedef struct nexmark_config {
    uint64_t seed;
    int64_t base_time_ms;           /* date_time of event 0 */
    uint64_t rate;                  /* events per second of event time (>= 1) */
    uint32_t extra_bytes;           /* mean length of the extra field; 0 = empty */
    uint32_t out_of_order_ms;       /* bids move back in time by [0, N) ms; 0 = in order */
    uint32_t num_active_people;     /* non-hot bidders/sellers among the last N persons */
    uint32_t num_in_flight_auctions;/* non-hot bids go to the last N+1 auctions */
    uint32_t hot_sellers_ratio;     /* 1 - 1/ratio of auctions have a hot seller */
    uint32_t hot_auction_ratio;     /* 1 - 1/ratio of bids go to a hot auction */
    uint32_t hot_bidders_ratio;     /* 1 - 1/ratio of bids come from a hot bidder */
} nexmark_config_t;

typedef enum nexmark_event_type {
    NEXMARK_PERSON = 0,
    NEXMARK_AUCTION = 1,
    NEXMARK_BID = 2,
} nexmark_event_type_t;

typedef struct nexmark_person {
    int64_t id;
    char name[32];
    char email_address[32];
    char credit_card[24];
    const char *city;               /* static strings */
    const char *state;
} nexmark_person_t;

typedef struct nexmark_auction {
    int64_t id;
    char item_name[24];
    char description[104];
    int64_t initial_bid;            /* cents */
    int64_t reserve;                /* cents, > initial_bid */
    int64_t expires;                /* ms since the epoch, > date_time */
    int64_t seller;                 /* a person id generated earlier */
    int64_t category;               /* 10..19 */
} nexmark_auction_t;

typedef struct nexmark_bid {
    int64_t auction;                /* an auction id generated earlier */
    int64_t bidder;                 /* a person id generated earlier */
    int64_t price;                  /* cents, 100 .. 100000000, log-uniform */
    char channel[24];
    char url[96];
} nexmark_bid_t;

typedef struct nexmark_event {
    nexmark_event_type_t type;
    uint64_t index;                 /* position in the stream, from 0 */
    int64_t date_time;              /* event time, ms since the epoch */
    const char *extra;              /* extra_len bytes, not NUL-terminated; points
                                     * into the generator, valid until it is freed */
    size_t extra_len;
    union {
        nexmark_person_t person;
        nexmark_auction_t auction;
        nexmark_bid_t bid;
    } u;
} nexmark_event_t;

typedef struct nexmark_gen {
    nexmark_config_t config;
    uint64_t next_index;
    uint64_t seed_mix;              /* the seed, scrambled once */
    char *extra_pool;               /* random letters the extra fields are cut from */
    size_t extra_pool_len;
} nexmark_gen_t;

/* The standard's defaults (rate 10000/s, 1000 active people, 100 auctions in
 * flight, hot ratios 4/2/4), seed 0, base time 2026-01-01, no extra, in order. */
void nexmark_config_default(nexmark_config_t *c);

/* 0, or -EINVAL for a bad config (rate 0, a ratio 0, extra too large), or
 * -ENOMEM.  The generator starts at event 0. */
int nexmark_gen_init(nexmark_gen_t *g, const nexmark_config_t *c);
void nexmark_gen_free(nexmark_gen_t *g);

/* Generate event g->next_index into *ev and advance. */
void nexmark_gen_next(nexmark_gen_t *g, nexmark_event_t *ev);

/* Generate the event at any index (does not move the generator). */
void nexmark_gen_at(const nexmark_gen_t *g, uint64_t index, nexmark_event_t *ev);

/* The event time of event index before any out-of-order jitter:
 * base_time_ms + floor(index * 1000 / rate). */
int64_t nexmark_event_time(const nexmark_config_t *c, uint64_t index);

/* The id of the last person (auction) generated at or before event index
 * (-1 before the first auction), base 0: add NEXMARK_FIRST_*_ID. */
int64_t nexmark_last_person(uint64_t index);
int64_t nexmark_last_auction(uint64_t index);

/*
 * Format ev as one JSON object (no newline) into buf.  Returns the length
 * (without the NUL it also writes), or -ENOSPC if cap is smaller than
 * NEXMARK_JSON_MAX + ev->extra_len + 1.
 */
int nexmark_event_json(const nexmark_event_t *ev, char *buf, size_t cap);

const char *nexmark_event_type_name(nexmark_event_type_t t);

#endif
