# qwen3 pull and -m ORG/NAME against a stand-in Hub (tests/hub/fake_hub.py) on 127.0.0.1: the cache layout byte
# for byte, resumed and corrupted downloads, gated and missing repos, offline runs, GGUF quant picking, Ctrl-C.
# Plus unit tests of the file selection, repo ids and digests (no server).
add_test(NAME hub_pull
  COMMAND ${QWEN3_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hub/test_pull.py $<TARGET_FILE:qwen3> ${QWEN3_TESTDATA}/hub)
set_tests_properties(hub_pull PROPERTIES TIMEOUT 300)
qwen3_add_test_binary(hub_tests ${CMAKE_CURRENT_SOURCE_DIR}/hub/*_test.cpp)
target_link_libraries(hub_tests PRIVATE qwen3hub)
