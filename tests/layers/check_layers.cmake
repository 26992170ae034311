# The layering of src/, checked: a file may include headers of its own module and of modules in lower layers,
# never those of a sibling in its own layer nor of anything above it (docs/DESIGN.md, "Layers"). This list is
# the one place the order is written, lowest first; a new directory under src/ must be placed in it.
# Usage: cmake -DSRC=<the src directory> -P check_layers.cmake
set(QWEN3_LAYERS
  "core"
  "formats kernels hub"
  "model tokenizer chat"
  "constrain"
  "sampling"
  "engine bench train"
  "server"
  "cli")

if(NOT IS_DIRECTORY "${SRC}")
  message(FATAL_ERROR "check_layers.cmake: pass -DSRC=<the src directory>")
endif()

set(rank 0)
foreach(layer IN LISTS QWEN3_LAYERS)
  string(REPLACE " " ";" modules "${layer}")
  foreach(m IN LISTS modules)
    set(rank_${m} ${rank})
  endforeach()
  math(EXPR rank "${rank} + 1")
endforeach()

list(JOIN QWEN3_LAYERS " < " order)
set(n_errors 0)
file(GLOB dirs LIST_DIRECTORIES true RELATIVE "${SRC}" "${SRC}/*")
foreach(m IN LISTS dirs)
  if(NOT IS_DIRECTORY "${SRC}/${m}")
    continue()
  endif()
  if(NOT DEFINED rank_${m})
    message(SEND_ERROR "src/${m}: a module missing from QWEN3_LAYERS in ${CMAKE_CURRENT_LIST_FILE}")
    math(EXPR n_errors "${n_errors} + 1")
    continue()
  endif()
  file(GLOB_RECURSE files RELATIVE "${SRC}" "${SRC}/${m}/*.h" "${SRC}/${m}/*.cpp")
  foreach(f IN LISTS files)
    file(STRINGS "${SRC}/${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<][a-z_0-9]+/")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[\"<]([a-z_0-9]+)/.*" "\\1" to "${line}")
      if(to STREQUAL m OR NOT IS_DIRECTORY "${SRC}/${to}")
        continue()  # its own module, or a system/library header such as <nlohmann/json.hpp>
      endif()
      if(NOT DEFINED rank_${to})
        continue()  # reported above as a module missing from the list
      endif()
      if(NOT rank_${to} LESS rank_${m})
        string(STRIP "${line}" line)
        message(SEND_ERROR "src/${f}: ${line}: ${m} may not include ${to} (layers: ${order})")
        math(EXPR n_errors "${n_errors} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()

if(n_errors GREATER 0)
  message(FATAL_ERROR "${n_errors} include(s) against the layering")
endif()
message(STATUS "layering of ${SRC}: every include points downward")
