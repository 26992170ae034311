# Generation loop, stop rules, multi-turn cache reuse, and the chat/generate frontends end to end.
qwen3_add_test_binary(engine_tests ${CMAKE_CURRENT_SOURCE_DIR}/engine/*_test.cpp FIXTURES model_data)
target_link_libraries(engine_tests PRIVATE util)  # forkpty, to drive `qwen3 chat` through a pseudo-terminal
# The server's API layer (request validation, response building: api_*_test.cpp, response_finish_test.cpp)
# includes no HTTP code and is built into these tests.
target_sources(engine_tests PRIVATE ${CMAKE_SOURCE_DIR}/src/server/api.cpp ${CMAKE_SOURCE_DIR}/src/server/frontend.cpp
  ${CMAKE_SOURCE_DIR}/src/server/structured.cpp)
