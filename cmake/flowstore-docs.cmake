# The `docs` target: the Doxygen API reference of include/flowstore/ (with README.md and docs/
# as pages) in <build>/docs/html. Made only when Doxygen is found and flowstore is the
# top-level project. The target fails when Doxygen reports any warning, so every public name
# stays documented.
#
# The same file, run as a script (cmake -DFLOWSTORE_DOCS_WARNING_LOG=<file> -P <this file>),
# is the warning check.

if(CMAKE_SCRIPT_MODE_FILE)
  if(NOT DEFINED FLOWSTORE_DOCS_WARNING_LOG)
    message(FATAL_ERROR "flowstore-docs: FLOWSTORE_DOCS_WARNING_LOG is not set")
  endif()
  if(NOT EXISTS "${FLOWSTORE_DOCS_WARNING_LOG}")
    message(FATAL_ERROR "flowstore-docs: Doxygen wrote no warning log at ${FLOWSTORE_DOCS_WARNING_LOG}")
  endif()
  file(READ "${FLOWSTORE_DOCS_WARNING_LOG}" warnings)
  string(STRIP "${warnings}" warnings)
  if(NOT warnings STREQUAL "")
    string(REGEX MATCHALL "\n" lines "${warnings}\n")
    list(LENGTH lines count)
    message("${warnings}")
    message(FATAL_ERROR "flowstore-docs: Doxygen reported ${count} warning line(s); document what is public")
  endif()
  message(STATUS "flowstore-docs: no Doxygen warnings")
  return()
endif()

if(NOT PROJECT_IS_TOP_LEVEL)
  return()
endif()

find_package(Doxygen QUIET)
if(NOT DOXYGEN_FOUND)
  message(STATUS "flowstore: Doxygen not found; no docs target (scripts/install-deps installs it)")
  return()
endif()

set(FLOWSTORE_DOCS_OUTPUT_DIR ${PROJECT_BINARY_DIR}/docs)
set(FLOWSTORE_DOCS_WARNING_LOG ${FLOWSTORE_DOCS_OUTPUT_DIR}/doxygen-warnings.log)
configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${FLOWSTORE_DOCS_OUTPUT_DIR}/Doxyfile @ONLY)

add_custom_target(docs
  COMMAND ${CMAKE_COMMAND} -E rm -f ${FLOWSTORE_DOCS_WARNING_LOG}
  COMMAND Doxygen::doxygen ${FLOWSTORE_DOCS_OUTPUT_DIR}/Doxyfile
  COMMAND ${CMAKE_COMMAND} -DFLOWSTORE_DOCS_WARNING_LOG=${FLOWSTORE_DOCS_WARNING_LOG}
          -P ${CMAKE_CURRENT_LIST_FILE}
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  COMMENT "API reference in ${FLOWSTORE_DOCS_OUTPUT_DIR}/html"
  VERBATIM)
