/*
 * gen.c -- the Nexmark event generator and its JSON formatter.
 *
 * The rules follow the standard Nexmark generator (Beam's NexmarkGenerator,
 * the Flink nexmark repository, RisingWave's nexmark-bench); the code is our
 * own.  Invariants:
 *
 * (1) Event i is a person when i % 50 == 0, an auction when i % 50 is 1..3,
 *     else a bid; person and auction ids count up from 1000 with no gaps, so
 *     the id of the person or auction an event creates is a function of i.
 * (2) Every id an event refers to (an auction's seller, a bid's auction and
 *     bidder) belongs to an event with a smaller index.  The standard lets
 *     random choices run up to ten ids ahead ("leads"); we drop the leads so
 *     a consumer never sees a reference to something that does not exist yet.
 * (3) Event i draws only from its own random stream, seeded by (seed, i):
 *     splitmix64, integer arithmetic, and a power of ten computed with plain
 *     IEEE additions, multiplications and divisions in separate statements
 *     (so no libm and no fused multiply-add can change a price).  Output is
 *     therefore identical on every machine and independent of where a
 *     generator starts.
 * (4) date_time = base_time_ms + floor(i * 1000 / rate), exactly, before the
 *     optional out-of-order jitter, which only moves bids back in time.
 * (5) Every string is drawn from [A-Za-z0-9 @._:/?=&-], so the JSON needs no
 *     escaping.
 */
#include "nexmark/gen.h"

#include "core/kp_mem.h"

#include <errno.h>
#include <string.h>

/* The "hot" seller/auction/bidder is the first of each block of this many
 * (the standard's HOT_*_RATIO constants). */
#define HOT_BLOCK 100
/* One bid in this many uses a numbered channel instead of a hot one. */
#define CHANNEL_COLD_RATIO 100
#define CHANNELS_NUMBER 10000
#define EXTRA_POOL_SPREAD 4096

static const char *const first_names[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const last_names[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith",  "Jones",   "Noris"};
static const char *const us_states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const us_cities[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise",
                                        "Portland", "Bend", "Redmond", "Seattle", "Kent",
                                        "Cheyenne"};
static const char *const hot_channels[] = {"Google", "Facebook", "Baidu", "Apple"};
static const char *const hot_urls[] = {
    "https://www.nexmark.com/googl/item.htm?query=1",
    "https://www.nexmark.com/meta/item.htm?query=1",
    "https://www.nexmark.com/bidu/item.htm?query=1",
    "https://www.nexmark.com/aapl/item.htm?query=1",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic randomness ---- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 */
static uint64_t rng_next(rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix64(r->s);
}

/* Uniform in [0, n) for n >= 1 (Lemire's multiply-shift; the bias, below
 * n / 2^64, does not matter here). */
static uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static rng_t event_rng(const nexmark_gen_t *g, uint64_t index)
{
    rng_t r = {g->seed_mix ^ mix64(index + 0x6a09e667f3bcc909ULL)};
    return r;
}

/*
 * 10^x for x in [0, 6): 10^k * e^(f ln 10) with k = floor(x); e^y as
 * (e^(y/16))^16 with a degree-12 Taylor polynomial (relative error below
 * 1e-16).  Each operation is its own statement so that no compiler can fuse
 * a multiply and an add: the result is the same bits everywhere.
 */
static double pow10_det(double x)
{
    static const double p10[] = {1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0};
    int k = (int)x;
    double f = x - (double)k;
    double z = f * 2.302585092994045684;
    z = z / 16.0;
    double t = 1.0;
    for (int n = 12; n >= 1; n--) {
        t = t * z;
        t = t / (double)n;
        t = t + 1.0;
    }
    for (int i = 0; i < 4; i++)
        t = t * t;
    return t * p10[k];
}

/* A price in cents, log-uniform over [1 dollar, 1 million dollars]: the
 * standard's round(10^(u*6) * 100). */
static int64_t next_price(rng_t *r)
{
    double v = pow10_det(rng_unit(r) * 6.0);
    v = v * 100.0;
    return (int64_t)(v + 0.5);
}

/* The standard's nextString: 3..max-1 characters, one in 13 a space, the
 * rest lower-case letters, then trimmed.  out holds max bytes. */
static void next_string(rng_t *r, char *out, int max)
{
    int len = 3 + (int)rng_below(r, (uint64_t)(max - 3));
    int n = 0;
    for (int i = 0; i < len; i++) {
        uint64_t c = rng_below(r, 26 * 13);
        if (c < 26) {
            if (n > 0)                  /* trim leading spaces as we go */
                out[n++] = ' ';
        } else {
            out[n++] = (char)('a' + c % 26);
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* min..min+spread-1 lower-case letters, no spaces; returns the length. */
static int next_letters(rng_t *r, char *out, int min, int spread)
{
    int len = min + (int)rng_below(r, (uint64_t)spread);
    for (int i = 0; i < len; i++)
        out[i] = (char)('a' + rng_below(r, 26));
    out[len] = '\0';
    return len;
}

/* ---- ids (invariant 1) ---- */

int64_t nexmark_last_person(uint64_t index)
{
    uint64_t epoch = index / NEXMARK_PROPORTION_TOTAL;
    uint64_t offset = index % NEXMARK_PROPORTION_TOTAL;
    if (offset >= NEXMARK_PERSON_PROPORTION)
        offset = NEXMARK_PERSON_PROPORTION - 1;
    return (int64_t)(epoch * NEXMARK_PERSON_PROPORTION + offset);
}

int64_t nexmark_last_auction(uint64_t index)
{
    int64_t epoch = (int64_t)(index / NEXMARK_PROPORTION_TOTAL);
    int64_t offset = (int64_t)(index % NEXMARK_PROPORTION_TOTAL);
    if (offset < NEXMARK_PERSON_PROPORTION) {
        epoch--;                        /* the last auction of the previous group */
        offset = NEXMARK_AUCTION_PROPORTION - 1;
    } else if (offset >= NEXMARK_PERSON_PROPORTION + NEXMARK_AUCTION_PROPORTION) {
        offset = NEXMARK_AUCTION_PROPORTION - 1;
    } else {
        offset -= NEXMARK_PERSON_PROPORTION;
    }
    return epoch * NEXMARK_AUCTION_PROPORTION + offset;
}

/* A random person among the last num_active_people (base 0). */
static int64_t next_person(const nexmark_config_t *c, rng_t *r, uint64_t index)
{
    int64_t num = nexmark_last_person(index) + 1;
    int64_t active = num < (int64_t)c->num_active_people ? num : (int64_t)c->num_active_people;
    return num - active + (int64_t)rng_below(r, (uint64_t)active);
}

/* A random auction among the last num_in_flight_auctions + 1 (base 0). */
static int64_t next_auction(const nexmark_config_t *c, rng_t *r, uint64_t index)
{
    int64_t last = nexmark_last_auction(index);
    int64_t min = last - (int64_t)c->num_in_flight_auctions;
    if (min < 0)
        min = 0;
    return min + (int64_t)rng_below(r, (uint64_t)(last - min + 1));
}

int64_t nexmark_event_time(const nexmark_config_t *c, uint64_t index)
{
    unsigned __int128 ms = (unsigned __int128)index * 1000u / c->rate;
    return c->base_time_ms + (int64_t)ms;
}

/* ---- events ---- */

void nexmark_config_default(nexmark_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->base_time_ms = NEXMARK_DEFAULT_BASE_TIME_MS;
    c->rate = NEXMARK_DEFAULT_RATE;
    c->num_active_people = 1000;
    c->num_in_flight_auctions = 100;
    c->hot_sellers_ratio = 4;
    c->hot_auction_ratio = 2;
    c->hot_bidders_ratio = 4;
}

int nexmark_gen_init(nexmark_gen_t *g, const nexmark_config_t *c)
{
    memset(g, 0, sizeof *g);
    if (c->rate == 0 || c->num_active_people == 0 || c->hot_sellers_ratio == 0 ||
        c->hot_auction_ratio == 0 || c->hot_bidders_ratio == 0 ||
        c->extra_bytes > NEXMARK_EXTRA_BYTES_MAX)
        return -EINVAL;
    g->config = *c;
    g->seed_mix = mix64(c->seed ^ 0x3c6ef372fe94f82bULL);
    if (c->extra_bytes > 0) {
        /* Extras are cut from one block of random letters at a random offset:
         * as random-looking as the standard's, at memcpy speed. */
        g->extra_pool_len = EXTRA_POOL_SPREAD + c->extra_bytes + c->extra_bytes / 5 + 1;
        g->extra_pool = kp_malloc(g->extra_pool_len);
        if (!g->extra_pool)
            return -ENOMEM;
        rng_t r = {g->seed_mix ^ 0xa54ff53a5f1d36f1ULL};
        for (size_t i = 0; i < g->extra_pool_len; i++)
            g->extra_pool[i] = (char)('a' + rng_below(&r, 26));
    }
    return 0;
}

void nexmark_gen_free(nexmark_gen_t *g)
{
    kp_free(g->extra_pool);
    g->extra_pool = NULL;
}

/* The standard's nextExtra: a length within 20% of the mean. */
static void next_extra(const nexmark_gen_t *g, rng_t *r, nexmark_event_t *ev)
{
    uint32_t mean = g->config.extra_bytes;
    ev->extra = "";
    ev->extra_len = 0;
    if (mean == 0)
        return;
    uint32_t delta = (mean + 2) / 5;    /* round(mean * 0.2) */
    size_t len = mean - delta + (delta ? rng_below(r, 2 * (uint64_t)delta) : 0);
    ev->extra = g->extra_pool + rng_below(r, EXTRA_POOL_SPREAD);
    ev->extra_len = len;
}

static void gen_person(const nexmark_gen_t *g, rng_t *r, nexmark_event_t *ev)
{
    nexmark_person_t *p = &ev->u.person;
    p->id = nexmark_last_person(ev->index) + NEXMARK_FIRST_PERSON_ID;

    const char *first = first_names[rng_below(r, COUNT(first_names))];
    const char *last = last_names[rng_below(r, COUNT(last_names))];
    size_t fl = strlen(first), ll = strlen(last);
    memcpy(p->name, first, fl);
    p->name[fl] = ' ';
    memcpy(p->name + fl + 1, last, ll + 1);

    int n = next_letters(r, p->email_address, 3, 4);
    p->email_address[n++] = '@';
    n += next_letters(r, p->email_address + n, 3, 2);
    memcpy(p->email_address + n, ".com", 5);

    char *cc = p->credit_card;
    for (int i = 0; i < 4; i++) {
        unsigned v = (unsigned)rng_below(r, 10000);
        if (i > 0)
            *cc++ = ' ';
        cc[0] = (char)('0' + v / 1000);
        cc[1] = (char)('0' + v / 100 % 10);
        cc[2] = (char)('0' + v / 10 % 10);
        cc[3] = (char)('0' + v % 10);
        cc += 4;
    }
    *cc = '\0';

    p->city = us_cities[rng_below(r, COUNT(us_cities))];
    p->state = us_states[rng_below(r, COUNT(us_states))];
    next_extra(g, r, ev);
}

static void gen_auction(const nexmark_gen_t *g, rng_t *r, nexmark_event_t *ev)
{
    const nexmark_config_t *c = &g->config;
    nexmark_auction_t *a = &ev->u.auction;
    a->id = nexmark_last_auction(ev->index) + NEXMARK_FIRST_AUCTION_ID;

    if (rng_below(r, c->hot_sellers_ratio) > 0)
        a->seller = nexmark_last_person(ev->index) / HOT_BLOCK * HOT_BLOCK;
    else
        a->seller = next_person(c, r, ev->index);
    a->seller += NEXMARK_FIRST_PERSON_ID;

    a->category = NEXMARK_FIRST_CATEGORY_ID + (int64_t)rng_below(r, NEXMARK_NUM_CATEGORIES);
    a->initial_bid = next_price(r);

    /* Auctions last on average as long as it takes to create
     * num_in_flight_auctions more of them (the standard's horizon). */
    uint64_t ahead = (uint64_t)c->num_in_flight_auctions * NEXMARK_PROPORTION_TOTAL /
                     NEXMARK_AUCTION_PROPORTION;
    int64_t horizon = nexmark_event_time(c, ev->index + ahead) - ev->date_time;
    uint64_t span = horizon * 2 > 1 ? (uint64_t)horizon * 2 : 1;
    a->expires = ev->date_time + 1 + (int64_t)rng_below(r, span);

    next_string(r, a->item_name, 20);
    next_string(r, a->description, 100);
    a->reserve = a->initial_bid + next_price(r);
    next_extra(g, r, ev);
}

/* The channel and url of numbered channel n: a function of (seed, n) only. */
static void cold_channel(const nexmark_gen_t *g, uint32_t n, nexmark_bid_t *b)
{
    rng_t r = {g->seed_mix ^ mix64(0xbb67ae8584caa73bULL + n)};
    memcpy(b->channel, "channel-", 8);
    char digits[12];
    int nd = 0;
    uint32_t v = n;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < nd; i++)
        b->channel[8 + i] = digits[nd - 1 - i];
    b->channel[8 + nd] = '\0';

    char *u = b->url;
    static const char head[] = "https://www.nexmark.com/";
    memcpy(u, head, sizeof head - 1);
    u += sizeof head - 1;
    u += next_letters(&r, u, 3, 3);
    static const char tail[] = "/item.htm?query=1";
    memcpy(u, tail, sizeof tail);
    u += sizeof tail - 1;
    if (rng_below(&r, 10) != 9) {
        /* As in nexmark-bench: the channel id, bit-reversed. */
        uint32_t rev = 0;
        for (int i = 0; i < 32; i++)
            rev |= ((n >> i) & 1u) << (31 - i);
        static const char cid[] = "&channel_id=";
        memcpy(u, cid, sizeof cid - 1);
        u += sizeof cid - 1;
        nd = 0;
        do {
            digits[nd++] = (char)('0' + rev % 10);
            rev /= 10;
        } while (rev);
        for (int i = 0; i < nd; i++)
            *u++ = digits[nd - 1 - i];
        *u = '\0';
    }
}

static void gen_bid(const nexmark_gen_t *g, rng_t *r, nexmark_event_t *ev)
{
    const nexmark_config_t *c = &g->config;
    nexmark_bid_t *b = &ev->u.bid;

    if (rng_below(r, c->hot_auction_ratio) > 0)
        b->auction = nexmark_last_auction(ev->index) / HOT_BLOCK * HOT_BLOCK;
    else
        b->auction = next_auction(c, r, ev->index);
    b->auction += NEXMARK_FIRST_AUCTION_ID;

    if (rng_below(r, c->hot_bidders_ratio) > 0) {
        /* The second person of the block, so hot bidders and hot sellers
         * differ -- unless that person does not exist yet (invariant 2). */
        int64_t last = nexmark_last_person(ev->index);
        b->bidder = last / HOT_BLOCK * HOT_BLOCK + 1;
        if (b->bidder > last)
            b->bidder = last;
    } else {
        b->bidder = next_person(c, r, ev->index);
    }
    b->bidder += NEXMARK_FIRST_PERSON_ID;

    b->price = next_price(r);

    uint32_t channel = (uint32_t)rng_below(r, CHANNELS_NUMBER);
    if (rng_below(r, CHANNEL_COLD_RATIO) == 0) {
        cold_channel(g, channel, b);
    } else {
        size_t h = rng_below(r, COUNT(hot_channels));
        strcpy(b->channel, hot_channels[h]);
        strcpy(b->url, hot_urls[h]);
    }

    if (c->out_of_order_ms > 0)
        ev->date_time -= (int64_t)rng_below(r, c->out_of_order_ms);
    next_extra(g, r, ev);
}

void nexmark_gen_at(const nexmark_gen_t *g, uint64_t index, nexmark_event_t *ev)
{
    rng_t r = event_rng(g, index);
    ev->index = index;
    ev->date_time = nexmark_event_time(&g->config, index);
    uint64_t offset = index % NEXMARK_PROPORTION_TOTAL;
    if (offset < NEXMARK_PERSON_PROPORTION) {
        ev->type = NEXMARK_PERSON;
        gen_person(g, &r, ev);
    } else if (offset < NEXMARK_PERSON_PROPORTION + NEXMARK_AUCTION_PROPORTION) {
        ev->type = NEXMARK_AUCTION;
        gen_auction(g, &r, ev);
    } else {
        ev->type = NEXMARK_BID;
        gen_bid(g, &r, ev);
    }
}

void nexmark_gen_next(nexmark_gen_t *g, nexmark_event_t *ev)
{
    nexmark_gen_at(g, g->next_index++, ev);
}

const char *nexmark_event_type_name(nexmark_event_type_t t)
{
    switch (t) {
    case NEXMARK_PERSON:
        return "person";
    case NEXMARK_AUCTION:
        return "auction";
    case NEXMARK_BID:
        return "bid";
    }
    return "?";
}

/* ---- JSON ---- */

static char *put_raw(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_raw((p), (lit), sizeof(lit) - 1)

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    *p++ = '"';
    memcpy(p, s, n);
    p += n;
    *p++ = '"';
    return p;
}

static char *put_int(char *p, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

int nexmark_event_json(const nexmark_event_t *ev, char *buf, size_t cap)
{
    if (cap < NEXMARK_JSON_MAX + ev->extra_len + 1)
        return -ENOSPC;
    char *p = buf;
    switch (ev->type) {
    case NEXMARK_PERSON: {
        const nexmark_person_t *x = &ev->u.person;
        p = PUT_LIT(p, "{\"event_type\":\"person\",\"id\":");
        p = put_int(p, x->id);
        p = PUT_LIT(p, ",\"name\":");
        p = put_str(p, x->name);
        p = PUT_LIT(p, ",\"email_address\":");
        p = put_str(p, x->email_address);
        p = PUT_LIT(p, ",\"credit_card\":");
        p = put_str(p, x->credit_card);
        p = PUT_LIT(p, ",\"city\":");
        p = put_str(p, x->city);
        p = PUT_LIT(p, ",\"state\":");
        p = put_str(p, x->state);
        p = PUT_LIT(p, ",\"date_time\":");
        p = put_int(p, ev->date_time);
        break;
    }
    case NEXMARK_AUCTION: {
        const nexmark_auction_t *x = &ev->u.auction;
        p = PUT_LIT(p, "{\"event_type\":\"auction\",\"id\":");
        p = put_int(p, x->id);
        p = PUT_LIT(p, ",\"item_name\":");
        p = put_str(p, x->item_name);
        p = PUT_LIT(p, ",\"description\":");
        p = put_str(p, x->description);
        p = PUT_LIT(p, ",\"initial_bid\":");
        p = put_int(p, x->initial_bid);
        p = PUT_LIT(p, ",\"reserve\":");
        p = put_int(p, x->reserve);
        p = PUT_LIT(p, ",\"date_time\":");
        p = put_int(p, ev->date_time);
        p = PUT_LIT(p, ",\"expires\":");
        p = put_int(p, x->expires);
        p = PUT_LIT(p, ",\"seller\":");
        p = put_int(p, x->seller);
        p = PUT_LIT(p, ",\"category\":");
        p = put_int(p, x->category);
        break;
    }
    case NEXMARK_BID: {
        const nexmark_bid_t *x = &ev->u.bid;
        p = PUT_LIT(p, "{\"event_type\":\"bid\",\"auction\":");
        p = put_int(p, x->auction);
        p = PUT_LIT(p, ",\"bidder\":");
        p = put_int(p, x->bidder);
        p = PUT_LIT(p, ",\"price\":");
        p = put_int(p, x->price);
        p = PUT_LIT(p, ",\"channel\":");
        p = put_str(p, x->channel);
        p = PUT_LIT(p, ",\"url\":");
        p = put_str(p, x->url);
        p = PUT_LIT(p, ",\"date_time\":");
        p = put_int(p, ev->date_time);
        break;
    }
    }
    p = PUT_LIT(p, ",\"extra\":\"");
    p = put_raw(p, ev->extra, ev->extra_len);
    p = PUT_LIT(p, "\"}");
    *p = '\0';
    return (int)(p - buf);
}
