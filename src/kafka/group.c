/*
 * group.c -- the group coordinator: Kafka's classic consumer-group protocol
 * (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
 * DescribeGroups, ListGroups), modelled on Apache Kafka's GroupCoordinator.
 * Committed offsets and DeleteGroups live in offsets.c.
 *
 * A group moves Empty -> PreparingRebalance (members (re)join; JoinGroup
 * responses are parked) -> CompletingRebalance (every member has its
 * JoinGroup answer; the leader computes the assignment) -> Stable (the
 * leader's SyncGroup stored the assignment and every parked SyncGroup got
 * its share).  A join, leave, session expiry or metadata change sends a
 * Stable or Completing group back to PreparingRebalance; heartbeats answer
 * REBALANCE_IN_PROGRESS so members rejoin.  Dead is transient: a deleted
 * group is unlinked at once.
 *
 * Invariants:
 *  (1) Every JoinGroup or SyncGroup parked on a member is answered exactly
 *      once: when the rebalance completes, when the leader's assignment
 *      arrives, when a newer request from the same member replaces it, when
 *      the member is removed, or at shutdown.  Parked requests survive their
 *      connection (conn == NULL), and kreq_respond() frees those.
 *  (2) A member with a parked JoinGroup or SyncGroup is not expired by its
 *      session timer (Kafka's shouldKeepAlive), except a new member whose
 *      first JoinGroup has waited GROUP_NEW_MEMBER_TIMEOUT_MS; members that
 *      have not rejoined when the rebalance completes are removed.
 *  (3) In CompletingRebalance and Stable the group has members, a leader
 *      among them and a protocol every member supports; a join whose
 *      protocols share none with the other members is refused, so the
 *      intersection is never empty.
 *  (4) Nothing in a group points into a request's frame or arena: ids,
 *      metadata and assignments are copied into memory the coordinator
 *      owns, within GROUP_* size limits.
 */
#include "group_int.h"
#include "kerr.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/kp_clock.h"
#include "../core/logging.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* ---- small helpers ---- */

int gstr_set(gstr_t *dst, const void *p, int32_t len)
{
    char *n = NULL;
    if (len >= 0) {
        n = kp_malloc((size_t)len + 1);
        if (!n)
            return KP_ENOMEM;
        if (len > 0)
            memcpy(n, p, (size_t)len);
        n[len] = '\0';
    }
    kp_free(dst->p);
    dst->p = n;
    dst->len = len < 0 ? -1 : len;
    return 0;
}

void gstr_free(gstr_t *s)
{
    kp_free(s->p);
    s->p = NULL;
    s->len = -1;
}

bool kstr_same(kstr_t a, kstr_t b)
{
    int32_t la = a.len > 0 ? a.len : 0, lb = b.len > 0 ? b.len : 0;
    return la == lb && (la == 0 || memcmp(a.p, b.p, (size_t)la) == 0);
}

static bool kstr_nonempty(kstr_t s)
{
    return s.len > 0;
}

bool group_id_valid(kstr_t id, bool allow_empty)
{
    if (id.len < 0 || id.len > GROUP_ID_MAX)
        return false;
    return allow_empty || id.len > 0;
}

const char *group_state_name(enum group_state s)
{
    switch (s) {
    case GROUP_EMPTY: return "Empty";
    case GROUP_PREPARING_REBALANCE: return "PreparingRebalance";
    case GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
    case GROUP_STABLE: return "Stable";
    case GROUP_DEAD: return "Dead";
    }
    return "Dead";
}

static const char *gname(const group_t *g)
{
    return g->id.p ? g->id.p : "";
}

static int64_t now_ms(void)
{
    return kp_now_ms();
}

/* A member id: prefix (client.id, or group.instance.id) + "-" + a UUID, as
 * Kafka builds them. */
static int member_id_new(group_coord_t *gc, kstr_t prefix, gstr_t *out)
{
    uint8_t u[16];
    if (getrandom(u, sizeof u, GRND_NONBLOCK) != (ssize_t)sizeof u) {
        for (int i = 0; i < 16; i += 8) {
            gc->rng ^= gc->rng << 13;
            gc->rng ^= gc->rng >> 7;
            gc->rng ^= gc->rng << 17;
            memcpy(u + i, &gc->rng, 8);
        }
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    char buf[GROUP_CLIENT_ID_MAX + 40];
    int32_t plen = prefix.len > 0 ? prefix.len : 0;
    if (plen > GROUP_CLIENT_ID_MAX)
        plen = GROUP_CLIENT_ID_MAX;
    if (plen)
        memcpy(buf, prefix.p, (size_t)plen);
    int n = plen;
    static const char hex[] = "0123456789abcdef";
    buf[n++] = '-';
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[n++] = '-';
        buf[n++] = hex[u[i] >> 4];
        buf[n++] = hex[u[i] & 15];
    }
    return gstr_set(out, buf, n);
}

/* ---- the group table ---- */

static size_t hash_id(kstr_t id)
{
    uint64_t h = 1469598103934665603ull;
    for (int32_t i = 0; i < id.len; i++) {
        h ^= (uint8_t)id.p[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

group_t *group_find(group_coord_t *gc, kstr_t id)
{
    if (!gc || id.len < 0)
        return NULL;
    for (group_t *g = gc->buckets[hash_id(id) & (gc->nbuckets - 1)]; g; g = g->hnext)
        if (kstr_same(gstr_k(&g->id), id) && g->id.len == id.len)
            return g;
    return NULL;
}

static void table_grow(group_coord_t *gc)
{
    size_t n = gc->nbuckets * 2;
    group_t **nb = kp_calloc(n, sizeof *nb);
    if (!nb)
        return;                 /* longer chains; still correct */
    for (size_t i = 0; i < gc->nbuckets; i++) {
        group_t *g = gc->buckets[i];
        while (g) {
            group_t *next = g->hnext;
            size_t k = hash_id(gstr_k(&g->id)) & (n - 1);
            g->hnext = nb[k];
            nb[k] = g;
            g = next;
        }
    }
    kp_free(gc->buckets);
    gc->buckets = nb;
    gc->nbuckets = n;
}

group_t *group_get(group_coord_t *gc, kstr_t id)
{
    group_t *g = group_find(gc, id);
    if (g)
        return g;
    g = kp_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->gc = gc;
    g->protocol_type = g->protocol_name = (gstr_t){NULL, -1};
    if (gstr_set(&g->id, id.p, id.len)) {
        kp_free(g);
        return NULL;
    }
    g->state = GROUP_EMPTY;
    loop_timer_init(&g->join_timer);
    g->empty_since_ms = now_ms();
    if (gc->ngroups >= gc->nbuckets)
        table_grow(gc);
    size_t k = hash_id(id) & (gc->nbuckets - 1);
    g->hnext = gc->buckets[k];
    gc->buckets[k] = g;
    gc->ngroups++;
    return g;
}

static void table_unlink(group_t *g)
{
    group_coord_t *gc = g->gc;
    group_t **pp = &gc->buckets[hash_id(gstr_k(&g->id)) & (gc->nbuckets - 1)];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = g->hnext;
        gc->ngroups--;
    }
}

/* ---- responses ---- */

static void join_respond(kreq_t *r, int16_t err, kstr_t member_id, int32_t generation,
                         kstr_t protocol, kstr_t leader, karray_t members)
{
    join_group_resp_t resp = {0};
    resp.error_code = err;
    resp.generation_id = generation;
    resp.protocol_name = protocol.len >= 0 ? protocol : (kstr_t){"", 0};
    resp.leader = leader.len >= 0 ? leader : (kstr_t){"", 0};
    resp.member_id = member_id.len >= 0 ? member_id : (kstr_t){"", 0};
    resp.members = members;
    kreq_respond(r, &resp);
}

static void join_error(kreq_t *r, kstr_t member_id, int16_t err)
{
    join_respond(r, err, member_id, -1, KSTR(""), KSTR(""), (karray_t){NULL, 0});
}

static void sync_respond(kreq_t *r, int16_t err, kbytes_t assignment)
{
    sync_group_resp_t resp = {0};
    resp.error_code = err;
    resp.assignment = assignment.len >= 0 ? assignment : (kbytes_t){NULL, 0};
    kreq_respond(r, &resp);
}

static const gstr_t *member_metadata_for(const group_member_t *m, const gstr_t *protocol)
{
    for (int i = 0; i < m->nprotocols; i++)
        if (kstr_same(gstr_k(&m->protocols[i].name), gstr_k(protocol)) &&
            m->protocols[i].name.len == protocol->len)
            return &m->protocols[i].metadata;
    return NULL;
}

/* Answer a JoinGroup with the current generation: the leader gets every
 * member's metadata for the chosen protocol, followers an empty list.
 * Response arrays that grow with the group's state, not with the request,
 * are kp_malloc'd for the duration of kreq_respond (which encodes them at
 * once): the request's arena is capped by its frame size. */
static void join_respond_current(group_t *g, group_member_t *m, kreq_t *r, kstr_t leader)
{
    karray_t ms = {NULL, 0};
    join_group_resp_join_group_response_member_t *v = NULL;
    if (m == g->leader) {
        v = kp_calloc((size_t)(g->nmembers ? g->nmembers : 1), sizeof *v);
        if (!v) {
            kreq_abort(r);
            return;
        }
        for (int i = 0; i < g->nmembers; i++) {
            group_member_t *x = g->members[i];
            const gstr_t *md = member_metadata_for(x, &g->protocol_name);
            v[i].member_id = gstr_k(&x->member_id);
            v[i].group_instance_id = kstr_nonempty(gstr_k(&x->group_instance_id))
                                         ? gstr_k(&x->group_instance_id) : KSTR_NULL;
            v[i].metadata = md ? gstr_b(md) : (kbytes_t){NULL, 0};
        }
        ms = (karray_t){v, g->nmembers};
    }
    join_respond(r, KERR_NONE, gstr_k(&m->member_id), g->generation, gstr_k(&g->protocol_name),
                 leader, ms);
    kp_free(v);
}

static void member_answer_join(group_t *g, group_member_t *m)
{
    kreq_t *r = m->join_req;
    m->join_req = NULL;
    if (r)
        join_respond_current(g, m, r, g->leader ? gstr_k(&g->leader->member_id) : KSTR(""));
}

static void member_fail_join(group_member_t *m, int16_t err)
{
    kreq_t *r = m->join_req;
    m->join_req = NULL;
    if (r)
        join_error(r, err == KERR_UNKNOWN_MEMBER_ID ? KSTR("") : gstr_k(&m->member_id), err);
}

static void member_fail_sync(group_member_t *m, int16_t err)
{
    kreq_t *r = m->sync_req;
    m->sync_req = NULL;
    if (r)
        sync_respond(r, err, (kbytes_t){NULL, 0});
}

/* ---- members ---- */

static void protocols_free(group_protocol_t *ps, int n)
{
    for (int i = 0; i < n; i++) {
        gstr_free(&ps[i].name);
        gstr_free(&ps[i].metadata);
    }
    kp_free(ps);
}

static void member_free(group_member_t *m)
{
    gstr_free(&m->member_id);
    gstr_free(&m->group_instance_id);
    gstr_free(&m->client_id);
    gstr_free(&m->client_host);
    gstr_free(&m->assignment);
    protocols_free(m->protocols, m->nprotocols);
    kp_free(m);
}

static group_member_t *member_alloc(group_t *g)
{
    group_member_t *m = kp_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->g = g;
    m->member_id = m->group_instance_id = m->client_id = m->client_host = m->assignment =
        (gstr_t){NULL, -1};
    loop_timer_init(&m->session_timer);
    return m;
}

group_member_t *group_member_find(group_t *g, kstr_t member_id)
{
    if (member_id.len <= 0)
        return NULL;
    for (int i = 0; i < g->nmembers; i++)
        if (g->members[i]->member_id.len == member_id.len &&
            memcmp(g->members[i]->member_id.p, member_id.p, (size_t)member_id.len) == 0)
            return g->members[i];
    return NULL;
}

static int pending_index(group_t *g, kstr_t member_id)
{
    if (member_id.len <= 0)
        return -1;
    for (int i = 0; i < g->npending; i++)
        if (g->pending[i]->member_id.len == member_id.len &&
            memcmp(g->pending[i]->member_id.p, member_id.p, (size_t)member_id.len) == 0)
            return i;
    return -1;
}

static group_member_t *static_member(group_t *g, kstr_t instance_id)
{
    if (!kstr_nonempty(instance_id))
        return NULL;
    for (int i = 0; i < g->nmembers; i++)
        if (g->members[i]->group_instance_id.len == instance_id.len &&
            memcmp(g->members[i]->group_instance_id.p, instance_id.p,
                   (size_t)instance_id.len) == 0)
            return g->members[i];
    return NULL;
}

bool group_static_fenced(group_t *g, kstr_t member_id, kstr_t instance_id)
{
    group_member_t *m = static_member(g, instance_id);
    return m && !kstr_same(gstr_k(&m->member_id), member_id);
}

static void on_session_timeout(loop_t *l, void *ctx);

void group_member_heartbeat(group_member_t *m)
{
    loop_timer_start(m->g->gc->b->loop, &m->session_timer, m->session_timeout_ms,
                     on_session_timeout, m);
}

static int group_rebalance_timeout(const group_t *g)
{
    int t = 0;
    for (int i = 0; i < g->nmembers; i++)
        if (g->members[i]->rebalance_timeout_ms > t)
            t = g->members[i]->rebalance_timeout_ms;
    return t;
}

static bool array_push(group_member_t ***arr, int *n, int *cap, group_member_t *m)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        group_member_t **a = kp_realloc(*arr, (size_t)nc * sizeof *a);
        if (!a)
            return false;
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*n)++] = m;
    return true;
}

static void array_remove(group_member_t **arr, int *n, group_member_t *m)
{
    for (int i = 0; i < *n; i++)
        if (arr[i] == m) {
            memmove(arr + i, arr + i + 1, (size_t)(*n - i - 1) * sizeof *arr);
            (*n)--;
            return;
        }
}

/* Take a member out of the group and free it; its parked requests are
 * answered with err.  The group's state is the caller's business. */
static void member_remove(group_t *g, group_member_t *m, int16_t err)
{
    loop_timer_stop(g->gc->b->loop, &m->session_timer);
    member_fail_join(m, err);
    member_fail_sync(m, err);
    if (m->pending) {
        array_remove(g->pending, &g->npending, m);
    } else {
        array_remove(g->members, &g->nmembers, m);
        if (g->leader == m)
            g->leader = g->nmembers ? g->members[0] : NULL;
    }
    member_free(m);
}

/* Copy a JoinGroup's protocols into owned memory, within the limits. */
static int16_t protocols_copy(const join_group_req_t *req, group_protocol_t **out, int *nout)
{
    int n = req->protocols.n > 0 ? req->protocols.n : 0;
    const join_group_req_join_group_request_protocol_t *rp = req->protocols.v;
    if (n > GROUP_PROTOCOLS_MAX)
        return KERR_INVALID_REQUEST;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += (rp[i].name.len > 0 ? rp[i].name.len : 0) +
                 (rp[i].metadata.len > 0 ? rp[i].metadata.len : 0);
    if (total > GROUP_METADATA_MAX)
        return KERR_INVALID_REQUEST;
    group_protocol_t *ps = kp_calloc((size_t)(n ? n : 1), sizeof *ps);
    if (!ps)
        return KERR_UNKNOWN_SERVER_ERROR;
    for (int i = 0; i < n; i++) {
        ps[i].name = ps[i].metadata = (gstr_t){NULL, -1};
        if (gstr_set(&ps[i].name, rp[i].name.p, rp[i].name.len > 0 ? rp[i].name.len : 0) ||
            gstr_set(&ps[i].metadata, rp[i].metadata.p,
                     rp[i].metadata.len > 0 ? rp[i].metadata.len : 0)) {
            protocols_free(ps, i + 1);
            return KERR_UNKNOWN_SERVER_ERROR;
        }
    }
    *out = ps;
    *nout = n;
    return KERR_NONE;
}

static bool member_supports(const group_member_t *m, kstr_t name)
{
    for (int i = 0; i < m->nprotocols; i++)
        if (m->protocols[i].name.len == (name.len > 0 ? name.len : 0) &&
            kstr_same(gstr_k(&m->protocols[i].name), name))
            return true;
    return false;
}

/* Kafka's supportsProtocols: the first member sets the protocol type; later
 * ones must match it and share a protocol with every other member. */
static bool supports_protocols(group_t *g, const group_member_t *self,
                               const join_group_req_t *req)
{
    int n = req->protocols.n > 0 ? req->protocols.n : 0;
    const join_group_req_join_group_request_protocol_t *rp = req->protocols.v;
    int others = g->nmembers - (self ? 1 : 0);
    if (others <= 0)
        return kstr_nonempty(req->protocol_type) && n > 0;
    if (!kstr_same(req->protocol_type, gstr_k(&g->protocol_type)))
        return false;
    for (int i = 0; i < n; i++) {
        bool all = true;
        for (int j = 0; j < g->nmembers && all; j++)
            if (g->members[j] != self)
                all = member_supports(g->members[j], rp[i].name);
        if (all)
            return true;
    }
    return false;
}

static bool protocols_match(const group_member_t *m, const join_group_req_t *req)
{
    int n = req->protocols.n > 0 ? req->protocols.n : 0;
    const join_group_req_join_group_request_protocol_t *rp = req->protocols.v;
    if (n != m->nprotocols)
        return false;
    for (int i = 0; i < n; i++) {
        const group_protocol_t *p = &m->protocols[i];
        int32_t ml = rp[i].metadata.len > 0 ? rp[i].metadata.len : 0;
        if (!kstr_same(gstr_k(&p->name), rp[i].name) || p->metadata.len != ml ||
            (ml && memcmp(p->metadata.p, rp[i].metadata.p, (size_t)ml) != 0))
            return false;
    }
    return true;
}

/* Kafka's selectProtocol: among the protocols every member supports, the
 * one most members prefer (ties: the leader's order). */
static int select_protocol(group_t *g)
{
    group_member_t *first = g->leader ? g->leader : g->members[0];
    int votes[GROUP_PROTOCOLS_MAX] = {0};
    bool cand[GROUP_PROTOCOLS_MAX] = {false};
    int ncand = 0;
    for (int i = 0; i < first->nprotocols; i++) {
        bool all = true;
        for (int j = 0; j < g->nmembers && all; j++)
            all = member_supports(g->members[j], gstr_k(&first->protocols[i].name));
        cand[i] = all;
        ncand += all;
    }
    if (ncand == 0)
        return KP_ENOTFOUND;
    for (int j = 0; j < g->nmembers; j++) {
        group_member_t *m = g->members[j];
        for (int k = 0; k < m->nprotocols; k++) {
            int hit = -1;
            for (int i = 0; i < first->nprotocols && hit < 0; i++)
                if (cand[i] && kstr_same(gstr_k(&first->protocols[i].name),
                                         gstr_k(&m->protocols[k].name)))
                    hit = i;
            if (hit >= 0) {
                votes[hit]++;
                break;
            }
        }
    }
    int best = -1;
    for (int i = 0; i < first->nprotocols; i++)
        if (cand[i] && (best < 0 || votes[i] > votes[best]))
            best = i;
    return gstr_set(&g->protocol_name, first->protocols[best].name.p,
                    first->protocols[best].name.len);
}

/* ---- rebalancing ---- */

static void on_join_timer(loop_t *l, void *ctx);

static void set_empty(group_t *g)
{
    g->state = GROUP_EMPTY;
    gstr_free(&g->protocol_name);
    g->leader = NULL;
    g->empty_since_ms = now_ms();
}

/* Every member has rejoined: answer their JoinGroups with the new
 * generation (Kafka's onCompleteJoin). */
static void complete_join(group_t *g)
{
    loop_timer_stop(g->gc->b->loop, &g->join_timer);
    g->initial_delay = false;
    g->new_member_added = false;
    /* Invariant (2): members that did not rejoin in time are out. */
    for (int i = g->nmembers - 1; i >= 0; i--) {
        group_member_t *m = g->members[i];
        if (!m->join_req) {
            KP_INFO("group %s: member %s did not rejoin in time; removing it", gname(g),
                    m->member_id.p);
            member_remove(g, m, KERR_UNKNOWN_MEMBER_ID);
        }
    }
    g->generation++;
    if (g->nmembers == 0) {
        set_empty(g);
        KP_INFO("group %s: generation %d is empty", gname(g), g->generation);
        return;
    }
    if (!g->leader)
        g->leader = g->members[0];
    if (select_protocol(g) != 0) {
        /* Cannot happen (invariant (3)); fail safe rather than assert. */
        while (g->nmembers)
            member_remove(g, g->members[g->nmembers - 1], KERR_INCONSISTENT_GROUP_PROTOCOL);
        set_empty(g);
        return;
    }
    g->state = GROUP_COMPLETING_REBALANCE;
    KP_INFO("group %s: generation %d with %d member(s), protocol %s, leader %s", gname(g),
            g->generation, g->nmembers, g->protocol_name.p, g->leader->member_id.p);
    for (int i = 0; i < g->nmembers; i++) {
        group_member_t *m = g->members[i];
        member_answer_join(g, m);
        group_member_heartbeat(m);
        m->is_new = false;
    }
}

static bool all_joined(const group_t *g)
{
    if (g->npending)
        return false;
    for (int i = 0; i < g->nmembers; i++)
        if (!g->members[i]->join_req)
            return false;
    return true;
}

static void try_complete_join(group_t *g)
{
    if (g->state == GROUP_PREPARING_REBALANCE && !g->initial_delay && all_joined(g))
        complete_join(g);
}

static void on_join_timer(loop_t *l, void *ctx)
{
    group_t *g = ctx;
    (void)l;
    if (g->state != GROUP_PREPARING_REBALANCE)
        return;
    if (g->initial_delay && g->new_member_added && g->initial_remaining_ms > 0) {
        /* Kafka's InitialDelayedJoin: new members keep arriving, wait on. */
        int64_t d = g->gc->b->cfg.group_initial_rebalance_delay_ms;
        int64_t wait = d < g->initial_remaining_ms ? d : g->initial_remaining_ms;
        g->initial_remaining_ms = g->initial_remaining_ms > d ? g->initial_remaining_ms - d : 0;
        g->new_member_added = false;
        loop_timer_start(l, &g->join_timer, wait, on_join_timer, g);
        return;
    }
    complete_join(g);
}

/* Answer parked SyncGroups with err and clear the assignments. */
static void reset_assignments(group_t *g, int16_t err)
{
    for (int i = 0; i < g->nmembers; i++) {
        gstr_free(&g->members[i]->assignment);
        member_fail_sync(g->members[i], err);
    }
}

static void prepare_rebalance(group_t *g, const char *why)
{
    broker_t *b = g->gc->b;
    if (g->state == GROUP_COMPLETING_REBALANCE)
        reset_assignments(g, KERR_REBALANCE_IN_PROGRESS);
    bool was_empty = g->state == GROUP_EMPTY;
    g->state = GROUP_PREPARING_REBALANCE;
    int64_t timeout = group_rebalance_timeout(g);
    KP_INFO("group %s: preparing to rebalance (generation %d): %s", gname(g), g->generation, why);
    if (was_empty) {
        int64_t d = b->cfg.group_initial_rebalance_delay_ms;
        g->initial_delay = true;
        g->new_member_added = false;
        g->initial_remaining_ms = timeout > d ? timeout - d : 0;
        loop_timer_start(b->loop, &g->join_timer, d, on_join_timer, g);
    } else {
        g->initial_delay = false;
        loop_timer_start(b->loop, &g->join_timer, timeout, on_join_timer, g);
        try_complete_join(g);
    }
}

static void maybe_prepare_rebalance(group_t *g, const char *why)
{
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE ||
        g->state == GROUP_EMPTY)
        prepare_rebalance(g, why);
}

/* Kafka's removeMemberAndUpdateGroup. */
static void remove_member_and_update(group_t *g, group_member_t *m, int16_t err,
                                     const char *why)
{
    member_remove(g, m, err);
    switch (g->state) {
    case GROUP_STABLE:
    case GROUP_COMPLETING_REBALANCE:
        maybe_prepare_rebalance(g, why);
        break;
    case GROUP_PREPARING_REBALANCE:
        try_complete_join(g);
        break;
    default:
        break;
    }
}

static void on_session_timeout(loop_t *l, void *ctx)
{
    group_member_t *m = ctx;
    group_t *g = m->g;
    (void)l;
    if (m->pending) {
        KP_INFO("group %s: pending member %s did not rejoin; dropped", gname(g), m->member_id.p);
        member_remove(g, m, KERR_UNKNOWN_MEMBER_ID);
        try_complete_join(g);
        return;
    }
    /* Invariant (2). */
    if ((m->join_req && !m->is_new) || m->sync_req) {
        group_member_heartbeat(m);
        return;
    }
    KP_INFO("group %s: member %s session expired; removing it", gname(g), m->member_id.p);
    remove_member_and_update(g, m, KERR_UNKNOWN_MEMBER_ID, "member session expired");
}

void group_destroy(group_t *g, int16_t err)
{
    loop_t *l = g->gc->b->loop;
    loop_timer_stop(l, &g->join_timer);
    while (g->nmembers)
        member_remove(g, g->members[g->nmembers - 1], err);
    while (g->npending)
        member_remove(g, g->pending[g->npending - 1], err);
    table_unlink(g);
    group_offsets_free(g);
    kp_free(g->members);
    kp_free(g->pending);
    gstr_free(&g->id);
    gstr_free(&g->protocol_type);
    gstr_free(&g->protocol_name);
    kp_free(g);
}

/* ---- JoinGroup ---- */

/* JoinGroup v0 has no rebalance timeout: the session timeout serves. */
static void member_set_timeouts(group_member_t *m, const join_group_req_t *req)
{
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms > 0 ? req->rebalance_timeout_ms
                                                            : req->session_timeout_ms;
}

/* Kafka's addMemberAndRebalance; member_id is moved into the member. */
static void add_member_and_rebalance(group_t *g, kreq_t *r, const join_group_req_t *req,
                                     gstr_t *member_id)
{
    if (g->nmembers >= GROUP_MAX_MEMBERS) {
        join_error(r, KSTR(""), KERR_GROUP_MAX_SIZE_REACHED);
        gstr_free(member_id);
        return;
    }
    group_member_t *m = member_alloc(g);
    group_protocol_t *ps = NULL;
    int nps = 0;
    int16_t err = m ? protocols_copy(req, &ps, &nps) : KERR_UNKNOWN_SERVER_ERROR;
    if (err == KERR_NONE) {
        int32_t cl = r->client_id.len > GROUP_CLIENT_ID_MAX ? GROUP_CLIENT_ID_MAX
                                                            : r->client_id.len;
        if (gstr_set(&m->client_id, r->client_id.p, cl > 0 ? cl : 0) ||
            gstr_set(&m->client_host, kreq_peer_host(r), (int32_t)strlen(kreq_peer_host(r))) ||
            (kstr_nonempty(req->group_instance_id) &&
             gstr_set(&m->group_instance_id, req->group_instance_id.p,
                      req->group_instance_id.len)) ||
            (g->nmembers == 0 && gstr_set(&g->protocol_type, req->protocol_type.p,
                                          req->protocol_type.len)) ||
            !array_push(&g->members, &g->nmembers, &g->capmembers, m))
            err = KERR_UNKNOWN_SERVER_ERROR;
    }
    if (err != KERR_NONE) {
        protocols_free(ps, nps);
        if (m)
            member_free(m);
        gstr_free(member_id);
        join_error(r, KSTR(""), err);
        return;
    }
    m->member_id = *member_id;
    *member_id = (gstr_t){NULL, -1};
    m->protocols = ps;
    m->nprotocols = nps;
    member_set_timeouts(m, req);
    m->is_new = true;
    if (!g->leader)
        g->leader = m;
    if (g->state == GROUP_PREPARING_REBALANCE && g->initial_delay)
        g->new_member_added = true;
    m->join_req = r;
    r->state = KREQ_WAITING;
    /* A new member cannot heartbeat yet; its JoinGroup may wait this long. */
    loop_timer_start(g->gc->b->loop, &m->session_timer, GROUP_NEW_MEMBER_TIMEOUT_MS,
                     on_session_timeout, m);
    KP_INFO("group %s: member %s joins (client %s)", gname(g), m->member_id.p,
            m->client_id.p ? m->client_id.p : "");
    maybe_prepare_rebalance(g, "a member joined");
}

/* Replace a member's protocols and park its JoinGroup (Kafka's
 * updateMemberAndRebalance). */
static void update_member_and_rebalance(group_t *g, group_member_t *m, kreq_t *r,
                                        const join_group_req_t *req, const char *why)
{
    group_protocol_t *ps = NULL;
    int nps = 0;
    int16_t err = protocols_copy(req, &ps, &nps);
    if (err != KERR_NONE) {
        join_error(r, gstr_k(&m->member_id), err);
        return;
    }
    protocols_free(m->protocols, m->nprotocols);
    m->protocols = ps;
    m->nprotocols = nps;
    member_set_timeouts(m, req);
    /* Invariant (1): a newer JoinGroup replaces a parked one. */
    member_fail_join(m, KERR_REBALANCE_IN_PROGRESS);
    m->join_req = r;
    r->state = KREQ_WAITING;
    maybe_prepare_rebalance(g, why);
}

/* A static member (group.instance.id) rejoining without its member id:
 * it takes over the old member's place under a new id. */
static void join_static_replace(group_t *g, group_member_t *m, kreq_t *r,
                                const join_group_req_t *req, gstr_t *new_id)
{
    gstr_t old_leader = {NULL, -1};
    if (g->leader && gstr_set(&old_leader, g->leader->member_id.p, g->leader->member_id.len)) {
        gstr_free(new_id);
        join_error(r, KSTR(""), KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    group_protocol_t *ps = NULL;
    int nps = 0;
    int16_t err = protocols_copy(req, &ps, &nps);
    if (err != KERR_NONE) {
        gstr_free(&old_leader);
        gstr_free(new_id);
        join_error(r, KSTR(""), err);
        return;
    }
    KP_INFO("group %s: static member %s rejoins as %s", gname(g), m->group_instance_id.p,
            new_id->p);
    member_fail_join(m, GROUP_KERR_FENCED_INSTANCE_ID);
    member_fail_sync(m, GROUP_KERR_FENCED_INSTANCE_ID);
    gstr_free(&m->member_id);
    m->member_id = *new_id;
    *new_id = (gstr_t){NULL, -1};
    protocols_free(m->protocols, m->nprotocols);
    m->protocols = ps;
    m->nprotocols = nps;
    member_set_timeouts(m, req);
    group_member_heartbeat(m);
    if (g->state == GROUP_STABLE) {
        /* No rebalance: the member gets the current generation, and the
         * old leader id tells it not to compute an assignment; its
         * SyncGroup returns the assignment it had. */
        join_respond(r, KERR_NONE, gstr_k(&m->member_id), g->generation,
                     gstr_k(&g->protocol_name), gstr_k(&old_leader), (karray_t){NULL, 0});
    } else {
        /* Preparing: it joins the rebalance under way.  Completing: the
         * assignment may be the leader's to make, so start over. */
        m->join_req = r;
        r->state = KREQ_WAITING;
        maybe_prepare_rebalance(g, "a static member rejoined");
    }
    gstr_free(&old_leader);
}

static void join_unknown(group_t *g, kreq_t *r, const join_group_req_t *req)
{
    group_coord_t *gc = g->gc;
    bool is_static = kstr_nonempty(req->group_instance_id);
    gstr_t id = {NULL, -1};
    if (member_id_new(gc, is_static ? req->group_instance_id : r->client_id, &id)) {
        join_error(r, KSTR(""), KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    group_member_t *old = static_member(g, req->group_instance_id);
    if (old) {
        join_static_replace(g, old, r, req, &id);
        return;
    }
    if (r->api_version >= 4 && !is_static) {
        /* KIP-394: hand out the id first; the member rejoins with it. */
        if (g->npending >= GROUP_MAX_MEMBERS) {
            gstr_free(&id);
            join_error(r, KSTR(""), KERR_GROUP_MAX_SIZE_REACHED);
            return;
        }
        group_member_t *p = member_alloc(g);
        if (!p || !array_push(&g->pending, &g->npending, &g->cappending, p)) {
            kp_free(p);
            gstr_free(&id);
            join_error(r, KSTR(""), KERR_UNKNOWN_SERVER_ERROR);
            return;
        }
        p->pending = true;
        p->member_id = id;
        p->session_timeout_ms = req->session_timeout_ms;
        group_member_heartbeat(p);
        join_error(r, gstr_k(&p->member_id), KERR_MEMBER_ID_REQUIRED);
        return;
    }
    add_member_and_rebalance(g, r, req, &id);
}

static void join_known(group_t *g, kreq_t *r, const join_group_req_t *req)
{
    int pi = pending_index(g, req->member_id);
    if (pi >= 0) {
        group_member_t *p = g->pending[pi];
        gstr_t id = p->member_id;
        p->member_id = (gstr_t){NULL, -1};
        member_remove(g, p, KERR_NONE);
        add_member_and_rebalance(g, r, req, &id);
        return;
    }
    if (group_static_fenced(g, req->member_id, req->group_instance_id)) {
        join_error(r, req->member_id, GROUP_KERR_FENCED_INSTANCE_ID);
        return;
    }
    group_member_t *m = group_member_find(g, req->member_id);
    if (!m || (kstr_nonempty(req->group_instance_id) &&
               !static_member(g, req->group_instance_id))) {
        join_error(r, req->member_id, KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    switch (g->state) {
    case GROUP_PREPARING_REBALANCE:
        update_member_and_rebalance(g, m, r, req, "a member rejoined");
        break;
    case GROUP_COMPLETING_REBALANCE:
        if (protocols_match(m, req))
            join_respond_current(g, m, r, gstr_k(&g->leader->member_id));
        else
            update_member_and_rebalance(g, m, r, req, "a member changed its metadata");
        break;
    case GROUP_STABLE:
        if (m == g->leader || !protocols_match(m, req))
            update_member_and_rebalance(g, m, r, req, m == g->leader
                                        ? "the leader rejoined" : "a member changed its metadata");
        else
            join_respond_current(g, m, r, gstr_k(&g->leader->member_id));
        break;
    default:
        join_error(r, req->member_id, KERR_UNKNOWN_MEMBER_ID);
        break;
    }
}

static void handle_join_group(kreq_t *r)
{
    broker_t *b = r->b;
    join_group_req_t *req = r->body;
    group_coord_t *gc = b->groups;
    if (!gc) {
        join_error(r, req->member_id, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (!group_id_valid(req->group_id, false)) {
        join_error(r, req->member_id, KERR_INVALID_GROUP_ID);
        return;
    }
    if (req->session_timeout_ms < b->cfg.group_min_session_timeout_ms ||
        req->session_timeout_ms > b->cfg.group_max_session_timeout_ms) {
        join_error(r, req->member_id, KERR_INVALID_SESSION_TIMEOUT);
        return;
    }
    bool unknown = req->member_id.len <= 0;
    group_t *g = group_find(gc, req->group_id);
    if (!g) {
        if (!unknown) {
            join_error(r, req->member_id, KERR_UNKNOWN_MEMBER_ID);
            return;
        }
        g = group_get(gc, req->group_id);
        if (!g) {
            join_error(r, req->member_id, KERR_COORDINATOR_NOT_AVAILABLE);
            return;
        }
    }
    if (g->state == GROUP_DEAD) {
        join_error(r, req->member_id, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (unknown && g->nmembers >= GROUP_MAX_MEMBERS) {
        join_error(r, KSTR(""), KERR_GROUP_MAX_SIZE_REACHED);
        return;
    }
    group_member_t *self = unknown ? NULL : group_member_find(g, req->member_id);
    if (!supports_protocols(g, self, req)) {
        join_error(r, req->member_id, KERR_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    if (unknown)
        join_unknown(g, r, req);
    else
        join_known(g, r, req);
    try_complete_join(g);
}

/* ---- SyncGroup ---- */

static void handle_sync_group(kreq_t *r)
{
    sync_group_req_t *req = r->body;
    group_coord_t *gc = r->b->groups;
    kbytes_t none = {NULL, 0};
    if (!group_id_valid(req->group_id, false)) {
        sync_respond(r, KERR_INVALID_GROUP_ID, none);
        return;
    }
    group_t *g = group_find(gc, req->group_id);
    if (!g) {
        sync_respond(r, KERR_UNKNOWN_MEMBER_ID, none);
        return;
    }
    if (g->state == GROUP_DEAD) {
        sync_respond(r, KERR_COORDINATOR_NOT_AVAILABLE, none);
        return;
    }
    if (group_static_fenced(g, req->member_id, req->group_instance_id)) {
        sync_respond(r, GROUP_KERR_FENCED_INSTANCE_ID, none);
        return;
    }
    group_member_t *m = group_member_find(g, req->member_id);
    if (!m) {
        sync_respond(r, KERR_UNKNOWN_MEMBER_ID, none);
        return;
    }
    if (req->generation_id != g->generation) {
        sync_respond(r, KERR_ILLEGAL_GENERATION, none);
        return;
    }
    switch (g->state) {
    case GROUP_EMPTY:
        sync_respond(r, KERR_UNKNOWN_MEMBER_ID, none);
        return;
    case GROUP_PREPARING_REBALANCE:
        sync_respond(r, KERR_REBALANCE_IN_PROGRESS, none);
        return;
    case GROUP_STABLE:
        group_member_heartbeat(m);
        sync_respond(r, KERR_NONE, gstr_b(&m->assignment));
        return;
    case GROUP_COMPLETING_REBALANCE:
        break;
    default:
        sync_respond(r, KERR_COORDINATOR_NOT_AVAILABLE, none);
        return;
    }
    /* Invariant (1): a newer SyncGroup replaces a parked one. */
    member_fail_sync(m, KERR_REBALANCE_IN_PROGRESS);
    m->sync_req = r;
    r->state = KREQ_WAITING;
    if (m != g->leader)
        return;

    /* The leader's assignment: copy it for every member (missing ones get
     * an empty assignment), then answer all parked SyncGroups. */
    int n = req->assignments.n > 0 ? req->assignments.n : 0;
    const sync_group_req_sync_group_request_assignment_t *as = req->assignments.v;
    gstr_t *next = kp_calloc((size_t)g->nmembers, sizeof *next);
    int16_t err = next ? KERR_NONE : KERR_UNKNOWN_SERVER_ERROR;
    for (int i = 0; i < g->nmembers && err == KERR_NONE; i++) {
        group_member_t *x = g->members[i];
        const sync_group_req_sync_group_request_assignment_t *a = NULL;
        for (int j = 0; j < n; j++)
            if (kstr_same(as[j].member_id, gstr_k(&x->member_id)) &&
                as[j].member_id.len == x->member_id.len)
                a = &as[j];
        int32_t len = a && a->assignment.len > 0 ? a->assignment.len : 0;
        next[i] = (gstr_t){NULL, -1};
        if (len > GROUP_ASSIGNMENT_MAX)
            err = KERR_UNKNOWN_SERVER_ERROR;
        else if (gstr_set(&next[i], a ? (const char *)a->assignment.p : "", len))
            err = KERR_UNKNOWN_SERVER_ERROR;
    }
    if (err != KERR_NONE) {
        for (int i = 0; next && i < g->nmembers; i++)
            gstr_free(&next[i]);
        kp_free(next);
        KP_WARN("group %s: cannot store the leader's assignment; rebalancing", gname(g));
        reset_assignments(g, err);
        maybe_prepare_rebalance(g, "the assignment could not be stored");
        return;
    }
    for (int i = 0; i < g->nmembers; i++) {
        gstr_free(&g->members[i]->assignment);
        g->members[i]->assignment = next[i];
    }
    kp_free(next);
    g->state = GROUP_STABLE;
    KP_INFO("group %s: generation %d is stable", gname(g), g->generation);
    for (int i = 0; i < g->nmembers; i++) {
        group_member_t *x = g->members[i];
        kreq_t *sr = x->sync_req;
        if (!sr)
            continue;
        x->sync_req = NULL;
        sync_respond(sr, KERR_NONE, gstr_b(&x->assignment));
        group_member_heartbeat(x);
    }
}

/* ---- Heartbeat ---- */

static void heartbeat_respond(kreq_t *r, int16_t err)
{
    heartbeat_resp_t resp = {0};
    resp.error_code = err;
    kreq_respond(r, &resp);
}

static void handle_heartbeat(kreq_t *r)
{
    heartbeat_req_t *req = r->body;
    if (!group_id_valid(req->group_id, false)) {
        heartbeat_respond(r, KERR_INVALID_GROUP_ID);
        return;
    }
    group_t *g = group_find(r->b->groups, req->group_id);
    if (!g) {
        heartbeat_respond(r, KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    if (g->state == GROUP_DEAD) {
        heartbeat_respond(r, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (group_static_fenced(g, req->member_id, req->group_instance_id)) {
        heartbeat_respond(r, GROUP_KERR_FENCED_INSTANCE_ID);
        return;
    }
    group_member_t *m = group_member_find(g, req->member_id);
    if (!m) {
        heartbeat_respond(r, KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    if (req->generation_id != g->generation) {
        heartbeat_respond(r, KERR_ILLEGAL_GENERATION);
        return;
    }
    switch (g->state) {
    case GROUP_EMPTY:
        heartbeat_respond(r, KERR_UNKNOWN_MEMBER_ID);
        break;
    case GROUP_PREPARING_REBALANCE:
        group_member_heartbeat(m);
        heartbeat_respond(r, KERR_REBALANCE_IN_PROGRESS);
        break;
    default:
        /* Stable, and CompletingRebalance: members may heartbeat between
         * their JoinGroup and SyncGroup answers (as newer Kafka allows). */
        group_member_heartbeat(m);
        heartbeat_respond(r, KERR_NONE);
        break;
    }
}

/* ---- LeaveGroup ---- */

static int16_t leave_one(group_t *g, kstr_t member_id, kstr_t instance_id)
{
    if (member_id.len > 0 && group_static_fenced(g, member_id, instance_id))
        return GROUP_KERR_FENCED_INSTANCE_ID;
    int pi = pending_index(g, member_id);
    if (pi >= 0) {
        member_remove(g, g->pending[pi], KERR_UNKNOWN_MEMBER_ID);
        try_complete_join(g);
        return KERR_NONE;
    }
    group_member_t *m = static_member(g, instance_id);
    if (!m)
        m = group_member_find(g, member_id);
    if (!m)
        return KERR_UNKNOWN_MEMBER_ID;
    KP_INFO("group %s: member %s leaves", gname(g), m->member_id.p);
    remove_member_and_update(g, m, KERR_UNKNOWN_MEMBER_ID, "a member left");
    return KERR_NONE;
}

static void handle_leave_group(kreq_t *r)
{
    leave_group_req_t *req = r->body;
    leave_group_resp_t resp = {0};
    leave_group_req_member_identity_t single;
    const leave_group_req_member_identity_t *ids;
    int n;
    if (r->api_version < 3) {
        single.member_id = req->member_id;
        single.group_instance_id = KSTR_NULL;
        ids = &single;
        n = 1;
    } else {
        ids = req->members.v;
        n = req->members.n > 0 ? req->members.n : 0;
    }
    leave_group_resp_member_response_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    if (!out) {
        kreq_abort(r);
        return;
    }
    if (!group_id_valid(req->group_id, false)) {
        resp.error_code = KERR_INVALID_GROUP_ID;
        kreq_respond(r, &resp);
        return;
    }
    group_t *g = group_find(r->b->groups, req->group_id);
    if (g && g->state == GROUP_DEAD) {
        resp.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
        kreq_respond(r, &resp);
        return;
    }
    for (int i = 0; i < n; i++) {
        out[i].member_id = ids[i].member_id;
        out[i].group_instance_id = ids[i].group_instance_id;
        out[i].error_code = g ? leave_one(g, ids[i].member_id, ids[i].group_instance_id)
                              : KERR_UNKNOWN_MEMBER_ID;
    }
    resp.members = (karray_t){out, n};
    /* v0-2 carry the one member's error at the top level. */
    if (r->api_version < 3)
        resp.error_code = out[0].error_code;
    kreq_respond(r, &resp);
}

/* ---- FindCoordinator ---- */

static void handle_find_coordinator(kreq_t *r)
{
    broker_t *b = r->b;
    find_coordinator_req_t *req = r->body;
    find_coordinator_resp_t resp = {0};
    resp.error_message = KSTR_NULL;
    if (req->key_type != 0 && req->key_type != 1) {
        resp.error_code = KERR_INVALID_REQUEST;
        resp.error_message = KSTR("unknown coordinator key type");
        resp.node_id = -1;
        resp.host = KSTR("");
        resp.port = -1;
    } else {
        const listener_addr_t *adv =
            &b->adv;
        resp.node_id = b->cfg.node_id;
        resp.host = (kstr_t){adv->host, (int32_t)strlen(adv->host)};
        resp.port = adv->port;
    }
    kreq_respond(r, &resp);
}

/* ---- DescribeGroups, ListGroups ---- */

static void handle_describe_groups(kreq_t *r)
{
    describe_groups_req_t *req = r->body;
    describe_groups_resp_t resp = {0};
    int n = req->groups.n > 0 ? req->groups.n : 0;
    const kstr_t *ids = req->groups.v;
    /* Heap, not arena: the answer grows with the groups (see above). */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        group_t *g = group_id_valid(ids[i], true) ? group_find(r->b->groups, ids[i]) : NULL;
        total += g ? (size_t)g->nmembers : 0;
    }
    describe_groups_resp_described_group_t *out = kp_calloc((size_t)(n ? n : 1), sizeof *out);
    describe_groups_resp_described_group_member_t *ms =
        kp_calloc(total ? total : 1, sizeof *ms);
    if (!out || !ms) {
        kp_free(out);
        kp_free(ms);
        kreq_abort(r);
        return;
    }
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        describe_groups_resp_described_group_t *o = &out[i];
        o->group_id = ids[i];
        o->authorized_operations = INT32_MIN;
        o->protocol_type = KSTR("");
        o->protocol_data = KSTR("");
        o->members = (karray_t){NULL, 0};
        if (!group_id_valid(ids[i], true)) {
            o->error_code = KERR_INVALID_GROUP_ID;
            o->group_state = KSTR("");
            continue;
        }
        group_t *g = group_find(r->b->groups, ids[i]);
        if (!g) {
            o->group_state = KSTR("Dead");
            continue;
        }
        const char *st = group_state_name(g->state);
        o->group_state = (kstr_t){st, (int32_t)strlen(st)};
        if (g->protocol_type.len >= 0)
            o->protocol_type = gstr_k(&g->protocol_type);
        bool stable = g->state == GROUP_STABLE;
        if (stable)
            o->protocol_data = gstr_k(&g->protocol_name);
        describe_groups_resp_described_group_member_t *gm = ms + used;
        for (int j = 0; j < g->nmembers; j++) {
            group_member_t *m = g->members[j];
            const gstr_t *md = stable ? member_metadata_for(m, &g->protocol_name) : NULL;
            gm[j].member_id = gstr_k(&m->member_id);
            gm[j].group_instance_id = kstr_nonempty(gstr_k(&m->group_instance_id))
                                          ? gstr_k(&m->group_instance_id) : KSTR_NULL;
            gm[j].client_id = m->client_id.len >= 0 ? gstr_k(&m->client_id) : KSTR("");
            gm[j].client_host = m->client_host.len >= 0 ? gstr_k(&m->client_host) : KSTR("");
            gm[j].member_metadata = md ? gstr_b(md) : (kbytes_t){NULL, 0};
            gm[j].member_assignment = stable && m->assignment.len > 0 ? gstr_b(&m->assignment)
                                                                      : (kbytes_t){NULL, 0};
        }
        o->members = (karray_t){gm, g->nmembers};
        used += (size_t)g->nmembers;
    }
    resp.groups = (karray_t){out, n};
    kreq_respond(r, &resp);
    kp_free(out);
    kp_free(ms);
}

static void handle_list_groups(kreq_t *r)
{
    group_coord_t *gc = r->b->groups;
    list_groups_resp_t resp = {0};
    size_t n = gc ? gc->ngroups : 0;
    list_groups_resp_listed_group_t *out = kp_calloc(n ? n : 1, sizeof *out);
    if (!out) {
        kreq_abort(r);
        return;
    }
    int k = 0;
    for (size_t i = 0; gc && i < gc->nbuckets; i++)
        for (group_t *g = gc->buckets[i]; g; g = g->hnext) {
            if (g->state == GROUP_DEAD || (size_t)k >= n)
                continue;
            out[k].group_id = gstr_k(&g->id);
            out[k].protocol_type = g->protocol_type.len >= 0 ? gstr_k(&g->protocol_type)
                                                             : KSTR("");
            k++;
        }
    resp.groups = (karray_t){out, k};
    kreq_respond(r, &resp);
    kp_free(out);
}

/* ---- upkeep ---- */

/* Forget groups nobody uses: Empty, no offsets, nobody pending, for a
 * while (Kafka drops them when their offsets expire). */
static void on_sweep(loop_t *l, void *ctx)
{
    group_coord_t *gc = ctx;
    int64_t now = now_ms();
    for (size_t i = 0; i < gc->nbuckets; i++) {
        group_t *g = gc->buckets[i];
        while (g) {
            group_t *next = g->hnext;
            if (g->state == GROUP_EMPTY && g->noffsets > 0)
                group_offsets_expire(g, now);
            if (g->state == GROUP_EMPTY && g->nmembers == 0 && g->npending == 0 &&
                g->noffsets == 0 && now - g->empty_since_ms >= GROUP_SWEEP_INTERVAL_MS)
                group_destroy(g, KERR_COORDINATOR_NOT_AVAILABLE);
            g = next;
        }
    }
    loop_timer_start(l, &gc->sweep_timer, GROUP_SWEEP_INTERVAL_MS, on_sweep, gc);
}

/* ---- entry points ---- */

kapi_handler_fn *group_handler_for(int16_t key)
{
    switch (key) {
    case 8: return handle_offset_commit;
    case 9: return handle_offset_fetch;
    case 10: return handle_find_coordinator;
    case 11: return handle_join_group;
    case 12: return handle_heartbeat;
    case 13: return handle_leave_group;
    case 14: return handle_sync_group;
    case 15: return handle_describe_groups;
    case 16: return handle_list_groups;
    case 42: return handle_delete_groups;
    }
    return NULL;
}

int group_coord_start(broker_t *b)
{
    group_coord_t *gc = kp_calloc(1, sizeof *gc);
    if (!gc)
        return KP_ENOMEM;
    gc->b = b;
    gc->nbuckets = 64;
    gc->buckets = kp_calloc(gc->nbuckets, sizeof *gc->buckets);
    if (!gc->buckets) {
        kp_free(gc);
        return KP_ENOMEM;
    }
    gc->rng = (uint64_t)kp_mono_ns() | 1;
    loop_timer_init(&gc->sweep_timer);
    b->groups = gc;
    int rc = group_offsets_start(gc);
    if (rc) {
        group_coord_stop(b);
        return rc;
    }
    loop_timer_start(b->loop, &gc->sweep_timer, GROUP_SWEEP_INTERVAL_MS, on_sweep, gc);
    return 0;
}

void group_coord_stop(broker_t *b)
{
    group_coord_t *gc = b->groups;
    if (!gc)
        return;
    /* Invariant (1): every parked request gets its answer (its connection
     * is usually gone by now, and kreq_respond frees it). */
    group_offsets_stop(gc);
    for (size_t i = 0; i < gc->nbuckets; i++)
        while (gc->buckets[i])
            group_destroy(gc->buckets[i], KERR_NOT_COORDINATOR);
    loop_timer_stop(b->loop, &gc->sweep_timer);
    kp_free(gc->buckets);
    kp_free(gc);
    b->groups = NULL;
}
