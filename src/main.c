/*
 * main.c -- the one kappa binary: dispatch to a subcommand.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#define KAPPA_VERSION "0.1.0"

static int usage(FILE *out)
{
    fprintf(out,
            "kappa " KAPPA_VERSION " -- the Kappa architecture in one program\n"
            "\n"
            "usage: kappa COMMAND [ARGS]\n"
            "\n"
            "commands in this build:\n"
            "  server [-c FILE] [--set k=v]  the Kafka-protocol broker\n"
            "  topic create|list|describe|delete|alter-config|add-partitions|produce|consume\n"
            "                       manage, write and read topics on any Kafka broker\n"
            "  log check [-v] DIR   verify and summarise segment files (read-only)\n"
            "  job run NAME --version V --plugin FILE.so  run a stream-processing job\n"
            "  job deploy|list|status|stop|start|diff|promote|retire  the Kappa cycle:\n"
            "                       versions of a job side by side, replay, compare, switch\n"
            "  view sink VIEW --version V --to TARGET  apply a view to SQLite (or another store)\n"
            "  view list|get|query  read materialized views through the HTTP query API\n"
            "  bench produce|consume --topic T [...]  load test any Kafka broker\n"
            "  nexmark gen --events N [...]  the Nexmark benchmark's events, to a topic or file\n"
            "  group list|describe|seek|delete  consumer groups, offsets and lag\n"
            "  cluster info|health  brokers, API versions, partition health\n"
            "  completion bash      a bash completion script: source <(kappa completion bash)\n"
            "  demo [--keep]        the whole Kappa cycle on generated data, narrated\n"
            "  version              print the version\n"
            "  help                 this text\n"
            "\n"
            "See README.md and docs/ for each part.\n");
    return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "server") == 0)
        return cli_server(argc - 2, argv + 2);
    if (strcmp(cmd, "job") == 0)
        return cli_job(argc - 2, argv + 2);
    if (strcmp(cmd, "view") == 0) {
        if (argc >= 3 && strcmp(argv[2], "sink") == 0)
            return cli_view_sink(argc - 3, argv + 3);
        return cli_view(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "bench") == 0)
        return cli_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "nexmark") == 0)
        return cli_nexmark(argc - 2, argv + 2);
    if (strcmp(cmd, "topic") == 0)
        return cli_topic(argc - 2, argv + 2);
    if (strcmp(cmd, "log") == 0)
        return cli_log(argc - 2, argv + 2);
    if (strcmp(cmd, "group") == 0)
        return cli_group(argc - 2, argv + 2);
    if (strcmp(cmd, "cluster") == 0)
        return cli_cluster(argc - 2, argv + 2);
    if (strcmp(cmd, "demo") == 0)
        return cli_demo(argc - 2, argv + 2);
    if (strcmp(cmd, "completion") == 0)
        return cli_completion(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("kappa %s\n", KAPPA_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout);
    fprintf(stderr, "kappa: unknown command '%s' (try `kappa help`)\n", cmd);
    return 2;
}
