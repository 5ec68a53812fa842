// Differential-test generator: random SparkLend (Aave v3.0.2) reserves and accounts with a
// fixed seed, evaluated by npm @aave/math-utils 1.38.0. Writes one JSON object per line
// (NDJSON) to the file named on the command line; tests/check_node_aave_diff.c reads it and
// compares the library's raw results with the engine.
//
//   node tests/diff/aave_math_gen.mjs OUT.ndjson [N_CASES] [SEED]
//
// Only chain-reachable states are generated (see docs/aave-math-utils-departures.md):
// an isolated asset enabled as collateral is the only collateral; a user in eMode c
// borrows only assets of category c.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'package.json'));
const mu = require('@aave/math-utils');

const out = process.argv[2];
if (!out) {
  console.error('usage: aave_math_gen.mjs OUT.ndjson [N_CASES] [SEED]');
  process.exit(2);
}
const N = Number(process.argv[3] || 10000);
let seed = Number(process.argv[4] || 20260423) >>> 0;

// mulberry32
function rnd() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rnd() * n); // 0..n-1
// random non-negative integer with up to `digits` decimal digits, as a BigInt
function rbig(digits, minDigits = 1) {
  let s = '';
  const lo = Math.max(1, Math.min(minDigits, digits));
  const n = lo + ri(Math.max(1, digits - lo + 1));
  for (let i = 0; i < n; i++) s += String(ri(10));
  return BigInt(s);
}
const RAY = 10n ** 27n;
const YEAR = 31536000;

function genCase(id) {
  const now = 1700000000 + ri(100000000);
  const nres = 1 + ri(6);
  // eMode categories 1..3
  const emodes = {};
  for (let c = 1; c <= 3; c++) {
    const lt = 8000 + ri(1600);
    emodes[c] = { ltv: lt - ri(300), lt, bonus: 10100 + ri(200) };
  }
  const reserves = [];
  for (let i = 0; i < nres; i++) {
    const decimals = [2, 6, 8, 18, 18, 18, 6, 27, 12][ri(9)];
    let lt = ri(5) === 0 ? 0 : 5000 + ri(2900);
    let ltv = lt === 0 ? 0 : ri(5) === 0 ? 0 : lt - ri(400);
    const emode = ri(3) === 0 ? 0 : 1 + ri(3);
    const dtChoice = ri(6);
    const dt = dtChoice === 0 ? 0 : dtChoice === 1 ? ri(60) : dtChoice < 4 ? ri(86400 * 30) : ri(2 * YEAR);
    reserves.push({
      decimals,
      ltv,
      lt,
      bonus: lt === 0 ? 0 : 10500,
      emode,
      debtCeiling: ri(6) === 0 ? String(1 + ri(1e9)) : '0',
      isoDebt: String(ri(1e6)),
      // mostly realistic prices ($0.01 .. $100k), sometimes anything down to 1e-8
      price: String(1n + (ri(5) ? rbig(13, 6) : rbig(13))),
      liquidityIndex: String(RAY + rbig(27)),
      liquidityRate: ri(4) === 0 ? '0' : String(rbig(27)),
      variableBorrowIndex: String(RAY + rbig(27)),
      variableBorrowRate: ri(8) === 0 ? '0' : String(rbig(27) * BigInt(1 + ri(5))),
      lastUpdate: now - dt,
    });
  }
  // the user
  let uemode = ri(3) === 0 ? 1 + ri(3) : 0;
  const positions = [];
  let isoColl = false,
    nColl = 0;
  for (let i = 0; i < nres; i++) {
    const r = reserves[i];
    if (ri(4) === 0) continue;
    const p = { reserve: i, scaledA: '0', coll: false, scaledDebt: '0' };
    if (ri(3) !== 0) {
      // mostly 0.01 .. 1e7 tokens, sometimes dust
      p.scaledA = String(ri(5) ? rbig(r.decimals + 7, r.decimals - 1) : rbig(r.decimals + 7));
      // collateral bits exist only on assets with LT != 0 (LT 0 requires no suppliers)
      let coll = p.scaledA !== "0" && r.lt !== 0 && ri(4) !== 0;
      // reachable: an isolated collateral stands alone
      if (coll && r.debtCeiling !== '0' && nColl > 0) coll = false;
      if (coll && isoColl) coll = false;
      if (coll) {
        nColl++;
        if (r.debtCeiling !== '0') isoColl = true;
      }
      p.coll = coll;
    }
    if (ri(2) === 0 && (uemode === 0 || r.emode === uemode)) p.scaledDebt = String(ri(5) ? rbig(r.decimals + 6, r.decimals - 1) : rbig(r.decimals + 6));
    positions.push(p);
  }
  return { id, now, reserves, emodes, user: { emode: uemode, positions } };
}

// eMode bitmaps as the 3.2+ data provider returns them, mapped from the 3.0.2 single
// category per asset: collateral iff the asset's own LT != 0 (3.0.2 counts an asset as
// collateral only then), ltvzero iff the asset's own LTV == 0 (3.0.2 adds 0 to the LTV
// sum for such assets even in eMode), borrowable always.
function libEModes(c) {
  const out = [];
  for (let cat = 1; cat <= 3; cat++) {
    const bits = (pred) => {
      let s = '';
      for (let i = c.reserves.length - 1; i >= 0; i--) s += pred(c.reserves[i]) ? '1' : '0';
      return s;
    };
    out.push({
      id: cat,
      eMode: {
        ltv: String(c.emodes[cat].ltv),
        liquidationThreshold: String(c.emodes[cat].lt),
        liquidationBonus: String(c.emodes[cat].bonus),
        label: 'c' + cat,
        collateralBitmap: bits((r) => r.emode === cat && r.lt !== 0),
        borrowableBitmap: bits((r) => r.emode === cat),
        ltvzeroBitmap: bits((r) => r.emode === cat && r.ltv === 0),
      },
    });
  }
  return out;
}

function evaluate(c) {
  const eModes = libEModes(c);
  const libRes = [];
  const formatted = [];
  c.reserves.forEach((r, i) => {
    const ni = mu.getReserveNormalizedIncome({
      rate: r.liquidityRate,
      index: r.liquidityIndex,
      lastUpdateTimestamp: r.lastUpdate,
      currentTimestamp: c.now,
    });
    const lin = mu.calculateLinearInterest({ rate: r.liquidityRate, lastUpdateTimestamp: r.lastUpdate, currentTimestamp: c.now });
    const comp = mu.calculateCompoundedInterest({
      rate: r.variableBorrowRate,
      lastUpdateTimestamp: r.lastUpdate,
      currentTimestamp: c.now,
    });
    const nd = mu.rayMul(comp, r.variableBorrowIndex);
    const reserve = {
      id: 'r' + i,
      underlyingAsset: '0x' + (i + 1).toString(16).padStart(40, '0'),
      name: 'R' + i,
      symbol: 'R' + i,
      decimals: r.decimals,
      baseLTVasCollateral: String(r.ltv),
      reserveLiquidationThreshold: String(r.lt),
      reserveLiquidationBonus: String(r.bonus),
      reserveFactor: '1000',
      usageAsCollateralEnabled: r.lt !== 0,
      borrowingEnabled: true,
      isActive: true,
      isFrozen: false,
      liquidityIndex: r.liquidityIndex,
      variableBorrowIndex: r.variableBorrowIndex,
      liquidityRate: r.liquidityRate,
      variableBorrowRate: r.variableBorrowRate,
      lastUpdateTimestamp: r.lastUpdate,
      availableLiquidity: '1000000000000',
      totalScaledVariableDebt: '1000000',
      priceInMarketReferenceCurrency: r.price,
      priceOracle: '0x0000000000000000000000000000000000000000',
      variableRateSlope1: '0',
      variableRateSlope2: '0',
      baseVariableBorrowRate: '0',
      optimalUsageRatio: '0',
      isPaused: false,
      debtCeiling: r.debtCeiling,
      debtCeilingDecimals: 2,
      isolationModeTotalDebt: r.isoDebt,
      borrowCap: '0',
      supplyCap: '0',
      borrowableInIsolation: true,
      accruedToTreasury: '0',
      unbacked: '0',
      originalId: i,
    };
    const f = mu.formatReserve({ reserve, currentTimestamp: c.now, eModes });
    formatted.push(f);
    libRes.push({
      ni: ni.toFixed(),
      lin: lin.toFixed(),
      comp: comp.toFixed(),
      nd: nd.toFixed(),
      supplyAPY: f.supplyAPY,
      variableBorrowAPY: f.variableBorrowAPY,
    });
  });
  const userReserves = c.user.positions.map((p) => ({
    underlyingAsset: formatted[p.reserve].underlyingAsset,
    scaledATokenBalance: p.scaledA,
    usageAsCollateralEnabledOnUser: p.coll,
    scaledVariableDebt: p.scaledDebt,
  }));
  const s = mu.formatUserSummary({
    currentTimestamp: c.now,
    marketReferencePriceInUsd: '100000000',
    marketReferenceCurrencyDecimals: 8,
    userReserves,
    formattedReserves: formatted,
    userEmodeCategoryId: c.user.emode,
  });
  return {
    reserves: libRes,
    // raw balances through the functions formatUserSummary uses (its own strings are
    // normalized to 20 decimals, which drops wei of 27-decimal tokens)
    positions: c.user.positions.map((p) => {
      const r = c.reserves[p.reserve];
      return {
        underlyingBalance: mu
          .getLinearBalance({
            balance: p.scaledA,
            index: r.liquidityIndex,
            rate: r.liquidityRate,
            lastUpdateTimestamp: r.lastUpdate,
            currentTimestamp: c.now,
          })
          .toFixed(),
        variableBorrows: mu
          .getCompoundedBalance({
            principalBalance: p.scaledDebt,
            reserveIndex: r.variableBorrowIndex,
            reserveRate: r.variableBorrowRate,
            lastUpdateTimestamp: r.lastUpdate,
            currentTimestamp: c.now,
          })
          .toFixed(),
      };
    }),
    totalCollateralMarketReferenceCurrency: s.totalCollateralMarketReferenceCurrency,
    totalBorrowsMarketReferenceCurrency: s.totalBorrowsMarketReferenceCurrency,
    currentLoanToValue: s.currentLoanToValue,
    currentLiquidationThreshold: s.currentLiquidationThreshold,
    healthFactor: s.healthFactor,
    availableBorrowsMarketReferenceCurrency: s.availableBorrowsMarketReferenceCurrency,
    isInIsolationMode: s.isInIsolationMode,
  };
}

const lines = [];
for (let i = 0; i < N; i++) {
  const c = genCase(i);
  c.lib = evaluate(c);
  lines.push(JSON.stringify(c));
}
writeFileSync(out, lines.join('\n') + '\n');
console.error(`wrote ${N} cases to ${out}`);
