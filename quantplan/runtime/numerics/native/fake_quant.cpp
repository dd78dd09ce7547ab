// Fixed-qparams fake quantization of a float32 CPU tensor in one pass.
//
// Gives the same bits as the four ATen passes of FixedFakeQuant (numerics/fixed.py):
//
//   q = clamp(x / s, low, high)   true IEEE division, never a multiplication by 1/s
//   q = rne(q)                    (q + 1.5 * 2^23) - 1.5 * 2^23
//   y = 0.0f + q * s              "0.0f +" turns -0.0 into +0.0
//
// The rounding trick is exact for |q| < 2^22 under the default round-to-nearest mode, and
// the caller keeps low and high inside that range. It must be built without -ffast-math,
// which would turn the division into a reciprocal multiplication and fold the rounding.
// NaN stays NaN: both comparisons of the clamp are false for it.

#include <ATen/TensorIterator.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <cstdint>

namespace {

constexpr float kRoundToInteger = 12582912.0f;  // 1.5 * 2^23
constexpr int64_t kGrainSize = 32768;           // elements per thread, as ATen's elementwise ops

inline float fake_quantize_one(float x, float scale, float low, float high) {
  float q = x / scale;
  q = q < low ? low : (q > high ? high : q);
  q = (q + kRoundToInteger) - kRoundToInteger;
  return 0.0f + q * scale;
}

at::Tensor fixed_fake_quant(const at::Tensor& x, double scale, double low, double high) {
  TORCH_CHECK(x.scalar_type() == at::kFloat, "fixed_fake_quant: expected float32, got ", x.scalar_type());
  TORCH_CHECK(x.device().is_cpu(), "fixed_fake_quant: expected a CPU tensor, got ", x.device());
  TORCH_CHECK(low <= 0.0 && 0.0 <= high && high - low < 4194304.0,
              "fixed_fake_quant: clamp bounds [", low, ", ", high, "] must contain 0 and span under 2^22");
  at::Tensor output = at::empty_like(x);
  at::TensorIterator iter =
      at::TensorIteratorConfig().add_output(output).add_const_input(x).build();
  const float s = static_cast<float>(scale);
  const float lo = static_cast<float>(low);
  const float hi = static_cast<float>(high);
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t count) {
        if (strides[0] == sizeof(float) && strides[1] == sizeof(float)) {
          // Contiguous runs: a plain loop that the compiler vectorizes.
          float* out = reinterpret_cast<float*>(data[0]);
          const float* in = reinterpret_cast<const float*>(data[1]);
          for (int64_t i = 0; i < count; ++i) {
            out[i] = fake_quantize_one(in[i], s, lo, hi);
          }
          return;
        }
        for (int64_t i = 0; i < count; ++i) {
          const float value = *reinterpret_cast<const float*>(data[1] + i * strides[1]);
          *reinterpret_cast<float*>(data[0] + i * strides[0]) = fake_quantize_one(value, s, lo, hi);
        }
      },
      kGrainSize);
  return output;
}

}  // namespace

TORCH_LIBRARY(quantplan, m) {
  m.def("fixed_fake_quant(Tensor x, float scale, float low, float high) -> Tensor");
}

TORCH_LIBRARY_IMPL(quantplan, CPU, m) {
  m.impl("fixed_fake_quant", &fixed_fake_quant);
}
