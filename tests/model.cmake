# Model tests: the engine against the NumPy reference on synthetic models, batching, loading and bad input.
add_test(NAME model_reference_data
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/model/make_reference_data.sh $<TARGET_FILE:qwen3> ${CMAKE_SOURCE_DIR}
          ${QWEN3_TESTDATA}/model)
set_tests_properties(model_reference_data PROPERTIES FIXTURES_SETUP model_data TIMEOUT 1800 RESOURCE_LOCK heavy)
qwen3_add_test_binary(model_tests ${CMAKE_CURRENT_SOURCE_DIR}/model/*_test.cpp FIXTURES model_data LOCK heavy)
# YaRN rope scaling: synthetic models with rope_scaling against the NumPy reference, GGUF keys, bad input.
add_test(NAME model_yarn
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/model/test_yarn.py $<TARGET_FILE:qwen3>
          ${CMAKE_SOURCE_DIR}/tools/reference/qwen3_ref.py ${QWEN3_TESTDATA}/yarn)
set_tests_properties(model_yarn PROPERTIES TIMEOUT 600)
