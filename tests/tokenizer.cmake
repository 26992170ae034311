# Tokenizer tests: goldens from the official HF tokenizers binding (tests/data/tokenizer/, made by
# tools/tokenizer/make_goldens.mjs) and the real Qwen3 tokenizer files fetched by scripts/fetch-tokenizer.
qwen3_add_test_binary(tokenizer_tests ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/*_test.cpp)
