# Installs libhbeat, its public headers, a CMake package
# (find_package(hbeat CONFIG) -> hbeat::hbeat) and a pkg-config file (hbeat.pc).
#
# Included at the very end of the top-level CMakeLists.txt, once every target
# exists: what the transports link is read from their targets, so hbeat.pc and
# the static package never go stale when a transport changes its dependencies.
#
# The tools (hbeatd, hbeat) install themselves where they are defined; this
# file only gives them an RPATH to the installed libhbeat.
# Components: hbeat_Runtime (the shared library) and
# hbeat_Development (headers, the .so link, CMake and pkg-config files).
include(CMakePackageConfigHelpers)

set(HBEAT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/hbeat"
    CACHE STRING "Where hbeatConfig.cmake is installed (relative to the prefix)")
set(HBEAT_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where hbeat.pc is installed (relative to the prefix)")

get_target_property(_hbeat_type hbeat TYPE)
if(_hbeat_type STREQUAL "STATIC_LIBRARY")
  set(HBEAT_STATIC ON)
else()
  set(HBEAT_STATIC OFF)
endif()

# ---- what libhbeat links ----------------------------------------------------
# Walk the link interface of the object libraries folded into libhbeat and
# sort every external dependency by how a consumer finds it again:
#   HBEAT_DEP_PACKAGES  CMake packages (CURL, nng, ...) -> find_dependency()
#   HBEAT_DEP_PKGMODS   pkg-config modules (jansson, libprotobuf-c, ...)
#   HBEAT_DEP_PLAIN     plain library names or paths
#   HBEAT_DEP_TARGETS   the imported targets of those packages
#   HBEAT_OWN_OBJECT_LIBS  the project's object libraries on the way
# Threads is always a dependency and handled on its own.

# pkg_check_modules(<PREFIX> ...) keeps <PREFIX>_MODULE_NAME (one module) or
# <PREFIX>_<module>_MODULE_NAME (several) in the cache: map PkgConfig::<PREFIX>
# back to the module names it was made from.
function(_hbeat_pkgconfig_modules prefix out)
  set(mods)
  if(DEFINED CACHE{${prefix}_MODULE_NAME})
    list(APPEND mods "$CACHE{${prefix}_MODULE_NAME}")
  else()
    get_cmake_property(cache_vars CACHE_VARIABLES)
    foreach(v IN LISTS cache_vars)
      if(v MATCHES "^${prefix}_.+_MODULE_NAME$")
        list(APPEND mods "$CACHE{${v}}")
      endif()
    endforeach()
  endif()
  set(${out} "${mods}" PARENT_SCOPE)
endfunction()

function(_hbeat_classify_imported item)
  if(item STREQUAL "Threads::Threads")
    # always a dependency, see hbeatConfig.cmake.in
  elseif(item MATCHES "^PkgConfig::(.+)$")
    _hbeat_pkgconfig_modules(${CMAKE_MATCH_1} mods)
    if(NOT mods)
      message(WARNING "hbeat install: no pkg-config module recorded for ${item}")
    endif()
    set_property(GLOBAL APPEND PROPERTY HBEAT_DEP_PKGMODS ${mods})
  elseif(item MATCHES "^([^:]+)::")
    set_property(GLOBAL APPEND PROPERTY HBEAT_DEP_PACKAGES ${CMAKE_MATCH_1})
    set_property(GLOBAL APPEND PROPERTY HBEAT_DEP_TARGETS ${item})
  endif()
endfunction()

function(_hbeat_collect_deps target)
  if(target STREQUAL "hbeat")
    # libhbeat's own link line: everything it folds in, PRIVATE or not.
    get_target_property(libs ${target} LINK_LIBRARIES)
  else()
    get_target_property(libs ${target} INTERFACE_LINK_LIBRARIES)
  endif()
  if(NOT libs)
    return()
  endif()
  foreach(item IN LISTS libs)
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
    get_property(seen GLOBAL PROPERTY _HBEAT_SEEN)
    if(item IN_LIST seen)
      continue()
    endif()
    set_property(GLOBAL APPEND PROPERTY _HBEAT_SEEN "${item}")
    if(item MATCHES "\\$<")
      message(WARNING "hbeat install: cannot export link item '${item}' of ${target}; "
                      "the installed package may miss a dependency")
    elseif(TARGET ${item})
      get_target_property(imported ${item} IMPORTED)
      get_target_property(type ${item} TYPE)
      if(imported)
        _hbeat_classify_imported(${item})
      elseif(type MATCHES "^(OBJECT|INTERFACE)_LIBRARY$")
        set_property(GLOBAL APPEND PROPERTY HBEAT_OWN_OBJECT_LIBS ${item})
        _hbeat_collect_deps(${item})
      else()
        message(WARNING "hbeat install: libhbeat links the project's own ${type} "
                        "'${item}', which is not installed")
      endif()
    elseif(item MATCHES "::")
      # An imported target made in a subdirectory is not visible here, but
      # its name says where it comes from.
      _hbeat_classify_imported(${item})
    else()
      set_property(GLOBAL APPEND PROPERTY HBEAT_DEP_PLAIN "${item}")
    endif()
  endforeach()
endfunction()

_hbeat_collect_deps(hbeat)
foreach(v HBEAT_DEP_PACKAGES HBEAT_DEP_PKGMODS HBEAT_DEP_PLAIN HBEAT_DEP_TARGETS
        HBEAT_OWN_OBJECT_LIBS)
  get_property(${v} GLOBAL PROPERTY ${v})
  list(REMOVE_DUPLICATES ${v})
endforeach()

# Objects only reach libhbeat from object libraries it links directly; one
# reached only through another object library would leave symbols undefined.
get_target_property(_hbeat_direct hbeat LINK_LIBRARIES)
foreach(_obj IN LISTS HBEAT_OWN_OBJECT_LIBS)
  get_target_property(_otype ${_obj} TYPE)
  if(_otype STREQUAL "OBJECT_LIBRARY" AND NOT _obj IN_LIST _hbeat_direct)
    message(WARNING "hbeat install: object library ${_obj} is linked by another object "
                    "library only; its objects are not in libhbeat. Link it to hbeat directly.")
  endif()
endforeach()

# ---- pkg-config -------------------------------------------------------------
# How a CMake package maps to pkg-config: a module for Requires.private, or
# linker flags for Libs.private when the library has no .pc (nng on Debian).
set(_hbeat_pc_module_CURL libcurl)
set(_hbeat_pc_module_jansson jansson)
set(_hbeat_pc_module_protobuf-c libprotobuf-c)
set(_hbeat_pc_module_SQLite3 sqlite3)
set(_hbeat_pc_libs_nng -lnng)

set(_pc_requires ${HBEAT_DEP_PKGMODS})
set(_pc_libs)
foreach(pkg IN LISTS HBEAT_DEP_PACKAGES)
  if(DEFINED _hbeat_pc_module_${pkg})
    list(APPEND _pc_requires ${_hbeat_pc_module_${pkg}})
  elseif(DEFINED _hbeat_pc_libs_${pkg})
    list(APPEND _pc_libs ${_hbeat_pc_libs_${pkg}})
  else()
    message(WARNING "hbeat install: no pkg-config mapping for CMake package ${pkg}; "
                    "hbeat.pc's Libs.private will miss it (see cmake/HbeatInstall.cmake)")
  endif()
endforeach()
foreach(lib IN LISTS HBEAT_DEP_PLAIN)
  if(lib MATCHES "^-" OR IS_ABSOLUTE "${lib}")
    list(APPEND _pc_libs "${lib}")
  else()
    list(APPEND _pc_libs "-l${lib}")
  endif()
endforeach()
list(APPEND _pc_libs -pthread)
list(REMOVE_DUPLICATES _pc_requires)
list(REMOVE_DUPLICATES _pc_libs)
# A shared libhbeat hides its dependencies: they are private, needed only for
# `pkg-config --static`. A static libhbeat is useless without them, so they
# are public: plain `pkg-config --libs hbeat` links them (as shared system
# libraries; --static would ask for static copies of libcurl's own
# dependencies, which Debian does not ship).
set(HBEAT_PC_REQUIRES "")
set(HBEAT_PC_REQUIRES_PRIVATE "")
set(HBEAT_PC_LIBS "")
set(HBEAT_PC_LIBS_PRIVATE "")
if(HBEAT_STATIC)
  list(JOIN _pc_requires " " HBEAT_PC_REQUIRES)
  list(JOIN _pc_libs " " HBEAT_PC_LIBS)
  string(PREPEND HBEAT_PC_LIBS " ")
else()
  list(JOIN _pc_requires " " HBEAT_PC_REQUIRES_PRIVATE)
  list(JOIN _pc_libs " " HBEAT_PC_LIBS_PRIVATE)
endif()

# The prefix is only known at install time (cmake --install --prefix), so the
# file is made in two steps: everything else now, the paths when installing.
foreach(v PREFIX LIBDIR INCLUDEDIR)
  set(HBEAT_PC_${v} "@HBEAT_PC_${v}@")
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/hbeat.pc.in ${PROJECT_BINARY_DIR}/hbeat.pc.stage @ONLY)
# Beside a shared libhbeat, libhbeat.a (the same objects as hbeat_internal)
# for programs that link hbeat into themselves, with hbeat-static.pc: its
# dependencies are public there and stay shared (`pkg-config --static`
# would ask for libcurl's own private libraries, which Debian's
# libcurl4-openssl-dev does not bring).
set(_hbeat_pc_files hbeat.pc)
if(NOT HBEAT_STATIC)
  list(JOIN _pc_requires " " HBEAT_PC_STATIC_REQUIRES)
  list(JOIN _pc_libs " " HBEAT_PC_STATIC_LIBS)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/hbeat-static.pc.in
    ${PROJECT_BINARY_DIR}/hbeat-static.pc.stage @ONLY)
  list(APPEND _hbeat_pc_files hbeat-static.pc)
  install(FILES $<TARGET_FILE:hbeat_internal> RENAME libhbeat.a
    DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT hbeat_Development)
endif()
install(CODE "
  set(HBEAT_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  foreach(pair \"LIBDIR=${CMAKE_INSTALL_LIBDIR}\" \"INCLUDEDIR=${CMAKE_INSTALL_INCLUDEDIR}\")
    string(REGEX MATCH \"^([A-Z]+)=(.*)$\" _ \"\${pair}\")
    if(IS_ABSOLUTE \"\${CMAKE_MATCH_2}\")
      set(HBEAT_PC_\${CMAKE_MATCH_1} \"\${CMAKE_MATCH_2}\")
    else()
      set(HBEAT_PC_\${CMAKE_MATCH_1} \"\\\${prefix}/\${CMAKE_MATCH_2}\")
    endif()
  endforeach()
  foreach(pc ${_hbeat_pc_files})
    configure_file(\"${PROJECT_BINARY_DIR}/\${pc}.stage\" \"${PROJECT_BINARY_DIR}/\${pc}\" @ONLY)
  endforeach()
" COMPONENT hbeat_Development)

# ---- static libhbeat: export its dependencies, not its object libraries ----
# A static libhbeat carries $<LINK_ONLY:obj> for every object library it folds
# in; those are build-tree targets that cannot be exported. In the build tree
# they stay (they carry the transports' link dependencies); in the installed
# package the dependencies are named directly and hbeatConfig.cmake finds them.
set(HBEAT_CONFIG_PKGMODS)
if(HBEAT_STATIC)
  get_target_property(_ill hbeat INTERFACE_LINK_LIBRARIES)
  set(_new_ill)
  foreach(_item IN LISTS _ill)
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" _bare "${_item}")
    if(_bare IN_LIST HBEAT_OWN_OBJECT_LIBS)
      list(APPEND _new_ill "$<BUILD_INTERFACE:${_item}>")
    else()
      list(APPEND _new_ill "${_item}")
    endif()
  endforeach()
  foreach(_t IN LISTS HBEAT_DEP_TARGETS)
    list(APPEND _new_ill "$<INSTALL_INTERFACE:$<LINK_ONLY:${_t}>>")
  endforeach()
  foreach(_m IN LISTS HBEAT_DEP_PKGMODS)
    string(MAKE_C_IDENTIFIER "hbeat_pc_${_m}" _prefix)
    list(APPEND _new_ill "$<INSTALL_INTERFACE:$<LINK_ONLY:PkgConfig::${_prefix}>>")
    list(APPEND HBEAT_CONFIG_PKGMODS "${_prefix}=${_m}")
  endforeach()
  foreach(_l IN LISTS HBEAT_DEP_PLAIN)
    list(APPEND _new_ill "$<INSTALL_INTERFACE:$<LINK_ONLY:${_l}>>")
  endforeach()
  set_property(TARGET hbeat PROPERTY INTERFACE_LINK_LIBRARIES "${_new_ill}")
else()
  # A shared libhbeat hides its dependencies: consumers need none of them.
  set(HBEAT_DEP_PACKAGES)
endif()

# ---- the library, headers and tools ----------------------------------------
install(TARGETS hbeat EXPORT hbeatTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT hbeat_Runtime
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT hbeat_Runtime
          NAMELINK_COMPONENT hbeat_Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT hbeat_Development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hbeat
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT hbeat_Development
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/hbeat/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hbeat COMPONENT hbeat_Development)

# The tools install themselves where they are defined; one that links a
# shared libhbeat must find it beside it under any prefix (/opt/hbeat too),
# not only where the dynamic loader looks by default.
if(NOT HBEAT_STATIC)
  file(RELATIVE_PATH _hbeat_bin_to_lib "/${CMAKE_INSTALL_BINDIR}" "/${CMAKE_INSTALL_LIBDIR}")
  foreach(tool hbeat_cli hbeatd)
    if(TARGET ${tool})
      get_target_property(_rpath ${tool} INSTALL_RPATH)
      if(NOT _rpath)
        set_target_properties(${tool} PROPERTIES INSTALL_RPATH "$ORIGIN/${_hbeat_bin_to_lib}")
      endif()
    endif()
  endforeach()
endif()

list(TRANSFORM _hbeat_pc_files PREPEND ${PROJECT_BINARY_DIR}/)
install(FILES ${_hbeat_pc_files}
  DESTINATION ${HBEAT_INSTALL_PKGCONFIGDIR} COMPONENT hbeat_Development)

# ---- CMake package ----------------------------------------------------------
install(EXPORT hbeatTargets
  NAMESPACE hbeat::
  FILE hbeatTargets.cmake
  DESTINATION ${HBEAT_INSTALL_CMAKEDIR}
  COMPONENT hbeat_Development)

foreach(t FAKE REST NNG)
  if(HBEAT_WITH_${t})
    set(HBEAT_CONFIG_WITH_${t} ON)
  else()
    set(HBEAT_CONFIG_WITH_${t} OFF)
  endif()
endforeach()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/hbeatConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hbeatConfig.cmake
  INSTALL_DESTINATION ${HBEAT_INSTALL_CMAKEDIR})
# The ABI promise is the soname (the major version).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hbeatConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/hbeatConfig.cmake
  ${PROJECT_BINARY_DIR}/hbeatConfigVersion.cmake
  DESTINATION ${HBEAT_INSTALL_CMAKEDIR}
  COMPONENT hbeat_Development)

message(STATUS "hbeat install: ${_hbeat_type}; pkg-config dependencies: "
               "'${HBEAT_PC_REQUIRES}${HBEAT_PC_REQUIRES_PRIVATE}', "
               "'${HBEAT_PC_LIBS}${HBEAT_PC_LIBS_PRIVATE}'")
