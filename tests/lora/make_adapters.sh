#!/usr/bin/env bash
# CTest fixture: the LoRA adapters the lora tests load, made by tools/lora/make_adapter.py for the synthetic
# models of tests/model/make_reference_data.sh. Usage: make_adapters.sh SOURCE_DIR MODELS_DIR OUT_DIR
set -euo pipefail
src=$1 models=$2 out=$3
py=/usr/bin/python3
mk="$py $src/tools/lora/make_adapter.py"
rm -rf "$out"
mkdir -p "$out"
small=$models/small-f32 tiny=$models/tiny-f32
# all-linear, rank 8, f32; the same matrices as a llama.cpp GGUF adapter
$mk "$small" "$out/small-all" --rank 8 --alpha 16 --seed 1
$mk "$small" "$out/small-all.gguf" --rank 8 --alpha 16 --seed 1 --gguf
# the same matrices rounded to bf16 by the script (what --lora-dtype bf16 must keep of small-all)
$mk "$small" "$out/small-all-bf16" --rank 8 --alpha 16 --seed 1 --dtype bf16
# q/v only, rsLoRA, rank_pattern and alpha_pattern, bf16 tensors
$mk "$small" "$out/small-qv" --rank 8 --alpha 16 --targets q_proj,v_proj --rslora \
  --rank-pattern '{"v_proj": 4}' --alpha-pattern '{"q_proj": 32}' --dtype bf16 --seed 2
# a regex target and layers_to_transform, f16 tensors (stacked on the first in the tests)
$mk "$small" "$out/small-od" --rank 16 --alpha 8 --targets '.*\.(o_proj|down_proj)' --layers 0,2,4 \
  --dtype f16 --seed 3
# a fourth for the mixed batches
$mk "$small" "$out/small-mlp" --rank 4 --alpha 4 --targets gate_proj,up_proj --seed 4
# for the tiny model (and, used on the small one, an adapter for another shape)
$mk "$tiny" "$out/tiny-all" --rank 8 --alpha 16 --seed 5
# modules_to_save: embed_tokens and lm_head replaced whole (bf16, beside a small q_proj adapter); on the tied
# tiny model, embed_tokens alone
$mk "$small" "$out/small-save" --rank 4 --alpha 8 --targets q_proj --modules-to-save embed_tokens,lm_head \
  --dtype bf16 --seed 6
$mk "$tiny" "$out/tiny-save-embed" --rank 4 --alpha 8 --targets v_proj --modules-to-save embed_tokens --seed 7
# broken ones, each refused with one line
$mk "$small" "$out/bad-dora" --config-extra '{"use_dora": true}'
$mk "$small" "$out/bad-missing" --drop base_model.model.model.layers.3.mlp.up_proj.lora_B.weight
$mk "$small" "$out/bad-module" --extra-tensor base_model.model.lm_head.lora_A.weight:8:128
$mk "$small" "$out/bad-target" --targets q_proj --config-extra '{"target_modules": ["q_proj", "c_attn"]}'
$mk "$small" "$out/bad-bias" --config-extra '{"bias": "all"}'
$mk "$small" "$out/bad-save" --config-extra '{"modules_to_save": ["score"]}'
$mk "$small" "$out/bad-save-missing" --config-extra '{"modules_to_save": ["lm_head"]}'
$mk "$small" "$out/bad-rank" --config-extra '{"r": 4}'
$mk "$small" "$out/bad-peft" --config-extra '{"peft_type": "IA3"}'
$mk "$small" "$out/bad-unselected" --config-extra '{"target_modules": ["q_proj"]}'
echo "adapters in $out"
