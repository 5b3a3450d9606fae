/*
 * job_diff.h -- `kappa job diff NAME V1 V2`: compare two deployed versions'
 * outputs over the same input (docs/jobs.md, "Diff").
 */
#ifndef KP_CLI_JOB_DIFF_H
#define KP_CLI_JOB_DIFF_H

/* argv[0] is "diff"; returns the exit status (0 identical, 1 different or
 * failed, 2 usage, 3 no broker). */
int cli_job_diff(int argc, char **argv);

#endif
