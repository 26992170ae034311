// Attention over the KV cache, and the cache's row formats.
//
// One call attends a block of queries that share one KV head's history: n_tok tokens of one sequence, each
// with `group` query heads (GQA: the query heads h*group .. h*group+group-1 read KV head h), each token
// seeing cached positions 0..pos[t]. The keys and values of each tile of kAttnTile positions are widened to
// f32 once per call and read by every query of the block (a block of one run of queries, a decode step's,
// may read f16 rows in place instead: the same values; bf16 tiles are read as stored); each query keeps an
// online softmax (running max, running sum, f32 accumulator), so memory is O(tile), never O(n^2): the same
// code is decode attention (n_tok = 1) and tiled flash-style prompt attention (n_tok up to a block of
// tokens).
//
// Batch invariance: a query's arithmetic depends only on its own q, its position and the cache: tiles always
// start at multiples of kAttnTile, and within a tile every query runs the same sequence of operations whether
// it is alone or with others. So decoding one token, a batch of 16, or a whole prompt in one chunk gives the
// same bits (tests/attention/attention_test.cpp, tests/model/batch_test.cpp). Different ISAs agree within
// dtype-derived tolerances, not bit for bit.
//
// q8_0 caches take an integer path (attend_q8 in attention_impl.h), as GGUF's q8_0 x q8_0 dot products do:
// each query is rounded to q8_0 once (kv_store_row), q.k is an exact int32 sum per block of 32 times the two
// block scales, and p.v is an exact int32 sum over a tile of p rounded to int16 (p * v_scale, against the
// tile's largest v_scale up to the query's position: relative step 2^-15) times the int8 values. Integer sums
// have no rounding order, so register blocking never changes a bit; the extra rounding (q to q8_0, p to
// int16) is below the cache's own (tests/attention/attention_test.cpp bounds it).
//
// bf16 caches take a bf16 path (attend_bf16 in attention_impl.h), as transformers computes attention for the
// bf16 checkpoint: each query is rounded to bf16 once (nearest even, |x| < 2^-126 to zero, as the bf16
// matmuls), s[j] = scale * S with S the chain over element pairs p = 0, 1, ... of S = fma(k[2p+1], q[2p+1],
// S); S = fma(k[2p], q[2p], S) (bf16 x bf16 products are exact in f32: what vdpbf16ps computes), the softmax
// in f32, p rounded to bf16, and per position pair m: acc = fma(v[2m+1], p[2m+1], acc); acc = fma(v[2m],
// p[2m], acc) (an odd count's last pair with p = v = 0). Twice the multiply-adds per instruction of f32, and
// nothing to widen: the cache is read as stored.
//
// Row formats (one row = head_dim values of one position): f32, f16 (IEEE), bf16 (a row of odd head_dim
// padded with one zero), q8_0 (GGUF blocks of 32 int8 with an f16 scale; head_dim must be a multiple of 32).
// Rows are written by kv_store_row, which gives the same bytes on every ISA (f16 through F16C where the CPU
// has it, bf16 through the ISA's round_bf16, both tested against the scalar rule).
//
// History layout of one KV head, in tiles of kAttnTile positions: the tile of positions 32t..32t+31 fills the
// bytes [32t, 32t + 32) * row_bytes its rows would. Keys of f32 and f16 are transposed within the tile:
// element i of position j at element i * 32 + j % 32 (one key per lane: q.k is a broadcast and a multiply-add
// per element, no horizontal sums, for a prompt's block and a decode step alike); bf16 keys likewise by
// element pairs: element i of position j at element (i / 2 * 32 + j % 32) * 2 + i % 2. Values are rows, but
// bf16 values are interleaved by position pairs: element i of position j at element (j % 32 / 2 * dp + i) * 2
// + j % 2 (dp: head_dim rounded up to even), so one 32-bit lane holds a dimension of two positions. q8_0 keys
// and values are rows. A history is sized in whole tiles (kv_history_rows); kv_store_key / kv_load_key and
// kv_store_value / kv_load_value place and read one position's key and value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {

constexpr int kAttnTile = 32;  // positions per K/V tile

// Bytes of one cache row of head_dim values; throws when the dtype cannot hold such a row.
size_t kv_row_bytes(DType t, int head_dim);
// Converts one row of head_dim f32 values to the cache format (q8_0: GGUF's reference rounding).
void kv_store_row(DType t, const float* src, int head_dim, void* dst);
// Widens one cache row to f32 (scalar; for tests and tools).
void kv_load_row(DType t, const void* src, int head_dim, float* dst);
// Whether keys of this format are stored transposed within tiles (the float formats; see above).
inline bool kv_keys_in_tiles(DType t) {
  return t != DType::kQ8_0;
}
// Rows (positions) a history of n positions occupies: n rounded up to whole tiles.
inline int64_t kv_history_rows(int64_t n) {
  return (n + kAttnTile - 1) / kAttnTile * kAttnTile;
}
// The key of position pos into / out of the key history `keys` of one KV head (layout above); the same bytes
// as kv_store_row gives the row.
void kv_store_key(DType t, const float* src, int head_dim, void* keys, int pos);
void kv_load_key(DType t, const void* keys, int head_dim, int pos, float* dst);
// The value of position pos into / out of the value history `values` of one KV head.
void kv_store_value(DType t, const float* src, int head_dim, void* values, int pos);
void kv_load_value(DType t, const void* values, int head_dim, int pos, float* dst);

struct AttentionArgs {
  DType kv_type = DType::kF32;
  int head_dim = 0;
  float scale = 1.0f;            // softmax scaling, head_dim^-0.5 for Qwen3
  const void* keys = nullptr;    // history of this KV head and sequence (layout above, whole tiles);
                                 // aligned to 4 bytes (f32) or 2 (others), vector alignment not needed
  const void* values = nullptr;  // [positions][row], the same alignment
  int n_tok = 0;                 // tokens in the block
  int group = 1;                 // query heads per KV head
  const float* q = nullptr;      // q[t * ldq + g * head_dim + i]
  int64_t ldq = 0;               //
  const uint16_t* qb = nullptr;  // bf16 caches (optional): the queries already rounded to bf16 by
  int64_t ldqb = 0;              // round_bf16's rule, qb[t * ldqb + g * head_dim + i] (even head_dim), read
                                 // instead of q
  const int32_t* pos = nullptr;  // [n_tok] last position each token attends to (inclusive)
  float* out = nullptr;          // out[t * ldo + g * head_dim + i]
  int64_t ldo = 0;               //
  float* scratch = nullptr;      // attention_scratch_floats(n_tok, group, head_dim) floats, 64-B aligned
  // Optional, instead of out: each output row as the int8 input of a matmul with weights of dtype
  // oq_weight (o_proj; kernels.h quantize_input_row, head_dim a multiple of 32): the values at
  // oq[t * ldo + g * head_dim + i], block scales and corrections at od / oc[(t * ldo + g * head_dim) / 32 +
  // b].
  int8_t* oq = nullptr;
  float* od = nullptr;
  int32_t* oc = nullptr;
  DType oq_weight = DType::kQ8_0;
};

size_t attention_scratch_floats(int n_tok, int group, int head_dim);

// Helpers of the q8_0 path, shared by every ISA (one translation unit, so the rounding never depends on it).
// A query row of d floats -> d int8 (q8_0 rounding, as kv_store_row), the f32 value of each block's f16
// scale and each block's sum of int8 values.
void kv_quantize_query(const float* q, int d, int8_t* qi, float* qs, int32_t* qsum);
// One q8_0 cache row -> its d int8 values and its block scales as f32 (scales[b * scale_stride]).
void kv_q8_split_row(const void* row, int d, int8_t* qi, float* scales, int scale_stride);
// Offsets in floats (each 64-B aligned relative to the scratch) of the q8_0 path's scratch regions.
struct Q8Layout {
  size_t qi, qs, qsum;  // queries: [nq, d] int8, [nq, nb] scales, [nq, nb] int32 block sums
  size_t kt, ks;        // K tile: kAttnTile * d int8 (ISA layout), scales [nb][kAttnTile]
  size_t vt, vs;        // V tile: kAttnTile * d int16 (ISA layout), scales [nb][kAttnTile]
  size_t pm, pw;  // per prefix of the tile: S / 32767 and 32767 / S, S = the largest V scale [nb][kAttnTile]
  size_t s, p16;  // scores [2][kAttnTile], p as int16 [2][nb][kAttnTile]
  size_t acc, run_max, run_sum, total;
};
Q8Layout q8_layout(int nq, int d);

// Offsets in floats (each 64-B aligned relative to the scratch) of the bf16 path's scratch regions.
struct Bf16Layout {
  size_t qb;              // queries rounded to bf16: [nq][head_dim rounded up to even] uint16
  size_t pb;              // p rounded to bf16 [8][kAttnTile] uint16
  size_t acc, run_max;    // [nq][d], [nq]
  size_t run_sum, total;  // [nq][16] (the ISA's form of a running sum, attention_impl.h)
};
Bf16Layout bf16_layout(int nq, int d);

struct AttentionTable {
  void (*attend)(const AttentionArgs& a);
  // One position's key / value into a bf16 cache's tile (the tile of its 32 positions; layouts above): the
  // key at lane jt, the value in position pair jt / 2, half jt % 2. kv_store_row's bf16 bytes, placed; the
  // scalar forms (attention_scalar.cpp) are the rule, and every ISA writes the same bytes.
  void (*store_key_bf16)(const float* src, int head_dim, uint8_t* tile, int jt);
  void (*store_value_bf16)(const float* src, int head_dim, uint8_t* tile, int jt);
};

const AttentionTable& attention_table_for(Isa isa);  // throws when the CPU lacks it
const AttentionTable& attention_active();

namespace scalar {
extern const AttentionTable kAttentionTable;
void store_key_bf16(const float* src, int head_dim, uint8_t* tile, int jt);
void store_value_bf16(const float* src, int head_dim, uint8_t* tile, int jt);
}  // namespace scalar
namespace avx2 {
extern const AttentionTable kAttentionTable;
}
namespace avx512 {
extern const AttentionTable kAttentionTable;
}

}  // namespace qwen3::kernels
