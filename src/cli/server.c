/*
 * server.c -- `kappa server [-c kappa.properties] [--set key=value]...`
 *
 * Embedded defaults, then the properties file, then --set, in that order.
 * SIGTERM and SIGINT shut down cleanly (clean-shutdown marker written);
 * after SIGKILL, recovery at the next start keeps everything acknowledged.
 */
#include "cli.h"
#include "kafka/broker.h"
#include "core/kp_error.h"
#include "core/logging.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static broker_t broker;

static void on_signal(int sig)
{
    (void)sig;
    broker_stop(&broker);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: kappa server [-c FILE] [--set key=value]...\n"
            "  -c FILE            Kafka-style properties file (key=value lines)\n"
            "  --set key=value    override one property (repeatable)\n"
            "Properties use Kafka's names: listeners, advertised.listeners, log.dirs,\n"
            "num.partitions, auto.create.topics.enable, log.retention.{ms,hours,bytes},\n"
            "log.segment.bytes, message.max.bytes, socket.request.max.bytes,\n"
            "group.initial.rebalance.delay.ms, ...; kappa's own start with kappa.\n"
            "Defaults: listeners 127.0.0.1:9092 and [::1]:9092, log.dirs ./kappa-data.\n");
    return 2;
}

int cli_server(int argc, char **argv)
{
    broker_config_t cfg;
    char why[512];
    broker_config_defaults(&cfg);
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            if (broker_config_load(&cfg, argv[++i], why, sizeof why)) {
                fprintf(stderr, "kappa server: %s\n", why);
                return 2;
            }
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            char kv[4096];
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            char *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "kappa server: --set expects key=value, got '%s'\n", kv);
                return 2;
            }
            *eq = '\0';
            if (broker_config_set(&cfg, kv, eq + 1, why, sizeof why)) {
                fprintf(stderr, "kappa server: %s\n", why);
                return 2;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "kappa server: unexpected argument '%s'\n", argv[i]);
            return usage();
        }
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = broker_start(&broker, &cfg);
    if (rc) {
        fprintf(stderr, "kappa server: cannot start: %s\n", kp_strerror(rc));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rc = broker_run(&broker);
    if (rc)
        KP_ERROR("event loop failed: %s", kp_strerror(rc));
    int src = broker_shutdown(&broker);
    return rc || src ? 1 : 0;
}
