# Attention kernels and KV-cache row formats: every ISA against the scalar reference and a float64 softmax.
qwen3_add_test_binary(attention_tests ${CMAKE_CURRENT_SOURCE_DIR}/attention/*_test.cpp)
