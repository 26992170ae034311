# Kernel tests: every matmul kernel x ISA x dtype against the scalar reference, batch invariance, quantisation,
# and whole-model agreement across ISAs and quantised files (tiny synthetic models made by the tests).
qwen3_add_test_binary(kernels_tests ${CMAKE_CURRENT_SOURCE_DIR}/kernels/*_test.cpp)
