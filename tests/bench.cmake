# qwen3 bench: the CLI on a tiny synthetic model (made by the test itself), its JSON contract and its errors.
qwen3_add_test_binary(bench_tests ${CMAKE_CURRENT_SOURCE_DIR}/bench/*_test.cpp)
