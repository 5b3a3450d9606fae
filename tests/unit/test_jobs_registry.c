/*
 * test_jobs_registry.c -- the job registry's records (src/jobs/registry.c):
 * SHA-256 against FIPS 180-4 vectors, a version record's JSON round trip
 * (escapes, params, partitions), the fold of records (last value wins,
 * tombstones, plugins checked against their hash), malformed records, the
 * stable range and promoted/NAME records, and which version is live.
 */
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "jobs/progress.h"
#include "jobs/registry.h"
#include "jobs/sha256.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TEST(sha256_vectors)
{
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    sha256_hex("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);   /* 56 bytes: the padding takes a second block */
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    static char million[1000000];
    memset(million, 'a', sizeof million);
    sha256_hex(million, sizeof million, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static jobs_version_t *sample_version(void)
{
    jobs_version_t *v = kp_calloc(1, sizeof *v);
    CHECK(v != NULL);
    snprintf(v->name, sizeof v->name, "q1");
    v->version = 7;
    sha256_hex("plugin", 6, v->plugin_sha256);
    v->plugin_size = 6;
    snprintf(v->plugin_file, sizeof v->plugin_file, "we\"ird\\name\n.so");
    snprintf(v->from, sizeof v->from, "@1500000");
    snprintf(v->params[v->nparams++], sizeof v->params[0], "in=n2");
    snprintf(v->params[v->nparams++], sizeof v->params[0], "expr=a=b");
    snprintf(v->state, sizeof v->state, "running");
    v->deployed_ms = 1767225600123;
    snprintf(v->inputs[v->ninputs++], sizeof v->inputs[0], "n2");
    snprintf(v->outputs[v->noutputs++], sizeof v->outputs[0], "n2q1");
    snprintf(v->views[v->nviews++], sizeof v->views[0], "revenue");
    v->parts = kp_calloc(2, sizeof *v->parts);
    CHECK(v->parts != NULL);
    v->nparts = 2;
    for (int i = 0; i < 2; i++) {
        snprintf(v->parts[i].topic, sizeof v->parts[i].topic, "n2");
        v->parts[i].partition = i;
        v->parts[i].start_offset = 100 + i;
        v->parts[i].end_offset = 200 + i;
    }
    return v;
}

TEST(version_json_round_trip)
{
    jobs_version_t *v = sample_version(), back;
    char *json;
    size_t len;
    CHECK_OK(jobs_version_json(v, &json, &len));
    CHECK_EQ_INT(strlen(json), len);
    CHECK_OK(jobs_version_parse(json, len, &back));
    CHECK(strcmp(back.name, "q1") == 0);
    CHECK_EQ_INT(back.version, 7);
    CHECK(strcmp(back.plugin_sha256, v->plugin_sha256) == 0);
    CHECK_EQ_INT(back.plugin_size, 6);
    CHECK(strcmp(back.plugin_file, v->plugin_file) == 0);
    CHECK(strcmp(back.from, "@1500000") == 0);
    CHECK_EQ_INT(back.nparams, 2);
    CHECK(strcmp(back.params[0], "in=n2") == 0);
    CHECK(strcmp(back.params[1], "expr=a=b") == 0);
    CHECK(strcmp(back.state, "running") == 0);
    CHECK(back.deployed_ms == 1767225600123);
    CHECK(back.ninputs == 1 && strcmp(back.inputs[0], "n2") == 0);
    CHECK(back.noutputs == 1 && strcmp(back.outputs[0], "n2q1") == 0);
    CHECK(back.nviews == 1 && strcmp(back.views[0], "revenue") == 0);
    CHECK_EQ_INT(back.nparts, 2);
    CHECK(back.parts[1].partition == 1 && back.parts[1].start_offset == 101 &&
          back.parts[1].end_offset == 201 && strcmp(back.parts[1].topic, "n2") == 0);
    jobs_version_free(&back);
    kp_free(json);
    jobs_version_free(v);
    kp_free(v);
}

TEST(malformed_records)
{
    jobs_version_t v;
    const char *bad[] = {"", "{", "[]", "{\"name\":\"q1\"}", "{\"name\":\"q1\",\"version\":1}",
                         "{\"name\":\"q1\",\"version\":1,\"plugin\":{\"sha256\":\"ab\"}}",
                         "{\"name\":\"q1\",\"version\":1,\"partitions\":[{]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(jobs_version_parse(bad[i], strlen(bad[i]), &v) == KP_ECORRUPT);
    /* Deep nesting is refused, not recursed into without bound. */
    char deep[200];
    memset(deep, '[', sizeof deep);
    CHECK(jobs_version_parse(deep, sizeof deep, &v) == KP_ECORRUPT);
}

static void apply_version(jobs_registry_t *r, const jobs_version_t *v)
{
    char key[200], *json;
    size_t len;
    jobs_version_key(v->name, v->version, key, sizeof key);
    CHECK_OK(jobs_version_json(v, &json, &len));
    CHECK_OK(jobs_registry_apply(r, key, strlen(key), json, len));
    kp_free(json);
}

TEST(registry_fold)
{
    jobs_registry_t r = {0};
    r.keep_plugins = true;
    jobs_version_t *v = sample_version();
    apply_version(&r, v);
    snprintf(v->state, sizeof v->state, "stopped");
    apply_version(&r, v);               /* last value wins */
    v->version = 8;
    apply_version(&r, v);
    CHECK_EQ_INT(r.nversions, 2);
    CHECK(strcmp(jobs_registry_find(&r, "q1", 7)->state, "stopped") == 0);
    CHECK(jobs_registry_find(&r, "q1", 9) == NULL);
    const char *k = "version/q1/7";
    CHECK_OK(jobs_registry_apply(&r, k, strlen(k), NULL, 0));  /* tombstone */
    CHECK_EQ_INT(r.nversions, 1);
    CHECK(jobs_registry_find(&r, "q1", 7) == NULL);
    CHECK(jobs_registry_find(&r, "q1", 8) != NULL);

    /* Plugins: kept only when the bytes match the hash in the key. */
    char key[80];
    snprintf(key, sizeof key, "plugin/%s", v->plugin_sha256);
    CHECK_OK(jobs_registry_apply(&r, key, strlen(key), "plugiN", 6));
    CHECK(!jobs_registry_has_plugin(&r, v->plugin_sha256));
    CHECK_OK(jobs_registry_apply(&r, key, strlen(key), "plugin", 6));
    const jobs_plugin_t *p = jobs_registry_plugin(&r, v->plugin_sha256);
    CHECK(p != NULL && p->len == 6 && memcmp(p->data, "plugin", 6) == 0);
    /* Unknown keys are skipped (a newer writer). */
    CHECK_OK(jobs_registry_apply(&r, "promoted/q1", 11, "{}", 2));
    CHECK_EQ_INT(r.nversions, 1);
    jobs_registry_free(&r);
    jobs_version_free(v);
    kp_free(v);
}

TEST(phases)
{
    jobs_version_t *v = sample_version();
    jobs_progress_t p = {0};
    p.past_end = false;
    CHECK(strcmp(jobs_phase(v, &p, 1000, true), "BACKFILLING") == 0);
    p.past_end = true;
    p.lag = 1000;
    CHECK(strcmp(jobs_phase(v, &p, 1000, true), "BACKFILLING") == 0);
    p.lag = 999;
    CHECK(strcmp(jobs_phase(v, &p, 1000, false), "CAUGHT_UP") == 0);
    CHECK(strcmp(jobs_phase(v, &p, 1000, true), "LIVE") == 0);
    snprintf(v->state, sizeof v->state, "stopped");
    CHECK(strcmp(jobs_phase(v, &p, 1000, true), "STOPPED") == 0);
    jobs_version_free(v);
    kp_free(v);
}

TEST(event_lag_format_and_json)
{
    static const struct { int64_t ms; const char *want; } cases[] = {
        {-1, "-"}, {0, "0.0s"}, {3249, "3.2s"}, {59999, "60.0s"}, {60000, "1m00s"},
        {250000, "4m10s"}, {3600000, "1h00m"}, {7500000, "2h05m"}, {86400000, "1d00h"},
        {1047600000, "12d03h"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        jobs_fmt_event_lag(buf, sizeof buf, cases[i].ms);
        CHECK(strcmp(buf, cases[i].want) == 0);
    }
    /* Unknown is null in the document; known is a number of milliseconds. */
    jobs_version_t *v = sample_version();
    jobs_part_progress_t parts[2] = {
        {.topic = "n", .partition = 0, .event_time_ms = -1, .event_time_lag_ms = -1},
        {.topic = "n", .partition = 1, .committed = true, .event_time_ms = 5,
         .event_time_lag_ms = 1500},
    };
    jobs_progress_t p = {.nparts = 2, .parts = parts, .ratio = 1, .event_time_lag_ms = 1500};
    jobs_registry_t r = {0};
    jobs_version_t *vs[1] = {v};
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    CHECK(f != NULL);
    jobs_status_json(f, v->name, &r, vs, &p, NULL, 1, 1000);
    fclose(f);
    CHECK(strstr(doc, "\"eta_sec\":0,\"event_time_lag_ms\":1500,\"partitions\"") != NULL);
    CHECK(strstr(doc, "\"committed\":false,\"event_time_lag_ms\":null}") != NULL);
    CHECK(strstr(doc, "\"committed\":true,\"event_time_lag_ms\":1500}") != NULL);
    p.event_time_lag_ms = -1;
    free(doc);
    f = open_memstream(&doc, &len);
    jobs_status_json(f, v->name, &r, vs, &p, NULL, 1, 1000);
    fclose(f);
    CHECK(strstr(doc, "\"event_time_lag_ms\":null,\"partitions\"") != NULL);
    free(doc);
    jobs_version_free(v);
    kp_free(v);
}

TEST(stable_range_and_promoted)
{
    jobs_version_t *v = sample_version(), back;
    v->has_stable = true;
    v->stable_from = kp_strdup("n2:0=5,n2:1=7");
    char *json;
    size_t len;
    CHECK_OK(jobs_version_json(v, &json, &len));
    CHECK(strstr(json, "\"stable\":{\"from\":\"n2:0=5,n2:1=7\",\"until\":null}") != NULL);
    CHECK_OK(jobs_version_parse(json, len, &back));
    CHECK(back.has_stable && back.stable_until == NULL);
    CHECK(back.stable_from && strcmp(back.stable_from, "n2:0=5,n2:1=7") == 0);
    jobs_version_free(&back);
    kp_free(json);

    /* Never promoted: the lowest version not retired is live. */
    jobs_registry_t r = {0};
    char key[64];
    for (int ver = 7; ver <= 9; ver++) {
        v->version = ver;
        snprintf(v->state, sizeof v->state, "%s", ver == 7 ? "retired" : "running");
        jobs_version_key("q1", ver, key, sizeof key);
        CHECK_OK(jobs_version_json(v, &json, &len));
        CHECK_OK(jobs_registry_apply(&r, key, strlen(key), json, len));
        kp_free(json);
    }
    CHECK(jobs_registry_promoted(&r, "q1") == NULL);
    CHECK_EQ_INT(jobs_registry_live_version(&r, "q1"), 8);
    CHECK_EQ_INT(jobs_registry_live_version(&r, "nope"), 0);

    jobs_promoted_t p = {0}, pb;
    snprintf(p.name, sizeof p.name, "q1");
    p.version = 9;
    p.previous = 8;
    snprintf(p.state, sizeof p.state, "switching");
    p.ts_ms = 42;
    CHECK_OK(jobs_promoted_json(&p, &json, &len));
    CHECK(strcmp(json, "{\"name\":\"q1\",\"version\":9,\"previous\":8,\"state\":"
                       "\"switching\",\"cut\":null,\"ts\":42}") == 0);
    jobs_promoted_key("q1", key, sizeof key);
    CHECK(strcmp(key, "promoted/q1") == 0);
    CHECK_OK(jobs_registry_apply(&r, key, strlen(key), json, len));
    kp_free(json);
    CHECK_EQ_INT(jobs_registry_live_version(&r, "q1"), 9);
    p.cut = "n2:0=5";
    snprintf(p.state, sizeof p.state, "done");
    CHECK_OK(jobs_promoted_json(&p, &json, &len));
    CHECK_OK(jobs_promoted_parse(json, len, &pb));
    CHECK(strcmp(pb.state, "done") == 0 && pb.cut && strcmp(pb.cut, "n2:0=5") == 0);
    jobs_promoted_free(&pb);
    CHECK_OK(jobs_registry_apply(&r, key, strlen(key), json, len));
    kp_free(json);
    const jobs_promoted_t *got = jobs_registry_promoted(&r, "q1");
    CHECK(got && got->previous == 8 && strcmp(got->cut, "n2:0=5") == 0);
    /* A bad state is not a promote record. */
    const char *bad = "{\"name\":\"q1\",\"version\":9,\"state\":\"maybe\"}";
    CHECK(jobs_promoted_parse(bad, strlen(bad), &pb) == KP_ECORRUPT);
    jobs_registry_free(&r);
    jobs_version_free(v);
    kp_free(v);
}

int main(void)
{
    RUN(sha256_vectors);
    RUN(version_json_round_trip);
    RUN(malformed_records);
    RUN(registry_fold);
    RUN(phases);
    RUN(stable_range_and_promoted);
    RUN(event_lag_format_and_json);
    return test_summary();
}
