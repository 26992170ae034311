// The backward kernels (backward_impl.h) with 16-float lanes.
#include "kernels/backward_impl.h"

namespace qwen3::kernels::avx512 {
const BackwardTable kBackward = backward_table<16>();
}  // namespace qwen3::kernels::avx512
