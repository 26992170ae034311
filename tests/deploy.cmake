# The deployment side (issue 22; docs/DEPLOY.md): deploy/local/cluster with Debian's nginx in front of qwen3 serve
# replicas, on loopback, with the tiny synthetic model (tests/deploy/*.test.js, node's test runner and node:http
# only: no npm packages), and the structural check of deploy/kubernetes/*.yaml (python3-yaml). The cluster tests
# start several servers and time a drain, so they hold the `heavy` lock: never beside the model tests.
find_program(QWEN3_NODE node REQUIRED)
foreach(t failover affinity drain)
  add_test(NAME deploy_${t} COMMAND ${QWEN3_NODE} --test ${CMAKE_SOURCE_DIR}/tests/deploy/${t}.test.js)
  set_tests_properties(deploy_${t} PROPERTIES FIXTURES_REQUIRED model_data TIMEOUT 300 RESOURCE_LOCK heavy
    ENVIRONMENT "QWEN3_BIN=$<TARGET_FILE:qwen3>;QWEN3_MODEL=${QWEN3_TESTDATA}/model/models/tiny-bf16")
endforeach()
add_test(NAME deploy_manifests COMMAND ${QWEN3_PYTHON} ${CMAKE_SOURCE_DIR}/tests/deploy/check_manifests.py
  --qwen3 $<TARGET_FILE:qwen3> --self-test ${CMAKE_SOURCE_DIR}/deploy/kubernetes)
set_tests_properties(deploy_manifests PROPERTIES TIMEOUT 60)
