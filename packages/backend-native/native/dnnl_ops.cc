// Convolutions and GEMM on oneDNN. Activations stay in the NHWC layout tfjs uses (oneDNN's "nhwc" tag, which
// its AVX-512/AVX2 kernels read directly); filters arrive as tfjs's HWIO and are reordered into whatever layout
// the chosen kernel prefers (cheap: filters are small next to activations). Primitives are created once per
// shape and kept: creating one costs milliseconds, executing a cached one costs microseconds of overhead.
#include "ops.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <stdexcept>
#include <vector>

namespace lethe {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream s(cpu_engine());
  return s;
}

// One scratchpad for every primitive (they run one at a time, on the JS thread), grown on demand.
struct Scratch {
  void* ptr = nullptr;
  size_t size = 0;
  void* get(size_t need) {
    if (need > size) {
      std::free(ptr);
      size_t rounded = (need + 4095) & ~size_t(4095);
      ptr = std::aligned_alloc(64, rounded);
      if (!ptr) throw std::runtime_error("out of memory allocating a oneDNN scratchpad");
      size = rounded;
    }
    return ptr;
  }
};
Scratch scratch;

// Temporary buffers for filters in a kernel's preferred layout, kept with the primitive (one per cached entry).
struct Buffer {
  float* ptr = nullptr;
  size_t bytes = 0;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(ptr); }
  float* get(size_t need) {
    if (need > bytes) {
      std::free(ptr);
      size_t rounded = (need + 63) & ~size_t(63);
      ptr = static_cast<float*>(std::aligned_alloc(64, rounded));
      if (!ptr) throw std::runtime_error("out of memory allocating a filter buffer");
      bytes = rounded;
    }
    return ptr;
  }
};

struct ConvEntry {
  dnnl::primitive prim;
  memory::desc src, dst, weights_user, weights_prim, bias;
  // the layouts the primitive computes in: src/dst (nhwc) unless a Winograd kernel wants blocked activations, which
  // are then reordered in and out around it
  memory::desc src_prim, dst_prim;
  bool reorder_weights = false;
  dnnl::reorder weights_reorder;  // user -> primitive layout (forward, backward data), or back (backward weights)
  Buffer weights_buf;
  size_t scratch_bytes = 0;
};

std::mutex cache_mutex;
std::map<std::vector<int32_t>, std::unique_ptr<ConvEntry>> conv_cache;
// Entries are keyed by the full shape, batch size included. Training and inference use a few dozen; AMUN's attack
// shrinks its batch one sample at a time, so without a bound the cache grew by thousands of JIT-compiled primitives
// (17 GB in one process, killed by the OOM killer). Past the bound the cache starts again: re-creating an entry costs
// milliseconds.
constexpr size_t kMaxCachedConvs = 384;

memory::dims dims4(int64_t a, int64_t b, int64_t c, int64_t d) { return memory::dims{a, b, c, d}; }

// Winograd F(4x4, 3x3) convolutions (oneDNN's jit_wino_4x3, AVX-512 only) for 3x3, stride-1, undilated convolutions
// with at least kWinogradMinChannels input and output channels: 2-3x less time than direct convolution there (input
// and filter gradients at every such shape; the forward pass once IC * OC * OH * OW reaches kWinogradMinForwardWork,
// below which the blocked-layout reorders around it cost more than it saves: measured on ResNet-18 width 0.25's 64
// channels at 8x8 and 128 at 4x4), slower with fewer channels (16 at 32x32: 1.4x slower, 32 about even). They round
// differently from direct convolution (about 1e-6 relative), so set_winograd(false) turns them off, and the backend's
// description says whether they are used.
constexpr int64_t kWinogradMinChannels = 64;
constexpr int64_t kWinogradMinForwardWork = int64_t(1) << 20;
bool winograd_on = true;

bool winograd_shape(ConvKind kind, const int32_t* p) {
  if (!(p[4] == 3 && p[5] == 3 && p[9] == 1 && p[10] == 1 && p[11] == 1 && p[12] == 1 && p[3] >= kWinogradMinChannels &&
        p[6] >= kWinogradMinChannels))
    return false;
  return kind != ConvKind::Forward || int64_t(p[3]) * p[6] * p[7] * p[8] >= kWinogradMinForwardWork;
}

// Activation buffers in a Winograd kernel's blocked layout (primitives run one at a time, on the JS thread).
Buffer act_in1, act_in2, act_out;

std::unique_ptr<ConvEntry> make_conv_with(ConvKind kind, const int32_t* p, bool has_bias, bool winograd) {
  const int64_t N = p[0], IH = p[1], IW = p[2], IC = p[3], KH = p[4], KW = p[5], OC = p[6], OH = p[7], OW = p[8];
  const memory::dims strides{p[9], p[10]}, dil{p[11] - 1, p[12] - 1}, pad_l{p[13], p[15]}, pad_r{p[14], p[16]};
  const int act = p[17];
  auto& eng = cpu_engine();
  auto e = std::make_unique<ConvEntry>();
  e->src = memory::desc(dims4(N, IC, IH, IW), dt::f32, tag::nhwc);
  e->dst = memory::desc(dims4(N, OC, OH, OW), dt::f32, tag::nhwc);
  e->weights_user = memory::desc(dims4(OC, IC, KH, KW), dt::f32, tag::hwio);
  memory::desc w_any(dims4(OC, IC, KH, KW), dt::f32, tag::any);
  const memory::desc src_c = winograd ? memory::desc(dims4(N, IC, IH, IW), dt::f32, tag::any) : e->src;
  const memory::desc dst_c = winograd ? memory::desc(dims4(N, OC, OH, OW), dt::f32, tag::any) : e->dst;
  const auto alg = winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
  e->bias = has_bias ? memory::desc({OC}, dt::f32, tag::x) : memory::desc();

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::primitive_attr fwd_attr;
  fwd_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (kind == ConvKind::Forward && act == 1) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    fwd_attr.set_post_ops(ops);
  }
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, alg, src_c, w_any, e->bias, dst_c, strides, dil, pad_l, pad_r);
  dnnl::convolution_forward::primitive_desc fpd(fd, fwd_attr, eng);
  if (kind == ConvKind::Forward) {
    e->weights_prim = fpd.weights_desc();
    e->src_prim = fpd.src_desc();
    e->dst_prim = fpd.dst_desc();
    e->prim = dnnl::convolution_forward(fpd);
    e->scratch_bytes = fpd.scratchpad_desc().get_size();
  } else if (kind == ConvKind::BackwardData) {
    dnnl::convolution_backward_data::desc bd(alg, src_c, w_any, dst_c, strides, dil, pad_l, pad_r);
    dnnl::convolution_backward_data::primitive_desc bpd(bd, attr, eng, fpd);
    e->weights_prim = bpd.weights_desc();
    e->src_prim = bpd.diff_src_desc();
    e->dst_prim = bpd.diff_dst_desc();
    e->prim = dnnl::convolution_backward_data(bpd);
    e->scratch_bytes = bpd.scratchpad_desc().get_size();
  } else {
    dnnl::convolution_backward_weights::desc wd(alg, src_c, w_any, dst_c, strides, dil, pad_l, pad_r);
    dnnl::convolution_backward_weights::primitive_desc wpd(wd, attr, eng, fpd);
    e->weights_prim = wpd.diff_weights_desc();
    e->src_prim = wpd.src_desc();
    e->dst_prim = wpd.diff_dst_desc();
    e->prim = dnnl::convolution_backward_weights(wpd);
    e->scratch_bytes = wpd.scratchpad_desc().get_size();
  }
  e->reorder_weights = e->weights_prim != e->weights_user;
  if (e->reorder_weights) {
    if (kind == ConvKind::BackwardWeights) {
      e->weights_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, e->weights_prim, eng, e->weights_user));
    } else {
      e->weights_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, e->weights_user, eng, e->weights_prim));
    }
  }
  return e;
}

std::unique_ptr<ConvEntry> make_conv(ConvKind kind, const int32_t* p, bool has_bias) {
  if (winograd_on && winograd_shape(kind, p)) {
    try {
      return make_conv_with(kind, p, has_bias, true);
    } catch (const dnnl::error&) {
      // no Winograd kernel for this ISA, shape or post-op: direct convolution
    }
  }
  return make_conv_with(kind, p, has_bias, false);
}

// user (nhwc) <-> primitive layout of one activation
void reorder_act(const memory::desc& from, void* from_ptr, const memory::desc& to, void* to_ptr) {
  auto& eng = cpu_engine();
  memory a(from, eng, from_ptr), b(to, eng, to_ptr);
  dnnl::reorder(a, b).execute(cpu_stream(), a, b);
}

// An input activation in the primitive's layout: the caller's array itself, or a copy reordered into `buf`.
void* input_in(const memory::desc& user, const float* data, const memory::desc& prim, Buffer& buf) {
  void* p = const_cast<float*>(data);
  if (prim == user) return p;
  void* blk = buf.get(prim.get_size());
  reorder_act(user, p, prim, blk);
  return blk;
}

}  // namespace

void conv2d(ConvKind kind, const int32_t* p, const float* a, const float* b, float* out, const float* bias) {
  for (int i = 0; i < 13; i++) {
    if (p[i] <= 0) throw std::runtime_error("conv2d: sizes, strides and dilations must be positive");
  }
  std::vector<int32_t> key(p, p + kConvParams);
  key.push_back(static_cast<int32_t>(kind));
  key.push_back(bias != nullptr ? 1 : 0);
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = conv_cache.find(key);
  if (it == conv_cache.end()) {
    if (conv_cache.size() >= kMaxCachedConvs) conv_cache.clear();
    it = conv_cache.emplace(key, make_conv(kind, p, bias != nullptr)).first;
  }
  ConvEntry& e = *it->second;
  auto& eng = cpu_engine();
  auto& s = cpu_stream();
  memory scratch_mem(memory::desc({static_cast<int64_t>(e.scratch_bytes)}, dt::u8, tag::x), eng,
                     e.scratch_bytes > 0 ? scratch.get(e.scratch_bytes) : nullptr);
  // activations in the primitive's layout: the caller's arrays, or (Winograd) blocked copies; outputs are written to
  // a blocked buffer and reordered into the caller's array
  const bool blocked_src = e.src_prim != e.src, blocked_dst = e.dst_prim != e.dst;
  if (kind == ConvKind::Forward || kind == ConvKind::BackwardData) {
    memory w_user(e.weights_user, eng, const_cast<float*>(b));
    memory w = w_user;
    if (e.reorder_weights) {
      w = memory(e.weights_prim, eng, e.weights_buf.get(e.weights_prim.get_size()));
      e.weights_reorder.execute(s, w_user, w);
    }
    if (kind == ConvKind::Forward) {
      void* xp = input_in(e.src, a, e.src_prim, act_in1);
      void* yp = blocked_dst ? act_out.get(e.dst_prim.get_size()) : out;
      memory x(e.src_prim, eng, xp), y(e.dst_prim, eng, yp);
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}, {DNNL_ARG_SCRATCHPAD, scratch_mem}};
      if (bias) args.emplace(DNNL_ARG_BIAS, memory(e.bias, eng, const_cast<float*>(bias)));
      e.prim.execute(s, args);
      if (blocked_dst) reorder_act(e.dst_prim, yp, e.dst, out);
    } else {
      void* dyp = input_in(e.dst, a, e.dst_prim, act_in1);
      void* dxp = blocked_src ? act_out.get(e.src_prim.get_size()) : out;
      memory dy(e.dst_prim, eng, dyp), dx(e.src_prim, eng, dxp);
      e.prim.execute(s, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dx}, {DNNL_ARG_SCRATCHPAD, scratch_mem}});
      if (blocked_src) reorder_act(e.src_prim, dxp, e.src, out);
    }
  } else {
    void* xp = input_in(e.src, a, e.src_prim, act_in1);
    void* dyp = input_in(e.dst, b, e.dst_prim, act_in2);
    memory x(e.src_prim, eng, xp), dy(e.dst_prim, eng, dyp);
    memory dw_user(e.weights_user, eng, out);
    memory dw = e.reorder_weights ? memory(e.weights_prim, eng, e.weights_buf.get(e.weights_prim.get_size())) : dw_user;
    e.prim.execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_SCRATCHPAD, scratch_mem}});
    if (e.reorder_weights) e.weights_reorder.execute(s, dw, dw_user);
  }
  s.wait();
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, int64_t strideA,
           const float* B, int64_t ldb, int64_t strideB, float* C, int64_t ldc, int64_t strideC, int64_t batch) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < batch; i++)
      for (int64_t r = 0; r < M; r++) std::memset(C + i * strideC + r * ldc, 0, sizeof(float) * N);
    return;
  }
  const char ta = transA ? 'T' : 'N', tb = transB ? 'T' : 'N';
  // Many small products: one per thread, each single-threaded (oneDNN's GEMM does not nest inside a parallel
  // region). Few large ones: one after the other, each using every thread.
  const double flops = 2.0 * double(M) * double(N) * double(K);
  if (batch > 1 && flops < 4e6) {
    dnnl_status_t status = dnnl_success;
#pragma omp parallel for schedule(dynamic)
    for (int64_t i = 0; i < batch; i++) {
      dnnl_status_t st = dnnl_sgemm(ta, tb, M, N, K, 1.f, A + i * strideA, lda, B + i * strideB, ldb, 0.f, C + i * strideC, ldc);
      if (st != dnnl_success) status = st;
    }
    if (status != dnnl_success) throw std::runtime_error("dnnl_sgemm failed");
    return;
  }
  for (int64_t i = 0; i < batch; i++) {
    dnnl_status_t st = dnnl_sgemm(ta, tb, M, N, K, 1.f, A + i * strideA, lda, B + i * strideB, ldb, 0.f, C + i * strideC, ldc);
    if (st != dnnl_success) throw std::runtime_error("dnnl_sgemm failed");
  }
}

std::string dnnl_version_string() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

std::string dnnl_isa_string() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

void set_winograd(bool on) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (winograd_on != on) conv_cache.clear();
  winograd_on = on;
}

bool winograd_available() {
  if (!winograd_on) return false;
  // whether this machine has a Winograd kernel: try once to create one for a convolution of the kind it would serve
  // (info() asks on every call; creating the primitive JIT-compiles it)
  static const bool supported = [] {
    const int32_t p[kConvParams] = {1, 32, 32, 64, 3, 3, 64, 32, 32, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    try {
      make_conv_with(ConvKind::Forward, p, false, true);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return supported;
}

void clear_primitive_cache() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  conv_cache.clear();
}

size_t primitive_cache_size() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return conv_cache.size();
}

}  // namespace lethe
