// oneDNN primitives as XLA FFI custom calls, f32, NHWC activations (JAX's layout, no transposes):
// - 2-D convolution with HWIO weights: forward, data gradient, weight gradient. XLA:CPU's own
//   convolutions reach ~55 GFLOP/s on CIFAR shapes; oneDNN's direct kernels ~130.
// - BatchNorm in training mode, optionally followed by ReLU: forward (with batch mean and variance)
//   and backward. XLA:CPU splits each of its per-channel reductions into an unfused reduce-window
//   (a third of a step); the fused ReLU saves a pass over the activations each way.
// Under jax.vmap the operands stack configurations along leading axes: one call runs each one's
// primitive on its slices (`Run`), spread over the threads when there are enough of them.
// Built by hpobench/onednn.py against oneDNN 2.x (Debian 12's libdnnl-dev) or 3.x (newer
// distributions): 3.0 folded the operation descriptors (`*::desc`) into the primitive descriptors'
// constructors, and the few calls that differ are behind DNNL_VERSION_MAJOR below.
#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <omp.h>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using Tag = memory::format_tag;
using F32 = ffi::Buffer<ffi::F32>;
using Out = ffi::Result<F32>;

namespace {

enum Kind : int64_t { kConvFwd, kConvBwdData, kConvBwdWeights, kNormFwd, kNormBwd };

// Convolution: kind, n, c, h, w, o, oh, ow, kh, kw, stride h/w, padding top/left/bottom/right.
// BatchNorm: kind, n, c, h, w, epsilon's bits, relu.
using Key = std::array<int64_t, 16>;

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::desc Md(memory::dims dims, Tag tag) { return memory::desc(dims, memory::data_type::f32, tag); }

// One primitive per key, created once, with memory objects that each call points at its buffers
// (creating them per call costs more than a small convolution). Weights go through a reorder
// when the kernel wants a blocked layout, into a buffer of the op's.
struct Op {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  std::vector<memory> bound;  // the call's operands, then its results
  std::optional<dnnl::reorder> before, after;
  memory user_w, prim_w;

  memory Bind(int arg, const memory::desc& md) {
    memory m(md, Engine(), DNNL_MEMORY_NONE);
    if (arg) args[arg] = m;
    bound.push_back(m);
    return m;
  }
  // Weights in JAX's HWIO layout, reordered from/to the primitive's own if that differs.
  void Weights(int arg, const memory::desc& user, const memory::desc& prim_md, bool is_result) {
    user_w = Bind(0, user);
    prim_w = prim_md == user ? user_w : memory(prim_md, Engine());
    args[arg] = prim_w;
    if (prim_md == user) return;
    if (is_result) after.emplace(dnnl::reorder::primitive_desc(Engine(), prim_md, Engine(), user));
    else before.emplace(dnnl::reorder::primitive_desc(Engine(), user, Engine(), prim_md));
  }
};

std::unique_ptr<Op> MakeConv(const Key& k) {
  auto [kind, n, c, h, w, o, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr] = k;
  auto op = std::make_unique<Op>();
  auto src = Md({n, c, h, w}, Tag::nhwc), dst = Md({n, o, oh, ow}, Tag::nhwc);
  auto wei = Md({o, c, kh, kw}, Tag::hwio), any = Md({o, c, kh, kw}, Tag::any);
  memory::dims strides{sh, sw}, pad_l{pt, pl}, pad_r{pb, pr};
  auto alg = dnnl::algorithm::convolution_direct;
  auto train = dnnl::prop_kind::forward_training;
#if DNNL_VERSION_MAJOR >= 3
  dnnl::convolution_forward::primitive_desc fwd(Engine(), train, alg, src, any, dst, strides, pad_l, pad_r);
#else
  dnnl::convolution_forward::primitive_desc fwd(
      dnnl::convolution_forward::desc(train, alg, src, any, dst, strides, pad_l, pad_r), Engine());
#endif
  if (kind == kConvFwd) {  // (x, w) -> y
    op->prim = dnnl::convolution_forward(fwd);
    op->Bind(DNNL_ARG_SRC, src);
    op->Weights(DNNL_ARG_WEIGHTS, wei, fwd.weights_desc(), false);
    op->Bind(DNNL_ARG_DST, dst);
  } else if (kind == kConvBwdData) {  // (dy, w) -> dx
#if DNNL_VERSION_MAJOR >= 3
    dnnl::convolution_backward_data::primitive_desc pd(Engine(), alg, src, any, dst, strides, pad_l, pad_r, fwd);
#else
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(alg, src, any, dst, strides, pad_l, pad_r), Engine(), fwd);
#endif
    op->prim = dnnl::convolution_backward_data(pd);
    op->Bind(DNNL_ARG_DIFF_DST, dst);
    op->Weights(DNNL_ARG_WEIGHTS, wei, pd.weights_desc(), false);
    op->Bind(DNNL_ARG_DIFF_SRC, src);
  } else {  // (x, dy) -> dw
#if DNNL_VERSION_MAJOR >= 3
    dnnl::convolution_backward_weights::primitive_desc pd(Engine(), alg, src, any, dst, strides, pad_l, pad_r, fwd);
#else
    dnnl::convolution_backward_weights::primitive_desc pd(
        dnnl::convolution_backward_weights::desc(alg, src, any, dst, strides, pad_l, pad_r), Engine(), fwd);
#endif
    op->prim = dnnl::convolution_backward_weights(pd);
    op->Bind(DNNL_ARG_SRC, src);
    op->Bind(DNNL_ARG_DIFF_DST, dst);
    op->Weights(DNNL_ARG_DIFF_WEIGHTS, wei, pd.diff_weights_desc(), true);
  }
  return op;
}

dnnl::normalization_flags NormFlags(bool relu) {
  auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  return relu ? flags | dnnl::normalization_flags::fuse_norm_relu : flags;
}

dnnl::batch_normalization_forward::primitive_desc NormFwdPd(int64_t n, int64_t c, int64_t h, int64_t w,
                                                           float eps, bool relu) {
  auto data = Md({n, c, h, w}, Tag::nhwc);
#if DNNL_VERSION_MAJOR >= 3
  return {Engine(), dnnl::prop_kind::forward_training, data, data, eps, NormFlags(relu)};
#else
  return {dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, data, eps, NormFlags(relu)),
          Engine()};
#endif
}

std::unique_ptr<Op> MakeNorm(const Key& k) {
  auto [kind, n, c, h, w] = std::array<int64_t, 5>{k[0], k[1], k[2], k[3], k[4]};
  float eps;
  int32_t bits = static_cast<int32_t>(k[5]);
  std::memcpy(&eps, &bits, sizeof eps);
  bool relu = k[6];
  auto op = std::make_unique<Op>();
  auto fwd = NormFwdPd(n, c, h, w, eps, relu);
  auto data = fwd.src_desc(), stat = Md({c}, Tag::x);
  // The operands in the order of the custom calls; the workspace (ReLU's mask) only with relu.
  std::vector<int> args;
  if (kind == kNormFwd) {  // (x, scale, bias) -> (y, mean, var[, workspace])
    op->prim = dnnl::batch_normalization_forward(fwd);
    args = {DNNL_ARG_SRC, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_DST, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
    if (relu) args.push_back(DNNL_ARG_WORKSPACE);
  } else {  // (x, dy, scale, bias, mean, var[, workspace]) -> (dx, dscale, dbias); only 2.x takes the shift
#if DNNL_VERSION_MAJOR >= 3
    op->prim = dnnl::batch_normalization_backward(dnnl::batch_normalization_backward::primitive_desc(
        Engine(), dnnl::prop_kind::backward, data, data, data, eps, NormFlags(relu), fwd));
#else
    op->prim = dnnl::batch_normalization_backward(dnnl::batch_normalization_backward::primitive_desc(
        dnnl::batch_normalization_backward::desc(dnnl::prop_kind::backward, data, data, eps, NormFlags(relu)),
        Engine(), fwd));
#endif
    int shift = DNNL_VERSION_MAJOR >= 3 ? 0 : DNNL_ARG_SHIFT;  // 0: the operand is bound to no argument
    args = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_SCALE, shift, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
    if (relu) args.push_back(DNNL_ARG_WORKSPACE);
    args.insert(args.end(), {DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT});
  }
  for (int arg : args) {
    bool big = arg == DNNL_ARG_SRC || arg == DNNL_ARG_DST || arg == DNNL_ARG_DIFF_DST || arg == DNNL_ARG_DIFF_SRC;
    op->Bind(arg, arg == DNNL_ARG_WORKSPACE ? fwd.workspace_desc() : big ? data : stat);
  }
  return op;
}

// Every primitive runs on this one thread. XLA calls custom calls from whichever of its threads is
// free, and each calling thread would get an OpenMP team of its own; with more OpenMP threads than
// cores, libgomp stops spinning between parallel regions and every primitive pays for waking its
// team (~40 us, a sixth of a ResNet-20 8-px step).
class Worker {
 public:
  void Call(const std::function<void()>& job) {
    std::lock_guard<std::mutex> one_caller(call_mu_);
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &job;
    cv_.notify_all();
    cv_.wait(lock, [this] { return job_ == nullptr; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return job_ != nullptr; });
      (*job_)();
      job_ = nullptr;
      cv_.notify_all();
    }
  }
  std::mutex call_mu_, mu_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;
  std::thread thread_{[this] { Loop(); }};
};

std::atomic<bool> g_split{true};  // stacked configurations spread over the threads (`Run`)

// One operand or result of a call: its data and the bytes between two configurations' slices.
struct Slab {
  void* data;
  int64_t stride;
};

// The primitive of `k` on slice `i` of every buffer, on this thread; `ops` holds the thread's primitives.
void Execute(std::map<Key, std::unique_ptr<Op>>& ops, const Key& k, int64_t i, std::initializer_list<Slab> buffers) {
  thread_local auto* stream_ = new dnnl::stream(Engine());  // never destroyed, as `worker`
  auto& stream = *stream_;
  auto& op = ops[k];
  if (!op) op = k[0] >= kNormFwd ? MakeNorm(k) : MakeConv(k);
  auto buffer = buffers.begin();
  for (auto& m : op->bound) {
    m.set_data_handle(static_cast<char*>(buffer->data) + i * buffer->stride);
    ++buffer;
  }
  if (op->before) op->before->execute(stream, op->user_w, op->prim_w);
  op->prim.execute(stream, op->args);
  if (op->after) op->after->execute(stream, op->prim_w, op->user_w);
  stream.wait();
}

// Runs the primitive of `k` on `count` configurations (1 without jax.vmap; with it the operands
// stack them along leading axes), each on its slices of the buffers. With at least as many
// configurations as threads they are spread over the threads, each primitive on one: no barrier
// inside a primitive, and each thread's data stays in its core's cache; each thread then has
// primitives of its own, created inside the parallel region (planned for one thread). With fewer
// (or with splitting off, `HpoSplit`) they run one after another, each on every thread.
ffi::Error Run(const Key& k, int64_t count, std::initializer_list<Slab> buffers) {
  static std::map<Key, std::unique_ptr<Op>> ops;  // touched by the worker only
  static Worker* worker = new Worker();           // never destroyed: it must outlive static teardown
  std::string error;
  worker->Call([&] {
    try {
      int threads = omp_get_max_threads();
      if (g_split && threads > 1 && count >= threads) {
        std::vector<std::string> errors(threads);
#pragma omp parallel num_threads(threads)
        {
          thread_local auto* mine = new std::map<Key, std::unique_ptr<Op>>();  // never destroyed, as `worker`
          int t = omp_get_thread_num();
          omp_set_num_threads(1);  // this task's primitives: planned for one thread (no barriers for others)
          try {
            for (int64_t i = t; i < count; i += threads) Execute(*mine, k, i, buffers);
          } catch (const dnnl::error& err) {
            errors[t] = std::string("oneDNN: ") + err.what();
          }
        }
        for (auto& e : errors)
          if (error.empty()) error = e;
      } else {
        for (int64_t i = 0; i < count; ++i) Execute(ops, k, i, buffers);
      }
    } catch (const dnnl::error& err) {
      error = std::string("oneDNN: ") + err.what();
    }
  });
  return error.empty() ? ffi::Error::Success() : ffi::Error(ffi::ErrorCode::kInternal, error);
}

// A buffer's own `rank` trailing dimensions (the ones a single configuration has), and how many
// configurations its leading ones stack.
struct Dims {
  ffi::Span<const int64_t> all;
  size_t rank;
  int64_t operator[](size_t i) const { return all[all.size() - rank + i]; }
  int64_t count() const {
    int64_t n = 1;
    for (size_t i = 0; i + rank < all.size(); ++i) n *= all[i];
    return n;
  }
  int64_t size() const {
    int64_t n = 1;
    for (size_t i = 0; i < rank; ++i) n *= (*this)[i];
    return n;
  }
};

template <typename B>
Slab S(B& b, size_t rank, int64_t bytes = 4) {
  return {b.untyped_data(), Dims{b.dimensions(), rank}.size() * bytes};
}

// x: NHWC input, w: HWIO weights, y: NHWC output; s: stride h/w; p: padding top/left/bottom/right.
Key ConvKey(Kind kind, Dims x, Dims w, Dims y, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
            int64_t pr) {
  return {kind, x[0], x[3], x[1], x[2], w[3], y[1], y[2], w[0], w[1], sh, sw, pt, pl, pb, pr};
}

ffi::Error ConvFwd(F32 x, F32 w, Out y, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr) {
  Dims dx{x.dimensions(), 4};
  return Run(ConvKey(kConvFwd, dx, {w.dimensions(), 4}, {y->dimensions(), 4}, sh, sw, pt, pl, pb, pr),
             dx.count(), {S(x, 4), S(w, 4), S(*y, 4)});
}

ffi::Error ConvBwdData(F32 dy, F32 w, Out dx, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
                       int64_t pr) {
  Dims ddy{dy.dimensions(), 4};
  return Run(ConvKey(kConvBwdData, {dx->dimensions(), 4}, {w.dimensions(), 4}, ddy, sh, sw, pt, pl, pb, pr),
             ddy.count(), {S(dy, 4), S(w, 4), S(*dx, 4)});
}

ffi::Error ConvBwdWeights(F32 x, F32 dy, Out dw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
                          int64_t pr) {
  Dims dx{x.dimensions(), 4};
  return Run(ConvKey(kConvBwdWeights, dx, {dw->dimensions(), 4}, {dy.dimensions(), 4}, sh, sw, pt, pl, pb, pr),
             dx.count(), {S(x, 4), S(dy, 4), S(*dw, 4)});
}

Key NormKey(Kind kind, Dims x, float eps, bool relu) {
  int32_t bits;
  std::memcpy(&bits, &eps, sizeof bits);
  return {kind, x[0], x[3], x[1], x[2], bits, relu};
}

using Bytes = ffi::Buffer<ffi::U8>;

ffi::Error NormFwd(F32 x, F32 scale, F32 bias, Out y, Out mean, Out var, float eps) {
  Dims dx{x.dimensions(), 4};
  return Run(NormKey(kNormFwd, dx, eps, false), dx.count(),
             {S(x, 4), S(scale, 1), S(bias, 1), S(*y, 4), S(*mean, 1), S(*var, 1)});
}

ffi::Error NormReluFwd(F32 x, F32 scale, F32 bias, Out y, Out mean, Out var, ffi::Result<Bytes> ws, float eps) {
  Dims dx{x.dimensions(), 4};
  return Run(NormKey(kNormFwd, dx, eps, true), dx.count(),
             {S(x, 4), S(scale, 1), S(bias, 1), S(*y, 4), S(*mean, 1), S(*var, 1), S(*ws, 1, 1)});
}

ffi::Error NormBwd(F32 x, F32 dy, F32 scale, F32 bias, F32 mean, F32 var, Out dx, Out dscale, Out dbias,
                   float eps) {
  Dims d{x.dimensions(), 4};
  return Run(NormKey(kNormBwd, d, eps, false), d.count(),
             {S(x, 4), S(dy, 4), S(scale, 1), S(bias, 1), S(mean, 1), S(var, 1), S(*dx, 4), S(*dscale, 1),
              S(*dbias, 1)});
}

ffi::Error NormReluBwd(F32 x, F32 dy, F32 scale, F32 bias, F32 mean, F32 var, Bytes ws, Out dx, Out dscale,
                       Out dbias, float eps) {
  Dims d{x.dimensions(), 4};
  return Run(NormKey(kNormBwd, d, eps, true), d.count(),
             {S(x, 4), S(dy, 4), S(scale, 1), S(bias, 1), S(mean, 1), S(var, 1), S(ws, 1, 1), S(*dx, 4),
              S(*dscale, 1), S(*dbias, 1)});
}

}  // namespace

// Whether stacked configurations may be spread over the threads, one each (`Run`): on by default.
extern "C" void HpoSplit(int on) { g_split = on != 0; }

// Bytes of the ReLU mask a fused BatchNorm+ReLU keeps for its backward (-1: oneDNN error); the
// mask's size does not depend on epsilon.
extern "C" int64_t HpoNormReluWorkspaceBytes(int64_t n, int64_t c, int64_t h, int64_t w) {
  try {
    return static_cast<int64_t>(NormFwdPd(n, c, h, w, 1e-5f, true).workspace_desc().get_size());
  } catch (const dnnl::error&) {
    return -1;
  }
}

// Bindings: the handlers' operands, results and attributes, in order.
#define BIND ffi::Ffi::Bind()
#define CONV(name, fn)                                                                                        \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, fn, BIND.Arg<F32>().Arg<F32>().Ret<F32>().Attr<int64_t>("sh")           \
                                              .Attr<int64_t>("sw").Attr<int64_t>("pt").Attr<int64_t>("pl")    \
                                              .Attr<int64_t>("pb").Attr<int64_t>("pr"));
CONV(HpoConvFwd, ConvFwd)
CONV(HpoConvBwdData, ConvBwdData)
CONV(HpoConvBwdWeights, ConvBwdWeights)
#define STATS .Arg<F32>().Arg<F32>().Arg<F32>()  // three f32 operands
XLA_FFI_DEFINE_HANDLER_SYMBOL(HpoNormFwd, NormFwd, BIND STATS.Ret<F32>().Ret<F32>().Ret<F32>().Attr<float>("eps"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(HpoNormBwd, NormBwd,
                              BIND STATS STATS.Ret<F32>().Ret<F32>().Ret<F32>().Attr<float>("eps"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(HpoNormReluFwd, NormReluFwd,
                              BIND STATS.Ret<F32>().Ret<F32>().Ret<F32>().Ret<Bytes>().Attr<float>("eps"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(HpoNormReluBwd, NormReluBwd,
                              BIND STATS STATS.Arg<Bytes>().Ret<F32>().Ret<F32>().Ret<F32>().Attr<float>("eps"));
