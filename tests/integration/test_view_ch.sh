#!/bin/bash
# kappa view sink into a real ClickHouse (Debian's 18.16), SIGKILLed at
# random points at least 10 times: the table (FINAL) ends equal to the view
# computed from the topic, no change counted twice
# (tests/integration/view_sink_kill.sh).
KIND=ch
. "$(dirname "$0")/view_sink_kill.sh"
