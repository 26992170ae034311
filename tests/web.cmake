# The chat page of qwen3 serve (issue 21, web/). web_bundle: the committed build (web/dist/index.html, embedded in
# the binary) is what web/src builds to with the pinned toolchain (web/package-lock.json), within 300 KB gzipped;
# web_typecheck: tsc --noEmit over web/src.
# web_browser: the page in Debian's chromium driven by playwright-core, with axe-core (tests/web/package-lock.json),
# against qwen3 serve with the tiny synthetic model; screenshots of each state land in the build's web-artefacts/.
find_program(QWEN3_NODE node REQUIRED)
find_program(QWEN3_NPM npm REQUIRED)
find_program(QWEN3_CHROMIUM NAMES chromium chromium-browser REQUIRED)
add_test(NAME web_bundle_npm_ci COMMAND ${QWEN3_NPM} ci --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/web)
set_tests_properties(web_bundle_npm_ci PROPERTIES FIXTURES_SETUP web_bundle_npm TIMEOUT 600 RESOURCE_LOCK npm)
add_test(NAME web_bundle COMMAND ${QWEN3_NODE} ${CMAKE_SOURCE_DIR}/web/build.mjs --check)
set_tests_properties(web_bundle PROPERTIES FIXTURES_REQUIRED web_bundle_npm TIMEOUT 120)
# The page's TypeScript, type-checked (strict; esbuild only strips the types).
add_test(NAME web_typecheck COMMAND ${QWEN3_NODE} ${CMAKE_SOURCE_DIR}/web/node_modules/typescript/bin/tsc -p ${CMAKE_SOURCE_DIR}/web)
set_tests_properties(web_typecheck PROPERTIES FIXTURES_REQUIRED web_bundle_npm TIMEOUT 120)

add_test(NAME web_npm_ci COMMAND ${QWEN3_NPM} ci --ignore-scripts --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/web)
set_tests_properties(web_npm_ci PROPERTIES FIXTURES_SETUP web_npm TIMEOUT 600 RESOURCE_LOCK npm)
add_test(NAME web_browser COMMAND ${QWEN3_NODE} --test ${CMAKE_SOURCE_DIR}/tests/web/chat.test.js)
set_tests_properties(web_browser PROPERTIES FIXTURES_REQUIRED "web_npm;server_npm;model_data" TIMEOUT 600
  ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>;QWEN3_MODEL=${QWEN3_TESTDATA}/model/models/tiny-bf16;QWEN3_CHROMIUM=${QWEN3_CHROMIUM};QWEN3_ARTEFACTS=${CMAKE_BINARY_DIR}/web-artefacts")
