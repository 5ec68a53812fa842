/* Monte Carlo VaR of bad debt (risk/var.h). */
#include "risk/var.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "risk/wadray.h"

#define TWO_PI 6.283185307179586476925286766559

static long double ld_u256(u256 a) {
  return ldexpl((long double)a.w[3], 192) + ldexpl((long double)a.w[2], 128) + ldexpl((long double)a.w[1], 64) +
         (long double)a.w[0];
}

static risk_err value(const struct risk_acct_reserve *r, u256 scaled, u256 index, u256 *out) {
  u256 bal;
  risk_err e;
  if ((e = risk_ray_mul(&bal, scaled, index))) return e;
  if (u256_is_zero(bal) || u256_is_zero(r->price)) {
    *out = U256_ZERO;
    return RISK_OK;
  }
  return u256_muldiv(out, bal, r->price, r->unit);
}

static int by_ratio_desc(const void *x, const void *y) {
  const struct risk_var_entry *a = x, *b = y;
  /* a.d / a.c > b.d / b.c  <=>  a.d * b.c > b.d * a.c (c = 0 is an infinite ratio) */
  long double l = a->d * b->c, r = b->d * a->c;
  return l > r ? -1 : l < r ? 1 : 0;
}

risk_err risk_var_model_build(const struct risk_market *m, const struct risk_book *b, struct risk_var_model *vm) {
  size_t nr = m->n_reserves;
  vm->n_pairs = vm->n_pair_accounts = vm->n_general = vm->n_terms = 0;
  vm->n_reserves = nr;
  vm->deterministic_loss = U256_ZERO;
  vm->gfirst[0] = 0;
  /* pairs are slots c * nr + d: counted first, then placed */
  for (size_t i = 0; i < nr * nr; i++)
    vm->pairs[i] = (struct risk_var_pair){.c = (uint16_t)(i / nr), .d = (uint16_t)(i % nr), .first = 0, .n = 0};
  risk_err e;
  for (size_t i = 0; i < b->n_accounts; i++) {
    const struct risk_position *p = b->pos + b->first[i];
    size_t n = b->first[i + 1] - b->first[i];
    u256 coll = U256_ZERO, debt = U256_ZERO;
    int nc = 0, nd = 0, rc = -1, rd = -1;
    size_t t0 = vm->n_terms;
    for (size_t j = 0; j < n; j++) {
      const struct risk_acct_reserve *r = &m->reserves[p[j].reserve];
      if (!r->listed) continue;
      u256 v;
      if (p[j].collateral && r->liquidation_threshold != 0 && !u256_is_zero(p[j].scaled_a)) {
        if ((e = value(r, p[j].scaled_a, r->liquidity_index, &v)) || (e = u256_add(&coll, coll, v))) return e;
        if (!u256_is_zero(v)) {
          nc++, rc = p[j].reserve;
          vm->terms[vm->n_terms++] = (struct risk_var_term){p[j].reserve, -ld_u256(v)};
        }
      }
      if (p[j].borrowing && !u256_is_zero(p[j].scaled_debt)) {
        if ((e = value(r, p[j].scaled_debt, r->variable_borrow_index, &v)) || (e = u256_add(&debt, debt, v))) return e;
        if (!u256_is_zero(v)) {
          nd++, rd = p[j].reserve;
          vm->terms[vm->n_terms++] = (struct risk_var_term){p[j].reserve, ld_u256(v)};
        }
      }
    }
    if (u256_gt(debt, coll) &&
        (e = u256_add(&vm->deterministic_loss, vm->deterministic_loss, u256_sub_wrap(debt, coll))))
      return e;
    vm->pair_of[i] = UINT32_MAX;
    if (nd == 0) {
      vm->n_terms = t0; /* no debt: never a loss */
      continue;
    }
    if (nd == 1 && nc <= 1 && rc != rd) {
      vm->n_terms = t0;
      /* an account without collateral goes to slot (d, d): its c is 0, so c's multiplier never matters */
      uint32_t key = (uint32_t)((rc < 0 ? rd : rc) * (int)nr + rd);
      vm->pair_of[i] = key;
      vm->entries[i] = (struct risk_var_entry){ld_u256(coll), ld_u256(debt), 0};
      vm->pairs[key].n++;
      vm->n_pair_accounts++;
      continue;
    }
    vm->pair_of[i] = UINT32_MAX - 1; /* another account with debt */
    vm->entries[i] = (struct risk_var_entry){ld_u256(coll), ld_u256(debt), (uint32_t)vm->n_general};
    vm->gfirst[++vm->n_general] = (uint32_t)vm->n_terms;
  }
  /* place pair accounts contiguously: prefix offsets over the nr*nr slots, then scatter */
  uint32_t off = 0;
  for (size_t s = 0; s < nr * nr; s++) {
    vm->pairs[s].first = off;
    off += vm->pairs[s].n;
    vm->pairs[s].n = 0;
  }
  /* entries[] is read through here, so both blocks are staged in prefc/prefd first: the pair
   * accounts at their pair's place, the other accounts (numbered in account order, as gfirst is)
   * behind them */
  uint32_t gat = off;
  for (size_t i = 0; i < b->n_accounts; i++) {
    uint32_t at;
    if (vm->pair_of[i] == UINT32_MAX) continue;
    if (vm->pair_of[i] == UINT32_MAX - 1) {
      at = gat++;
    } else {
      struct risk_var_pair *pp = &vm->pairs[vm->pair_of[i]];
      at = pp->first + pp->n++;
    }
    vm->prefc[at] = vm->entries[i].c;
    vm->prefd[at] = vm->entries[i].d;
  }
  for (uint32_t a = 0; a < gat; a++)
    vm->entries[a] = (struct risk_var_entry){vm->prefc[a], vm->prefd[a], a < off ? 0 : a - off};
  qsort(vm->entries + off, vm->n_general, sizeof *vm->entries, by_ratio_desc);
  /* compact the non-empty slots, sort each, and take running sums */
  size_t np = 0;
  for (size_t s = 0; s < nr * nr; s++) {
    if (vm->pairs[s].n == 0) continue;
    struct risk_var_pair pp = vm->pairs[s];
    qsort(vm->entries + pp.first, pp.n, sizeof *vm->entries, by_ratio_desc);
    long double sc = 0, sd = 0;
    for (uint32_t j = 0; j < pp.n; j++) {
      sc += vm->entries[pp.first + j].c;
      sd += vm->entries[pp.first + j].d;
      vm->prefc[pp.first + j] = sc;
      vm->prefd[pp.first + j] = sd;
    }
    vm->pairs[np++] = pp;
  }
  vm->n_pairs = np;
  return RISK_OK;
}

long double risk_var_path_loss(const struct risk_var_model *vm, const long double *mult) {
  long double loss = 0;
  for (size_t q = 0; q < vm->n_pairs; q++) {
    const struct risk_var_pair *pp = &vm->pairs[q];
    long double mc = mult[pp->c], md = mult[pp->d];
    const struct risk_var_entry *e = vm->entries + pp->first;
    /* the insolvent accounts are a prefix: d * md > c * mc */
    uint32_t lo = 0, hi = pp->n;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (e[mid].d * md > e[mid].c * mc)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo) {
      long double l = vm->prefd[pp->first + lo - 1] * md - vm->prefc[pp->first + lo - 1] * mc;
      if (l > 0) loss += l;
    }
  }
  /* other accounts: debt * m <= d * max(m) and collateral * m >= c * min(m), so only those with
   * d * max > c * min can lose; they are a prefix of the ratio order */
  long double mn = 1, mx = 1;
  for (size_t r = 0; r < vm->n_reserves; r++) {
    if (mult[r] < mn) mn = mult[r];
    if (mult[r] > mx) mx = mult[r];
  }
  const struct risk_var_entry *ge = vm->entries + vm->n_pair_accounts;
  uint32_t lo = 0, hi = (uint32_t)vm->n_general;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ge[mid].d * mx > ge[mid].c * mn)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (uint32_t k = 0; k < lo; k++) {
    uint32_t g = ge[k].g;
    long double s = 0;
    for (uint32_t t = vm->gfirst[g]; t < vm->gfirst[g + 1]; t++)
      s += vm->terms[t].v * mult[vm->terms[t].reserve];
    if (s > 0) loss += s;
  }
  return loss;
}

/* ---- generator: xoshiro256** seeded by splitmix64 ---- */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t xoshiro(uint64_t s[4]) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}
/* A uniform double in (0, 1). */
static inline double unif(uint64_t s[4]) { return ((double)(xoshiro(s) >> 11) + 0.5) * 0x1.0p-53; }

void risk_cholesky(const double *a, size_t k, double *l) {
  memset(l, 0, k * k * sizeof *l);
  for (size_t j = 0; j < k; j++) {
    double d = a[j * k + j];
    for (size_t p = 0; p < j; p++)
      d -= l[j * k + p] * l[j * k + p];
    if (d <= 1e-12) continue; /* semi-definite: this column adds nothing new */
    double s = sqrt(d);
    l[j * k + j] = s;
    for (size_t i = j + 1; i < k; i++) {
      double v = a[i * k + j];
      for (size_t p = 0; p < j; p++)
        v -= l[i * k + p] * l[j * k + p];
      l[i * k + j] = v / s;
    }
  }
}

static int cmp_ld(const void *x, const void *y) {
  long double a = *(const long double *)x, b = *(const long double *)y;
  return a < b ? -1 : a > b ? 1 : 0;
}

risk_err risk_var_run(const struct risk_var_model *vm, size_t n_reserves, const struct risk_var_params *p,
                      long double *losses, struct risk_var_result *out) {
  memset(out, 0, sizeof *out);
  if (p->k > RISK_VAR_MAX_ASSETS || p->paths == 0 || p->paths > RISK_VAR_MAX_PATHS || n_reserves > RISK_MAX_RESERVES ||
      !(p->horizon_years >= 0))
    return RISK_INVALID;
  size_t k = p->k;
  double cov[RISK_VAR_MAX_ASSETS * RISK_VAR_MAX_ASSETS], l[RISK_VAR_MAX_ASSETS * RISK_VAR_MAX_ASSETS];
  double half_var[RISK_VAR_MAX_ASSETS];
  for (size_t i = 0; i < k; i++) {
    if (!(p->sigma[i] >= 0) || p->reserve[i] >= n_reserves) return RISK_INVALID;
    for (size_t j = 0; j < k; j++)
      cov[i * k + j] = p->sigma[i] * p->sigma[j] * (i == j ? 1.0 : p->corr[i][j]) * p->horizon_years;
    half_var[i] = 0.5 * cov[i * k + i];
  }
  risk_cholesky(cov, k, l);
  uint64_t sm = p->seed, s[4];
  for (int i = 0; i < 4; i++)
    s[i] = splitmix64(&sm);
  long double mult[RISK_MAX_RESERVES];
  for (size_t r = 0; r < RISK_MAX_RESERVES; r++)
    mult[r] = 1.0L;
  double z[RISK_VAR_MAX_ASSETS + 1];
  long double sum = 0;
  for (size_t path = 0; path < p->paths; path++) {
    for (size_t i = 0; i < k; i += 2) { /* Box-Muller: two normals per pair of uniforms */
      double u1 = unif(s), u2 = unif(s), rad = sqrt(-2.0 * log(u1));
      z[i] = rad * cos(TWO_PI * u2);
      z[i + 1] = rad * sin(TWO_PI * u2);
    }
    for (size_t i = 0; i < k; i++) {
      double x = 0;
      for (size_t j = 0; j <= i; j++)
        x += l[i * k + j] * z[j];
      /* zero volatility gives x = 0 and half_var = 0: exp(0) = 1 exactly, today's prices */
      mult[p->reserve[i]] = (long double)exp(x - half_var[i]);
    }
    losses[path] = risk_var_path_loss(vm, mult);
    sum += losses[path];
  }
  qsort(losses, p->paths, sizeof *losses, cmp_ld);
  size_t n = p->paths;
  out->mean = sum / (long double)n;
  out->max = losses[n - 1];
  const double qs[2] = {0.95, 0.99};
  for (int q = 0; q < 2; q++) {
    size_t idx = (size_t)ceil(qs[q] * (double)n - 1e-9); /* 1-based rank */
    if (idx < 1) idx = 1;
    long double v = losses[idx - 1], t = 0;
    for (size_t i = idx - 1; i < n; i++)
      t += losses[i];
    long double es = t / (long double)(n - idx + 1);
    if (q == 0)
      out->var95 = v, out->es95 = es;
    else
      out->var99 = v, out->es99 = es;
  }
  return RISK_OK;
}

void risk_var_estimate(const double *price, const int64_t *ts, size_t n_assets, size_t n_obs, double *sigma,
                       size_t *samples, double *corr) {
  const double year = 31536000.0;
  for (size_t a = 0; a < n_assets; a++) {
    double ss = 0;
    size_t cnt = 0, prev = SIZE_MAX;
    for (size_t t = 0; t < n_obs; t++) {
      if (!(price[a * n_obs + t] > 0)) continue;
      if (prev != SIZE_MAX && ts[t] > ts[prev]) {
        double r = log(price[a * n_obs + t] / price[a * n_obs + prev]);
        ss += r * r / ((double)(ts[t] - ts[prev]) / year);
        cnt++;
      }
      prev = t;
    }
    sigma[a] = cnt ? sqrt(ss / (double)cnt) : 0;
    samples[a] = cnt;
  }
  for (size_t a = 0; a < n_assets; a++)
    for (size_t b = 0; b < n_assets; b++) {
      if (a == b) {
        corr[a * n_assets + b] = 1;
        continue;
      }
      double sab = 0, saa = 0, sbb = 0;
      for (size_t t = 1; t < n_obs; t++) {
        double a0 = price[a * n_obs + t - 1], a1 = price[a * n_obs + t], b0 = price[b * n_obs + t - 1],
               b1 = price[b * n_obs + t];
        if (!(a0 > 0 && a1 > 0 && b0 > 0 && b1 > 0) || ts[t] <= ts[t - 1]) continue;
        double ra = log(a1 / a0), rb = log(b1 / b0);
        sab += ra * rb, saa += ra * ra, sbb += rb * rb;
      }
      corr[a * n_assets + b] = (saa > 0 && sbb > 0) ? sab / sqrt(saa * sbb) : 0;
    }
}
