# Chat tests: the Jinja-subset interpreter against goldens rendered by Python jinja2 set up as transformers does
# (tests/data/chat/, made by tools/chat/make_goldens.py), the injection mask, the output parser, `qwen3 template`.
qwen3_add_test_binary(chat_tests ${CMAKE_CURRENT_SOURCE_DIR}/chat/*_test.cpp)
