// The backward kernels (backward_impl.h) with 4-float lanes: the reference table the others are tested
// against.
#include "kernels/backward_impl.h"

namespace qwen3::kernels::scalar {
const BackwardTable kBackward = backward_table<4>();
}  // namespace qwen3::kernels::scalar
