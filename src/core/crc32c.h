/*
 * crc32c.h -- CRC-32C (Castagnoli), the checksum of Kafka RecordBatch v2.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * run time), else a slicing table.  Both give identical results; the unit
 * test checks them against each other and against known vectors.
 */
#ifndef CRC32C_H
#define CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend `crc` (0 to start) over buf[0..len).  Returns the finished value. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable implementation, exposed for tests and benchmarks. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 when crc32c() uses the hardware instruction. */
int crc32c_hw_available(void);

#endif
