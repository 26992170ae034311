# qwen3 perplexity against the NumPy reference (tools/reference/qwen3_ref.py --perplexity, float64) on the tiny
# synthetic model, its KL base file (llama.cpp's format) decoded independently, KL divergence recomputed from
# `qwen3 eval` logits, and bad input.
add_test(NAME perplexity_reference
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/perplexity/test_perplexity.py $<TARGET_FILE:qwen3>
          ${QWEN3_TESTDATA}/model/models/tiny-f32 ${CMAKE_SOURCE_DIR}/tools/reference/qwen3_ref.py
          ${QWEN3_TESTDATA}/perplexity)
set_tests_properties(perplexity_reference PROPERTIES FIXTURES_REQUIRED model_data TIMEOUT 600)
