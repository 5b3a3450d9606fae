# Sourced by tests/integration/test_nexmark_jobs.sh and bench/nexmark_bench.sh.
# repartitions JOB VERSION: the repartition topics an example job reads besides
# its source (JOB.vVERSION.KEY_BY_NAME-repartition), for "caught up" checks.
repartitions() {
    case $1 in
    q5) echo "q5.v$2.by_auction-repartition q5.v$2.by_window-repartition" ;;
    q7) echo "q7.v$2.one_key-repartition" ;;
    q11) echo "q11.v$2.by_bidder-repartition" ;;
    q3|q8) echo "$1.v$2.person_by_id-repartition $1.v$2.auction_by_seller-repartition" ;;
    ac) echo "ac.v$2.by_auction-repartition" ;;
    esac
}
