// LoRA deltas over the rows of a step (model/lora_apply.h). Two parallel sections per call: T = X A^T for
// every (group, projection, adapter), split by tokens; then B's tiles, each job adding its tile's columns of
// every adapter of the stack, in stack order, to its group's rows.
#include "model/lora_apply.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/kernels.h"

namespace qwen3 {

namespace {

constexpr int64_t kTokenChunk = 64;  // tokens per job of the A stage (a prompt's rows spread over threads)
constexpr int kMaxIos = 3;

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

void LoraRows::apply(int il, std::span<const LoraIo> ios, ThreadPool* pool) const {
  QWEN3_CHECK(ios.size() <= kMaxIos, "LoraRows::apply: %zu projections, at most %d", ios.size(), kMaxIos);
  // One (group, projection) with the adapters of the group's stack that adapt it, in stack order.
  struct Unit {
    const LoraMatrix* m;
    float scale;   // multiplier * the adapter's own scale
    size_t t_off;  // its T = X A^T [rows, rank] in t_buf
  };
  struct Job {
    const Group* g;
    const LoraIo* io;
    const float* x;  // the group's input rows: io->x itself, or gathered into x_buf
    int64_t ldx;
    std::vector<Unit> units;
    int64_t first_tile = 0;  // of B's tiles, over all jobs (the second stage's index)
  };
  thread_local std::vector<float> x_buf, t_buf;
  std::vector<Job> jobs;
  size_t x_size = 0, t_size = 0;
  for (const Group& g : groups_) {
    const int64_t m = static_cast<int64_t>(g.rows.size());
    for (const LoraIo& io : ios) {
      Job j{&g, &io, io.x, io.ldx, {}, 0};
      for (const auto& [ad, mult] : g.stack->parts)
        if (const LoraMatrix* lm = ad->find(il, io.target)) {
          j.units.push_back({lm, mult * lm->scale, t_size});
          t_size += static_cast<size_t>(m * lm->rank);
        }
      if (j.units.empty()) continue;
      if (!g.all) {
        j.x = nullptr;
        j.ldx = j.units[0].m->a.cols;
        x_size += static_cast<size_t>(m * j.ldx);
      }
      jobs.push_back(std::move(j));
    }
  }
  if (jobs.empty()) return;
  x_buf.resize(x_size);
  t_buf.resize(t_size);
  // Gather the rows of partial groups (the input of several projections may be the same buffer: gathered
  // once per job all the same, a copy of [rows, in] floats).
  size_t x_off = 0;
  for (Job& j : jobs) {
    if (j.x) continue;
    float* dst = x_buf.data() + x_off;
    for (size_t i = 0; i < j.g->rows.size(); ++i)
      std::copy_n(j.io->x + j.g->rows[i] * j.io->ldx, j.ldx, dst + i * j.ldx);
    j.x = dst;
    x_off += j.g->rows.size() * j.ldx;
  }

  const kernels::KernelTable& k = kernels::active();
  // Stage 1: T = X A^T, jobs of (job, unit, token chunk).
  struct AWork {
    const Job* j;
    const Unit* u;
    int64_t t0, t1;
  };
  std::vector<AWork> a_work;
  float* const t_data = t_buf.data();  // (t_buf is this thread's: the workers get the pointer)
  for (const Job& j : jobs) {
    const int64_t m = static_cast<int64_t>(j.g->rows.size());
    for (const Unit& u : j.units)
      for (int64_t t0 = 0; t0 < m; t0 += kTokenChunk)
        a_work.push_back({&j, &u, t0, std::min(m, t0 + kTokenChunk)});
  }
  parallel_for(
      pool, static_cast<int64_t>(a_work.size()),
      [&](int64_t w0, int64_t w1) {
        for (int64_t w = w0; w < w1; ++w) {
          const AWork& aw = a_work[w];
          const LoraMatrix& lm = *aw.u->m;
          kernels::MatmulInput in;
          in.x = aw.j->x + aw.t0 * aw.j->ldx;
          in.ldx = aw.j->ldx;
          in.n_tok = aw.t1 - aw.t0;
          k.matmul_tiles(lm.a, in, 0, lm.a.n_tiles(), t_data + aw.u->t_off + aw.t0 * lm.rank, lm.rank);
        }
      },
      1);

  // Stage 2: per tile of B (16 output columns) of each job, y[rows] += scale * T B^T for each unit in order.
  int64_t n_tiles = 0;
  for (Job& j : jobs) {
    j.first_tile = n_tiles;
    n_tiles += j.units[0].m->b.n_tiles();
  }
  parallel_for(pool, n_tiles, [&](int64_t g0, int64_t g1) {
    thread_local std::vector<float> u_buf;
    for (const Job& j : jobs) {
      const int64_t nt = j.units[0].m->b.n_tiles();
      const int64_t a = std::max(g0, j.first_tile) - j.first_tile,
                    b = std::min(g1, j.first_tile + nt) - j.first_tile;
      if (a >= b) continue;
      const int64_t m = static_cast<int64_t>(j.g->rows.size()), out = j.units[0].m->b.rows;
      u_buf.resize(static_cast<size_t>(m * kTileRows * (b - a)));
      const int64_t width = kTileRows * (b - a);  // columns [a * 16, b * 16) of y, clipped to out
      const int64_t o0 = a * kTileRows, o1 = std::min(out, b * kTileRows);
      for (const Unit& u : j.units) {
        kernels::MatmulInput in;
        in.x = t_data + u.t_off;
        in.ldx = u.m->rank;
        in.n_tok = m;
        // The kernel writes y[t * ldy + o] for the tiles' absolute rows o: shift the buffer by o0.
        k.matmul_tiles(u.m->b, in, a, b, u_buf.data() - o0, width);
        for (int64_t i = 0; i < m; ++i) {
          float* y = j.io->y + static_cast<int64_t>(j.g->all ? i : j.g->rows[i]) * j.io->ldy;
          const float* d = u_buf.data() + i * width - o0;
          for (int64_t o = o0; o < o1; ++o) y[o] += u.scale * d[o];
        }
      }
    }
  });
}

}  // namespace qwen3
