/*
 * view_sink.c -- `kappa view sink VIEW --version V --to TARGET`: apply a
 * view version's backing topic to a store in the foreground, until SIGINT
 * or SIGTERM (view/sink.h does the work).
 *
 * This is how a view reaches a store other than the job runner's own
 * (`kappa job run --views none` plus one or more of these), or a second
 * copy of it.  Several instances with the same group split the partitions;
 * each partition restarts from the offsets stored with the rows, so killing
 * one at any point loses and duplicates nothing.
 */
#include "cli/cli.h"
#include "cli/client.h"

#include "view/sink.h"
#include "view/view.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kappa view sink VIEW --version V --to TARGET [options]\n"
            "\n"
            "Apply view VIEW@vV (its backing topic __kappa_view.VIEW.vV, read_committed) to\n"
            "TARGET, exactly once, in the foreground until SIGINT/SIGTERM.  The offsets are\n"
            "stored with the rows; a restart continues from them.\n"
            "\n"
            "options:\n"
            "  -b, --brokers HOST:PORT      Kafka-protocol brokers (default 127.0.0.1:9092)\n"
            "      --version V              the view version (the job version writing it)\n"
            "      --to TARGET              sqlite:PATH or a PATH, postgresql://USER@HOST:PORT/DB,\n"
            "                               clickhouse://HOST:PORT[/DB]\n"
            "      --group G                consumer group splitting partitions between sinks\n"
            "                               (default kappa-view-sink.VIEW.vV)\n"
            "      --job NAME               the job that maintains the view (recorded in the\n"
            "                               store's kappa_views)\n"
            "      --batch-max N            changes per store transaction (default 10000)\n"
            "      --batch-ms MS            longest a batch stays open (default 20)\n"
            "      --consumer-property K=V  a librdkafka property (e.g. session.timeout.ms);\n"
            "                               repeatable\n"
            "  -h, --help                   this help\n");
}

int cli_view_sink(int argc, char **argv)
{
    const char *ref = NULL, *target = NULL, *group = NULL, *job = NULL;
    long long version = 0, batch_max = 0, batch_ms = 0;
    const char *props[65] = {0};
    int nprops = 0;
    cli_common_t common;
    cli_common_init(&common, "kappa view sink");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        int r = cli_common_flag(&common, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (a[0] == '-' && !val)
            return cli_usage_error(&common, "%s needs a value", a);
        if (strcmp(a, "--version") == 0) {
            if (cli_parse_i64(&common, a, val, &version))
                return CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(a, "--to") == 0) {
            target = val;
            i++;
        } else if (strcmp(a, "--group") == 0) {
            group = val;
            i++;
        } else if (strcmp(a, "--job") == 0) {
            job = val;
            i++;
        } else if (strcmp(a, "--batch-max") == 0) {
            if (cli_parse_i64(&common, a, val, &batch_max))
                return CLI_EXIT_USAGE;
            if (batch_max < 1 || batch_max > 10000000)
                return cli_usage_error(&common, "--batch-max must be 1..10000000");
            i++;
        } else if (strcmp(a, "--batch-ms") == 0) {
            if (cli_parse_i64(&common, a, val, &batch_ms))
                return CLI_EXIT_USAGE;
            if (batch_ms < 1 || batch_ms > 600000)
                return cli_usage_error(&common, "--batch-ms must be 1..600000");
            i++;
        } else if (strcmp(a, "--consumer-property") == 0) {
            if (!strchr(val, '=') || val[0] == '=' || nprops == 64)
                return cli_usage_error(&common, "--consumer-property takes KEY=VALUE (at most "
                                                "64)");
            props[nprops++] = val;
            i++;
        } else if (a[0] == '-') {
            return cli_usage_error(&common, "unknown option %s", a);
        } else if (!ref) {
            ref = a;
        } else {
            return cli_usage_error(&common, "unexpected argument '%s'", a);
        }
    }
    char name[VIEW_NAME_MAX + 1];
    int refv = 0;
    if (!ref || view_parse_ref(ref, name, &refv) != 0)
        return cli_usage_error(&common, "VIEW must be a view name ([A-Za-z_][A-Za-z0-9_]{0,%d})",
                               VIEW_NAME_MAX - 1);
    if (refv && version && refv != version)
        return cli_usage_error(&common, "%s and --version %lld disagree", ref, version);
    if (refv)
        version = refv;
    if (version < 1 || version > 1000000)
        return cli_usage_error(&common, "--version V (1..1000000) is required");
    if (!target)
        return cli_usage_error(&common, "--to TARGET is required (e.g. sqlite:views.db)");
    char group_buf[VIEW_NAME_MAX + 64];
    if (!group) {
        snprintf(group_buf, sizeof group_buf, "kappa-view-sink.%s.v%lld", name, version);
        group = group_buf;
    }
    /* An unreachable broker is exit 3 with the usual message, before the
     * sink starts waiting for its topic. */
    int code;
    rd_kafka_t *probe = cli_admin_handle(&common, &code);
    if (!probe)
        return code;
    rd_kafka_destroy(probe);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    view_sink_view_t v = {name, (int)version, job};
    view_sink_opts_t o = {
        .brokers = common.brokers,
        .group = group,
        .target = target,
        .views = &v,
        .nviews = 1,
        .batch_max = (int)batch_max,
        .batch_ms = (int)batch_ms,
        .consumer_props = props,
    };
    int rc = view_sink_run(&o, &stop_flag);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
