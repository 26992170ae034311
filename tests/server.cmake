# End-to-end tests of `qwen3 serve` with the official `openai` npm client (tests/server/*.test.js, node's built-in
# test runner). `npm ci` installs the pinned client from package-lock.json into tests/server/node_modules first.
find_program(QWEN3_NODE node REQUIRED)
find_program(QWEN3_NPM npm REQUIRED)
add_test(NAME server_npm_ci COMMAND ${QWEN3_NPM} ci --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/server)
set_tests_properties(server_npm_ci PROPERTIES FIXTURES_SETUP server_npm TIMEOUT 600 RESOURCE_LOCK npm)
foreach(t api errors concurrency hostile frontends structured structured_clients webui)
  add_test(NAME server_${t} COMMAND ${QWEN3_NODE} --test ${CMAKE_SOURCE_DIR}/tests/server/${t}.test.js)
  set_tests_properties(server_${t} PROPERTIES FIXTURES_REQUIRED "server_npm;model_data" TIMEOUT 600
    ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>;QWEN3_MODEL=${QWEN3_TESTDATA}/model/models/tiny-bf16;QWEN3_BIG_MODEL=${QWEN3_TESTDATA}/model/models/qwen3-0.6b-bf16")
endforeach()
# Its deadlines (header, keep-alive and drain timeouts, a 300 MB upload refused early) are measured in
# wall-clock time: run alone, not beside another suite's two busy threads on a 2-core CI machine.
set_tests_properties(server_hostile PROPERTIES RUN_SERIAL TRUE)

# The HTTP layer's parsing (GoogleTest; tests/server/*_test.cpp).
qwen3_add_test_binary(server_tests ${CMAKE_CURRENT_SOURCE_DIR}/server/*_test.cpp)
target_link_libraries(server_tests PRIVATE qwen3server)
