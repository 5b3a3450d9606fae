/*
 * job_registry.h -- the `kappa job` subcommands that work on the job
 * registry (__kappa_jobs): deploy, list, stop, start, status.
 */
#ifndef KP_CLI_JOB_REGISTRY_H
#define KP_CLI_JOB_REGISTRY_H

#include <stdbool.h>

/* Is cmd one of the registry subcommands? */
bool cli_job_registry_cmd(const char *cmd);
/* argv[0] is the subcommand; returns the exit status. */
int cli_job_registry(int argc, char **argv);

#endif
