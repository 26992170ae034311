# The qwen3 command line as a whole: llama.cpp's flag spellings, repeated flags, environment variables, values
# checked before anything is loaded, unknown options (on a tiny synthetic model each test process makes).
qwen3_add_test_binary(cli_tests ${CMAKE_CURRENT_SOURCE_DIR}/cli/*_test.cpp)
