// LoRA deltas over the rows of a step (model/lora_apply.h), computed in the base matmul's parallel section:
// one section per matmul, as without adapters. Tokens are grouped by their stack; the rows of a group that
// is not the whole chunk are gathered first. Each thread takes A stages (T = X A^T per group, projection and
// adapter, by token chunks) from a shared queue, then computes its base tiles, then B's tiles for the same
// output rows, each adapter of the row's stack in stack order. (Before, apply() ran two more sections per
// matmul: ~8 per layer, 224 per token of the 0.6B, with a single-tile A stage on one thread while the other
// waited: +12-18 % decode time for a rank-16 adapter whose bytes are +3-6 %.)
#include "model/lora_apply.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "core/error.h"

namespace qwen3 {

namespace {

constexpr int64_t kTokenChunk = 64;  // tokens per A-stage job (a prompt's rows spread over threads)
constexpr int kMaxProj = 3;
constexpr int kSpinsBeforeYield = 1 << 12;  // ~10-40 us of pause instructions

}  // namespace

LoraRows::LoraRows(const LoraStack* const* stacks, int64_t n) : n_(n) {
  for (int64_t t = 0; t < n; ++t) {
    const LoraStack* s = stacks[t];
    if (!s || s->empty()) continue;
    auto it = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) { return g.stack == s; });
    if (it == groups_.end()) {
      groups_.push_back({s, {}, false});
      it = groups_.end() - 1;
    }
    it->rows.push_back(static_cast<int32_t>(t));
  }
  for (Group& g : groups_) g.all = static_cast<int64_t>(g.rows.size()) == n;
}

bool LoraRows::adapts(int il, int target) const {
  for (const Group& g : groups_)
    for (const auto& [ad, mult] : g.stack->parts)
      if (ad->find(il, target)) return true;
  return false;
}

void LoraRows::matmul(int il, std::span<const LoraProj> ps, const float* x, int64_t ldx,
                      const kernels::MatmulInput* prepared, ThreadPool* pool) const {
  const int n_mat = static_cast<int>(ps.size());
  QWEN3_CHECK(n_mat >= 1 && n_mat <= kMaxProj, "LoraRows::matmul: %d projections, 1 to %d", n_mat, kMaxProj);
  bool same_form = true;
  for (int i = 0; i < n_mat; ++i) {
    const Tensor& w = *ps[i].w;
    QWEN3_CHECK(w.tiled, "LoraRows::matmul: weight matrix [%lld, %lld] is not tiled",
                static_cast<long long>(w.rows), static_cast<long long>(w.cols));
    same_form =
        same_form && w.dtype == ps[0].w->dtype && w.cols == ps[0].w->cols && w.bf16_dot == ps[0].w->bf16_dot;
  }
  if (!same_form) {  // a model with mixed dtypes: one matrix at a time, each input prepared for its own
    for (int i = 0; i < n_mat; ++i) matmul(il, ps.subspan(i, 1), x, ldx, nullptr, pool);
    return;
  }
  if (n_ <= 0) return;
  const kernels::MatmulInput in = prepared ? *prepared : kernels::prepare_input(*ps[0].w, x, n_, pool);

  // One (group, projection) with the adapters of the group's stack that adapt it, in stack order.
  struct Unit {
    const LoraMatrix* m;
    float scale;   // multiplier * the adapter's own scale
    size_t t_off;  // its T = X A^T [rows, rank] in t_buf
  };
  struct Job {
    const Group* g;
    int proj;
    const float* x;  // the group's input rows: x itself, or gathered into x_buf
    std::vector<Unit> units;
  };
  struct AWork {
    const Job* j;
    const Unit* u;
    int64_t t0, t1;
  };
  thread_local std::vector<float> x_buf, t_buf;
  std::vector<Job> jobs;
  size_t x_size = 0, t_size = 0;
  for (const Group& g : groups_) {
    const int64_t m = static_cast<int64_t>(g.rows.size());
    bool gathered = false;
    for (int i = 0; i < n_mat; ++i) {
      Job j{&g, i, x, {}};
      for (const auto& [ad, mult] : g.stack->parts)
        if (const LoraMatrix* lm = ad->find(il, ps[i].target)) {
          j.units.push_back({lm, mult * lm->scale, t_size});
          t_size += static_cast<size_t>(m * lm->rank);
        }
      if (j.units.empty()) continue;
      if (!g.all && !gathered) {  // the projections share x: gathered once per group
        x_size += static_cast<size_t>(m * ldx);
        gathered = true;
      }
      jobs.push_back(std::move(j));
    }
  }
  x_buf.resize(x_size);
  t_buf.resize(t_size);
  // Gather the rows of partial groups: [rows, ldx] floats each.
  size_t x_off = 0;
  for (size_t ji = 0; ji < jobs.size(); ++ji) {
    Job& j = jobs[ji];
    if (j.g->all) continue;
    if (ji > 0 && jobs[ji - 1].g == j.g) {
      j.x = jobs[ji - 1].x;
      continue;
    }
    float* dst = x_buf.data() + x_off;
    for (size_t i = 0; i < j.g->rows.size(); ++i) std::copy_n(x + j.g->rows[i] * ldx, ldx, dst + i * ldx);
    j.x = dst;
    x_off += j.g->rows.size() * ldx;
  }
  std::vector<AWork> a_work;
  for (const Job& j : jobs) {
    const int64_t m = static_cast<int64_t>(j.g->rows.size());
    for (const Unit& u : j.units)
      for (int64_t t0 = 0; t0 < m; t0 += kTokenChunk)
        a_work.push_back({&j, &u, t0, std::min(m, t0 + kTokenChunk)});
  }
  const int64_t n_a = static_cast<int64_t>(a_work.size());
  std::atomic<int64_t> a_next{0}, a_done{0};
  float* const t_data = t_buf.data();  // (the buffers are this thread's: the workers get the pointers)

  int64_t first[kMaxProj + 1] = {0};
  for (int i = 0; i < n_mat; ++i) first[i + 1] = first[i] + ps[i].w->n_tiles();
  const kernels::KernelTable& k = kernels::active();
  parallel_for(
      pool, first[n_mat],
      [&](int64_t g0, int64_t g1) {
        // The A stages first, by whichever threads are here: every B tile needs all of them.
        for (int64_t wi; (wi = a_next.fetch_add(1, std::memory_order_relaxed)) < n_a;) {
          const AWork& aw = a_work[wi];
          const LoraMatrix& lm = *aw.u->m;
          kernels::MatmulInput xa;
          xa.x = aw.j->x + aw.t0 * ldx;
          xa.ldx = ldx;
          xa.n_tok = aw.t1 - aw.t0;
          k.matmul_tiles(lm.a, xa, 0, lm.a.n_tiles(), t_data + aw.u->t_off + aw.t0 * lm.rank, lm.rank);
          a_done.fetch_add(1, std::memory_order_release);
        }
        thread_local std::vector<float> u_buf;
        for (int i = 0; i < n_mat; ++i) {
          const int64_t a = std::max(g0, first[i]) - first[i], b = std::min(g1, first[i + 1]) - first[i];
          if (a >= b) continue;
          const int64_t out = ps[i].w->rows;
          k.matmul_tiles(*ps[i].w, in, a, b, ps[i].y, out);
          // Any A stage still running is on a thread that claimed it (microseconds of work); on a busy
          // machine that thread may have lost its core: yield ours after a short spin.
          for (int spins = 0; a_done.load(std::memory_order_acquire) < n_a; ++spins) {
            if (spins < kSpinsBeforeYield)
              spin_pause();
            else
              std::this_thread::yield();
          }
          // Columns [o0, o1) of y: B's tiles [a, b) of each adapter, added in stack order.
          const int64_t width = kTileRows * (b - a), o0 = a * kTileRows, o1 = std::min(out, b * kTileRows);
          for (const Job& j : jobs) {
            if (j.proj != i) continue;
            const int64_t m = static_cast<int64_t>(j.g->rows.size());
            u_buf.resize(static_cast<size_t>(m * width));
            for (const Unit& u : j.units) {
              kernels::MatmulInput tin;
              tin.x = t_data + u.t_off;
              tin.ldx = u.m->rank;
              tin.n_tok = m;
              // The kernel writes y[t * ldy + o] for the tiles' absolute rows o: shift the buffer by o0.
              k.matmul_tiles(u.m->b, tin, a, b, u_buf.data() - o0, width);
              for (int64_t r = 0; r < m; ++r) {
                float* y = ps[i].y + static_cast<int64_t>(j.g->all ? r : j.g->rows[r]) * out;
                const float* d = u_buf.data() + r * width - o0;
                k.add_scaled(y + o0, d + o0, u.scale, o1 - o0);
              }
            }
          }
        }
      },
      kernels::matmul_chunks_per_thread(n_));
}

}  // namespace qwen3
