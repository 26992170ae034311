# GGUF tests: the files `qwen3 quantize -o X.gguf` writes, read by an independent parser (@huggingface/gguf, a
# pinned npm package: tests/gguf/*.test.js with node's test runner), and the command's errors (gguf_tests).
find_program(QWEN3_NODE node REQUIRED)
find_program(QWEN3_NPM npm REQUIRED)
add_test(NAME gguf_npm_ci COMMAND ${QWEN3_NPM} ci --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/gguf)
set_tests_properties(gguf_npm_ci PROPERTIES FIXTURES_SETUP gguf_npm TIMEOUT 600 RESOURCE_LOCK npm)
add_test(NAME gguf_export COMMAND ${QWEN3_NODE} --test ${CMAKE_SOURCE_DIR}/tests/gguf/export.test.js)
set_tests_properties(gguf_export PROPERTIES FIXTURES_REQUIRED gguf_npm TIMEOUT 600
  ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>;QWEN3_SCRATCH=${QWEN3_TESTDATA}/gguf_export")
qwen3_add_test_binary(gguf_tests ${CMAKE_CURRENT_SOURCE_DIR}/gguf/*_test.cpp)
