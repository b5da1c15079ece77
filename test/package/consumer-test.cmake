# Runs one step of the package tests (cmake -P, called by ctest; see CMakeLists.txt):
#   STEP=install           install flowstore's library components from BUILD_DIR into PREFIX
#   STEP=find_package      configure, build and run the consumer against the package in PREFIX
#   STEP=add_subdirectory  the same with flowstore built from FLOWSTORE_SOURCE_DIR as a shared
#                          library, which must export nothing of flowstore::detail
#   STEP=pkg-config        compile and link the consumer with one compiler command and the flags
#                          `pkg-config --cflags --libs flowstore` gives for PREFIX, then run it
# The consumer is built with the compiler, build type and sanitizer flags of the main build
# (CXX_COMPILER, C_COMPILER, BUILD_TYPE, CXX_FLAGS, LINKER_FLAGS): an instrumented library links
# only into an instrumented program.

cmake_minimum_required(VERSION 3.25)

function(run)
  string(JOIN " " shown ${ARGV})
  message(STATUS "consumer-test: ${shown}")
  execute_process(COMMAND ${ARGV} COMMAND_ERROR_IS_FATAL ANY)
endfunction()

# Runs the consumer binary and checks what it printed.
function(check_consumer binary)
  execute_process(COMMAND ${binary} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE status)
  message(STATUS "consumer-test: ${binary} printed:\n${out}${err}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "the consumer exited with ${status}")
  endif()
  string(REPLACE "." "\\." version_pattern "${EXPECTED_VERSION}")
  if(NOT out MATCHES "^flowstore ${version_pattern}\n{\"id\":\"consumer\",\"name\":\"Package consumer\",.*\"runtime_state\":\"not_deployed\"")
    message(FATAL_ERROR "the consumer's output is not the version ${EXPECTED_VERSION} and the encoded flow")
  endif()
  if(NOT out MATCHES "\ncaught flowstore::exception\nconnect refused: transient\n")
    message(FATAL_ERROR "the consumer did not catch the library's exception or did not fail to connect as it should")
  endif()
endfunction()

# Where a CMake build put the consumer: single- and multi-config generators differ.
function(find_consumer dir out_var)
  foreach(candidate ${dir}/consumer ${dir}/${BUILD_TYPE}/consumer)
    if(EXISTS ${candidate})
      set(${out_var} ${candidate} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "no consumer binary in ${dir}")
endfunction()

set(cmake_consumer_args
  -G ${GENERATOR}
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
  "-DCMAKE_SHARED_LINKER_FLAGS=${LINKER_FLAGS}")

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  foreach(component flowstore_runtime flowstore_development)
    run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} --config ${BUILD_TYPE} --component ${component})
  endforeach()
  foreach(file include/flowstore/version.hpp ${LIBDIR}/cmake/flowstore/flowstoreConfig.cmake
               ${LIBDIR}/pkgconfig/flowstore.pc)
    if(NOT EXISTS ${PREFIX}/${file})
      message(FATAL_ERROR "the install did not make ${PREFIX}/${file}")
    endif()
  endforeach()

elseif(STEP STREQUAL "find_package")
  file(REMOVE_RECURSE ${WORK_DIR})
  run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR} ${cmake_consumer_args}
      -DCMAKE_PREFIX_PATH=${PREFIX} -DFLOWSTORE_REQUIRED_VERSION=${REQUIRED_VERSION})
  # The package found must be the one just installed, not one elsewhere on the system.
  file(STRINGS ${WORK_DIR}/CMakeCache.txt found REGEX "^flowstore_DIR:")
  string(FIND "${found}" "=${PREFIX}/" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "find_package found flowstore elsewhere: ${found}")
  endif()
  run(${CMAKE_COMMAND} --build ${WORK_DIR} --config ${BUILD_TYPE})
  find_consumer(${WORK_DIR} consumer)
  check_consumer(${consumer})

elseif(STEP STREQUAL "add_subdirectory")
  # The build directory is kept between runs: flowstore's sources are compiled again only
  # when they change.
  # flowstore's project() enables C as well.
  run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR} ${cmake_consumer_args}
      -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=${CXX_FLAGS}"
      -DFLOWSTORE_SOURCE_DIR=${FLOWSTORE_SOURCE_DIR} -DBUILD_SHARED_LIBS=ON)
  run(${CMAKE_COMMAND} --build ${WORK_DIR} --config ${BUILD_TYPE} --parallel 2)
  find_consumer(${WORK_DIR} consumer)
  check_consumer(${consumer})
  # This build makes libflowstore a shared library (the installed package is the static one):
  # the consumer ran against it, and it exports the API and nothing of flowstore::detail.
  file(GLOB_RECURSE shared_libraries ${WORK_DIR}/flowstore-build/libflowstore.so)
  if(NOT shared_libraries)
    message(FATAL_ERROR "no libflowstore.so in ${WORK_DIR}/flowstore-build")
  endif()
  list(GET shared_libraries 0 shared_library)
  execute_process(COMMAND nm -DC --defined-only ${shared_library}
                  OUTPUT_VARIABLE exported COMMAND_ERROR_IS_FATAL ANY)
  string(REGEX MATCHALL "[^\n]*flowstore::detail[^\n]*" leaked "${exported}")
  list(LENGTH leaked leaked_count)
  string(REGEX MATCHALL "[^\n]* T flowstore::[^\n]*" api "${exported}")
  list(LENGTH api api_count)
  message(STATUS "consumer-test: ${shared_library} exports ${api_count} flowstore functions, ${leaked_count} of flowstore::detail")
  if(NOT leaked_count EQUAL 0)
    list(JOIN leaked "\n" leaked_text)
    message(FATAL_ERROR "libflowstore.so exports implementation symbols:\n${leaked_text}")
  endif()
  if(api_count LESS 50)
    message(FATAL_ERROR "libflowstore.so exports only ${api_count} flowstore functions")
  endif()

elseif(STEP STREQUAL "pkg-config")
  file(REMOVE_RECURSE ${WORK_DIR})
  file(MAKE_DIRECTORY ${WORK_DIR})
  set(ENV{PKG_CONFIG_PATH} ${PREFIX}/${LIBDIR}/pkgconfig)
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs flowstore
                  OUTPUT_VARIABLE pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND ${PKG_CONFIG} --variable=libdir flowstore
                  OUTPUT_VARIABLE pc_libdir OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  message(STATUS "consumer-test: pkg-config --cflags --libs flowstore: ${pc_flags}")
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  separate_arguments(extra_compile UNIX_COMMAND "${CXX_FLAGS}")
  separate_arguments(extra_link UNIX_COMMAND "${LINKER_FLAGS}")
  # pkg-config carries no -std: the headers need C++20, which the program chooses (c++20 or
  # later, gnu++ or not). The rpath lets a shared libflowstore be found at run time.
  run(${CXX_COMPILER} -std=c++20 ${extra_compile} ${CONSUMER_DIR}/main.cpp -o ${WORK_DIR}/consumer
      ${pc_flags} ${extra_link} -Wl,-rpath,${pc_libdir})
  check_consumer(${WORK_DIR}/consumer)

else()
  message(FATAL_ERROR "consumer-test: unknown STEP '${STEP}'")
endif()
