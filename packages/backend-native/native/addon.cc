// N-API glue: synchronous functions over Float32Array / Int32Array arguments (zero-copy: the kernels read and
// write the arrays' own memory). Every buffer's length is checked against the sizes the parameters imply before
// any kernel runs, so a wrong call throws a JavaScript error instead of touching memory it does not own.
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "ops.h"

namespace {

struct JsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(napi_env, napi_status status, const char* what) {
  if (status != napi_ok) throw JsError(std::string("N-API call failed: ") + what);
}

template <class T>
struct Span {
  T* data = nullptr;
  size_t length = 0;
};

template <class T>
Span<T> typed(napi_env env, napi_value v, napi_typedarray_type want, const char* name, bool nullable = false) {
  napi_valuetype vt;
  check(env, napi_typeof(env, v, &vt), "typeof");
  if (nullable && (vt == napi_null || vt == napi_undefined)) return {};
  bool is = false;
  check(env, napi_is_typedarray(env, v, &is), "is_typedarray");
  if (!is) throw JsError(std::string(name) + " must be a typed array");
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset), "get_typedarray_info");
  if (type != want) throw JsError(std::string(name) + (want == napi_float32_array ? " must be a Float32Array" : " must be an Int32Array"));
  return {static_cast<T*>(data), length};
}

Span<float> f32(napi_env env, napi_value v, const char* name, bool nullable = false) { return typed<float>(env, v, napi_float32_array, name, nullable); }
Span<int32_t> i32(napi_env env, napi_value v, const char* name) { return typed<int32_t>(env, v, napi_int32_array, name); }

double number(napi_env env, napi_value v, const char* name) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw JsError(std::string(name) + " must be a number");
  return d;
}

void need(const Span<float>& s, int64_t n, const char* name) {
  if (n < 0 || s.length < static_cast<size_t>(n)) {
    throw JsError(std::string(name) + " is too short: " + std::to_string(s.length) + " elements, need " + std::to_string(n));
  }
}

template <size_t N>
void args(napi_env env, napi_callback_info info, napi_value (&argv)[N], size_t min) {
  size_t argc = N;
  check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "get_cb_info");
  if (argc < min) throw JsError("expected " + std::to_string(min) + " arguments, got " + std::to_string(argc));
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = argc; i < N; i++) argv[i] = undef;
}

// Runs a function body, turning C++ exceptions into JavaScript errors.
template <class F>
napi_value guard(napi_env env, F f) {
  try {
    return f();
  } catch (const std::exception& e) {
    napi_throw_error(env, "LETHE_NATIVE", (std::string("lethe native: ") + e.what()).c_str());
  } catch (...) {
    napi_throw_error(env, "LETHE_NATIVE", "lethe native: unknown error");
  }
  return nullptr;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Info(napi_env env, napi_callback_info) {
  return guard(env, [&] {
    napi_value o, v;
    check(env, napi_create_object(env, &o), "create_object");
    std::string ver = lethe::dnnl_version_string(), isa = lethe::dnnl_isa_string();
    napi_create_string_utf8(env, ver.c_str(), ver.size(), &v);
    napi_set_named_property(env, o, "dnnl", v);
    napi_create_string_utf8(env, isa.c_str(), isa.size(), &v);
    napi_set_named_property(env, o, "isa", v);
    napi_create_int32(env, lethe::get_threads(), &v);
    napi_set_named_property(env, o, "threads", v);
    napi_create_int32(env, static_cast<int32_t>(lethe::primitive_cache_size()), &v);
    napi_set_named_property(env, o, "cachedPrimitives", v);
    napi_get_boolean(env, lethe::winograd_available(), &v);
    napi_set_named_property(env, o, "winograd", v);
    return o;
  });
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[1];
    args(env, info, argv, 1);
    lethe::set_threads(static_cast<int>(number(env, argv[0], "threads")));
    return undefined(env);
  });
}

napi_value SetWinograd(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[1];
    args(env, info, argv, 1);
    bool on = false;
    check(env, napi_get_value_bool(env, argv[0], &on), "setWinograd: expected a boolean");
    lethe::set_winograd(on);
    return undefined(env);
  });
}

napi_value ClearCache(napi_env env, napi_callback_info) {
  return guard(env, [&] {
    lethe::clear_primitive_cache();
    return undefined(env);
  });
}

// conv2d(kind, params: Int32Array(18), a, b, out, bias | null)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[6];
    args(env, info, argv, 5);
    const int kind = static_cast<int>(number(env, argv[0], "kind"));
    auto p = i32(env, argv[1], "params");
    if (p.length < static_cast<size_t>(lethe::kConvParams)) throw JsError("conv2d: params needs 18 entries");
    auto a = f32(env, argv[2], "a"), b = f32(env, argv[3], "b"), out = f32(env, argv[4], "out");
    auto bias = f32(env, argv[5], "bias", true);
    const int64_t N = p.data[0], IH = p.data[1], IW = p.data[2], IC = p.data[3], KH = p.data[4], KW = p.data[5], OC = p.data[6], OH = p.data[7], OW = p.data[8];
    const int64_t xs = N * IH * IW * IC, ws = KH * KW * IC * OC, ys = N * OH * OW * OC;
    switch (kind) {
      case 0:
        need(a, xs, "x"); need(b, ws, "filter"); need(out, ys, "output");
        if (bias.data) need(bias, OC, "bias");
        break;
      case 1:
        need(a, ys, "dy"); need(b, ws, "filter"); need(out, xs, "dx");
        break;
      case 2:
        need(a, xs, "x"); need(b, ys, "dy"); need(out, ws, "dfilter");
        break;
      default:
        throw JsError("conv2d: kind must be 0, 1 or 2");
    }
    lethe::conv2d(static_cast<lethe::ConvKind>(kind), p.data, a.data, b.data, out.data, kind == 0 ? bias.data : nullptr);
    return undefined(env);
  });
}

// sgemm(params: Int32Array [transA, transB, M, N, K, lda, strideA, ldb, strideB, ldc, strideC, batch], A, B, C)
napi_value Sgemm(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[4];
    args(env, info, argv, 4);
    auto p = i32(env, argv[0], "params");
    if (p.length < 12) throw JsError("sgemm: params needs 12 entries");
    auto A = f32(env, argv[1], "A"), B = f32(env, argv[2], "B"), C = f32(env, argv[3], "C");
    const bool ta = p.data[0] != 0, tb = p.data[1] != 0;
    const int64_t M = p.data[2], N = p.data[3], K = p.data[4], lda = p.data[5], sA = p.data[6], ldb = p.data[7], sB = p.data[8],
                  ldc = p.data[9], sC = p.data[10], batch = p.data[11];
    if (M < 0 || N < 0 || K < 0 || batch < 0 || sA < 0 || sB < 0 || sC < 0) throw JsError("sgemm: negative size");
    if (batch == 0 || M == 0 || N == 0) return undefined(env);
    // rows x cols of each stored matrix
    const int64_t aRows = ta ? K : M, aCols = ta ? M : K, bRows = tb ? N : K, bCols = tb ? K : N;
    if (lda < aCols || ldb < bCols || ldc < N) throw JsError("sgemm: leading dimension smaller than the row length");
    need(A, (batch - 1) * sA + (aRows - 1) * lda + aCols, "A");
    need(B, (batch - 1) * sB + (bRows - 1) * ldb + bCols, "B");
    need(C, (batch - 1) * sC + (M - 1) * ldc + N, "C");
    lethe::sgemm(ta, tb, M, N, K, A.data, lda, sA, B.data, ldb, sB, C.data, ldc, sC, batch);
    return undefined(env);
  });
}

int64_t product(const int32_t* s, int rank) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (s[i] < 0) throw JsError("negative dimension");
    n *= s[i];
  }
  return n;
}

// binary(op, shapes: Int32Array [rank, out..., a..., b...], a, b, out)
napi_value Binary(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[5];
    args(env, info, argv, 5);
    const int op = static_cast<int>(number(env, argv[0], "op"));
    if (op < 0 || op > static_cast<int>(lethe::BinaryOp::Broadcast)) throw JsError("binary: unknown op");
    auto s = i32(env, argv[1], "shapes");
    if (s.length < 1) throw JsError("binary: empty shapes");
    const int rank = s.data[0];
    if (rank < 1 || s.length < static_cast<size_t>(1 + 3 * rank)) throw JsError("binary: shapes too short for its rank");
    const int32_t *os = s.data + 1, *as = s.data + 1 + rank, *bs = s.data + 1 + 2 * rank;
    auto a = f32(env, argv[2], "a"), b = f32(env, argv[3], "b"), out = f32(env, argv[4], "out");
    const int64_t n = product(os, rank);
    need(a, product(as, rank), "a"); need(b, product(bs, rank), "b"); need(out, n, "out");
    if (n == 0) return undefined(env);
    lethe::binary(static_cast<lethe::BinaryOp>(op), rank, os, a.data, as, b.data, bs, out.data);
    return undefined(env);
  });
}

// unary(op, x, out, n, alpha)
napi_value Unary(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[5];
    args(env, info, argv, 4);
    const int op = static_cast<int>(number(env, argv[0], "op"));
    if (op < 0 || op > static_cast<int>(lethe::UnaryOp::Tanh)) throw JsError("unary: unknown op");
    auto x = f32(env, argv[1], "x"), out = f32(env, argv[2], "out");
    const int64_t n = static_cast<int64_t>(number(env, argv[3], "n"));
    need(x, n, "x"); need(out, n, "out");
    napi_valuetype t;
    napi_typeof(env, argv[4], &t);
    const float alpha = t == napi_number ? static_cast<float>(number(env, argv[4], "alpha")) : 0.f;
    lethe::unary(static_cast<lethe::UnaryOp>(op), x.data, out.data, n, alpha);
    return undefined(env);
  });
}

// fused2(op, a, b, out, n)
napi_value Fused2(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[5];
    args(env, info, argv, 5);
    const int op = static_cast<int>(number(env, argv[0], "op"));
    if (op < 0 || op > static_cast<int>(lethe::FusedOp::SquareGrad)) throw JsError("fused2: unknown op");
    auto a = f32(env, argv[1], "a"), b = f32(env, argv[2], "b"), out = f32(env, argv[3], "out");
    const int64_t n = static_cast<int64_t>(number(env, argv[4], "n"));
    need(a, n, "a"); need(b, n, "b"); need(out, n, "out");
    lethe::fused2(static_cast<lethe::FusedOp>(op), a.data, b.data, out.data, n);
    return undefined(env);
  });
}

// reduceSum(x, out, A, K, B, scale, y?): with y, the sum of x * y
napi_value ReduceSum(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[7];
    args(env, info, argv, 6);
    auto x = f32(env, argv[0], "x"), out = f32(env, argv[1], "out");
    auto y = f32(env, argv[6], "y", true);
    const int64_t A = static_cast<int64_t>(number(env, argv[2], "A")), K = static_cast<int64_t>(number(env, argv[3], "K")),
                  B = static_cast<int64_t>(number(env, argv[4], "B"));
    const double scale = number(env, argv[5], "scale");
    if (A < 0 || K < 0 || B < 0) throw JsError("reduceSum: negative size");
    need(x, A * K * B, "x"); need(out, A * B, "out");
    if (y.data) need(y, A * K * B, "y");
    if (A * B == 0) return undefined(env);
    if (K == 0) {
      std::memset(out.data, 0, sizeof(float) * A * B);
      return undefined(env);
    }
    if (y.data) {
      lethe::reduce_mul_sum(x.data, y.data, out.data, A, K, B);
      for (int64_t i = 0; i < A * B; i++) out.data[i] = static_cast<float>(out.data[i] * scale);
    } else {
      lethe::reduce_sum(x.data, out.data, A, K, B, scale);
    }
    return undefined(env);
  });
}

// pool(kind, params: Int32Array(12), a, out, b?) kinds: 0 max (x -> y), 1 avg (x -> y),
// 2 max grad (x, dx, dy), 3 avg grad (dy -> dx)
napi_value Pool(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[5];
    args(env, info, argv, 4);
    const int kind = static_cast<int>(number(env, argv[0], "kind"));
    auto p = i32(env, argv[1], "params");
    if (p.length < static_cast<size_t>(lethe::kPoolParams)) throw JsError("pool: params needs 12 entries");
    const int64_t N = p.data[0], IH = p.data[1], IW = p.data[2], C = p.data[3], OH = p.data[6], OW = p.data[7];
    const int64_t xs = N * IH * IW * C, ys = N * OH * OW * C;
    auto a = f32(env, argv[2], "a"), out = f32(env, argv[3], "out");
    switch (kind) {
      case 0:
      case 1:
        need(a, xs, "x"); need(out, ys, "y");
        (kind == 0 ? lethe::max_pool : lethe::avg_pool)(p.data, a.data, out.data);
        break;
      case 2: {
        auto dy = f32(env, argv[4], "dy");
        need(a, xs, "x"); need(out, xs, "dx"); need(dy, ys, "dy");
        lethe::max_pool_grad(p.data, a.data, dy.data, out.data);
        break;
      }
      case 3:
        need(a, ys, "dy"); need(out, xs, "dx");
        lethe::avg_pool_grad(p.data, a.data, out.data);
        break;
      default:
        throw JsError("pool: kind must be 0..3");
    }
    return undefined(env);
  });
}

// chain(src, out, n, P, ops: Int32Array, vecs: Float32Array (ops.length * P), extra?: Float32Array (n))
napi_value Chain(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[7];
    args(env, info, argv, 6);
    auto src = f32(env, argv[0], "src"), out = f32(env, argv[1], "out");
    const int64_t n = static_cast<int64_t>(number(env, argv[2], "n")), P = static_cast<int64_t>(number(env, argv[3], "P"));
    auto ops = i32(env, argv[4], "ops");
    auto vecs = f32(env, argv[5], "vecs");
    if (P <= 0 || n < 0 || n % P != 0) throw JsError("chain: n must be a multiple of the period P > 0");
    auto extra = f32(env, argv[6], "extra", true);
    need(src, n, "src"); need(out, n, "out"); need(vecs, static_cast<int64_t>(ops.length) * P, "vecs");
    if (extra.data) need(extra, n, "extra");
    if (n > 0) lethe::chain(src.data, out.data, n, P, ops.data, static_cast<int>(ops.length), vecs.data, extra.data);
    return undefined(env);
  });
}

// batchNormTrain(x, gamma, beta, residual | null, eps, relu, R, C, y, mean, variance)
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[11];
    args(env, info, argv, 11);
    auto x = f32(env, argv[0], "x"), gamma = f32(env, argv[1], "gamma"), beta = f32(env, argv[2], "beta");
    auto res = f32(env, argv[3], "residual", true);
    const float eps = static_cast<float>(number(env, argv[4], "epsilon"));
    bool relu = false;
    check(env, napi_get_value_bool(env, argv[5], &relu), "relu must be a boolean");
    const int64_t R = static_cast<int64_t>(number(env, argv[6], "R")), C = static_cast<int64_t>(number(env, argv[7], "C"));
    if (R <= 0 || C <= 0) throw JsError("batchNormTrain: R and C must be positive");
    auto y = f32(env, argv[8], "y"), mean = f32(env, argv[9], "mean"), var = f32(env, argv[10], "variance");
    need(x, R * C, "x"); need(y, R * C, "y"); need(gamma, C, "gamma"); need(beta, C, "beta"); need(mean, C, "mean"); need(var, C, "variance");
    if (res.data) need(res, R * C, "residual");
    lethe::batch_norm_train(x.data, gamma.data, beta.data, res.data, eps, relu, R, C, y.data, mean.data, var.data);
    return undefined(env);
  });
}

// batchNormTrainGrad(dy, x, y | null, gamma, mean, variance, dmean | null, dvar | null, eps, relu, R, C, dx, dgamma, dbeta,
// dres | null)
napi_value BatchNormTrainGrad(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    napi_value argv[16];
    args(env, info, argv, 15);
    auto dy = f32(env, argv[0], "dy"), x = f32(env, argv[1], "x"), y = f32(env, argv[2], "y", true);
    auto gamma = f32(env, argv[3], "gamma"), mean = f32(env, argv[4], "mean"), var = f32(env, argv[5], "variance");
    auto dmean = f32(env, argv[6], "dmean", true), dvar = f32(env, argv[7], "dvar", true);
    const float eps = static_cast<float>(number(env, argv[8], "epsilon"));
    bool relu = false;
    check(env, napi_get_value_bool(env, argv[9], &relu), "relu must be a boolean");
    const int64_t R = static_cast<int64_t>(number(env, argv[10], "R")), C = static_cast<int64_t>(number(env, argv[11], "C"));
    if (R <= 0 || C <= 0) throw JsError("batchNormTrainGrad: R and C must be positive");
    auto dx = f32(env, argv[12], "dx"), dgamma = f32(env, argv[13], "dgamma"), dbeta = f32(env, argv[14], "dbeta");
    auto dres = f32(env, argv[15], "dres", true);
    need(dy, R * C, "dy"); need(x, R * C, "x"); need(dx, R * C, "dx");
    need(gamma, C, "gamma"); need(mean, C, "mean"); need(var, C, "variance"); need(dgamma, C, "dgamma"); need(dbeta, C, "dbeta");
    if (relu && !y.data) throw JsError("batchNormTrainGrad: relu needs y");
    if (y.data) need(y, R * C, "y");
    if (dmean.data) need(dmean, C, "dmean");
    if (dvar.data) need(dvar, C, "dvar");
    if (dres.data) need(dres, R * C, "dres");
    lethe::batch_norm_train_grad(dy.data, x.data, y.data, gamma.data, mean.data, var.data, dmean.data, dvar.data, eps, relu, R, C,
                                 dx.data, dgamma.data, dbeta.data, dres.data);
    return undefined(env);
  });
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setWinograd", nullptr, SetWinograd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"clearCache", nullptr, ClearCache, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fused2", nullptr, Fused2, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduceSum", nullptr, ReduceSum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pool", nullptr, Pool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"chain", nullptr, Chain, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormTrain", nullptr, BatchNormTrain, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormTrainGrad", nullptr, BatchNormTrainGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
