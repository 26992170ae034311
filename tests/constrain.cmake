# The constraint engine (src/constrain): mask exactness against independent oracles and compile errors
# (GoogleTest), JSON Schema keywords against python3-jsonschema, regexes against node's RegExp (both through
# `qwen3 grammar` with the real Qwen3 tokenizer), and a MaskBench sample (tests/data/constrain/maskbench: must
# accept no invalid instance).
qwen3_add_test_binary(constrain_tests ${CMAKE_CURRENT_SOURCE_DIR}/constrain/*_test.cpp)
find_program(QWEN3_NODE_CONSTRAIN node REQUIRED)
add_test(NAME constrain_schema_keywords
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/constrain/schema_cases.py
          --bin $<TARGET_FILE:qwen3> -m ${CMAKE_SOURCE_DIR}/.cache/qwen3-tokenizer)
add_test(NAME constrain_regex_vs_node
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/constrain/regex_cases.py
          --bin $<TARGET_FILE:qwen3> -m ${CMAKE_SOURCE_DIR}/.cache/qwen3-tokenizer --node ${QWEN3_NODE_CONSTRAIN})
file(GLOB QWEN3_MASKBENCH_SAMPLE ${CMAKE_CURRENT_SOURCE_DIR}/data/constrain/maskbench/*.json)
add_test(NAME constrain_maskbench_sample
  COMMAND ${QWEN3_PYTHON} ${CMAKE_SOURCE_DIR}/bench/constrain/maskbench.py --bin $<TARGET_FILE:qwen3>
          -m ${CMAKE_SOURCE_DIR}/.cache/qwen3-tokenizer --fail-on-invalid --min-pass 80 --files ${QWEN3_MASKBENCH_SAMPLE})
set_tests_properties(constrain_schema_keywords constrain_regex_vs_node constrain_maskbench_sample PROPERTIES TIMEOUT 300)
