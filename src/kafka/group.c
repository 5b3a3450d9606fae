/*
 * group.c -- placeholder until the group coordinator lands (being written).
 */
#include "broker.h"

kapi_handler_fn *group_handler_for(int16_t key)
{
    (void)key;
    return NULL;
}

int group_coord_start(broker_t *b)
{
    (void)b;
    return 0;
}

void group_coord_stop(broker_t *b)
{
    (void)b;
}
