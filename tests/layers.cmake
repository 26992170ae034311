# The include layering of src/ (tests/layers/check_layers.cmake holds the order): a script, no binary.
add_test(NAME layers_includes
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR}/src -P ${CMAKE_SOURCE_DIR}/tests/layers/check_layers.cmake)
