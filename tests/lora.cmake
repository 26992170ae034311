# LoRA adapters (issue 18): test adapters written by tools/lora/make_adapter.py (PEFT's layout and llama.cpp's
# GGUF, random non-zero A and B) on the synthetic models; `qwen3 eval/perplexity --lora` against the NumPy
# reference with the adapters merged in float64 (tools/reference/qwen3_ref.py --lora), stacking, quantised
# bases, bad adapters; and in C++, mixed-adapter batches against each sequence run alone.
add_test(NAME lora_data
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/lora/make_adapters.sh ${CMAKE_SOURCE_DIR} ${QWEN3_TESTDATA}/model/models
          ${QWEN3_TESTDATA}/lora)
set_tests_properties(lora_data PROPERTIES FIXTURES_SETUP lora_data FIXTURES_REQUIRED model_data TIMEOUT 600)
add_test(NAME lora_reference
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/lora/test_lora.py $<TARGET_FILE:qwen3>
          ${QWEN3_TESTDATA}/model ${QWEN3_TESTDATA}/lora ${CMAKE_SOURCE_DIR})
set_tests_properties(lora_reference PROPERTIES FIXTURES_REQUIRED "model_data;lora_data" TIMEOUT 900)
qwen3_add_test_binary(lora_tests ${CMAKE_CURRENT_SOURCE_DIR}/lora/*_test.cpp FIXTURES model_data lora_data)
# Served: tests/server/lora.test.js (the openai client) on the small model with these adapters.
find_program(QWEN3_NODE node REQUIRED)
add_test(NAME server_lora COMMAND ${QWEN3_NODE} --test ${CMAKE_SOURCE_DIR}/tests/server/lora.test.js)
set_tests_properties(server_lora PROPERTIES FIXTURES_REQUIRED "server_npm;model_data;lora_data" TIMEOUT 600
  ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>;QWEN3_MODEL=${QWEN3_TESTDATA}/model/models/small-f32;QWEN3_LORA=${QWEN3_TESTDATA}/lora")
