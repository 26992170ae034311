qwen3_add_test_binary(core_tests ${CMAKE_CURRENT_SOURCE_DIR}/core/*_test.cpp)
