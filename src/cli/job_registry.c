/*
 * job_registry.c -- `kappa job deploy|list|stop|start|status|promote|retire`:
 * the job registry (__kappa_jobs, src/jobs/registry.h) from the command line.
 *
 * deploy loads the plugin here, in the CLI, before anything is written: a
 * plugin that does not load or whose graph is invalid is refused with exit
 * status 2 and leaves the registry untouched.  It fixes the version's replay
 * range now (start offsets from --from, end offsets = high watermarks) so
 * progress is measured against the input as it was when the version was
 * deployed, not a moving target.  The server (jobs/supervisor.c) follows the
 * registry and runs what it says; these commands only ever write records.
 *
 * Exit statuses as for every client subcommand (client.h), and deploy of a
 * version that already exists is 1.
 */
#include "cli/client.h"
#include "cli/job_registry.h"
#include "cli/out.h"

#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "jobs/cut.h"
#include "jobs/lifecycle.h"
#include "jobs/progress.h"
#include "jobs/registry.h"
#include "jobs/sha256.h"
#include "stream/describe.h"
#include "view/view.h"

#include "kappa.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool cli_job_registry_cmd(const char *cmd)
{
    return strcmp(cmd, "deploy") == 0 || strcmp(cmd, "list") == 0 ||
           strcmp(cmd, "stop") == 0 || strcmp(cmd, "start") == 0 ||
           strcmp(cmd, "status") == 0 || strcmp(cmd, "promote") == 0 ||
           strcmp(cmd, "retire") == 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return -1;
    }
    uint8_t *b = kp_malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    size_t n = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!b || n != (size_t)st.st_size) {
        kp_free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

/* A producer for registry writes, or NULL after printing why. */
static rd_kafka_t *registry_producer(const cli_common_t *c)
{
    char why[512], err[512];
    rd_kafka_conf_t *conf = cli_conf(c);
    if (!conf)
        return NULL;
    if (jobs_conf_producer(conf, why, sizeof why) != 0) {
        rd_kafka_conf_destroy(conf);
        cli_fail(c, "%s", why);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        cli_fail(c, "cannot create a Kafka producer: %s", err);
    return rk;
}

/* Check the broker answers (exit 3 if not), then read the registry. */
static int load_registry(const cli_common_t *c, jobs_registry_t *r, rd_kafka_t **admin)
{
    int code;
    rd_kafka_t *rk = cli_admin_handle(c, &code);
    if (!rk)
        return code;
    char why[512];
    rd_kafka_conf_t *conf = cli_conf(c);
    if (!conf || jobs_registry_read(conf, r, c->timeout_ms, why, sizeof why) != 0) {
        if (conf)
            cli_fail(c, "%s", why);
        rd_kafka_destroy(rk);
        return CLI_EXIT_FAIL;
    }
    if (admin)
        *admin = rk;
    else
        rd_kafka_destroy(rk);
    return 0;
}

static int put_version(const cli_common_t *c, rd_kafka_t *pk, const jobs_version_t *v)
{
    char key[JOBS_NAME_MAX + 32], why[512];
    char *json;
    size_t len;
    if (jobs_version_json(v, &json, &len) != 0)
        return cli_fail(c, "out of memory");
    jobs_version_key(v->name, v->version, key, sizeof key);
    int rc = jobs_put(pk, key, json, len, c->timeout_ms, why, sizeof why);
    kp_free(json);
    return rc ? cli_fail(c, "%s", why) : 0;
}

/* ---- deploy ---------------------------------------------------------------- */

static void deploy_usage(FILE *f)
{
    fprintf(f,
            "usage: kappa job deploy NAME --version V --plugin FILE.so [options]\n"
            "\n"
            "Register version V of job NAME in the job registry (__kappa_jobs): the plugin\n"
            "itself is stored, and every `kappa server` on the cluster runs the version\n"
            "beside the job's other versions, with its own consumer group NAME.vV and its\n"
            "own outputs (sink topic T is written as T.vV).  It replays its inputs from\n"
            "--from; `kappa job status NAME` shows how far it is.\n"
            "\n"
            "options:\n"
            "      --version V               the new version (integer >= 1, not used before)\n"
            "      --plugin FILE.so          shared object exporting kappa_job_define()\n"
            "      --from earliest|latest|@TS_MS  where the replay starts (default earliest)\n"
            "      --param KEY=VALUE         a job parameter (kappa_job_param); repeatable\n");
    cli_common_help(f);
}

/* Fill v->parts: start and end offsets of every partition of v's sources. */
static int replay_range(const cli_common_t *c, rd_kafka_t *rk, jobs_version_t *v,
                        const stream_desc_t *d)
{
    int cap = 0;
    for (int i = 0; i < d->ninputs; i++) {
        if (d->input_is_table[i])
            continue;       /* tables are read whole by every version */
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, d->inputs[i], NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, c->timeout_ms);
        rd_kafka_topic_destroy(t);
        if (!e && md->topic_cnt == 1 && md->topics[0].err)
            e = md->topics[0].err;
        if (e) {
            if (md)
                rd_kafka_metadata_destroy(md);
            return cli_fail(c, "input topic %s: %s%s", d->inputs[i], rd_kafka_err2str(e),
                            cli_err_hint(e));
        }
        int np = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        if (np <= 0)
            return cli_fail(c, "input topic %s does not exist (create it or produce to it "
                               "first)", d->inputs[i]);
        if (v->nparts + np > cap) {
            cap = v->nparts + np;
            jobs_partition_t *p = kp_realloc(v->parts, (size_t)cap * sizeof *p);
            if (!p)
                return cli_fail(c, "out of memory");
            v->parts = p;
        }
        rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(np);
        for (int32_t p = 0; p < np; p++) {
            int64_t low = 0, high = 0;
            e = rd_kafka_query_watermark_offsets(rk, d->inputs[i], p, &low, &high,
                                                 c->timeout_ms);
            if (e) {
                rd_kafka_topic_partition_list_destroy(times);
                return cli_fail(c, "watermarks of %s/%d: %s", d->inputs[i], (int)p,
                                rd_kafka_err2str(e));
            }
            jobs_partition_t *jp = &v->parts[v->nparts++];
            memset(jp, 0, sizeof *jp);
            snprintf(jp->topic, sizeof jp->topic, "%s", d->inputs[i]);
            jp->partition = p;
            jp->end_offset = high;
            jp->start_offset = strcmp(v->from, "latest") == 0 ? high : low;
            if (v->from[0] == '@')
                rd_kafka_topic_partition_list_add(times, d->inputs[i], p)->offset =
                    strtoll(v->from + 1, NULL, 10);
        }
        if (times->cnt) {
            e = rd_kafka_offsets_for_times(rk, times, c->timeout_ms);
            if (e) {
                rd_kafka_topic_partition_list_destroy(times);
                return cli_fail(c, "offsets of %s at time %s: %s", d->inputs[i], v->from + 1,
                                rd_kafka_err2str(e));
            }
            for (int k = 0; k < times->cnt; k++) {
                jobs_partition_t *jp = &v->parts[v->nparts - np + k];
                /* No record at or after the time: the replay starts at the end. */
                if (!times->elems[k].err && times->elems[k].offset >= 0)
                    jp->start_offset = times->elems[k].offset;
                else
                    jp->start_offset = jp->end_offset;
            }
        }
        rd_kafka_topic_partition_list_destroy(times);
    }
    return 0;
}

/*
 * latest and @TS: commit the start offsets to the version's group now, so
 * the runner starts exactly where the replay range says, however long after
 * the deploy it gets its partitions (its --from would otherwise resolve
 * "latest" again, later).  The group is new: nothing else commits to it yet.
 */
static int commit_start(const cli_common_t *c, const jobs_version_t *v)
{
    if (strcmp(v->from, "earliest") == 0 || v->nparts == 0)
        return 0;
    char err[512], group[JOBS_NAME_MAX + 32];
    snprintf(group, sizeof group, "%s.v%d", v->name, v->version);
    rd_kafka_conf_t *conf = cli_conf(c);
    if (!conf)
        return CLI_EXIT_FAIL;
    if (cli_conf_set(c, conf, "group.id", group) ||
        cli_conf_set(c, conf, "enable.auto.commit", "false")) {
        rd_kafka_conf_destroy(conf);
        return CLI_EXIT_FAIL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk)
        return cli_fail(c, "cannot create a consumer: %s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(v->nparts);
    for (int i = 0; i < v->nparts; i++)
        rd_kafka_topic_partition_list_add(l, v->parts[i].topic, v->parts[i].partition)->offset =
            v->parts[i].start_offset;
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, l, 0);
    for (int i = 0; !e && i < l->cnt; i++)
        e = l->elems[i].err;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    if (e)
        return cli_fail(c, "committing the start offsets of group %s: %s", group,
                        rd_kafka_err2str(e));
    return 0;
}

static int job_deploy(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa job deploy");
    const char *name = NULL, *plugin = NULL, *from = "earliest";
    long long version = 0;
    const char *params[JOBS_MAX_PARAMS + 1] = {0};
    int nparams = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            deploy_usage(stdout);
            return 0;
        }
        int r = cli_common_flag(&c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (a[0] == '-' && !val)
            return cli_usage_error(&c, "%s needs a value (see --help)", a);
        if (strcmp(a, "--version") == 0) {
            if (cli_parse_i64(&c, a, val, &version))
                return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--plugin") == 0) {
            plugin = argv[++i];
        } else if (strcmp(a, "--from") == 0) {
            from = argv[++i];
        } else if (strcmp(a, "--param") == 0) {
            if (!strchr(val, '=') || val[0] == '=' || strlen(val) >= 256 ||
                nparams == JOBS_MAX_PARAMS)
                return cli_usage_error(&c, "--param takes KEY=VALUE (at most %d, each under "
                                           "256 bytes)", JOBS_MAX_PARAMS);
            params[nparams++] = argv[++i];
        } else if (a[0] == '-') {
            return cli_usage_error(&c, "unknown option %s (see --help)", a);
        } else if (!name) {
            name = a;
        } else {
            return cli_usage_error(&c, "unexpected argument '%s' (see --help)", a);
        }
    }
    if (!name || !plugin || version < 1 || version > 1000000)
        return cli_usage_error(&c, "NAME, --version V (1..1000000) and --plugin FILE.so are "
                                   "required (see --help)");
    if (strlen(name) >= JOBS_NAME_MAX)
        return cli_usage_error(&c, "job name '%s' is too long", name);
    if (!stream_from_valid(from))
        return cli_usage_error(&c, "--from '%s': use earliest, latest or @TIMESTAMP_MS", from);

    /* The plugin: readable, loadable, and a valid graph. */
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (read_file(plugin, &bytes, &len) != 0)
        return cli_usage_error(&c, "cannot read plugin %s: no such file, or not a regular "
                                   "file", plugin);
    char path[4096];
    snprintf(path, sizeof path, "%s%s", strchr(plugin, '/') ? "" : "./", plugin);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    kappa_job_define_fn *define = h ? (kappa_job_define_fn *)dlsym(h, "kappa_job_define") : NULL;
    if (!define) {
        cli_usage_error(&c, "plugin %s: %s", plugin,
                        h ? "does not export kappa_job_define()" : dlerror());
        kp_free(bytes);
        return CLI_EXIT_USAGE;
    }
    stream_desc_t *d = kp_calloc(1, sizeof *d);
    jobs_version_t *v = kp_calloc(1, sizeof *v);
    char why[512];
    int status = CLI_EXIT_FAIL;
    jobs_registry_t reg = {0};
    rd_kafka_t *admin = NULL, *pk = NULL;
    if (!d || !v) {
        cli_fail(&c, "out of memory");
        goto out;
    }
    if (stream_job_describe(name, (int)version, define, params, d, why, sizeof why) != 0) {
        status = cli_usage_error(&c, "plugin %s: %s", plugin, why);
        goto out;
    }
    snprintf(v->name, sizeof v->name, "%s", name);
    v->version = (int)version;
    sha256_hex(bytes, len, v->plugin_sha256);
    v->plugin_size = (int64_t)len;
    const char *base = strrchr(plugin, '/');
    snprintf(v->plugin_file, sizeof v->plugin_file, "%s", base ? base + 1 : plugin);
    snprintf(v->from, sizeof v->from, "%s", from);
    for (int i = 0; i < nparams; i++)
        snprintf(v->params[v->nparams++], sizeof v->params[0], "%s", params[i]);
    snprintf(v->state, sizeof v->state, "running");
    v->deployed_ms = wall_ms();
    for (int i = 0; i < d->ninputs; i++)
        snprintf(v->inputs[v->ninputs++], sizeof v->inputs[0], "%s", d->inputs[i]);
    for (int i = 0; i < d->noutputs; i++)
        snprintf(v->outputs[v->noutputs++], sizeof v->outputs[0], "%s", d->outputs[i]);
    for (int i = 0; i < d->nviews && i < JOBS_MAX_LIST; i++)
        snprintf(v->views[v->nviews++], sizeof v->views[0], "%s", d->views[i]);

    if ((status = load_registry(&c, &reg, &admin)) != 0)
        goto out;
    status = CLI_EXIT_FAIL;
    const jobs_version_t *old = jobs_registry_find(&reg, name, (int)version);
    if (old) {
        cli_fail(&c, "job %s version %d already exists (state %s, plugin %s); versions are "
                     "immutable: deploy version %d, or `kappa job start %s %d`",
                 name, (int)version, old->state, old->plugin_file, (int)version + 1, name,
                 (int)version);
        goto out;
    }
    if (jobs_topic_ensure(admin, c.timeout_ms, why, sizeof why) != 0) {
        cli_fail(&c, "%s", why);
        goto out;
    }
    if (replay_range(&c, admin, v, d) != 0)
        goto out;
    if (!(pk = registry_producer(&c)))
        goto out;
    if (!jobs_registry_has_plugin(&reg, v->plugin_sha256)) {
        /* Leave room for the key and the batch and record headers. */
        int64_t max = jobs_topic_max_bytes(admin, c.timeout_ms);
        if ((int64_t)len + 1024 > max) {
            cli_fail(&c, "plugin %s is %zu bytes; topic %s takes records up to %" PRId64
                         " bytes (max.message.bytes): raise it with `kappa topic alter-config "
                         "%s -c max.message.bytes=N` (and the broker's message.max.bytes), or "
                         "strip the plugin (strip --strip-unneeded)",
                     plugin, len, JOBS_TOPIC, max, JOBS_TOPIC);
            goto out;
        }
        char key[80];
        snprintf(key, sizeof key, "plugin/%s", v->plugin_sha256);
        if (jobs_put(pk, key, bytes, len, c.timeout_ms, why, sizeof why) != 0) {
            cli_fail(&c, "%s", why);
            goto out;
        }
    }
    if (commit_start(&c, v) != 0 || put_version(&c, pk, v) != 0)
        goto out;
    int64_t total = 0;
    for (int i = 0; i < v->nparts; i++)
        total += v->parts[i].end_offset - v->parts[i].start_offset;
    printf("deployed %s version %d: %d input partition(s), %" PRId64 " record(s) to replay "
           "from %s",
           name, v->version, v->nparts, total, from);
    for (int i = 0; i < v->noutputs; i++)
        printf("%s %s.v%d", i ? "," : "; outputs", v->outputs[i], v->version);
    for (int i = 0; i < v->nviews; i++)
        printf("%s %s@v%d", i ? "," : "; views", v->views[i], v->version);
    printf("\n");
    status = 0;
out:
    if (pk)
        rd_kafka_destroy(pk);
    if (admin)
        rd_kafka_destroy(admin);
    jobs_registry_free(&reg);
    if (v)
        jobs_version_free(v);
    kp_free(v);
    kp_free(d);
    kp_free(bytes);
    /* The plugin stays loaded, as in `kappa job run`. */
    return status;
}

/* ---- list, stop, start -------------------------------------------------------- */

static int common_only(cli_common_t *c, int argc, char **argv, const char **pos, int npos,
                       void (*usage)(FILE *), bool *json)
{
    int got = 0;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 1;
        }
        if (json && strcmp(argv[i], "--json") == 0) {
            c->format = CLI_FMT_JSON;
            continue;
        }
        int r = cli_common_flag(c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (argv[i][0] == '-')
            return cli_usage_error(c, "unknown option %s (see --help)", argv[i]);
        if (got == npos)
            return cli_usage_error(c, "unexpected argument '%s' (see --help)", argv[i]);
        pos[got++] = argv[i];
    }
    if (got != npos)
        return cli_usage_error(c, "expected %d argument(s) (see --help)", npos);
    return 0;
}

static void list_usage(FILE *f)
{
    fprintf(f, "usage: kappa job list [--json]\n\n"
               "Every deployed version of every job: state, phase, replay progress and\n"
               "which version is promoted (feeds the stable outputs).\n\n");
    cli_common_help(f);
}

static int job_list(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa job list");
    bool json = true;
    int r = common_only(&c, argc, argv, NULL, 0, list_usage, &json);
    if (r)
        return r == 1 ? 0 : r;
    jobs_registry_t reg = {0};
    if ((r = load_registry(&c, &reg, NULL)) != 0)
        return r;
    rd_kafka_conf_t *base = cli_conf(&c);
    out_table_t *t = out_table_new(10, "NAME", "VERSION", "STATE", "PHASE", "PROGRESS_PCT",
                                   "LAG", "FROM", "PLUGIN", "OUTPUTS", "PROMOTED");
    out_num(t, 1);
    out_num(t, 4);
    out_num(t, 5);
    int status = 0;
    for (int i = 0; i < reg.nversions && base; i++) {
        jobs_version_t *v = reg.versions[i];
        jobs_progress_t p;
        char why[512], ver[16], pct[32] = "-", lag[32] = "-", outs[1024] = "";
        const char *phase = "-";
        if (jobs_progress_measure(base, v, c.timeout_ms, &p, why, sizeof why) == 0) {
            snprintf(pct, sizeof pct, "%.1f", p.ratio * 100.0);
            snprintf(lag, sizeof lag, "%" PRId64, p.lag);
            phase = jobs_phase(v, &p, JOBS_CAUGHT_UP_LAG, jobs_is_promoted(&reg, v));
            jobs_progress_free(&p);
        } else {
            fprintf(stderr, "kappa job list: %s v%d: %s\n", v->name, v->version, why);
            status = CLI_EXIT_FAIL;
        }
        snprintf(ver, sizeof ver, "%d", v->version);
        for (int k = 0; k < v->noutputs; k++) {
            size_t n = strlen(outs);
            snprintf(outs + n, sizeof outs - n, "%s%s.v%d", k ? "," : "", v->outputs[k],
                     v->version);
        }
        for (int k = 0; k < v->nviews; k++) {
            size_t n = strlen(outs);
            snprintf(outs + n, sizeof outs - n, "%s%s@v%d", n ? "," : "", v->views[k],
                     v->version);
        }
        /* The version feeding the stable outputs; "switching" during a promote. */
        const jobs_promoted_t *pr = jobs_registry_promoted(&reg, v->name);
        const char *promoted = jobs_is_promoted(&reg, v) ? "yes" : "no";
        if (pr && strcmp(pr->state, "switching") == 0 &&
            (pr->version == v->version || pr->previous == v->version))
            promoted = "switching";
        out_row(t, v->name, ver, v->state, phase, pct, lag, v->from, v->plugin_file, outs,
                promoted);
    }
    out_print(t, c.format, stdout);
    out_table_free(t);
    if (base)
        rd_kafka_conf_destroy(base);
    jobs_registry_free(&reg);
    return status;
}

static void state_usage(FILE *f)
{
    fprintf(f, "usage: kappa job stop|start NAME VERSION\n\n"
               "Change a deployed version's state in the job registry: the servers stop its\n"
               "runners (they commit and leave the group) or start them again, from the\n"
               "version's last commit.\n\n");
    cli_common_help(f);
}

static int job_set_state(int argc, char **argv, const char *state)
{
    cli_common_t c;
    cli_common_init(&c, strcmp(state, "running") == 0 ? "kappa job start" : "kappa job stop");
    const char *pos[2];
    int r = common_only(&c, argc, argv, pos, 2, state_usage, NULL);
    if (r)
        return r == 1 ? 0 : r;
    long long version;
    if (cli_parse_i64(&c, "VERSION", pos[1], &version))
        return CLI_EXIT_USAGE;
    jobs_registry_t reg = {0};
    if ((r = load_registry(&c, &reg, NULL)) != 0)
        return r;
    jobs_version_t *v = jobs_registry_find(&reg, pos[0], (int)version);
    int status = CLI_EXIT_FAIL;
    rd_kafka_t *pk = NULL;
    if (!v) {
        cli_fail(&c, "job %s has no version %lld (see `kappa job list`)", pos[0], version);
    } else if (strcmp(v->state, state) == 0) {
        printf("job %s version %d is already %s\n", v->name, v->version, state);
        status = 0;
    } else if ((pk = registry_producer(&c)) != NULL) {
        snprintf(v->state, sizeof v->state, "%s", state);
        if (put_version(&c, pk, v) == 0) {
            printf("job %s version %d: %s\n", v->name, v->version,
                   strcmp(state, "running") == 0 ? "started" : "stopped");
            status = 0;
        }
    }
    if (pk)
        rd_kafka_destroy(pk);
    jobs_registry_free(&reg);
    return status;
}

/* ---- status -------------------------------------------------------------------- */

static void status_usage(FILE *f)
{
    fprintf(f,
            "usage: kappa job status NAME [--watch] [options]\n"
            "\n"
            "Per version of job NAME and per input partition: start and end offsets of the\n"
            "replay (fixed at deploy), current (the version group's committed offset), lag\n"
            "(high watermark now - current), event lag (wall clock now - the timestamp\n"
            "of the last record processed; \"-\" before the first commit), records/s and\n"
            "ETA; overall progress = sum(current - start) / sum(end - start).  Phase:\n"
            "BACKFILLING, CAUGHT_UP (past the end offsets on every partition and lag under\n"
            "the threshold), LIVE (caught up and the job's only running version), STOPPED.\n"
            "\n"
            "options:\n"
            "      --watch                   refresh until interrupted (a progress bar on a\n"
            "                                terminal, one line per sample otherwise)\n"
            "      --interval-ms MS          between samples (default 1000)\n"
            "      --lag-threshold N         CAUGHT_UP lag limit in records (default 1000)\n"
            "      --json                    one JSON document per sample\n");
    cli_common_help(f);
}

typedef struct sample {
    jobs_registry_t reg;
    jobs_progress_t *p;         /* per version of reg */
    bool *ok;
} sample_t;

static void sample_free(sample_t *s)
{
    for (int i = 0; i < s->reg.nversions; i++)
        if (s->ok && s->ok[i])
            jobs_progress_free(&s->p[i]);
    kp_free(s->p);
    kp_free(s->ok);
    jobs_registry_free(&s->reg);
    memset(s, 0, sizeof *s);
}

static int take_sample(const cli_common_t *c, const rd_kafka_conf_t *base,
                       jobs_etime_reader_t *etime, const char *name, sample_t *s)
{
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(base);
    if (jobs_registry_read(conf, &s->reg, c->timeout_ms, why, sizeof why) != 0)
        return cli_fail(c, "%s", why);
    /* Keep only NAME's versions, in version order. */
    int k = 0;
    for (int i = 0; i < s->reg.nversions; i++) {
        if (strcmp(s->reg.versions[i]->name, name) == 0)
            s->reg.versions[k++] = s->reg.versions[i];
        else {
            jobs_version_free(s->reg.versions[i]);
            kp_free(s->reg.versions[i]);
        }
    }
    s->reg.nversions = k;
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && s->reg.versions[j - 1]->version > s->reg.versions[j]->version;
             j--) {
            jobs_version_t *t = s->reg.versions[j];
            s->reg.versions[j] = s->reg.versions[j - 1];
            s->reg.versions[j - 1] = t;
        }
    s->p = kp_calloc(k ? (size_t)k : 1, sizeof *s->p);
    s->ok = kp_calloc(k ? (size_t)k : 1, sizeof *s->ok);
    if (!s->p || !s->ok)
        return cli_fail(c, "out of memory");
    for (int i = 0; i < k; i++) {
        if (jobs_progress_measure(base, s->reg.versions[i], c->timeout_ms, &s->p[i], why,
                                  sizeof why) != 0)
            return cli_fail(c, "%s v%d: %s", name, s->reg.versions[i]->version, why);
        s->ok[i] = true;
        /* Bounded apart from the timeout: the offsets above were readable, so
         * the records should be too, and a sample must not stall on them. */
        jobs_progress_event_time(etime, &s->p[i], c->timeout_ms < 2000 ? c->timeout_ms : 2000);
    }
    return 0;
}

static const jobs_progress_t *previous(const sample_t *prev, const jobs_version_t *v)
{
    if (!prev)
        return NULL;
    for (int i = 0; i < prev->reg.nversions; i++)
        if (prev->reg.versions[i]->version == v->version && prev->ok[i])
            return &prev->p[i];
    return NULL;
}

static void fmt_eta(char *buf, size_t cap, int64_t left, double rate)
{
    if (left <= 0)
        snprintf(buf, cap, "0s");
    else if (rate <= 0)
        snprintf(buf, cap, "-");
    else {
        double s = (double)left / rate;
        if (s < 60)
            snprintf(buf, cap, "%.0fs", s);
        else if (s < 3600)
            snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
        else
            snprintf(buf, cap, "%.1fh", s / 3600);
    }
}

static int64_t remaining(const jobs_progress_t *p)
{
    return p->total - p->done;
}

static void print_json(const char *name, const sample_t *s, const sample_t *prev,
                       int64_t threshold)
{
    const jobs_progress_t **pp = kp_calloc(s->reg.nversions ? (size_t)s->reg.nversions : 1,
                                           sizeof *pp);
    if (!pp)
        return;
    for (int i = 0; i < s->reg.nversions; i++)
        pp[i] = previous(prev, s->reg.versions[i]);
    jobs_status_json(stdout, name, &s->reg, s->reg.versions, s->p, pp, s->reg.nversions,
                     threshold);
    printf("\n");
    kp_free(pp);
}

static void print_table(const cli_common_t *c, const sample_t *s, const sample_t *prev,
                        int64_t threshold)
{
    out_table_t *t = out_table_new(11, "VERSION", "TOPIC", "PARTITION", "START", "CURRENT",
                                   "END", "LAG", "EVENT_LAG", "RECORDS_PER_SEC", "ETA", "PHASE");
    for (int col = 0; col < 9; col++)
        if (col != 1)
            out_num(t, col);
    for (int i = 0; i < s->reg.nversions; i++) {
        const jobs_version_t *v = s->reg.versions[i];
        const jobs_progress_t *p = &s->p[i], *b = previous(prev, v);
        const char *phase = jobs_phase(v, p, threshold, jobs_is_promoted(&s->reg, v));
        double rate = b ? jobs_progress_rate(b, p) : 0;
        char ver[16], pct[32], lag[32], rs[32], eta[32], el[32];
        snprintf(ver, sizeof ver, "%d", v->version);
        for (int k = 0; k < p->nparts; k++) {
            const jobs_part_progress_t *x = &p->parts[k];
            char part[16], st[32], cur[32], end[32], l[32], r[32] = "-";
            snprintf(part, sizeof part, "%d", (int)x->partition);
            snprintf(st, sizeof st, "%" PRId64, x->start_offset);
            snprintf(cur, sizeof cur, "%" PRId64, x->current);
            snprintf(end, sizeof end, "%" PRId64, x->end_offset);
            snprintf(l, sizeof l, "%" PRId64, x->lag);
            const jobs_part_progress_t *bx = b && k < b->nparts ? &b->parts[k] : NULL;
            if (bx && p->sampled_ms > b->sampled_ms)
                snprintf(r, sizeof r, "%.0f",
                         (double)(x->current - bx->current) * 1000.0 /
                             (double)(p->sampled_ms - b->sampled_ms));
            int64_t left = x->end_offset - x->current;
            double prate = bx && p->sampled_ms > b->sampled_ms
                               ? (double)(x->current - bx->current) * 1000.0 /
                                     (double)(p->sampled_ms - b->sampled_ms)
                               : 0;
            fmt_eta(eta, sizeof eta, left, prate);
            jobs_fmt_event_lag(el, sizeof el, x->event_time_lag_ms);
            out_row(t, ver, x->topic, part, st, cur, end, l, el, r, eta, phase);
        }
        snprintf(pct, sizeof pct, "%.1f%%", p->ratio * 100.0);
        snprintf(lag, sizeof lag, "%" PRId64, p->lag);
        snprintf(rs, sizeof rs, b ? "%.0f" : "-", rate);
        fmt_eta(eta, sizeof eta, remaining(p), rate);
        jobs_fmt_event_lag(el, sizeof el, p->event_time_lag_ms);
        out_row(t, ver, "(all)", "-", "-", pct, "-", lag, el, rs, eta, phase);
    }
    out_print(t, c->format, stdout);
    out_table_free(t);
}

/* One line per version: a bar on a terminal, plain words in a pipe. */
static void print_watch_line(const sample_t *s, const sample_t *prev, int64_t threshold,
                             bool tty)
{
    for (int i = 0; i < s->reg.nversions; i++) {
        const jobs_version_t *v = s->reg.versions[i];
        const jobs_progress_t *p = &s->p[i], *b = previous(prev, v);
        double rate = b ? jobs_progress_rate(b, p) : 0;
        char eta[32];
        fmt_eta(eta, sizeof eta, remaining(p), rate);
        const char *phase = jobs_phase(v, p, threshold, jobs_is_promoted(&s->reg, v));
        if (tty) {
            char bar[41];
            int fill = (int)(p->ratio * 40.0 + 0.5);
            for (int k = 0; k < 40; k++)
                bar[k] = k < fill ? '#' : '.';
            bar[40] = '\0';
            printf("\033[2K%s v%d [%s] %5.1f%% %-11s lag %" PRId64 " %.0f rec/s ETA %s\n",
                   v->name, v->version, bar, p->ratio * 100.0, phase, p->lag, rate, eta);
        } else {
            printf("%s v%d %.1f%% %s lag=%" PRId64 " records_per_sec=%.0f eta=%s\n", v->name,
                   v->version, p->ratio * 100.0, phase, p->lag, rate, eta);
        }
    }
    if (tty && s->reg.nversions)
        printf("\033[%dA", s->reg.nversions);   /* back up: the next sample overwrites */
    fflush(stdout);
}

static int job_status(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa job status");
    const char *name = NULL;
    bool watch = false;
    long long interval = 1000, threshold = JOBS_CAUGHT_UP_LAG;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            status_usage(stdout);
            return 0;
        }
        int r = cli_common_flag(&c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (strcmp(a, "--watch") == 0) {
            watch = true;
        } else if (strcmp(a, "--json") == 0) {
            c.format = CLI_FMT_JSON;
        } else if (strcmp(a, "--interval-ms") == 0 || strcmp(a, "--lag-threshold") == 0) {
            long long *dst = a[2] == 'i' ? &interval : &threshold;
            if (!val)
                return cli_usage_error(&c, "%s needs a value", a);
            if (cli_parse_i64(&c, a, val, dst))
                return CLI_EXIT_USAGE;
            if (*dst < (a[2] == 'i' ? 100 : 0))
                return cli_usage_error(&c, "%s is too small", a);
            i++;
        } else if (a[0] == '-') {
            return cli_usage_error(&c, "unknown option %s (see --help)", a);
        } else if (!name) {
            name = a;
        } else {
            return cli_usage_error(&c, "unexpected argument '%s' (see --help)", a);
        }
    }
    if (!name)
        return cli_usage_error(&c, "NAME is required (see --help)");
    int code;
    rd_kafka_t *probe = cli_admin_handle(&c, &code);
    if (!probe)
        return code;
    rd_kafka_destroy(probe);
    rd_kafka_conf_t *base = cli_conf(&c);
    if (!base)
        return CLI_EXIT_FAIL;
    /* One reader for every sample of a --watch, not a consumer per sample. */
    jobs_etime_reader_t *etime = NULL;
    char why[512];
    if (jobs_etime_reader_new(base, &etime, why, sizeof why) != 0) {
        rd_kafka_conf_destroy(base);
        return cli_fail(&c, "%s", why);
    }
    sample_t prev = {0}, cur = {0};
    bool have_prev = false, tty = isatty(STDOUT_FILENO);
    int status = 0;
    for (;;) {
        if (take_sample(&c, base, etime, name, &cur) != 0) {
            status = CLI_EXIT_FAIL;
            break;
        }
        if (cur.reg.nversions == 0) {
            status = cli_fail(&c, "no job %s in the registry (see `kappa job list`)", name);
            break;
        }
        if (!watch && !have_prev) {
            /* Rates need two samples: take the second one shortly after. */
            prev = cur;
            memset(&cur, 0, sizeof cur);
            have_prev = true;
            usleep(1000000);
            continue;
        }
        if (c.format == CLI_FMT_JSON)
            print_json(name, &cur, have_prev ? &prev : NULL, threshold);
        else if (watch)
            print_watch_line(&cur, have_prev ? &prev : NULL, threshold, tty);
        else
            print_table(&c, &cur, &prev, threshold);
        if (have_prev)
            sample_free(&prev);
        prev = cur;
        memset(&cur, 0, sizeof cur);
        have_prev = true;
        if (!watch)
            break;
        usleep((useconds_t)interval * 1000);
    }
    sample_free(&cur);
    if (have_prev)
        sample_free(&prev);
    jobs_etime_reader_free(etime);
    rd_kafka_conf_destroy(base);
    return status;
}

/* ---- promote -------------------------------------------------------------------- */

static void promote_usage(FILE *f)
{
    fprintf(f,
            "usage: kappa job promote NAME VERSION [options]\n"
            "\n"
            "Make VERSION the version that feeds job NAME's stable outputs: its views'\n"
            "stable names switch to VIEW@vVERSION atomically, and the stable topic T (each\n"
            "sink's topic without the .vV suffix) is fed by VERSION from an input-offset\n"
            "cut on: every input before the cut has its effects in T from the previous\n"
            "version, every input from the cut on from VERSION (no gap, no duplicate; see\n"
            "docs/jobs.md \"Promote\").  Refused unless VERSION is CAUGHT_UP and the\n"
            "previous version is running.  Both versions' runners are stopped for the\n"
            "switch (a graceful stop commits) and restarted by the server.\n"
            "\n"
            "options:\n"
            "      --lag-threshold N         CAUGHT_UP lag limit in records (default 1000)\n"
            "      --wait-ms MS              how long to wait for the runners to stop\n"
            "                                (default 60000)\n");
    cli_common_help(f);
}

static int put_promoted(const cli_common_t *c, rd_kafka_t *pk, const jobs_promoted_t *p)
{
    char key[JOBS_NAME_MAX + 32], why[512];
    char *json;
    size_t len;
    if (jobs_promoted_json(p, &json, &len) != 0)
        return cli_fail(c, "out of memory");
    jobs_promoted_key(p->name, key, sizeof key);
    int rc = jobs_put(pk, key, json, len, c->timeout_ms, why, sizeof why);
    kp_free(json);
    return rc ? cli_fail(c, "%s", why) : 0;
}

/* Wait until the version's group has no members (its runners stopped). */
static int wait_group_empty(const cli_common_t *c, rd_kafka_t *admin, const char *group,
                            int64_t deadline_ms)
{
    char why[512];
    int members = -1;
    for (;;) {
        if (jobs_group_members(admin, group, c->timeout_ms, &members, why, sizeof why) != 0)
            return cli_fail(c, "%s", why);
        if (members == 0)
            return 0;
        if (wall_ms() >= deadline_ms)
            return cli_fail(c, "group %s still has %d member(s): its runners did not stop "
                               "in time (is a `kappa job run` outside the server running it?)",
                            group, members);
        usleep(200000);
    }
}

/* The cut: per input partition of p and v, the larger of the two groups'
 * committed offsets (a partition neither group committed: its start offset). */
static int compute_cut(const cli_common_t *c, const jobs_version_t *p, const jobs_version_t *v,
                       char **out)
{
    int n = p->nparts + v->nparts;
    const char **topics = kp_calloc(n ? (size_t)n : 1, sizeof *topics);
    int32_t *parts = kp_calloc(n ? (size_t)n : 1, sizeof *parts);
    int64_t *start = kp_calloc(n ? (size_t)n : 1, sizeof *start);
    int64_t *cp = kp_calloc(n ? (size_t)n : 1, sizeof *cp);
    int64_t *cv = kp_calloc(n ? (size_t)n : 1, sizeof *cv);
    char *cut = NULL;
    int k = 0, status = CLI_EXIT_FAIL;
    rd_kafka_conf_t *base = cli_conf(c);
    if (!topics || !parts || !start || !cp || !cv || !base) {
        cli_fail(c, "out of memory");
        goto out;
    }
    /* The union of both versions' source partitions, each once. */
    for (int i = 0; i < n; i++) {
        const jobs_partition_t *x = i < p->nparts ? &p->parts[i] : &v->parts[i - p->nparts];
        bool seen = false;
        for (int j = 0; j < k && !seen; j++)
            seen = parts[j] == x->partition && strcmp(topics[j], x->topic) == 0;
        if (seen)
            continue;
        topics[k] = x->topic;
        parts[k] = x->partition;
        start[k++] = x->start_offset;
    }
    char gp[JOBS_NAME_MAX + 32], gv[JOBS_NAME_MAX + 32], why[512];
    jobs_group_name(p->name, p->version, gp, sizeof gp);
    jobs_group_name(v->name, v->version, gv, sizeof gv);
    if (jobs_group_committed(base, gp, k, topics, parts, cp, c->timeout_ms, why, sizeof why) ||
        jobs_group_committed(base, gv, k, topics, parts, cv, c->timeout_ms, why, sizeof why)) {
        cli_fail(c, "%s", why);
        goto out;
    }
    cut_t ct = {0};
    for (int i = 0; i < k; i++) {
        int64_t off = cp[i] > cv[i] ? cp[i] : cv[i];
        if (cut_set(&ct, topics[i], parts[i], off < 0 ? start[i] : off) != 0) {
            cut_free(&ct);
            cli_fail(c, "out of memory");
            goto out;
        }
    }
    kp_free(cut);
    cut = cut_format(&ct);
    cut_free(&ct);
    if (!cut) {
        cli_fail(c, "out of memory");
        goto out;
    }
    *out = cut;
    cut = NULL;
    status = 0;
out:
    if (base)
        rd_kafka_conf_destroy(base);
    kp_free(topics);
    kp_free(parts);
    kp_free(start);
    kp_free(cp);
    kp_free(cv);
    kp_free(cut);
    return status;
}

/* The options `promote` and `retire` take besides the common ones; a NULL
 * member is an option the command does not have. */
typedef struct nv_opts {
    long long *wait_ms;         /* --wait-ms MS */
    long long *threshold;       /* --lag-threshold N */
    bool *yes;                  /* --yes, -y */
} nv_opts_t;

/* Parse `NAME VERSION [options]`: 0 with *name and *version set, 1 after
 * printing help, or an exit status after a usage error. */
static int name_version_args(cli_common_t *c, int argc, char **argv, void (*usage)(FILE *),
                             const nv_opts_t *o, const char **name, long long *version)
{
    const char *pos[2];
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            usage(stdout);
            return 1;
        }
        int r = cli_common_flag(c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        long long *num = strcmp(a, "--wait-ms") == 0         ? o->wait_ms
                         : strcmp(a, "--lag-threshold") == 0 ? o->threshold
                                                             : NULL;
        if (num) {
            if (!val)
                return cli_usage_error(c, "%s needs a value", a);
            if (cli_parse_i64(c, a, val, num))
                return CLI_EXIT_USAGE;
            if (*num < 0)
                return cli_usage_error(c, "%s must not be negative", a);
            i++;
        } else if (o->yes && (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0)) {
            *o->yes = true;
        } else if (a[0] == '-') {
            return cli_usage_error(c, "unknown option %s (see --help)", a);
        } else if (npos == 2) {
            return cli_usage_error(c, "unexpected argument '%s' (see --help)", a);
        } else {
            pos[npos++] = a;
        }
    }
    if (npos != 2)
        return cli_usage_error(c, "NAME and VERSION are required (see --help)");
    if (cli_parse_i64(c, "VERSION", pos[1], version))
        return CLI_EXIT_USAGE;
    *name = pos[0];
    return 0;
}

static int job_promote(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa job promote");
    long long threshold = JOBS_CAUGHT_UP_LAG, wait_ms = 60000, version;
    const char *name;
    nv_opts_t nv = {.wait_ms = &wait_ms, .threshold = &threshold};
    int argr = name_version_args(&c, argc, argv, promote_usage, &nv, &name, &version);
    if (argr)
        return argr == 1 ? 0 : argr;
    jobs_registry_t reg = {0};
    rd_kafka_t *admin = NULL, *pk = NULL;
    int r = load_registry(&c, &reg, &admin);
    if (r)
        return r;
    int status = CLI_EXIT_FAIL;
    char *cut = NULL;
    jobs_version_t *v = jobs_registry_find(&reg, name, (int)version), *p = NULL;
    const jobs_promoted_t *prom = jobs_registry_promoted(&reg, name);
    int live = jobs_registry_live_version(&reg, name);
    bool resume = prom && strcmp(prom->state, "switching") == 0;
    if (!v || jobs_version_retired(v)) {
        cli_fail(&c, "job %s has no version %lld%s (see `kappa job list`)", name, version,
                 v ? " (it is retired)" : "");
        goto out;
    }
    if (resume && prom->version != v->version) {
        cli_fail(&c, "not promoted: the promote of %s version %d is not finished; run `kappa "
                     "job promote %s %d` to finish it first",
                 name, prom->version, name, prom->version);
        goto out;
    }
    if (!resume && live == v->version) {
        cli_fail(&c, "not promoted: version %d is already the promoted version of %s", v->version,
                 name);
        goto out;
    }
    p = jobs_registry_find(&reg, name, resume ? prom->previous : live);
    if (!p) {
        cli_fail(&c, "not promoted: the previous version %d of %s is not in the registry",
                 resume ? prom->previous : live, name);
        goto out;
    }
    if (!resume) {
        if (strcmp(p->state, "running") != 0) {
            cli_fail(&c, "not promoted: the previous version %d is %s; it must be running so "
                         "that it feeds %s's stable topics up to the cut (a stopped previous "
                         "version would leave a gap): `kappa job start %s %d` first",
                     p->version, p->state, name, name, p->version);
            goto out;
        }
        rd_kafka_conf_t *base = cli_conf(&c);
        jobs_progress_t pr;
        char why[512];
        if (!base)
            goto out;
        int mrc = jobs_progress_measure(base, v, c.timeout_ms, &pr, why, sizeof why);
        rd_kafka_conf_destroy(base);
        if (mrc) {
            cli_fail(&c, "%s v%d: %s", name, v->version, why);
            goto out;
        }
        const char *phase = jobs_phase(v, &pr, threshold, false);
        double pct = pr.ratio * 100.0;
        int64_t lag = pr.lag;
        jobs_progress_free(&pr);
        if (strcmp(phase, "CAUGHT_UP") != 0) {
            cli_fail(&c, "not promoted: version %d is %s (progress %.1f%%, lag %" PRId64
                         "); promote needs CAUGHT_UP (past its replay's end offsets, lag under "
                         "%lld): see `kappa job status %s`",
                     v->version, phase, pct, lag, threshold, name);
            goto out;
        }
    }
    if (!(pk = registry_producer(&c)))
        goto out;
    /* 1. switching: the servers stop both versions' runners. */
    jobs_promoted_t rec = {0};
    snprintf(rec.name, sizeof rec.name, "%s", name);
    rec.version = v->version;
    rec.previous = p->version;
    snprintf(rec.state, sizeof rec.state, "switching");
    rec.ts_ms = wall_ms();
    if (!resume && put_promoted(&c, pk, &rec) != 0)
        goto out;
    char gp[JOBS_NAME_MAX + 32], gv[JOBS_NAME_MAX + 32];
    jobs_group_name(name, p->version, gp, sizeof gp);
    jobs_group_name(name, v->version, gv, sizeof gv);
    int64_t deadline = wall_ms() + wait_ms;
    if (wait_group_empty(&c, admin, gp, deadline) != 0 ||
        wait_group_empty(&c, admin, gv, deadline) != 0) {
        fprintf(stderr, "kappa job promote: both versions stay stopped until the promote "
                        "finishes: run `kappa job promote %s %d` again\n", name, v->version);
        goto out;
    }
    /* 2. the cut, from where both stopped. */
    if (compute_cut(&c, p, v, &cut) != 0)
        goto out;
    /* 3. the ranges, then done: the servers restart both with them. */
    kp_free(p->stable_until);
    p->has_stable = true;
    if (!(p->stable_until = kp_strdup(cut))) {
        cli_fail(&c, "out of memory");
        goto out;
    }
    kp_free(v->stable_from);
    kp_free(v->stable_until);
    v->has_stable = true;
    v->stable_until = NULL;
    if (!(v->stable_from = kp_strdup(cut))) {
        cli_fail(&c, "out of memory");
        goto out;
    }
    if (put_version(&c, pk, p) != 0 || put_version(&c, pk, v) != 0)
        goto out;
    snprintf(rec.state, sizeof rec.state, "done");
    rec.cut = cut;
    rec.ts_ms = wall_ms();
    if (put_promoted(&c, pk, &rec) != 0)
        goto out;
    printf("promoted %s version %d (previous %d); cut %s\n", name, v->version, p->version, cut);
    status = 0;
out:
    kp_free(cut);
    if (pk)
        rd_kafka_destroy(pk);
    if (admin)
        rd_kafka_destroy(admin);
    jobs_registry_free(&reg);
    return status;
}

/* ---- retire --------------------------------------------------------------------- */

static void retire_usage(FILE *f)
{
    fprintf(f,
            "usage: kappa job retire NAME VERSION [--yes]\n"
            "\n"
            "Retire a version that is not the promoted one: the servers stop its runners,\n"
            "drop its view tables and its local state; its output topics T.vV, its views'\n"
            "backing topics, its internal topics (NAME.vV.*) and its consumer groups\n"
            "(NAME.vV, NAME.vV.views) are deleted.  Asks for confirmation on a terminal.\n"
            "\n"
            "options:\n"
            "      --yes                     do not ask (needed without a terminal)\n"
            "      --wait-ms MS              how long to wait for the runners to stop\n"
            "                                (default 60000)\n");
    cli_common_help(f);
}

/* Has version p (the previous of the last promote) written the stable topics
 * up to the cut?  Until then, retiring it would leave a gap. */
static int previous_passed_cut(const cli_common_t *c, const jobs_version_t *p, const char *cut,
                               bool *passed)
{
    *passed = true;
    cut_t ct = {0};
    char why[512];
    if (cut_parse(cut, &ct, why, sizeof why) != 0) {
        cli_fail(c, "the promote record's cut '%s': %s", cut, why);
        return CLI_EXIT_FAIL;
    }
    size_t n = ct.n;
    const char **tp = kp_calloc(n ? n : 1, sizeof *tp);
    int32_t *parts = kp_calloc(n ? n : 1, sizeof *parts);
    int64_t *got = kp_calloc(n ? n : 1, sizeof *got);
    int status = CLI_EXIT_FAIL;
    rd_kafka_conf_t *base = cli_conf(c);
    if (!tp || !parts || !got || !base)
        goto out;
    for (size_t i = 0; i < n; i++) {
        tp[i] = ct.e[i].topic;
        parts[i] = ct.e[i].partition;
    }
    char group[JOBS_NAME_MAX + 32];
    jobs_group_name(p->name, p->version, group, sizeof group);
    if (jobs_group_committed(base, group, (int)n, tp, parts, got, c->timeout_ms, why,
                             sizeof why)) {
        cli_fail(c, "%s", why);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (got[i] < ct.e[i].offset)
            *passed = false;
    status = 0;
out:
    if (base)
        rd_kafka_conf_destroy(base);
    kp_free(tp);
    kp_free(parts);
    kp_free(got);
    cut_free(&ct);
    return status;
}

static int job_retire(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa job retire");
    bool yes = false;
    long long wait_ms = 60000, version;
    const char *name;
    nv_opts_t nv = {.wait_ms = &wait_ms, .yes = &yes};
    int argr = name_version_args(&c, argc, argv, retire_usage, &nv, &name, &version);
    if (argr)
        return argr == 1 ? 0 : argr;
    if (!yes && !isatty(STDIN_FILENO))
        return cli_usage_error(&c, "retiring %s version %lld deletes its outputs, state and "
                                   "groups: pass --yes to confirm without a terminal",
                               name, version);
    jobs_registry_t reg = {0};
    rd_kafka_t *admin = NULL, *pk = NULL;
    int r = load_registry(&c, &reg, &admin);
    if (r)
        return r;
    int status = CLI_EXIT_FAIL;
    char **names = NULL, **internal = NULL;
    int nnames = 0, ninternal = 0;
    jobs_version_t *v = jobs_registry_find(&reg, name, (int)version);
    const jobs_promoted_t *prom = jobs_registry_promoted(&reg, name);
    char why[512];
    if (!v) {
        cli_fail(&c, "job %s has no version %lld (see `kappa job list`)", name, version);
        goto out;
    }
    if (jobs_registry_live_version(&reg, name) == v->version) {
        cli_fail(&c, "not retired: version %d is the promoted version of %s; promote another "
                     "version first",
                 v->version, name);
        goto out;
    }
    if (prom && strcmp(prom->state, "switching") == 0 && prom->previous == v->version) {
        cli_fail(&c, "not retired: the promote of %s version %d from version %d is not "
                     "finished (`kappa job promote %s %d`)",
                 name, prom->version, v->version, name, prom->version);
        goto out;
    }
    if (prom && prom->previous == v->version && prom->cut && !jobs_version_retired(v)) {
        bool passed;
        if (previous_passed_cut(&c, v, prom->cut, &passed) != 0)
            goto out;
        if (!passed) {
            cli_fail(&c, "not retired: version %d has not yet fed the stable topics up to the "
                         "promote cut (%s); retire it once it has (`kappa job status %s`)",
                     v->version, prom->cut, name);
            goto out;
        }
    }
    if (!yes) {
        fprintf(stderr, "Retire %s version %d? Its runners stop and its outputs (", name,
                v->version);
        for (int i = 0; i < v->noutputs; i++)
            fprintf(stderr, "%s%s.v%d", i ? ", " : "", v->outputs[i], v->version);
        fprintf(stderr, "%s), views, state and groups are deleted. [y/N] ",
                v->noutputs ? "" : "none");
        char line[32] = "";
        if (!fgets(line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
            fprintf(stderr, "not retired\n");
            goto out;
        }
    }
    if (!(pk = registry_producer(&c)))
        goto out;
    if (!jobs_version_retired(v)) {
        snprintf(v->state, sizeof v->state, "retired");
        if (put_version(&c, pk, v) != 0)
            goto out;
    }
    /* The runners must be gone before their topics: a running task would
     * create them again. */
    char group[JOBS_NAME_MAX + 32], vgroup[JOBS_NAME_MAX + 40];
    jobs_group_name(name, v->version, group, sizeof group);
    snprintf(vgroup, sizeof vgroup, "%s.views", group);
    if (wait_group_empty(&c, admin, group, wall_ms() + wait_ms) != 0 ||
        wait_group_empty(&c, admin, vgroup, wall_ms() + wait_ms) != 0)
        goto out;
    char prefix[JOBS_NAME_MAX + 34];
    snprintf(prefix, sizeof prefix, "%s.", group);
    if (jobs_topics_with_prefix(admin, prefix, c.timeout_ms, &internal, &ninternal, why,
                                sizeof why) != 0) {
        cli_fail(&c, "%s", why);
        goto out;
    }
    names = kp_calloc((size_t)(v->noutputs + v->nviews + ninternal) + 1, sizeof *names);
    if (!names) {
        cli_fail(&c, "out of memory");
        goto out;
    }
    for (int i = 0; i < v->noutputs; i++) {
        char t[300];
        snprintf(t, sizeof t, "%s.v%d", v->outputs[i], v->version);
        names[nnames++] = kp_strdup(t);
    }
    for (int i = 0; i < v->nviews; i++) {
        char t[300];
        names[nnames++] = kp_strdup(view_topic(t, sizeof t, v->views[i], v->version));
    }
    for (int i = 0; i < ninternal; i++)
        names[nnames++] = kp_strdup(internal[i]);
    for (int i = 0; i < nnames; i++)
        if (!names[i]) {
            cli_fail(&c, "out of memory");
            goto out;
        }
    char *groups[2] = {group, vgroup};
    if (jobs_delete_topics(admin, names, nnames, c.timeout_ms, why, sizeof why) != 0 ||
        jobs_delete_groups(admin, groups, 2, c.timeout_ms, why, sizeof why) != 0) {
        cli_fail(&c, "%s", why);
        goto out;
    }
    printf("retired %s version %d: deleted %d topic(s)", name, v->version, nnames);
    for (int i = 0; i < nnames; i++)
        printf("%s %s", i ? "," : ":", names[i]);
    printf("; groups %s, %s; the servers drop its view tables and state\n", group, vgroup);
    status = 0;
out:
    jobs_names_free(names, nnames);
    jobs_names_free(internal, ninternal);
    if (pk)
        rd_kafka_destroy(pk);
    if (admin)
        rd_kafka_destroy(admin);
    jobs_registry_free(&reg);
    return status;
}

int cli_job_registry(int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "deploy") == 0)
        return job_deploy(argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0)
        return job_list(argc - 1, argv + 1);
    if (strcmp(cmd, "stop") == 0)
        return job_set_state(argc - 1, argv + 1, "stopped");
    if (strcmp(cmd, "start") == 0)
        return job_set_state(argc - 1, argv + 1, "running");
    if (strcmp(cmd, "promote") == 0)
        return job_promote(argc - 1, argv + 1);
    if (strcmp(cmd, "retire") == 0)
        return job_retire(argc - 1, argv + 1);
    return job_status(argc - 1, argv + 1);
}
