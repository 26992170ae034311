// The backward kernels (backward_impl.h) with 8-float lanes.
#include "kernels/backward_impl.h"

namespace qwen3::kernels::avx2 {
const BackwardTable kBackward = backward_table<8>();
}  // namespace qwen3::kernels::avx2
