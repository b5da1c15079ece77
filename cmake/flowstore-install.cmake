# Packaging: checks that include/flowstore/version.hpp states project(VERSION), then, when
# FLOWSTORE_INSTALL is on (by default only when flowstore is the top-level project), the install
# rules: headers, the library, the exported target flowstore::flowstore, flowstoreConfig.cmake
# with its version file, and flowstore.pc for pkg-config.
#
# Components: flowstore_runtime (the shared library, when it is shared) and
# flowstore_development (everything else); installing these two (`cmake --install <build>
# --component ...`, once each) installs the library without the command-line tool.

# The header is written by hand so that it sits in the source tree beside the other public
# headers (the API reference, the header check and every way of consuming flowstore see it
# there); this check keeps it from drifting away from the project version.
function(flowstore_check_version_header)
  set(header ${PROJECT_SOURCE_DIR}/include/flowstore/version.hpp)
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${header})
  file(READ ${header} text)
  set(parts)
  foreach(part MAJOR MINOR PATCH)
    if(NOT text MATCHES "#define FLOWSTORE_VERSION_${part} ([0-9]+)\n")
      message(FATAL_ERROR "${header} does not define FLOWSTORE_VERSION_${part}")
    endif()
    list(APPEND parts ${CMAKE_MATCH_1})
  endforeach()
  list(JOIN parts . header_version)
  if(NOT text MATCHES "#define FLOWSTORE_VERSION_STRING \"${header_version}\"\n")
    message(FATAL_ERROR "${header}: FLOWSTORE_VERSION_STRING is not \"${header_version}\"")
  endif()
  if(NOT header_version VERSION_EQUAL PROJECT_VERSION)
    message(FATAL_ERROR "${header} says ${header_version}, project(VERSION) says ${PROJECT_VERSION}: update the header")
  endif()
endfunction()
flowstore_check_version_header()

if(NOT FLOWSTORE_INSTALL)
  return()
endif()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

block()  # the variables below stay in here

set(FLOWSTORE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/flowstore)
set(FLOWSTORE_PACKAGE_DIR ${PROJECT_BINARY_DIR}/package)

install(TARGETS flowstore EXPORT flowstore-targets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT flowstore_runtime
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT flowstore_runtime
          NAMELINK_COMPONENT flowstore_development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT flowstore_development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/flowstore
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT flowstore_development
  FILES_MATCHING PATTERN "*.hpp")
install(EXPORT flowstore-targets
  FILE flowstoreTargets.cmake
  NAMESPACE flowstore::
  DESTINATION ${FLOWSTORE_INSTALL_CMAKEDIR}
  COMPONENT flowstore_development)

# 0.x: a minor release may break the API and the ABI (the shared library's SONAME carries
# MAJOR.MINOR for the same reason), so only the same MAJOR.MINOR satisfies a request.
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/flowstoreConfig.cmake.in
  ${FLOWSTORE_PACKAGE_DIR}/flowstoreConfig.cmake
  INSTALL_DESTINATION ${FLOWSTORE_INSTALL_CMAKEDIR})
write_basic_package_version_file(${FLOWSTORE_PACKAGE_DIR}/flowstoreConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
    ${FLOWSTORE_PACKAGE_DIR}/flowstoreConfig.cmake
    ${FLOWSTORE_PACKAGE_DIR}/flowstoreConfigVersion.cmake
    ${CMAKE_CURRENT_LIST_DIR}/flowstore-find-cnats.cmake
  DESTINATION ${FLOWSTORE_INSTALL_CMAKEDIR}
  COMPONENT flowstore_development)

# flowstore.pc. Boost has no pkg-config file, so its flags are written out; nats.c has one
# (libnats), as has OpenSSL (libcrypto). A static libflowstore needs them on every link; a shared
# one only at run time.
get_target_property(flowstore_type flowstore TYPE)
if(flowstore_type STREQUAL "STATIC_LIBRARY")
  set(FLOWSTORE_PC_NATS_FIELD Requires)
else()
  set(FLOWSTORE_PC_NATS_FIELD Requires.private)
endif()
set(FLOWSTORE_PC_CFLAGS "")
get_target_property(flowstore_definitions flowstore INTERFACE_COMPILE_DEFINITIONS)
foreach(definition IN LISTS flowstore_definitions)
  string(APPEND FLOWSTORE_PC_CFLAGS " -D${definition}")
endforeach()
get_target_property(boost_include_dirs Boost::headers INTERFACE_INCLUDE_DIRECTORIES)
foreach(dir IN LISTS boost_include_dirs)
  if(NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    string(APPEND FLOWSTORE_PC_CFLAGS " -I${dir}")
  endif()
endforeach()
set(FLOWSTORE_PC_LIBS "")
get_target_property(boost_json_location Boost::json LOCATION)
get_filename_component(boost_json_dir "${boost_json_location}" DIRECTORY)
if(NOT boost_json_dir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
  string(APPEND FLOWSTORE_PC_LIBS " -L${boost_json_dir}")
endif()
string(APPEND FLOWSTORE_PC_LIBS " -lboost_json")
if(CMAKE_THREAD_LIBS_INIT)
  string(APPEND FLOWSTORE_PC_LIBS " ${CMAKE_THREAD_LIBS_INIT}")
endif()
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(FLOWSTORE_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(FLOWSTORE_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()

# The prefix is known only at install time (`cmake --install --prefix` overrides the configured
# one), so the template is filled in twice: now with everything else, keeping the prefix
# placeholder, and by the install step with the prefix it installs to.
set(FLOWSTORE_PC_PREFIX "@FLOWSTORE_PC_PREFIX@")
configure_file(${CMAKE_CURRENT_LIST_DIR}/flowstore.pc.in ${FLOWSTORE_PACKAGE_DIR}/flowstore.pc.in @ONLY)
install(CODE "
  set(flowstore_pc_template \"${FLOWSTORE_PACKAGE_DIR}/flowstore.pc.in\")
  set(flowstore_pc_dir \"${CMAKE_INSTALL_LIBDIR}/pkgconfig\")"
  COMPONENT flowstore_development)
install(CODE [[
  set(FLOWSTORE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  if(NOT IS_ABSOLUTE "${flowstore_pc_dir}")
    set(flowstore_pc_dir "${CMAKE_INSTALL_PREFIX}/${flowstore_pc_dir}")
  endif()
  message(STATUS "Installing: $ENV{DESTDIR}${flowstore_pc_dir}/flowstore.pc")
  configure_file("${flowstore_pc_template}" "$ENV{DESTDIR}${flowstore_pc_dir}/flowstore.pc" @ONLY)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${flowstore_pc_dir}/flowstore.pc")
]] COMPONENT flowstore_development)
endblock()
