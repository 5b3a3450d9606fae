/*
 * cli.h -- kappa's subcommands.  Each takes the arguments after its own name
 * and returns the process exit status (0 success, 1 failure or findings,
 * 2 usage error).
 */
#ifndef KP_CLI_H
#define KP_CLI_H

int cli_log(int argc, char **argv);     /* kappa log check DIR */
int cli_server(int argc, char **argv);  /* kappa server */
int cli_bench(int argc, char **argv);   /* kappa bench produce|consume */
int cli_job(int argc, char **argv);     /* kappa job run */
int cli_nexmark(int argc, char **argv); /* kappa nexmark gen */
int cli_group(int argc, char **argv);   /* kappa group list|describe|seek|delete */
int cli_cluster(int argc, char **argv); /* kappa cluster info|health */
int cli_completion(int argc, char **argv); /* kappa completion bash */
int cli_topic(int argc, char **argv);   /* kappa topic create|list|describe|... */
int cli_view(int argc, char **argv);    /* kappa view list|get|query */
int cli_view_sink(int argc, char **argv); /* kappa view sink (args after "sink") */
int cli_demo(int argc, char **argv);    /* kappa demo */

#endif
