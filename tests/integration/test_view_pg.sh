#!/bin/bash
# kappa view sink into a real PostgreSQL, SIGKILLed at random points at
# least 10 times: the table ends equal to the view computed from the topic,
# no change counted twice (tests/integration/view_sink_kill.sh).
KIND=pg
. "$(dirname "$0")/view_sink_kill.sh"
