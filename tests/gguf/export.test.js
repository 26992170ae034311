// `qwen3 quantize -o X.gguf` read back by an independent GGUF parser (@huggingface/gguf, pinned in
// package-lock.json): architecture, hyper-parameters and their GGUF value types (llama.cpp checks them),
// tensor names, shapes, types and offsets, the tokenizer entries, and the tensor bytes themselves against the
// safetensors the model came from. QWEN3_BIN and QWEN3_SCRATCH come from CTest (tests/gguf.cmake).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gguf, GGUFValueType } from '@huggingface/gguf';

const BIN = process.env.QWEN3_BIN;
const SCRATCH = process.env.QWEN3_SCRATCH;
if (!BIN || !SCRATCH) throw new Error('set QWEN3_BIN and QWEN3_SCRATCH');

const GGML = { f32: 0, f16: 1, q4_0: 2, q4_1: 3, q5_0: 6, q5_1: 7, q8_0: 8, bf16: 30 };
const FILE_TYPE = { f32: 0, f16: 1, q4_0: 2, q4_1: 3, q5_0: 8, q5_1: 9, q8_0: 7, bf16: 32 };
const BYTES_PER_ROW = { f32: (n) => 4 * n, f16: (n) => 2 * n, bf16: (n) => 2 * n, q8_0: (n) => (n / 32) * 34, q4_0: (n) => (n / 32) * 18,
  q4_1: (n) => (n / 32) * 20, q5_0: (n) => (n / 32) * 22, q5_1: (n) => (n / 32) * 24 };

function qwen3(...args) {
  return execFileSync(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

fs.rmSync(SCRATCH, { recursive: true, force: true });
fs.mkdirSync(SCRATCH, { recursive: true });
// tiny: tied embeddings; small: an untied head and head_dim != hidden_size / num_attention_heads.
const models = {};
for (const preset of ['tiny', 'small']) {
  const dir = path.join(SCRATCH, preset);
  qwen3('synth', '--preset', preset, '--dtype', 'f32', '--seed', '3', '--out', dir);
  models[preset] = dir;
}

async function parse(file) {
  return gguf(file, { allowLocalFile: true, typedMetadata: true });
}

// name -> {dtype, shape, data} of a safetensors file (header: u64 length, JSON).
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    out[name] = { ...t, data: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) };
  }
  return out;
}

function expectedTensors(config, type) {
  const h = config.hidden_size, d = config.head_dim, ff = config.intermediate_size;
  const q = config.num_attention_heads * d, kv = config.num_key_value_heads * d;
  const t = { 'token_embd.weight': [h, config.vocab_size], 'output_norm.weight': [h] };
  if (!config.tie_word_embeddings) t['output.weight'] = [h, config.vocab_size];
  for (let il = 0; il < config.num_hidden_layers; ++il) {
    const b = `blk.${il}.`;
    Object.assign(t, {
      [b + 'attn_norm.weight']: [h], [b + 'attn_q.weight']: [h, q], [b + 'attn_k.weight']: [h, kv],
      [b + 'attn_v.weight']: [h, kv], [b + 'attn_output.weight']: [q, h], [b + 'attn_q_norm.weight']: [d],
      [b + 'attn_k_norm.weight']: [d], [b + 'ffn_norm.weight']: [h], [b + 'ffn_gate.weight']: [h, ff],
      [b + 'ffn_up.weight']: [h, ff], [b + 'ffn_down.weight']: [ff, h],
    });
  }
  const types = {};
  for (const [name, shape] of Object.entries(t)) types[name] = shape.length === 1 ? GGML.f32 : GGML[type];
  return { shapes: t, types };
}

function expectKey(md, key, type, value) {
  assert.ok(md[key], `missing ${key}`);
  assert.equal(md[key].type, type, `${key}: value type`);
  if (value !== undefined) assert.deepEqual(md[key].value, value, key);
}

for (const preset of ['tiny', 'small']) {
  for (const type of ['bf16', 'f16', 'f32', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1']) {
    test(`${preset} ${type}: metadata, tensors and layout`, async () => {
      const dir = models[preset];
      const file = path.join(SCRATCH, `${preset}-${type}.gguf`);
      qwen3('quantize', '-m', dir, '-o', file, '--type', type);
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const r = await parse(file);
      const md = r.typedMetadata;
      const U32 = GGUFValueType.UINT32, F32 = GGUFValueType.FLOAT32, STR = GGUFValueType.STRING;
      expectKey(md, 'version', U32, 3);
      expectKey(md, 'general.architecture', STR, 'qwen3');
      expectKey(md, 'general.alignment', U32, 32);
      expectKey(md, 'general.file_type', U32, FILE_TYPE[type]);
      expectKey(md, 'qwen3.block_count', U32, config.num_hidden_layers);
      expectKey(md, 'qwen3.context_length', U32, config.max_position_embeddings);
      expectKey(md, 'qwen3.embedding_length', U32, config.hidden_size);
      expectKey(md, 'qwen3.feed_forward_length', U32, config.intermediate_size);
      expectKey(md, 'qwen3.attention.head_count', U32, config.num_attention_heads);
      expectKey(md, 'qwen3.attention.head_count_kv', U32, config.num_key_value_heads);
      expectKey(md, 'qwen3.attention.key_length', U32, config.head_dim);
      expectKey(md, 'qwen3.attention.value_length', U32, config.head_dim);
      expectKey(md, 'qwen3.rope.dimension_count', U32, config.head_dim);
      expectKey(md, 'qwen3.rope.freq_base', F32, config.rope_theta);
      expectKey(md, 'qwen3.attention.layer_norm_rms_epsilon', F32);
      assert.equal(Math.fround(md['qwen3.attention.layer_norm_rms_epsilon'].value), Math.fround(config.rms_norm_eps));

      const { shapes, types } = expectedTensors(config, type);
      assert.deepEqual(r.tensorInfos.map((t) => t.name).sort(), Object.keys(shapes).sort());
      const size = fs.statSync(file).size;
      assert.equal(Number(r.tensorDataOffset) % 32, 0);
      for (const t of r.tensorInfos) {
        assert.deepEqual(t.shape.map(Number), shapes[t.name], `${t.name}: shape`);
        assert.equal(t.dtype, types[t.name], `${t.name}: type`);
        assert.equal(Number(t.offset) % 32, 0, `${t.name}: offset aligned`);
        const rows = t.shape.slice(1).reduce((a, b) => a * Number(b), 1);
        const typeName = Object.keys(GGML).find((k) => GGML[k] === t.dtype);
        const bytes = BYTES_PER_ROW[typeName](Number(t.shape[0])) * rows;
        assert.ok(Number(r.tensorDataOffset) + Number(t.offset) + bytes <= size, `${t.name}: inside the file`);
      }
    });
  }
}

test('tokenizer entries as llama.cpp\'s converter writes them for Qwen3', async () => {
  const r = await parse(path.join(SCRATCH, 'tiny-q8_0.gguf'));
  const md = r.typedMetadata;
  const tok = JSON.parse(fs.readFileSync(path.join(models.tiny, 'tokenizer.json'), 'utf8'));
  const tc = JSON.parse(fs.readFileSync(path.join(models.tiny, 'tokenizer_config.json'), 'utf8'));
  expectKey(md, 'tokenizer.ggml.model', GGUFValueType.STRING, 'gpt2');
  expectKey(md, 'tokenizer.ggml.pre', GGUFValueType.STRING, 'qwen2');
  expectKey(md, 'tokenizer.ggml.bos_token_id', GGUFValueType.UINT32, 151643);
  expectKey(md, 'tokenizer.ggml.eos_token_id', GGUFValueType.UINT32, 151645);
  expectKey(md, 'tokenizer.ggml.padding_token_id', GGUFValueType.UINT32, 151643);
  expectKey(md, 'tokenizer.ggml.add_bos_token', GGUFValueType.BOOL, false);
  expectKey(md, 'tokenizer.chat_template', GGUFValueType.STRING, tc.chat_template);
  const tokens = md['tokenizer.ggml.tokens'], types = md['tokenizer.ggml.token_type'];
  assert.equal(tokens.type, GGUFValueType.ARRAY);
  assert.equal(tokens.subType, GGUFValueType.STRING);
  assert.equal(types.subType, GGUFValueType.INT32);
  assert.equal(tokens.value.length, 151936);  // the embedding's rows, padding included
  assert.equal(types.value.length, 151936);
  for (const [t, id] of Object.entries(tok.model.vocab)) {
    assert.equal(tokens.value[id], t);
    assert.equal(types.value[id], 1);
  }
  for (const a of tok.added_tokens) {
    assert.equal(tokens.value[a.id], a.content);
    const control = a.special || (a.content.startsWith('<|') && a.content.endsWith('|>'));
    assert.equal(types.value[a.id], control ? 3 : 4, a.content);
  }
  assert.equal(types.value[151667], 4);  // <think>: user-defined, as llama.cpp's converter makes it
  assert.equal(types.value[151659], 3);  // <|fim_prefix|>: not flagged special, but looks it
  for (let id = 151669; id < 151936; ++id) {
    assert.equal(tokens.value[id], `[PAD${id}]`);
    assert.equal(types.value[id], 5);
  }
  const merges = md['tokenizer.ggml.merges'];
  assert.equal(merges.subType, GGUFValueType.STRING);
  assert.deepEqual(merges.value, tok.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)));
});

test('tensor bytes: f32 as stored, q8_0 and q4_0 as the directory quantiser writes them', async () => {
  const dir = models.small;
  const st = readSafetensors(path.join(dir, 'model.safetensors'));
  const hfName = (g) => {
    if (g === 'token_embd.weight') return 'model.embed_tokens.weight';
    if (g === 'output_norm.weight') return 'model.norm.weight';
    if (g === 'output.weight') return 'lm_head.weight';
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(g);
    const map = {
      attn_norm: 'input_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj',
      attn_output: 'self_attn.o_proj', attn_q_norm: 'self_attn.q_norm', attn_k_norm: 'self_attn.k_norm',
      ffn_norm: 'post_attention_layernorm', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
    };
    return `model.layers.${m[1]}.${map[m[2]]}.weight`;
  };
  const check = async (file, source) => {
    const r = await parse(file);
    const buf = fs.readFileSync(file);
    for (const t of r.tensorInfos) {
      const want = source[hfName(t.name)];
      assert.ok(want, `${t.name}: no source tensor`);
      const begin = Number(r.tensorDataOffset) + Number(t.offset);
      const got = buf.subarray(begin, begin + want.data.length);
      assert.ok(got.equals(want.data), `${path.basename(file)} ${t.name}: bytes differ`);
    }
  };
  await check(path.join(SCRATCH, 'small-f32.gguf'), st);
  for (const type of ['q8_0', 'q4_0']) {
    const qdir = path.join(SCRATCH, `small-${type}-dir`);
    qwen3('quantize', '-m', dir, '-o', qdir, '--type', type);
    const q = readSafetensors(path.join(qdir, 'model.safetensors'));
    await check(path.join(SCRATCH, `small-${type}.gguf`), q);
    // A quantised directory exports to the same file bytes as the model it came from.
    const again = path.join(SCRATCH, `small-${type}-from-dir.gguf`);
    qwen3('quantize', '-m', qdir, '-o', again, '--type', type);
    await check(again, q);
  }
});

// The k-quant mixes on tiny-k (2 layers, 4 query and 2 key/value heads, every matrix whole 256-value blocks):
// the per-tensor types llama.cpp's llama_tensor_get_type gives this shape, as the parser reads them, and each
// tensor's bytes as ggml's block sizes make them (84 bytes per 256 values for q2_K, 110 for q3_K, ...), the
// tensors one after another in the file.
test('tiny-k k-quant mixes: per-tensor types and block sizes', async () => {
  const dir = path.join(SCRATCH, 'tiny-k');
  qwen3('synth', '--preset', 'tiny-k', '--dtype', 'f32', '--seed', '3', '--out', dir);
  const K = {q2_K: 10, q3_K: 11, q4_K: 12, q5_K: 13, q6_K: 14};
  const BLOCK = {10: 84, 11: 110, 12: 144, 13: 176, 14: 210};
  // [file_type, base type, attn_v, attn_output, ffn_down] (token_embd is tied: q6_K in every k mix)
  const MIXES = {
    q2_k: [10, 'q2_K', 'q3_K', 'q3_K', 'q3_K'],
    q3_k_s: [11, 'q3_K', 'q3_K', 'q3_K', 'q3_K'],
    q3_k_m: [12, 'q3_K', 'q5_K', 'q4_K', 'q4_K'],
    q3_k_l: [13, 'q3_K', 'q5_K', 'q5_K', 'q5_K'],
  };
  for (const [mix, [fileType, base, attnV, attnOut, ffnDown]] of Object.entries(MIXES)) {
    const file = path.join(SCRATCH, `tiny-k-${mix}.gguf`);
    qwen3('quantize', '-m', dir, '-o', file, '--type', mix);
    const r = await parse(file);
    expectKey(r.typedMetadata, 'general.file_type', GGUFValueType.UINT32, fileType);
    const infos = [...r.tensorInfos].sort((a, b) => Number(a.offset) - Number(b.offset));
    let end = 0;
    for (const t of infos) {
      const want = t.shape.length === 1    ? 0 :
          t.name === 'token_embd.weight'   ? K.q6_K :
          t.name.includes('.attn_v.')      ? K[attnV] :
          t.name.includes('.attn_output.') ? K[attnOut] :
          t.name.includes('.ffn_down.')    ? K[ffnDown] :
                                             K[base];
      assert.equal(t.dtype, want, `${mix} ${t.name}: type`);
      const cols = Number(t.shape[0]), rows = t.shape.slice(1).reduce((a, b) => a * Number(b), 1);
      const bytes = t.dtype === 0 ? 4 * cols * rows : (cols / 256) * BLOCK[t.dtype] * rows;
      const off = Number(t.offset);
      assert.ok(
          off >= end && off - end < 32, `${mix} ${t.name}: at ${off}, the previous tensor ends at ${end}`);
      end = off + bytes;
    }
    assert.ok(Number(r.tensorDataOffset) + end <= fs.statSync(file).size, `${mix}: tensors inside the file`);
  }
});
