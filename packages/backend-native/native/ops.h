// Lethe native CPU kernels: oneDNN convolutions and GEMM, plus plain C++ loops (OpenMP) for the elementwise,
// reduction and pooling kernels that dominate a training step. Every function works on caller-owned float
// buffers (the Float32Arrays behind tfjs tensors), never allocates tensor memory of its own, and throws
// std::runtime_error on bad arguments.
#pragma once
#include <cstdint>
#include <string>

namespace lethe {

// ---- oneDNN (dnnl_ops.cc) ----
// p: N, IH, IW, IC, KH, KW, OC, OH, OW, SH, SW, DH, DW (dilation, 1 = none), PT, PB, PL, PR, ACT (0 none, 1 relu)
constexpr int kConvParams = 18;
enum class ConvKind { Forward = 0, BackwardData = 1, BackwardWeights = 2 };
// Forward: a = x (NHWC), b = w (HWIO), out = y (NHWC), bias = [OC] or null.
// BackwardData: a = dy, b = w, out = dx. BackwardWeights: a = x, b = dy, out = dw (HWIO).
void conv2d(ConvKind kind, const int32_t* p, const float* a, const float* b, float* out, const float* bias);
// Row-major batched GEMM: C[i] = op(A[i]) * op(B[i]); strides in elements (0 broadcasts one matrix).
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, int64_t strideA,
           const float* B, int64_t ldb, int64_t strideB, float* C, int64_t ldc, int64_t strideC, int64_t batch);
std::string dnnl_version_string();
std::string dnnl_isa_string();
void clear_primitive_cache();
// Winograd convolutions for 3x3 stride-1 convolutions with 64+ channels (dnnl_ops.cc): on by default; the
// second says whether they are on and this machine has them
void set_winograd(bool on);
bool winograd_available();
size_t primitive_cache_size();

// ---- loops (cpu_ops.cc) ----
// Broadcast: out = a broadcast to outShape (b is ignored; pass a's pointer and an all-ones shape)
enum class BinaryOp { Add = 0, Sub, Mul, Div, Max, Min, SquaredDifference, Broadcast };
// shapes are right-aligned to `rank` (missing leading dims are 1); outShape is the broadcast shape
void binary(BinaryOp op, int rank, const int32_t* outShape, const float* a, const int32_t* aShape, const float* b,
            const int32_t* bShape, float* out);
enum class UnaryOp { Relu = 0, Step, Neg, Square, Sqrt, Rsqrt, Abs, Relu6, Exp, Log, Sigmoid, Tanh };
void unary(UnaryOp op, const float* x, float* out, int64_t n, float alpha);
// ReluGrad: out[i] = dy[i] * step(x[i]); SquareGrad: out[i] = dy[i] * (x[i] * 2) (tfjs's gradients in one pass)
enum class FusedOp { ReluGrad = 0, SquareGrad = 1 };
void fused2(FusedOp op, const float* a, const float* b, float* out, int64_t n);
// x viewed as [A, K, B]; out [A, B] = sum over K (times scale)
void reduce_sum(const float* x, float* out, int64_t A, int64_t K, int64_t B, double scale);
// a, b viewed as [A, K, B]; out [A, B] = sum over K of a * b (each product rounded to float first)
void reduce_mul_sum(const float* a, const float* b, float* out, int64_t A, int64_t K, int64_t B);
// NHWC pooling. p: N, IH, IW, C, FH, FW, OH, OW, SH, SW, PT, PL
constexpr int kPoolParams = 12;
void max_pool(const int32_t* p, const float* x, float* y);
void avg_pool(const int32_t* p, const float* x, float* y);
// dx = gradient of max pooling: dy routed to the first maximum of each window (tfjs semantics)
void max_pool_grad(const int32_t* p, const float* x, const float* dy, float* dx);
// dx = dy / (FH * FW) spread over each window's in-bounds inputs (tfjs semantics)
void avg_pool_grad(const int32_t* p, const float* dy, float* dx);
// A deferred elementwise chain (see src/native-backend.ts): out[i] = op_k(... op_1(src[i], v_1[i mod P]) ...), with
// vectors of P elements (vecs holds nops of them back to back; Relu ignores its). Each step rounds to float
// exactly as the eager kernel would, so a chain equals the kernels it replaces bit for bit.
// AddFull adds a second full-size array, `extra` (a residual connection), at most once per chain.
enum class ChainOp { Add = 0, Sub, Mul, Div, RSub, RDiv, Relu, AddFull };
void chain(const float* src, float* out, int64_t n, int64_t P, const int32_t* ops, int nops, const float* vecs, const float* extra);
// Training-mode batch normalisation over the rows of x viewed as [R, C] (NHWC: R = N*H*W, C channels):
// mean[c] and var[c] (biased) of column c, computed in two passes (float blocks, block sums in double), and
// y = act((x - mean) * (gamma * rstd) + beta [+ residual]) with rstd = 1 / sqrt(var + eps) in float; act is ReLU or
// none. residual may be null.
void batch_norm_train(const float* x, const float* gamma, const float* beta, const float* residual, float eps, bool relu,
                      int64_t R, int64_t C, float* y, float* mean, float* var);
// Its gradient. g = relu ? dy * step(y) : dy (y, the forward output, is read only with relu); with xhat = (x - mean)
// * rstd: dbeta = sum g, dgamma = sum g * xhat, dx = gamma rstd (g - mean(g) - xhat mean(g xhat)) + dmean / R +
// 2 dvar (x - mean) / R (dmean, dvar: gradients reaching the mean and variance outputs; either may be null for
// zero). dres, when not null, receives g (the residual input's gradient).
void batch_norm_train_grad(const float* dy, const float* x, const float* y, const float* gamma, const float* mean,
                           const float* var, const float* dmean, const float* dvar, float eps, bool relu, int64_t R,
                           int64_t C, float* dx, float* dgamma, float* dbeta, float* dres);
void set_threads(int n);
int get_threads();

}  // namespace lethe
