# k-quant GGUF files: qwen3 quantize's llama.cpp mixes read and decoded by an independent NumPy reader
# (tools/reference/kquants.py), the engine's decoding against the NumPy float64 reference on those weights,
# the native kernels on every ISA against it, and an unsupported type refused (tests/quant/test_kquants.py).
add_test(NAME quant_kquants
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/quant/test_kquants.py $<TARGET_FILE:qwen3>
          ${CMAKE_SOURCE_DIR}/tools/reference/qwen3_ref.py ${CMAKE_SOURCE_DIR}/tools/reference/kquants.py
          ${QWEN3_TESTDATA}/quant)
set_tests_properties(quant_kquants PROPERTIES TIMEOUT 900)
# FP8 safetensors checkpoints (Qwen's fine-grained FP8, compressed-tensors): qwen3 quantize --type fp8's bytes
# against an independent NumPy encoder (tools/fp8/fp8_numpy.py), the engine on every ISA against the NumPy
# float64 reference on the checkpoint's own f32 dequantization, and bad input refused (tests/quant/test_fp8.py).
add_test(NAME quant_fp8
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/quant/test_fp8.py $<TARGET_FILE:qwen3>
          ${CMAKE_SOURCE_DIR}/tools/reference/qwen3_ref.py ${CMAKE_SOURCE_DIR}/tools/fp8/fp8_numpy.py
          ${QWEN3_TESTDATA}/fp8)
set_tests_properties(quant_fp8 PROPERTIES TIMEOUT 600)
# GGUF q4_1, q5_0, q5_1 (and a file mixing them): decoded by kquants.py, the engine against the NumPy
# reference on those weights, every ISA's kernels, --dtype at load (tests/quant/test_legacy.py).
add_test(NAME quant_legacy
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/quant/test_legacy.py $<TARGET_FILE:qwen3>
          ${CMAKE_SOURCE_DIR}/tools/reference/qwen3_ref.py ${CMAKE_SOURCE_DIR}/tools/reference/kquants.py
          ${QWEN3_TESTDATA}/quant_legacy)
set_tests_properties(quant_legacy PROPERTIES TIMEOUT 900)
# 4-bit AWQ and GPTQ safetensors checkpoints (converted to q4_1 at load): written and decoded by an independent
# NumPy packer (tools/int4/int4_numpy.py), the engine on every ISA against the NumPy float64 reference on the
# checkpoint's own f32 values, and bad input refused (tests/quant/test_int4.py).
add_test(NAME quant_int4
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/quant/test_int4.py $<TARGET_FILE:qwen3>
          ${CMAKE_SOURCE_DIR}/tools/reference/qwen3_ref.py ${CMAKE_SOURCE_DIR}/tools/int4/int4_numpy.py
          ${QWEN3_TESTDATA}/int4)
set_tests_properties(quant_int4 PROPERTIES TIMEOUT 600)
