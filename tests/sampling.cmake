qwen3_add_test_binary(sampling_tests ${CMAKE_CURRENT_SOURCE_DIR}/sampling/*_test.cpp)
