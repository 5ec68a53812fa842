/* EIP-55: the hex digit at position i is upper-cased when nibble i of keccak256(lowercase hex) >= 8. */
#include "risk/eip55.h"

#include <stdint.h>

#include "risk/keccak.h"
#include "risk/u256.h"

bool risk_eip55(const char *addr, char out[43]) {
  if (!addr || addr[0] != '0' || (addr[1] != 'x' && addr[1] != 'X')) return false;
  char lower[40];
  for (int i = 0; i < 40; i++) {
    int v = risk_hexval(addr[2 + i]);
    if (v < 0) return false;
    lower[i] = "0123456789abcdef"[v];
  }
  if (addr[42] != '\0') return false;
  uint8_t h[32];
  risk_keccak256((const uint8_t *)lower, 40, h);
  out[0] = '0';
  out[1] = 'x';
  for (int i = 0; i < 40; i++) {
    int nib = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 0x0f;
    char c = lower[i];
    out[2 + i] = (c >= 'a' && nib >= 8) ? (char)(c - 'a' + 'A') : c;
  }
  out[42] = '\0';
  return true;
}
