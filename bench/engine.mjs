// Benchmark companion of bench/engine.c: the same accounts (the 20,000-account sample the C
// benchmark writes) through @aave/math-utils formatUserSummary, single thread; prints
// accounts/s and the engine / library ratio.
//
//   node bench/engine.mjs SAMPLE_JSON
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'package.json'));
const mu = require('@aave/math-utils');

const sample = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const now = 1760000000;
const eModeCats = { 1: [9200, 9300, 10100], 2: [9100, 9200, 10100], 3: [8500, 9000, 10200] };
const n = sample.reserves.length;
const bits = (pred) => {
  let s = '';
  for (let i = n - 1; i >= 0; i--) s += pred(sample.reserves[i]) ? '1' : '0';
  return s;
};
const eModes = Object.entries(eModeCats).map(([id, [ltv, lt, lb]]) => ({
  id: Number(id),
  eMode: {
    ltv: String(ltv), liquidationThreshold: String(lt), liquidationBonus: String(lb), label: 'c' + id,
    collateralBitmap: bits((r) => r.emode === Number(id) && r.lt !== 0),
    borrowableBitmap: bits((r) => r.emode === Number(id)),
    ltvzeroBitmap: bits((r) => r.emode === Number(id) && r.ltv === 0),
  },
}));
const formattedReserves = sample.reserves.map((r, i) =>
  mu.formatReserve({
    currentTimestamp: now,
    eModes,
    reserve: {
      id: 'r' + i, underlyingAsset: '0x' + (i + 1).toString(16).padStart(40, '0'), name: r.symbol, symbol: r.symbol,
      decimals: r.decimals, baseLTVasCollateral: String(r.ltv), reserveLiquidationThreshold: String(r.lt),
      reserveLiquidationBonus: r.lt ? '10500' : '0', reserveFactor: '1000', usageAsCollateralEnabled: r.lt !== 0,
      borrowingEnabled: true, isActive: true, isFrozen: false, isPaused: false,
      liquidityIndex: r.liquidityIndex, variableBorrowIndex: r.variableBorrowIndex, liquidityRate: '0',
      variableBorrowRate: '0', lastUpdateTimestamp: now, availableLiquidity: '0', totalScaledVariableDebt: '0',
      priceInMarketReferenceCurrency: r.price, priceOracle: '0x0000000000000000000000000000000000000000',
      variableRateSlope1: '0', variableRateSlope2: '0', baseVariableBorrowRate: '0', optimalUsageRatio: '0',
      debtCeiling: '0', debtCeilingDecimals: 2, isolationModeTotalDebt: '0', borrowCap: '0', supplyCap: '0',
      borrowableInIsolation: false, accruedToTreasury: '0', unbacked: '0', originalId: i,
    },
  }),
);
const accounts = sample.accounts.map((ps) =>
  ps.map((p) => ({
    underlyingAsset: formattedReserves[p.r].underlyingAsset,
    scaledATokenBalance: p.a,
    usageAsCollateralEnabledOnUser: p.c,
    scaledVariableDebt: p.d,
  })),
);
const run = (list) => {
  let sink = 0;
  for (const userReserves of list) {
    const s = mu.formatUserSummary({
      currentTimestamp: now, marketReferencePriceInUsd: '100000000', marketReferenceCurrencyDecimals: 8,
      userReserves, formattedReserves, userEmodeCategoryId: 0,
    });
    sink += s.healthFactor.length;
  }
  return sink;
};
run(accounts.slice(0, 1000)); // warm-up
const t0 = process.hrtime.bigint();
run(accounts);
const dt = Number(process.hrtime.bigint() - t0) / 1e9;
const rate = accounts.length / dt;
console.log(`@aave/math-utils formatUserSummary: ${accounts.length} accounts in ${dt.toFixed(3)} s: ${rate.toFixed(0)} accounts/s single thread`);
if (sample.engine_accounts_per_s)
  console.log(`ratio engine / library: ${(sample.engine_accounts_per_s / rate).toFixed(1)}x`);
