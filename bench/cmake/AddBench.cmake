# Adds the bench targets to the hbeat build without touching the top-level
# CMakeLists.txt: bench/run.sh configures the repo with
#   -DCMAKE_PROJECT_hbeat_INCLUDE=<repo>/bench/cmake/AddBench.cmake
# CMake includes this file right after project(hbeat); the deferred include
# runs once the top-level CMakeLists.txt is done, when every target exists.
# `add_subdirectory(bench)` at the end of the top-level file does the same.
# (The deferred call's arguments are expanded when it runs, so the path is
# kept in a variable of the top-level scope.)
set(HBEAT_BENCH_TARGETS_FILE ${CMAKE_CURRENT_LIST_DIR}/BenchTargets.cmake)
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
  CALL include ${HBEAT_BENCH_TARGETS_FILE})
