// Memory-bound kernels as plain loops: elementwise arithmetic with broadcasting, reductions, pooling. They are
// split over the OpenMP threads oneDNN also uses (one pool for both) once a tensor is large enough for that to
// pay off; small tensors run on the calling thread.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <stdexcept>
#include <vector>

#include "ops.h"

namespace lethe {
namespace {

// Below this many elements a parallel region costs more than it saves: the worker threads sleep between kernels
// (OMP_WAIT_POLICY=PASSIVE, see src/addon.ts), and waking one takes tens of microseconds, about what a
// memory-bound pass over 256K floats takes on one core.
constexpr int64_t kParallelMin = 1 << 18;

int threads_for(int64_t work) {
  if (work < kParallelMin) return 1;
  return std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(work / (kParallelMin / 2))));
}

// [begin, end) of part `i` of `parts` equal parts of n
inline void split(int64_t n, int parts, int i, int64_t& begin, int64_t& end) {
  const int64_t q = n / parts, r = n % parts;
  begin = i * q + std::min<int64_t>(i, r);
  end = begin + q + (i < r ? 1 : 0);
}

// per-channel helpers with restrict parameters (see map1_range)
void fill_n(float* __restrict__ o, int64_t n, float v) {
  for (int64_t i = 0; i < n; i++) o[i] = v;
}
void max_into(float* __restrict__ o, const float* __restrict__ in, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = in[i], m = o[i];
    o[i] = v > m ? v : m;  // NaN inputs are skipped (tfjs)
  }
}
void add_into(float* __restrict__ o, const float* __restrict__ in, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] += in[i];
}
void add_scaled_into(float* __restrict__ o, const float* __restrict__ in, float k, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] += in[i] * k;
}
// running first-strict-maximum per channel: best/at updated with window position pos. Positions are kept as
// floats (small integers, exact) so that every select is a float blend the compiler vectorises.
void argmax_step(float* __restrict__ best, float* __restrict__ at, const float* __restrict__ in, float pos, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = in[i], b = best[i], a = at[i];
    const float m = v > b ? 1.f : 0.f;  // (arithmetic rather than a second select: GCC vectorises this form)
    best[i] = v > b ? v : b;
    at[i] = a + m * (pos - a);  // exact: small integers
  }
}
void route(float* __restrict__ o, const float* __restrict__ d, const float* __restrict__ at, float pos, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float dv = d[i];  // loaded unconditionally, so the select can be vectorised
    o[i] = at[i] == pos ? dv : 0.f;
  }
}

struct Add { static float f(float a, float b) { return a + b; } };
struct Sub { static float f(float a, float b) { return a - b; } };
struct Mul { static float f(float a, float b) { return a * b; } };
struct Div { static float f(float a, float b) { return a / b; } };
// JavaScript's Math.max / Math.min: NaN if either is NaN
struct Max { static float f(float a, float b) { return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b); } };
struct Min { static float f(float a, float b) { return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a < b ? a : b); } };
struct SqDiff { static float f(float a, float b) { const float d = a - b; return d * d; } };
struct First { static float f(float a, float) { return a; } };  // broadcasting copy (Tile)

constexpr int kMaxRank = 16;

// Broadcast plan after merging adjacent dimensions that broadcast alike. The last dimension has unit or zero
// strides for both operands; the outer ones are walked like an odometer.
struct Plan {
  int rank = 0;
  int64_t dims[kMaxRank];
  int64_t sa[kMaxRank], sb[kMaxRank];
};

Plan make_plan(int rank, const int32_t* out, const int32_t* as, const int32_t* bs) {
  if (rank > kMaxRank) throw std::runtime_error("binary: rank above 16 is not supported");
  int64_t d[kMaxRank], sa[kMaxRank], sb[kMaxRank];
  int64_t stA = 1, stB = 1;
  for (int i = rank - 1; i >= 0; i--) {
    d[i] = out[i];
    sa[i] = as[i] == 1 ? 0 : stA;
    sb[i] = bs[i] == 1 ? 0 : stB;
    if ((as[i] != 1 && as[i] != out[i]) || (bs[i] != 1 && bs[i] != out[i])) throw std::runtime_error("binary: shapes do not broadcast");
    stA *= as[i];
    stB *= bs[i];
  }
  Plan p;
  // drop size-1 dims, then merge dim i into the following one when both operands stay contiguous across them
  int n = 0;
  for (int i = 0; i < rank; i++) {
    if (d[i] == 1) continue;
    d[n] = d[i]; sa[n] = sa[i]; sb[n] = sb[i]; n++;
  }
  if (n == 0) { d[0] = 1; sa[0] = 0; sb[0] = 0; n = 1; }
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (m > 0 && p.sa[m - 1] == sa[i] * d[i] && p.sb[m - 1] == sb[i] * d[i]) {
      p.dims[m - 1] *= d[i]; p.sa[m - 1] = sa[i]; p.sb[m - 1] = sb[i];
    } else {
      p.dims[m] = d[i]; p.sa[m] = sa[i]; p.sb[m] = sb[i]; m++;
    }
  }
  p.rank = m;
  return p;
}

template <class Op>
void inner(const float* __restrict__ a, int64_t sa, const float* __restrict__ b, int64_t sb, float* __restrict__ o, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = Op::f(a[i], b[i]);
  } else if (sa == 1) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; i++) o[i] = Op::f(a[i], bv);
  } else if (sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; i++) o[i] = Op::f(av, b[i]);
  } else {
    const float v = Op::f(a[0], b[0]);
    for (int64_t i = 0; i < n; i++) o[i] = v;
  }
}

// out = Op(full, period) (or Op(period, full) when PeriodFirst) where `period` repeats every P elements of the
// flattened output, e.g. a per-channel bias over an NHWC tensor. The period is first laid out repeatedly in a
// buffer of about 2K elements, so the main loop is a plain contiguous loop the compiler vectorises (instead of one
// short row of C elements per step of the odometer). `full` may be null for a pure broadcast (Tile).
template <class Op, bool PeriodFirst>
void periodic_range(const float* __restrict__ full, const float* __restrict__ rep, float* __restrict__ o, int64_t n) {
  if (full == nullptr) {
    std::memcpy(o, rep, sizeof(float) * n);
  } else if (PeriodFirst) {
    for (int64_t i = 0; i < n; i++) o[i] = Op::f(rep[i], full[i]);
  } else {
    for (int64_t i = 0; i < n; i++) o[i] = Op::f(full[i], rep[i]);
  }
}

template <class Op, bool PeriodFirst>
void run_periodic(const float* full, const float* period, int64_t P, float* o, int64_t total) {
  const int64_t copies = std::max<int64_t>(1, 2048 / P);
  const int64_t R = P * copies;
  std::vector<float> rep(R);
  for (int64_t c = 0; c < copies; c++) std::memcpy(rep.data() + c * P, period, sizeof(float) * P);
  const int64_t chunks = (total + R - 1) / R;
  const int nt = threads_for(total);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t s, e;
    split(chunks, omp_get_num_threads(), omp_get_thread_num(), s, e);
    for (int64_t k = s; k < e; k++) {
      const int64_t start = k * R, n = std::min(R, total - start);
      periodic_range<Op, PeriodFirst>(full ? full + start : nullptr, rep.data(), o + start, n);
    }
  }
}

template <class Op>
void run_plan(const Plan& p, const float* a, const float* b, float* o) {
  const int r = p.rank;
  if (r == 2 && p.dims[1] <= 1024) {
    const int64_t P = p.dims[1], total = p.dims[0] * P;
    const bool aFull = p.sa[0] == P && p.sa[1] == 1, bFull = p.sb[0] == P && p.sb[1] == 1;
    const bool aPer = p.sa[0] == 0 && p.sa[1] == 1, bPer = p.sb[0] == 0 && p.sb[1] == 1;
    if (aFull && bPer) return run_periodic<Op, false>(a, b, P, o, total);
    if (aPer && bFull) return run_periodic<Op, true>(b, a, P, o, total);
    if (std::is_same<Op, First>::value && aPer) return run_periodic<Op, true>(nullptr, a, P, o, total);
  }
  const int64_t in = p.dims[r - 1];
  int64_t outer = 1;
  for (int i = 0; i < r - 1; i++) outer *= p.dims[i];
  const int64_t total = outer * in;
  const int nt = threads_for(total);
  if (outer == 1) {
    // one contiguous run: split it
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      int64_t s, e;
      split(in, omp_get_num_threads(), omp_get_thread_num(), s, e);
      inner<Op>(a + s * p.sa[0], p.sa[0], b + s * p.sb[0], p.sb[0], o + s, e - s);
    }
    return;
  }
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t s, e;
    split(outer, omp_get_num_threads(), omp_get_thread_num(), s, e);
    if (s < e) {
      int64_t idx[kMaxRank];
      int64_t rem = s, offA = 0, offB = 0;
      for (int i = r - 2; i >= 0; i--) {
        idx[i] = rem % p.dims[i];
        rem /= p.dims[i];
        offA += idx[i] * p.sa[i];
        offB += idx[i] * p.sb[i];
      }
      for (int64_t k = s; k < e; k++) {
        inner<Op>(a + offA, p.sa[r - 1], b + offB, p.sb[r - 1], o + k * in, in);
        for (int i = r - 2; i >= 0; i--) {
          offA += p.sa[i];
          offB += p.sb[i];
          if (++idx[i] < p.dims[i]) break;
          offA -= p.sa[i] * p.dims[i];
          offB -= p.sb[i] * p.dims[i];
          idx[i] = 0;
        }
      }
    }
  }
}

template <class F>
void parallel_map(int64_t n, F f) {
  const int nt = threads_for(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t s, e;
    split(n, omp_get_num_threads(), omp_get_thread_num(), s, e);
    f(s, e);
  }
}

}  // namespace

void binary(BinaryOp op, int rank, const int32_t* outShape, const float* a, const int32_t* aShape, const float* b,
            const int32_t* bShape, float* out) {
  const Plan p = make_plan(rank, outShape, aShape, bShape);
  switch (op) {
    case BinaryOp::Add: return run_plan<Add>(p, a, b, out);
    case BinaryOp::Sub: return run_plan<Sub>(p, a, b, out);
    case BinaryOp::Mul: return run_plan<Mul>(p, a, b, out);
    case BinaryOp::Div: return run_plan<Div>(p, a, b, out);
    case BinaryOp::Max: return run_plan<Max>(p, a, b, out);
    case BinaryOp::Min: return run_plan<Min>(p, a, b, out);
    case BinaryOp::SquaredDifference: return run_plan<SqDiff>(p, a, b, out);
    case BinaryOp::Broadcast: return run_plan<First>(p, a, b, out);
  }
  throw std::runtime_error("binary: unknown op");
}

namespace {
// Loops over restrict-qualified parameters (GCC honours restrict on parameters, not on local pointers), so
// that the selects become vector blends (the kernels never run in place: tfjs outputs are always fresh arrays).
template <class F>
void map1_range(const float* __restrict__ in, float* __restrict__ o, int64_t m, F f) {
  for (int64_t i = 0; i < m; i++) o[i] = f(in[i]);
}

template <class F>
void map2_range(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ o, int64_t m, F f) {
  for (int64_t i = 0; i < m; i++) o[i] = f(a[i], b[i]);
}

template <class F>
void map1(const float* x, float* out, int64_t n, F f) {
  parallel_map(n, [x, out, f](int64_t s, int64_t e) { map1_range(x + s, out + s, e - s, f); });
}

template <class F>
void map2(const float* a, const float* b, float* out, int64_t n, F f) {
  parallel_map(n, [a, b, out, f](int64_t s, int64_t e) { map2_range(a + s, b + s, out + s, e - s, f); });
}
}  // namespace

void unary(UnaryOp op, const float* x, float* out, int64_t n, float alpha) {
  switch (op) {
    case UnaryOp::Relu:  // x < 0 ? 0 : x, NaN stays NaN (tfjs)
      return map1(x, out, n, [](float v) { return v < 0.f ? 0.f : v; });
    case UnaryOp::Relu6:
      return map1(x, out, n, [](float v) { const float r = v < 0.f ? 0.f : v; return r > 6.f ? 6.f : r; });
    case UnaryOp::Step:  // NaN -> NaN, x > 0 -> 1, else alpha (tfjs)
      return map1(x, out, n, [alpha](float v) { const float r = v > 0.f ? 1.f : alpha; return v != v ? v : r; });
    case UnaryOp::Neg:
      return map1(x, out, n, [](float v) { return -v; });
    case UnaryOp::Square:
      return map1(x, out, n, [](float v) { return v * v; });
    case UnaryOp::Sqrt:
      return map1(x, out, n, [](float v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt:
      return map1(x, out, n, [](float v) { return static_cast<float>(1.0 / std::sqrt(double(v))); });
    case UnaryOp::Abs:
      return map1(x, out, n, [](float v) { return std::fabs(v); });
    case UnaryOp::Exp:
      return map1(x, out, n, [](float v) { return static_cast<float>(std::exp(double(v))); });
    case UnaryOp::Log:
      return map1(x, out, n, [](float v) { return static_cast<float>(std::log(double(v))); });
    case UnaryOp::Sigmoid:
      return map1(x, out, n, [](float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-double(v)))); });
    case UnaryOp::Tanh:
      return map1(x, out, n, [](float v) { return static_cast<float>(std::tanh(double(v))); });
  }
  throw std::runtime_error("unary: unknown op");
}

void fused2(FusedOp op, const float* a, const float* b, float* out, int64_t n) {
  switch (op) {
    case FusedOp::ReluGrad:  // a = dy, b = x: dy * step(x), exactly as tfjs computes it (NaN where x is NaN)
      return map2(a, b, out, n, [](float dy, float x) {
        const float s = x > 0.f ? 1.f : 0.f;
        return dy * (x != x ? x : s);
      });
    case FusedOp::SquareGrad:  // a = dy, b = x: dy * (x * 2), tfjs's Square gradient in one pass
      return map2(a, b, out, n, [](float dy, float x) { return dy * (x * 2.f); });
  }
  throw std::runtime_error("fused2: unknown op");
}

namespace {
// Reductions read either one array (a sum) or two (a sum of products, the gradient of a broadcast product). The
// products are rounded to float before they are added, so a fused product-sum equals Multiply then Sum exactly.
struct One {
  const float* x;
  float at(int64_t i) const { return x[i]; }
};
struct Prod {
  const float* a;
  const float* b;
  float at(int64_t i) const { return a[i] * b[i]; }
};

void add_prod_into(float* __restrict__ o, const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] += a[i] * b[i];
}
inline void add_row(float* o, const One& s, int64_t off, int64_t n) { add_into(o, s.x + off, n); }
inline void add_row(float* o, const Prod& s, int64_t off, int64_t n) { add_prod_into(o, s.a + off, s.b + off, n); }

double lanes_sum(const float* __restrict__ p, int64_t n) {
  constexpr int L = 16;
  float lane[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; j++) lane[j] += p[i + j];
  float rest = 0.f;
  for (; i < n; i++) rest += p[i];
  double s = rest;
  for (int j = 0; j < L; j++) s += lane[j];
  return s;
}
double lanes_dot(const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  constexpr int L = 16;
  float lane[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; j++) lane[j] += a[i + j] * b[i + j];
  float rest = 0.f;
  for (; i < n; i++) rest += a[i] * b[i];
  double s = rest;
  for (int j = 0; j < L; j++) s += lane[j];
  return s;
}
inline double block_sum(const One& s, int64_t off, int64_t n) { return lanes_sum(s.x + off, n); }
inline double block_sum(const Prod& s, int64_t off, int64_t n) { return lanes_dot(s.a + off, s.b + off, n); }

// Sum of elements [off, off + n): 16 float lanes over blocks of 1024, the block sums added in double.
template <class Src>
double row_sum(const Src& src, int64_t off, int64_t n) {
  double total = 0;
  for (int64_t i = 0; i < n; i += 1024) total += block_sum(src, off + i, std::min<int64_t>(1024, n - i));
  return total;
}

// src viewed as [A, K, B]; out [A, B] = scale * sum over K. Rows of K are summed in float blocks of kBlock, the
// block sums added in double: as accurate as a double accumulation for these sizes, at float speed (the loops
// vectorise over B or over K).
template <class Src>
void reduce_impl(const Src& src, float* out, int64_t A, int64_t K, int64_t B, double scale) {
  constexpr int64_t kBlock = 64;
  const int64_t total = A * K * B;
  if (B == 1) {
    if (A >= omp_get_max_threads() || A * K < kParallelMin) {
      const int nt = threads_for(total);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
      for (int64_t a = 0; a < A; a++) out[a] = static_cast<float>(row_sum(src, a * K, K) * scale);
      return;
    }
    // few long rows: split each row over the threads
    for (int64_t a = 0; a < A; a++) {
      const int nt = threads_for(K);
      std::vector<double> part(nt, 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
        int64_t s, e;
        split(K, omp_get_num_threads(), omp_get_thread_num(), s, e);
        part[omp_get_thread_num()] = row_sum(src, a * K + s, e - s);
      }
      double acc = 0;
      for (double v : part) acc += v;
      out[a] = static_cast<float>(acc * scale);
    }
    return;
  }
  // B > 1: out[a, :] = sum_k x[a, k, :]
  const int nt = threads_for(total);
  auto slab = [&](int64_t a, int64_t k0, int64_t k1, double* acc, float* blk) {
    for (int64_t kb = k0; kb < k1; kb += kBlock) {
      const int64_t ke = std::min(k1, kb + kBlock);
      std::memset(blk, 0, sizeof(float) * B);
      for (int64_t k = kb; k < ke; k++) add_row(blk, src, (a * K + k) * B, B);
      for (int64_t b = 0; b < B; b++) acc[b] += blk[b];
    }
  };
  if (A >= nt) {
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      std::vector<double> acc(B);
      std::vector<float> blk(B);
#pragma omp for schedule(static)
      for (int64_t a = 0; a < A; a++) {
        std::fill(acc.begin(), acc.end(), 0.0);
        slab(a, 0, K, acc.data(), blk.data());
        for (int64_t b = 0; b < B; b++) out[a * B + b] = static_cast<float>(acc[b] * scale);
      }
    }
    return;
  }
  // few output rows (e.g. a batch-norm statistic over N, H, W): split K over the threads, then combine
  for (int64_t a = 0; a < A; a++) {
    std::vector<double> part(static_cast<size_t>(nt) * B, 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      int64_t s, e;
      split(K, omp_get_num_threads(), omp_get_thread_num(), s, e);
      std::vector<float> blk(B);
      slab(a, s, e, part.data() + static_cast<size_t>(omp_get_thread_num()) * B, blk.data());
    }
    for (int64_t b = 0; b < B; b++) {
      double acc = 0;
      for (int t = 0; t < nt; t++) acc += part[static_cast<size_t>(t) * B + b];
      out[a * B + b] = static_cast<float>(acc * scale);
    }
  }
}
}  // namespace

void reduce_sum(const float* x, float* out, int64_t A, int64_t K, int64_t B, double scale) {
  reduce_impl(One{x}, out, A, K, B, scale);
}

void reduce_mul_sum(const float* a, const float* b, float* out, int64_t A, int64_t K, int64_t B) {
  reduce_impl(Prod{a, b}, out, A, K, B, 1.0);
}

namespace {
struct PoolGeom {
  int64_t N, IH, IW, C, FH, FW, OH, OW, SH, SW, PT, PL;
  explicit PoolGeom(const int32_t* p)
      : N(p[0]), IH(p[1]), IW(p[2]), C(p[3]), FH(p[4]), FW(p[5]), OH(p[6]), OW(p[7]), SH(p[8]), SW(p[9]), PT(p[10]), PL(p[11]) {
    if (N <= 0 || IH <= 0 || IW <= 0 || C <= 0 || FH <= 0 || FW <= 0 || OH <= 0 || OW <= 0 || SH <= 0 || SW <= 0)
      throw std::runtime_error("pool: sizes and strides must be positive");
  }
};
}  // namespace

void max_pool(const int32_t* pp, const float* x, float* y) {
  const PoolGeom g(pp);
  const int64_t rows = g.N * g.OH;
  const int nt = threads_for(g.N * g.IH * g.IW * g.C);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t n = r / g.OH, oh = r % g.OH;
    const int64_t h0 = oh * g.SH - g.PT, hs = std::max<int64_t>(0, h0), he = std::min(g.IH, h0 + g.FH);
    for (int64_t ow = 0; ow < g.OW; ow++) {
      const int64_t w0 = ow * g.SW - g.PL, ws = std::max<int64_t>(0, w0), we = std::min(g.IW, w0 + g.FW);
      float* o = y + ((n * g.OH + oh) * g.OW + ow) * g.C;
      fill_n(o, g.C, -std::numeric_limits<float>::infinity());
      for (int64_t h = hs; h < he; h++)
        for (int64_t w = ws; w < we; w++) max_into(o, x + ((n * g.IH + h) * g.IW + w) * g.C, g.C);
    }
  }
}

void avg_pool(const int32_t* pp, const float* x, float* y) {
  const PoolGeom g(pp);
  const int64_t rows = g.N * g.OH;
  const int nt = threads_for(g.N * g.IH * g.IW * g.C);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<float> acc(g.C);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t n = r / g.OH, oh = r % g.OH;
      const int64_t h0 = oh * g.SH - g.PT, hs = std::max<int64_t>(0, h0), he = std::min(g.IH, h0 + g.FH);
      for (int64_t ow = 0; ow < g.OW; ow++) {
        const int64_t w0 = ow * g.SW - g.PL, ws = std::max<int64_t>(0, w0), we = std::min(g.IW, w0 + g.FW);
        fill_n(acc.data(), g.C, 0.f);
        for (int64_t h = hs; h < he; h++)
          for (int64_t w = ws; w < we; w++) add_into(acc.data(), x + ((n * g.IH + h) * g.IW + w) * g.C, g.C);
        const float count = static_cast<float>((he - hs) * (we - ws));  // padding excluded (tfjs)
        float* o = y + ((n * g.OH + oh) * g.OW + ow) * g.C;
        for (int64_t c = 0; c < g.C; c++) o[c] = acc[c] / count;
      }
    }
  }
}

void max_pool_grad(const int32_t* pp, const float* x, const float* dy, float* dx) {
  const PoolGeom g(pp);
  const int64_t img = g.IH * g.IW * g.C;
  // windows that tile the input exactly (e.g. 2x2 stride 2 on even sizes): every input is in exactly one window,
  // so dx is written once per element and rows of windows can go to different threads
  const bool tiling = g.SH == g.FH && g.SW == g.FW && g.PT == 0 && g.PL == 0 && g.OH * g.FH == g.IH && g.OW * g.FW == g.IW;
  // the first strict maximum of each window and channel (tfjs maxPoolPositions), as a position in the window
  auto argmax = [&](int64_t n, int64_t hs, int64_t he, int64_t ws, int64_t we, float* best, float* at) {
    fill_n(best, g.C, -std::numeric_limits<float>::infinity());
    fill_n(at, g.C, -1.f);
    int32_t pos = 0;
    for (int64_t h = hs; h < he; h++)
      for (int64_t w = ws; w < we; w++, pos++) argmax_step(best, at, x + ((n * g.IH + h) * g.IW + w) * g.C, static_cast<float>(pos), g.C);
  };
  // one row of windows (image n, output row oh)
  auto row = [&](int64_t n, int64_t oh, float* best, float* at) {
    const int64_t h0 = oh * g.SH - g.PT, hs = std::max<int64_t>(0, h0), he = std::min(g.IH, h0 + g.FH);
    for (int64_t ow = 0; ow < g.OW; ow++) {
      const int64_t w0 = ow * g.SW - g.PL, ws = std::max<int64_t>(0, w0), we = std::min(g.IW, w0 + g.FW);
      argmax(n, hs, he, ws, we, best, at);
      const float* d = dy + ((n * g.OH + oh) * g.OW + ow) * g.C;
      if (tiling) {
        int32_t pos = 0;
        for (int64_t h = hs; h < he; h++)
          for (int64_t w = ws; w < we; w++, pos++) route(dx + ((n * g.IH + h) * g.IW + w) * g.C, d, at, static_cast<float>(pos), g.C);
      } else {
        const int64_t ww = we - ws;
        for (int64_t c = 0; c < g.C; c++) {
          if (at[c] < 0) continue;
          const int64_t a = static_cast<int64_t>(at[c]);
          const int64_t h = hs + a / ww, w = ws + a % ww;
          dx[((n * g.IH + h) * g.IW + w) * g.C + c] += d[c];
        }
      }
    }
  };
  const int nt = threads_for(g.N * img);
  if (tiling) {
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      std::vector<float> best(g.C), at(g.C);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < g.N * g.OH; r++) row(r / g.OH, r % g.OH, best.data(), at.data());
    }
    return;
  }
  // overlapping or partial windows accumulate: each thread owns whole images
  const int parts = static_cast<int>(std::min<int64_t>(nt, g.N));
#pragma omp parallel num_threads(parts) if (parts > 1)
  {
    std::vector<float> best(g.C), at(g.C);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
      std::memset(dx + n * img, 0, sizeof(float) * img);
      for (int64_t oh = 0; oh < g.OH; oh++) row(n, oh, best.data(), at.data());
    }
  }
}

void avg_pool_grad(const int32_t* pp, const float* dy, float* dx) {
  const PoolGeom g(pp);
  const int64_t img = g.IH * g.IW * g.C;
  const float mult = 1.f / static_cast<float>(g.FH * g.FW);
  const int nt = threads_for(g.N * img);
  // each thread owns whole images, so accumulation never races
  const int parts = static_cast<int>(std::min<int64_t>(nt, g.N));
#pragma omp parallel for num_threads(parts) if (parts > 1) schedule(static)
  for (int64_t n = 0; n < g.N; n++) {
    std::memset(dx + n * img, 0, sizeof(float) * img);
    for (int64_t oh = 0; oh < g.OH; oh++) {
      const int64_t h0 = oh * g.SH - g.PT, hs = std::max<int64_t>(0, h0), he = std::min(g.IH, h0 + g.FH);
      for (int64_t ow = 0; ow < g.OW; ow++) {
        const int64_t w0 = ow * g.SW - g.PL, ws = std::max<int64_t>(0, w0), we = std::min(g.IW, w0 + g.FW);
        const float* d = dy + ((n * g.OH + oh) * g.OW + ow) * g.C;
        for (int64_t h = hs; h < he; h++)
          for (int64_t w = ws; w < we; w++) add_scaled_into(dx + ((n * g.IH + h) * g.IW + w) * g.C, d, mult, g.C);
      }
    }
  }
}

namespace {
void chain_step(ChainOp op, float* __restrict__ t, const float* __restrict__ v, int64_t n) {
  switch (op) {
    case ChainOp::Add: for (int64_t i = 0; i < n; i++) t[i] = t[i] + v[i]; break;
    case ChainOp::Sub: for (int64_t i = 0; i < n; i++) t[i] = t[i] - v[i]; break;
    case ChainOp::Mul: for (int64_t i = 0; i < n; i++) t[i] = t[i] * v[i]; break;
    case ChainOp::Div: for (int64_t i = 0; i < n; i++) t[i] = t[i] / v[i]; break;
    case ChainOp::RSub: for (int64_t i = 0; i < n; i++) t[i] = v[i] - t[i]; break;
    case ChainOp::RDiv: for (int64_t i = 0; i < n; i++) t[i] = v[i] / t[i]; break;
    case ChainOp::Relu: for (int64_t i = 0; i < n; i++) t[i] = t[i] < 0.f ? 0.f : t[i]; break;
    case ChainOp::AddFull: for (int64_t i = 0; i < n; i++) t[i] = t[i] + v[i]; break;  // v: the block of `extra`
  }
}
}  // namespace

void chain(const float* src, float* out, int64_t n, int64_t P, const int32_t* ops, int nops, const float* vecs, const float* extra) {
  if (P <= 0 || nops < 0) throw std::runtime_error("chain: bad period or op count");
  for (int k = 0; k < nops; k++) {
    if (ops[k] < 0 || ops[k] > static_cast<int>(ChainOp::AddFull)) throw std::runtime_error("chain: unknown op");
    if (ops[k] == static_cast<int>(ChainOp::AddFull) && extra == nullptr) throw std::runtime_error("chain: AddFull without an extra array");
  }
  // blocks of R elements, R a multiple of P, so every block starts at phase 0 of the vectors
  const int64_t copies = std::max<int64_t>(1, 2048 / P);
  const int64_t R = P * copies;
  std::vector<float> reps(static_cast<size_t>(std::max(nops, 1)) * R);
  for (int k = 0; k < nops; k++)
    for (int64_t c = 0; c < copies; c++) std::memcpy(reps.data() + k * R + c * P, vecs + k * P, sizeof(float) * P);
  const int64_t blocks = (n + R - 1) / R;
  const int nt = threads_for(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<float> tmp(R);
    int64_t s, e;
    split(blocks, omp_get_num_threads(), omp_get_thread_num(), s, e);
    for (int64_t b = s; b < e; b++) {
      const int64_t start = b * R, len = std::min(R, n - start);
      std::memcpy(tmp.data(), src + start, sizeof(float) * len);
      for (int k = 0; k < nops; k++) {
        const ChainOp op = static_cast<ChainOp>(ops[k]);
        chain_step(op, tmp.data(), op == ChainOp::AddFull ? extra + start : reps.data() + k * R, len);
      }
      std::memcpy(out + start, tmp.data(), sizeof(float) * len);
    }
  }
}

void set_threads(int n) {
  if (n < 1) throw std::runtime_error("threads must be >= 1");
  omp_set_num_threads(n);
}

int get_threads() { return omp_get_max_threads(); }

}  // namespace lethe

// ---- fused training-mode batch normalisation ----
namespace lethe {
namespace {
// Per-channel vectors of a [R, C] array are tiled T times (T rows, at least kTile floats) so that the loops run over
// T * C contiguous elements with one index, vectorised, also when C is small.
constexpr int64_t kTile = 256;
inline int64_t tile_rows(int64_t C) { return std::max<int64_t>(1, kTile / C); }
std::vector<float> tiled(const float* v, int64_t C, int64_t T) {
  std::vector<float> out(static_cast<size_t>(C * T));
  for (int64_t t = 0; t < T; t++) std::memcpy(out.data() + t * C, v, sizeof(float) * C);
  return out;
}

// Column sums of [R, C] operands: `tile(off, n, blk)` adds elements [off, off + n) (whole rows, n <= T * C) of each of
// the K sums into blk (K blocks of T * C floats, block k at k * T * C). Rows are split over the threads in contiguous
// ranges; each lane adds at most 64 values in float before its sum moves to a double accumulator (as reduce_impl);
// the T lanes of a channel and the threads' partial sums are added in order: deterministic for a thread count.
template <int K, class Tile>
void column_sums(int64_t R, int64_t C, Tile tile, double* out) {
  const int64_t T = tile_rows(C), L = T * C;
  const int nt = threads_for(R * C);
  std::vector<double> part(static_cast<size_t>(nt) * K * L, 0.0);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t s, e;
    const int t = omp_get_thread_num();
    split(R, omp_get_num_threads(), t, s, e);
    std::vector<float> blk(static_cast<size_t>(K * L));
    double* acc = part.data() + static_cast<size_t>(t) * K * L;
    for (int64_t r0 = s; r0 < e; r0 += 64 * T) {
      std::fill(blk.begin(), blk.end(), 0.f);
      const int64_t r1 = std::min(e, r0 + 64 * T);
      for (int64_t r = r0; r < r1; r += T) tile(r * C, std::min(T, r1 - r) * C, blk.data());
      for (int64_t i = 0; i < K * L; i++) acc[i] += blk[i];
    }
  }
  for (int64_t k = 0; k < K; k++)
    for (int64_t c = 0; c < C; c++) {
      double v = 0;
      for (int t = 0; t < nt; t++)
        for (int64_t j = 0; j < T; j++) v += part[static_cast<size_t>(t) * K * L + k * L + j * C + c];
      out[k * C + c] = v;
    }
}

// f(off, n) over [R, C] in tiles of T rows, split over the threads
template <class F>
void for_tiles(int64_t R, int64_t C, F f) {
  const int64_t T = tile_rows(C), tiles = (R + T - 1) / T;
  const int nt = threads_for(R * C);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t i = 0; i < tiles; i++) f(i * T * C, std::min(T, R - i * T) * C);
}

void sq_dev_into(float* __restrict__ o, const float* __restrict__ x, const float* __restrict__ m, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float d = x[i] - m[i];
    o[i] += d * d;
  }
}
void bn_apply(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ m, const float* __restrict__ s,
              const float* __restrict__ b, const float* __restrict__ res, bool relu, int64_t n) {
  if (res) {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m[i]) * s[i] + b[i] + res[i];
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m[i]) * s[i] + b[i];
  }
  if (relu)
    for (int64_t i = 0; i < n; i++) {
      const float v = y[i];
      y[i] = v < 0.f ? 0.f : v;  // NaN stays NaN, as tfjs's relu
    }
}
// g = Masked ? (mask > 0 ? dy : 0) : dy; sg += g; sgx += g * ((x - m) * r); with WriteG, gout = g. One loop per
// variant with no pointer tests inside, so that each vectorises (the select becomes a blend: no branch on the data).
template <bool Masked, bool WriteG>
void bn_grad_sums_t(float* __restrict__ sg, float* __restrict__ sgx, const float* __restrict__ dy, const float* __restrict__ x,
                    const float* __restrict__ mask, const float* __restrict__ m, const float* __restrict__ r,
                    float* __restrict__ gout, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float g = dy[i];
    if constexpr (Masked) g = mask[i] > 0.f ? g : 0.f;
    sg[i] += g;
    sgx[i] += g * ((x[i] - m[i]) * r[i]);
    if constexpr (WriteG) gout[i] = g;
  }
}
void bn_grad_sums(float* sg, float* sgx, const float* dy, const float* x, const float* mask, const float* m, const float* r, float* gout, int64_t n) {
  if (mask) {
    if (gout) bn_grad_sums_t<true, true>(sg, sgx, dy, x, mask, m, r, gout, n);
    else bn_grad_sums_t<true, false>(sg, sgx, dy, x, mask, m, r, gout, n);
  } else {
    if (gout) bn_grad_sums_t<false, true>(sg, sgx, dy, x, mask, m, r, gout, n);
    else bn_grad_sums_t<false, false>(sg, sgx, dy, x, mask, m, r, gout, n);
  }
}
// dx = a g + (x - m) k + b, g = Masked ? (mask > 0 ? dy : 0) : dy
template <bool Masked>
void bn_grad_apply_t(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ mask, const float* __restrict__ x,
                     const float* __restrict__ m, const float* __restrict__ a, const float* __restrict__ k,
                     const float* __restrict__ b, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float g = dy[i];
    if constexpr (Masked) g = mask[i] > 0.f ? g : 0.f;
    dx[i] = a[i] * g + (x[i] - m[i]) * k[i] + b[i];
  }
}
void bn_grad_apply(float* dx, const float* dy, const float* mask, const float* x, const float* m, const float* a, const float* k, const float* b, int64_t n) {
  if (mask) bn_grad_apply_t<true>(dx, dy, mask, x, m, a, k, b, n);
  else bn_grad_apply_t<false>(dx, dy, mask, x, m, a, k, b, n);
}
}  // namespace

void batch_norm_train(const float* x, const float* gamma, const float* beta, const float* residual, float eps, bool relu,
                      int64_t R, int64_t C, float* y, float* mean, float* var) {
  if (R <= 0 || C <= 0) throw std::runtime_error("batch_norm_train: empty input");
  const int64_t T = tile_rows(C);
  std::vector<double> sum(C);
  column_sums<1>(R, C, [&](int64_t off, int64_t n, float* blk) { add_into(blk, x + off, n); }, sum.data());
  for (int64_t c = 0; c < C; c++) mean[c] = static_cast<float>(sum[c] / static_cast<double>(R));
  const std::vector<float> m = tiled(mean, C, T);
  column_sums<1>(R, C, [&](int64_t off, int64_t n, float* blk) { sq_dev_into(blk, x + off, m.data(), n); }, sum.data());
  std::vector<float> scale(C);
  for (int64_t c = 0; c < C; c++) {
    var[c] = static_cast<float>(sum[c] / static_cast<double>(R));
    scale[c] = gamma[c] * (1.f / std::sqrt(var[c] + eps));
  }
  const std::vector<float> s = tiled(scale.data(), C, T), b = tiled(beta, C, T);
  for_tiles(R, C, [&](int64_t off, int64_t n) {
    bn_apply(y + off, x + off, m.data(), s.data(), b.data(), residual ? residual + off : nullptr, relu, n);
  });
}

void batch_norm_train_grad(const float* dy, const float* x, const float* y, const float* gamma, const float* mean,
                           const float* var, const float* dmean, const float* dvar, float eps, bool relu, int64_t R,
                           int64_t C, float* dx, float* dgamma, float* dbeta, float* dres) {
  if (R <= 0 || C <= 0) throw std::runtime_error("batch_norm_train_grad: empty input");
  if (relu && !y) throw std::runtime_error("batch_norm_train_grad: relu needs the forward output y");
  const int64_t T = tile_rows(C), L = T * C;
  std::vector<float> rstd(C);
  for (int64_t c = 0; c < C; c++) rstd[c] = 1.f / std::sqrt(var[c] + eps);
  const std::vector<float> m = tiled(mean, C, T), r = tiled(rstd.data(), C, T);
  const float* mask = relu ? y : nullptr;
  std::vector<double> sums(2 * C);
  column_sums<2>(R, C, [&](int64_t off, int64_t n, float* blk) {
    bn_grad_sums(blk, blk + L, dy + off, x + off, mask ? mask + off : nullptr, m.data(), r.data(), dres ? dres + off : nullptr, n);
  }, sums.data());
  // dx = s g - s mean(g) - s xhat mean(g xhat) + dmean / R + 2 dvar (x - mean) / R with s = gamma rstd and
  // xhat = (x - mean) rstd; per channel that is dx = a g + (x - mean) k + b
  std::vector<float> a(C), k(C), b(C);
  const double n = static_cast<double>(R);
  for (int64_t c = 0; c < C; c++) {
    dbeta[c] = static_cast<float>(sums[c]);
    dgamma[c] = static_cast<float>(sums[C + c]);
    const double s = static_cast<double>(gamma[c]) * rstd[c];
    a[c] = static_cast<float>(s);
    k[c] = static_cast<float>(-s * rstd[c] * sums[C + c] / n + (dvar ? 2.0 * dvar[c] / n : 0.0));
    b[c] = static_cast<float>(-s * sums[c] / n + (dmean ? dmean[c] / n : 0.0));
  }
  const std::vector<float> ta = tiled(a.data(), C, T), tk = tiled(k.data(), C, T), tb = tiled(b.data(), C, T);
  for_tiles(R, C, [&](int64_t off, int64_t cnt) {
    bn_grad_apply(dx + off, dy + off, mask ? mask + off : nullptr, x + off, m.data(), ta.data(), tk.data(), tb.data(), cnt);
  });
}

}  // namespace lethe
