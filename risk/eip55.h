/* EIP-55 mixed-case checksum addresses. Pure: no I/O, no heap. */
#ifndef SPARKD_RISK_EIP55_H
#define SPARKD_RISK_EIP55_H

#include <stdbool.h>

/* Writes the EIP-55 form of addr ("0x" + 40 hex digits, any case) and a NUL into out[43];
 * returns false (out untouched) when addr is not of that shape. */
bool risk_eip55(const char *addr, char out[43]);

#endif
