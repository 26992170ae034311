# The client compatibility suite (issue 25): qwen3 serve driven through the client libraries its users use,
# pinned in tests/clients/package-lock.json (openai, ai + @ai-sdk/openai + @ai-sdk/openai-compatible,
# @langchain/openai, @llamaindex/openai, @instructor-ai/instructor, ollama, @anthropic-ai/sdk). docs/SERVER.md
# lists what each row covers and what is unsupported.
find_program(QWEN3_NODE node REQUIRED)
find_program(QWEN3_NPM npm REQUIRED)
add_test(NAME clients_npm_ci COMMAND ${QWEN3_NPM} ci --ignore-scripts --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/clients)
set_tests_properties(clients_npm_ci PROPERTIES FIXTURES_SETUP clients_npm TIMEOUT 600 RESOURCE_LOCK npm)
foreach(t openai ai-sdk langchain llamaindex instructor ollama anthropic)
  add_test(NAME clients_${t} COMMAND ${QWEN3_NODE} --test ${CMAKE_SOURCE_DIR}/tests/clients/${t}.test.js)
  set_tests_properties(clients_${t} PROPERTIES FIXTURES_REQUIRED "clients_npm;model_data" TIMEOUT 300
    ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>;QWEN3_MODEL=${QWEN3_TESTDATA}/model/models/tiny-bf16")
endforeach()
