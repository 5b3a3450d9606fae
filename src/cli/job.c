/*
 * job.c -- `kappa job run NAME --version V --plugin FILE.so [-b BROKERS]`:
 * load a job plugin and run it in the foreground (see include/kappa.h).
 *
 * The plugin is a shared object exporting kappa_job_define(); it resolves
 * the kappa_* functions from this executable (linked with -rdynamic), so a
 * plugin never carries its own copy of the runtime.
 */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/job_diff.h"
#include "cli/job_registry.h"
#include "stream/describe.h"

#include "kappa.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kappa job run NAME --version V --plugin FILE.so [options]\n"
            "\n"
            "Run a job in the foreground until SIGINT/SIGTERM.  Runners started with the\n"
            "same NAME and version share the job's tasks through a consumer group.\n"
            "\n"
            "options:\n"
            "  -b, --brokers HOST:PORT       Kafka-protocol brokers (default 127.0.0.1:9092)\n"
            "      --version V               the job version (integer >= 1)\n"
            "      --plugin FILE.so          shared object exporting kappa_job_define()\n"
            "      --state-dir DIR           snapshots (default ./kappa-state)\n"
            "      --state-store memory|disk in-memory state (default) or on disk (LMDB)\n"
            "      --commit-interval-ms MS   transaction per task every MS (default 100)\n"
            "      --snapshot-interval-ms MS local state snapshots (default 30000, -1 off)\n"
            "      --session-timeout-ms MS   group session timeout (default 10000)\n"
            "      --param KEY=VALUE         a job parameter (kappa_job_param); repeatable\n"
            "      --from earliest|latest|@TS_MS  where sources start without a committed\n"
            "                                offset in the job's group (default earliest)\n"
            "      --versioned-outputs       write sink topic T as T.vV (as deployed jobs do);\n"
            "                                implies --source-tags\n"
            "      --source-tags             tag every output record with the input record\n"
            "                                that caused it (header kappa.src; docs/jobs.md)\n"
            "      --stable-outputs          also write the stable topic T (with\n"
            "                                --versioned-outputs; promote, docs/jobs.md)\n"
            "      --stable-from CUT         ... only for inputs at or after CUT\n"
            "                                (topic:partition=offset,...)\n"
            "      --stable-until CUT        ... only for inputs before CUT\n"
            "      --stable-wait-group G     before writing T past --stable-from, wait until\n"
            "                                group G has committed past the cut\n"
            "      --http HOST:PORT          serve Prometheus metrics at GET /metrics\n"
            "      --views TARGET            where the job's views (kappa_view) are applied:\n"
            "                                sqlite:PATH or a PATH (default STATE_DIR/views.db),\n"
            "                                or none (a `kappa view sink` elsewhere applies them)\n"
            "      --consumer-property K=V   a librdkafka property for the consumer; repeatable\n"
            "      --producer-property K=V   a librdkafka property for the task producers\n"
            "  -h, --help                    this help\n");
}

/* A hosted runner whose server died gets SIGTERM (PDEATHSIG) and tries to
 * commit and leave its group -- through the broker that just died, which can
 * block for minutes.  Nothing it could still commit matters (its open
 * transactions abort), so it gets a few seconds and then exits. */
static void *host_watchdog(void *arg)
{
    pid_t host = (pid_t)(intptr_t)arg;
    while (getppid() == host)
        usleep(200000);
    sleep(5);
    fprintf(stderr, "kappa job run: the hosting server is gone; exiting\n");
    _exit(1);
    return NULL;
}

static int job_run(int argc, char **argv)
{
    const char *name = NULL, *plugin = NULL;
    long long version = 0, v;
    kappa_run_opts_t o = {0};
    const char *params[65] = {0}, *cprops[65] = {0}, *pprops[65] = {0};
    int nparams = 0, ncprops = 0, npprops = 0;
    cli_common_t common;
    cli_common_init(&common, "kappa job run");
    o.brokers = common.brokers;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "-b") == 0 || strcmp(a, "--brokers") == 0 ||
            strncmp(a, "--brokers=", 10) == 0) {
            int r = cli_common_flag(&common, argc, argv, &i);
            if (r < 0)
                return 2;
            o.brokers = common.brokers;
            continue;
        }
        if (strcmp(a, "--versioned-outputs") == 0) {
            o.versioned_outputs = 1;
            continue;
        }
        if (strcmp(a, "--source-tags") == 0) {
            o.source_tags = 1;
            continue;
        }
        if (strcmp(a, "--stable-outputs") == 0) {
            o.stable_outputs = 1;
            continue;
        }
        if (a[0] == '-' && !val) {
            fprintf(stderr, "kappa job run: %s needs a value (see --help)\n", a);
            return 2;
        }
        if (strcmp(a, "--version") == 0) {
            if (cli_parse_i64(&common, a, val, &version))
                return 2;
            i++;
        } else if (strcmp(a, "--param") == 0) {
            if (!strchr(val, '=') || val[0] == '=' || nparams == 64) {
                fprintf(stderr, "kappa job run: --param takes KEY=VALUE (at most 64)\n");
                return 2;
            }
            params[nparams++] = val;
            i++;
        } else if (strcmp(a, "--consumer-property") == 0 ||
                   strcmp(a, "--producer-property") == 0) {
            bool cons = a[2] == 'c';
            if (!strchr(val, '=') || val[0] == '=' || (cons ? ncprops : npprops) == 64) {
                fprintf(stderr, "kappa job run: %s takes KEY=VALUE (at most 64)\n", a);
                return 2;
            }
            if (cons)
                cprops[ncprops++] = val;
            else
                pprops[npprops++] = val;
            i++;
        } else if (strcmp(a, "--from") == 0) {
            if (!stream_from_valid(val)) {
                fprintf(stderr, "kappa job run: --from is earliest, latest or @TIMESTAMP_MS\n");
                return 2;
            }
            o.from = val;
            i++;
        } else if (strcmp(a, "--http") == 0) {
            o.http = val;
            i++;
        } else if (strcmp(a, "--stable-from") == 0 || strcmp(a, "--stable-until") == 0) {
            *(a[9] == 'f' ? &o.stable_from : &o.stable_until) = val;
            o.stable_outputs = 1;
            i++;
        } else if (strcmp(a, "--stable-wait-group") == 0) {
            o.stable_wait_group = val;
            i++;
        } else if (strcmp(a, "--views") == 0) {
            if (!*val) {
                fprintf(stderr, "kappa job run: --views takes a target (sqlite:PATH, a path, "
                                "or none)\n");
                return 2;
            }
            o.views = val;
            i++;
        } else if (strcmp(a, "--plugin") == 0) {
            plugin = val;
            i++;
        } else if (strcmp(a, "--state-store") == 0) {
            if (strcmp(val, "memory") != 0 && strcmp(val, "disk") != 0) {
                fprintf(stderr, "kappa job run: --state-store is memory or disk\n");
                return 2;
            }
            o.state_store = val;
            i++;
        } else if (strcmp(a, "--state-dir") == 0) {
            o.state_dir = val;
            i++;
        } else if (strcmp(a, "--commit-interval-ms") == 0) {
            if (cli_parse_i64(&common, a, val, &v))
                return 2;
            if (v < 1) {
                fprintf(stderr, "kappa job run: --commit-interval-ms must be >= 1\n");
                return 2;
            }
            o.commit_interval_ms = v;
            i++;
        } else if (strcmp(a, "--snapshot-interval-ms") == 0) {
            if (cli_parse_i64(&common, a, val, &v))
                return 2;
            if (v < -1) {
                fprintf(stderr, "kappa job run: --snapshot-interval-ms must be >= -1\n");
                return 2;
            }
            o.snapshot_interval_ms = v == 0 ? 1 : v;
            i++;
        } else if (strcmp(a, "--session-timeout-ms") == 0) {
            if (cli_parse_i64(&common, a, val, &v))
                return 2;
            if (v < 1000 || v > 3600000) {
                fprintf(stderr, "kappa job run: --session-timeout-ms must be 1000..3600000\n");
                return 2;
            }
            o.session_timeout_ms = (int)v;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "kappa job run: unknown option %s (see --help)\n", a);
            return 2;
        } else if (!name) {
            name = a;
        } else {
            fprintf(stderr, "kappa job run: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!name || !plugin || version < 1 || version > 1000000) {
        fprintf(stderr, "kappa job run: NAME, --version V (>= 1) and --plugin FILE.so are "
                        "required (see --help)\n");
        return 2;
    }
    /* dlopen searches the library path for a bare name; a plugin is a file. */
    char path[4096];
    snprintf(path, sizeof path, "%s%s", strchr(plugin, '/') ? "" : "./", plugin);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "kappa job run: cannot load plugin %s: %s\n", plugin, dlerror());
        return 2;           /* as a usage error: retrying cannot help */
    }
    kappa_job_define_fn *define = (kappa_job_define_fn *)dlsym(h, "kappa_job_define");
    if (!define) {
        fprintf(stderr, "kappa job run: plugin %s does not export kappa_job_define()\n",
                plugin);
        dlclose(h);
        return 2;
    }
    o.params = params;
    o.consumer_props = cprops;
    o.producer_props = pprops;
    /* Hosted by `kappa server` (host.c): die with it, never linger as an
     * orphan member of the job's group. */
    const char *host = getenv("KAPPA_HOST_PID");
    if (host) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != (pid_t)atol(host)) {
            fprintf(stderr, "kappa job run: the hosting server is gone; not starting\n");
            return 1;
        }
        pthread_t wd;
        if (pthread_create(&wd, NULL, host_watchdog, (void *)(intptr_t)atol(host)) == 0)
            pthread_detach(wd);
    }
    int rc = kappa_job_run(name, (int)version, define, &o);
    /* The plugin stays loaded: librdkafka threads may still be winding down
     * callbacks into it at exit. */
    return rc;
}

int cli_job(int argc, char **argv)
{
    if (argc < 1 || cli_is_help(argv[0])) {
        fprintf(argc < 1 ? stderr : stdout,
                "usage: kappa job run NAME --version V --plugin FILE.so [-b BROKERS]\n"
                "       kappa job deploy NAME --version V --plugin FILE.so [--from ...]\n"
                "       kappa job list | stop NAME V | start NAME V | status NAME [--watch]\n"
                "       kappa job diff NAME V1 V2 [--samples N] [--json]\n"
                "       kappa job promote NAME V | retire NAME V [--yes]\n"
                "(see `kappa job SUBCOMMAND --help`)\n");
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "run") == 0)
        return job_run(argc - 1, argv + 1);
    if (strcmp(argv[0], "diff") == 0)
        return cli_job_diff(argc, argv);
    if (cli_job_registry_cmd(argv[0]))
        return cli_job_registry(argc, argv);
    fprintf(stderr, "kappa job: unknown subcommand '%s' (this build has: run, deploy, list, "
                    "stop, start, status, diff)\n", argv[0]);
    return 2;
}
