# Debian packages, made by CPack's DEB generator from the install components:
#   libhbeatN      hbeat_Runtime      the shared library (N: its soname)
#   libhbeat-dev   hbeat_Development  headers, hbeat.pc, the CMake package,
#                                     libhbeat.a with hbeat-static.pc
#   hbeatd         hbeatd             the server, its unit, its configuration
#                                     file, hbeatd(8); a system user
#   hbeat-tools    hbeat_tools        hbeat, hbeat(1), bash completion
# Versions come from project(); dependencies on Debian's libraries from
# dpkg-shlibdeps. Build them from a tree configured for /usr (docs/service.md):
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_SKIP_INSTALL_RPATH=ON \
#         -DHBEAT_BUILD_TESTS=OFF -DHBEAT_BUILD_EXAMPLES=OFF
#   cmake --build build-deb -j2 --target package
# Included at the end of the top-level CMakeLists.txt, after HbeatInstall.cmake.

if(HBEAT_STATIC)
  message(STATUS "hbeat packages: libhbeat is static (BUILD_SHARED_LIBS=OFF); "
                 "the packages expect a shared one")
endif()

set(_hbeat_lib_package "libhbeat${PROJECT_VERSION_MAJOR}")
set(_hbeat_deb_version "${PROJECT_VERSION}-1")

# pkg-config checks the modules hbeat.pc requires (privately too) even for
# --cflags, and libhbeat.a needs the libraries hbeat-static.pc names, so
# libhbeat-dev brings their -dev packages.
set(_hbeat_deb_dev_of_libcurl "libcurl4-openssl-dev | libcurl-dev")
set(_hbeat_deb_dev_of_jansson "libjansson-dev")
set(_hbeat_deb_dev_of_libprotobuf-c "libprotobuf-c-dev")
set(_hbeat_deb_dev_of_sqlite3 "libsqlite3-dev")
set(_hbeat_deb_dev_of_grpc "libgrpc-dev")
# libhbeat.a (hbeat-static.pc) links these by name.
set(_hbeat_deb_dev_of_-lnng "libnng-dev")
set(_hbeat_deb_dev_of_-lmbedtls "libmbedtls-dev")
set(_hbeat_deb_dev_of_-lmbedx509 "libmbedtls-dev")
set(_hbeat_deb_dev_of_-lmbedcrypto "libmbedtls-dev")
set(_hbeat_deb_dev_of_-lm "")
set(_hbeat_deb_dev_of_-pthread "")
set(_hbeat_dev_depends "${_hbeat_lib_package} (= ${_hbeat_deb_version})")
string(REPLACE " " ";" _hbeat_pc_mods
  "${HBEAT_PC_REQUIRES} ${HBEAT_PC_REQUIRES_PRIVATE} ${HBEAT_PC_STATIC_LIBS}")
set(_hbeat_dev_seen)
foreach(_m IN LISTS _hbeat_pc_mods)
  if(_m STREQUAL "")
    continue()
  elseif(DEFINED _hbeat_deb_dev_of_${_m})
    set(_d "${_hbeat_deb_dev_of_${_m}}")
    if(NOT _d STREQUAL "" AND NOT _d IN_LIST _hbeat_dev_seen)
      list(APPEND _hbeat_dev_seen "${_d}")
      string(APPEND _hbeat_dev_depends ", ${_d}")
    endif()
  else()
    message(WARNING "hbeat packages: no Debian package known for pkg-config module ${_m} "
                    "(cmake/HbeatPackage.cmake); libhbeat-dev will not depend on it")
  endif()
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hbeat)
set(CPACK_PACKAGE_VENDOR "hbeat")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(HBEAT_DEB_MAINTAINER "hbeat maintainers <hbeat@localhost>"
    CACHE STRING "The Maintainer field of the .deb packages")
set(CPACK_PACKAGE_CONTACT "${HBEAT_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Job heartbeats in C, modelled on Jobmon's HeartbeatService")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/packages)
set(CPACK_COMPONENTS_ALL hbeat_Runtime hbeat_Development hbeatd hbeat_tools)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1) # _hbeat_deb_version's "-1"
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# hbeat links our own libhbeat, which is in no installed package yet:
# dpkg-shlibdeps finds it in the build tree, and hbeat-tools names its
# package itself.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/hbeat/hbeat")

set(CPACK_DEBIAN_HBEAT_RUNTIME_PACKAGE_NAME ${_hbeat_lib_package})
set(CPACK_DEBIAN_HBEAT_RUNTIME_PACKAGE_SECTION libs)
# A shlibs file, and the ldconfig trigger that goes with it.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# Debian runs ldconfig through this trigger (CPack's own postinst also
# calls it).
set(CPACK_DEBIAN_HBEAT_RUNTIME_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/libhbeat/triggers)
set(CPACK_DEBIAN_HBEAT_RUNTIME_DESCRIPTION
  "Job heartbeats in C: the shared library\n"
  "libhbeat keeps workflow runs alive against hbeatd or any Jobmon-compatible\n"
  "server, over REST, nng or gRPC.")

set(CPACK_DEBIAN_HBEAT_DEVELOPMENT_PACKAGE_NAME libhbeat-dev)
set(CPACK_DEBIAN_HBEAT_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_HBEAT_DEVELOPMENT_PACKAGE_DEPENDS "${_hbeat_dev_depends}")
set(CPACK_DEBIAN_HBEAT_DEVELOPMENT_DESCRIPTION
  "Job heartbeats in C: development files\n"
  "Headers, the pkg-config file (hbeat.pc) and the CMake package\n"
  "(find_package(hbeat CONFIG) -> hbeat::hbeat), and the static library\n"
  "libhbeat.a with its pkg-config file hbeat-static.pc.")

set(CPACK_DEBIAN_HBEATD_PACKAGE_NAME hbeatd)
set(CPACK_DEBIAN_HBEATD_PACKAGE_SECTION net)
set(CPACK_DEBIAN_HBEATD_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_HBEATD_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/hbeatd/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/hbeatd/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/hbeatd/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/hbeatd/postrm)
set(CPACK_DEBIAN_HBEATD_DESCRIPTION
  "hbeat reference server (Jobmon-compatible heartbeats over nng, REST, gRPC)\n"
  "hbeatd stores workflow runs in SQLite, takes heartbeats over nng, REST and\n"
  "gRPC and reaps runs whose clients stopped beating. Runs as the systemd\n"
  "service hbeatd.service, configured in /etc/hbeat/hbeatd.conf.")

set(CPACK_DEBIAN_HBEAT_TOOLS_PACKAGE_NAME hbeat-tools)
set(CPACK_DEBIAN_HBEAT_TOOLS_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_HBEAT_TOOLS_PACKAGE_DEPENDS "${_hbeat_lib_package} (= ${_hbeat_deb_version})")
set(CPACK_DEBIAN_HBEAT_TOOLS_DESCRIPTION
  "hbeat command line tool\n"
  "hbeat heartbeats workflow runs and creates, lists and steers them, against\n"
  "hbeatd or any Jobmon-compatible server.")

# Every package carries the licence as /usr/share/doc/<package>/copyright.
foreach(_c IN LISTS CPACK_COMPONENTS_ALL)
  string(TOUPPER ${_c} _C)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE RENAME copyright
    DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${CPACK_DEBIAN_${_C}_PACKAGE_NAME} COMPONENT ${_c})
endforeach()

include(CPack)
