# The bench targets (see bench/CMakeLists.txt). Included once the hbeat
# targets exist: from bench/CMakeLists.txt, or deferred to the end of the
# top-level CMakeLists.txt by bench/cmake/AddBench.cmake.
if(NOT TARGET hbeat OR NOT TARGET hbeatd OR NOT TARGET hbeat_proto)
  message(WARNING "bench: needs libhbeat, hbeatd and the nng transport; not built")
  return()
endif()

find_package(nng CONFIG REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(BENCH_CURL REQUIRED IMPORTED_TARGET libcurl)
find_program(BENCH_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT BENCH_PYTHON)
  find_program(BENCH_PYTHON NAMES python3)
endif()

get_filename_component(_bench_dir ${CMAKE_CURRENT_LIST_DIR} DIRECTORY)
set(_bench_src ${_bench_dir}/src)

add_library(hbeat_bench_util STATIC ${_bench_src}/util.c ${_bench_src}/load.c)
target_include_directories(hbeat_bench_util PUBLIC ${_bench_src})
target_link_libraries(hbeat_bench_util PUBLIC m)

# The floor servers: TCP ping-pong, nng echo, minimal HTTP.
add_executable(hbeat-bench-server ${_bench_src}/servers.c)
target_link_libraries(hbeat-bench-server PRIVATE nng::nng Threads::Threads)

# The malloc-counting shim, for LD_PRELOAD.
add_library(hbeat_bench_allocshim SHARED ${_bench_src}/allocshim.c)
target_link_libraries(hbeat_bench_allocshim PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
set_target_properties(hbeat_bench_allocshim PROPERTIES C_VISIBILITY_PRESET default)

# One service in a process of its own: RSS, threads, allocations per beat.
add_executable(hbeat-bench-client ${_bench_src}/client_mem.c)
# Also beats with bare libcurl or nng, for comparison (raw+ URLs).
target_link_libraries(hbeat-bench-client PRIVATE hbeat hbeat_proto hbeat_bench_util nng::nng
  PkgConfig::BENCH_CURL ${CMAKE_DL_LIBS})

# The driver.
pkg_check_modules(BENCH_LIBPQ REQUIRED IMPORTED_TARGET libpq)
add_executable(hbeat-bench ${_bench_src}/bench_main.c ${_bench_src}/pyworker.c
  ${_bench_src}/pg_floor.c ${_bench_src}/pin.c)
target_link_libraries(hbeat-bench PRIVATE hbeat hbeat_proto hbeat_bench_util nng::nng
  PkgConfig::BENCH_CURL PkgConfig::BENCH_LIBPQ Threads::Threads m)
target_compile_definitions(hbeat-bench PRIVATE
  BENCH_HBEATD="$<TARGET_FILE:hbeatd>"
  BENCH_SERVER="$<TARGET_FILE:hbeat-bench-server>"
  BENCH_CLIENT="$<TARGET_FILE:hbeat-bench-client>"
  BENCH_SHIM="$<TARGET_FILE:hbeat_bench_allocshim>"
  BENCH_PYTHON="${BENCH_PYTHON}"
  BENCH_PY_SCRIPT="${_bench_dir}/py/aiohttp_beat.py"
  BENCH_PY_TICK_SCRIPT="${_bench_dir}/py/hbeat_beat.py"
  BENCH_PY_SRC="${_bench_dir}/../python/src"
  BENCH_HBEAT_LIB="$<TARGET_FILE:hbeat>"
  BENCH_PG_CLUSTER="${_bench_dir}/../tests/support/pg_cluster.sh")
add_dependencies(hbeat-bench hbeatd hbeat-bench-server hbeat-bench-client hbeat_bench_allocshim)

foreach(t hbeat_bench_util hbeat-bench-server hbeat_bench_allocshim hbeat-bench-client hbeat-bench)
  hbeat_warnings(${t})
  # Programs sit together in <build>/bench, whichever directory defines them.
  set_target_properties(${t} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endforeach()

# A smoke run keeps the bench from rotting. Label "bench-smoke" only: not in
# the unit or integration labels, so `ctest -L unit|integration` skip it;
# run it with `ctest -L bench-smoke`.
option(HBEAT_BENCH_SMOKE_TEST "Register the bench smoke run with CTest" ON)
if(HBEAT_BENCH_SMOKE_TEST)
  add_test(NAME bench_smoke COMMAND hbeat-bench --smoke)
  set_tests_properties(bench_smoke PROPERTIES LABELS bench-smoke TIMEOUT 600)
endif()

# The gRPC rows (bench/src/grpc_bench.c): a raw gRPC core unary call and
# the service tick, both to a minimal gRPC core echo server; hbeatd's gRPC
# throughput against that server; the status push's delay.
if(HBEAT_WITH_GRPC)
  pkg_check_modules(BENCH_GRPC REQUIRED IMPORTED_TARGET grpc)
  add_executable(hbeat-bench-grpc-server ${_bench_src}/grpc_echo_server.c)
  target_link_libraries(hbeat-bench-grpc-server PRIVATE hbeat_proto PkgConfig::BENCH_GRPC
    Threads::Threads)
  add_executable(hbeat-bench-grpc ${_bench_src}/grpc_bench.c ${_bench_src}/grpc_load.c
    ${_bench_src}/grpc_push.c ${_bench_src}/grpc_unary.c)
  target_link_libraries(hbeat-bench-grpc PRIVATE hbeat hbeat_proto hbeat_bench_util
    PkgConfig::BENCH_GRPC Threads::Threads m)
  target_compile_definitions(hbeat-bench-grpc PRIVATE
    BENCH_GRPC_SERVER="$<TARGET_FILE:hbeat-bench-grpc-server>"
    BENCH_HBEATD="$<TARGET_FILE:hbeatd>")
  add_dependencies(hbeat-bench-grpc hbeat-bench-grpc-server hbeatd)
  foreach(t hbeat-bench-grpc-server hbeat-bench-grpc)
    hbeat_warnings(${t})
    set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
  endforeach()
  if(HBEAT_BENCH_SMOKE_TEST)
    add_test(NAME bench_grpc_smoke COMMAND hbeat-bench-grpc --smoke)
    set_tests_properties(bench_grpc_smoke PROPERTIES LABELS bench-smoke TIMEOUT 300)
  endif()
endif()
