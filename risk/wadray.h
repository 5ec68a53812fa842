/* Fixed-point helpers of Aave v3 WadRayMath / PercentageMath and MakerDAO divup
 * (spec protocol-math §0, §2.1): half-up rounding, and an error exactly where the
 * contract reverts. */
#ifndef SPARKD_RISK_WADRAY_H
#define SPARKD_RISK_WADRAY_H

#include "risk/u256.h"

/* 1e18, 1e27, halves, and the year of the rate formulas. */
extern const u256 RISK_WAD;
extern const u256 RISK_RAY;
extern const u256 RISK_HALF_WAD;
extern const u256 RISK_HALF_RAY;
#define RISK_PERCENTAGE_FACTOR 10000u
#define RISK_YEAR 31536000u

/* Each returns RISK_OK and writes *r, or the error the contract would revert with. */
risk_err risk_wad_mul(u256 *r, u256 a, u256 b);     /* (a*b + HALF_WAD) / WAD */
risk_err risk_wad_div(u256 *r, u256 a, u256 b);     /* (a*WAD + b/2) / b */
risk_err risk_ray_mul(u256 *r, u256 a, u256 b);     /* (a*b + HALF_RAY) / RAY */
risk_err risk_ray_div(u256 *r, u256 a, u256 b);     /* (a*RAY + b/2) / b */
u256 risk_ray_to_wad(u256 a);                       /* a/1e9, +1 if a mod 1e9 >= 5e8 */
risk_err risk_wad_to_ray(u256 *r, u256 a);          /* a*1e9 */
risk_err risk_percent_mul(u256 *r, u256 v, u256 p); /* (v*p + 5000) / 10000 */
risk_err risk_percent_div(u256 *r, u256 v, u256 p); /* (v*10000 + p/2) / p */
risk_err risk_divup(u256 *r, u256 x, u256 y);       /* x==0 ? 0 : (x-1)/y + 1; y==0 reverts */

#endif
