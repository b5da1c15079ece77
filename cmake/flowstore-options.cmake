# Compiler settings shared by every flowstore target.

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
# A default build type, only for a build of flowstore itself: a project that adds flowstore
# as a subdirectory keeps its own (or none).
if(PROJECT_IS_TOP_LEVEL AND NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

# flowstore_warnings(target): high warning level, errors when FLOWSTORE_WARNINGS_AS_ERRORS.
function(flowstore_warnings target)
  # -Wmismatched-new-delete misfires on Asio's coroutine frames (operator new/delete pairs of
  # awaitable_frame_base) under g++ 12.
  set(flags -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wno-mismatched-new-delete)
  if(FLOWSTORE_SANITIZE)
    # Sanitizer instrumentation makes g++ 12 report false -Wmaybe-uninitialized (std::regex).
    list(APPEND flags -Wno-maybe-uninitialized)
  endif()
  if(FLOWSTORE_WARNINGS_AS_ERRORS)
    list(APPEND flags -Werror)
  endif()
  target_compile_options(${target} PRIVATE ${flags})
endfunction()

if(FLOWSTORE_SANITIZE)
  if(NOT FLOWSTORE_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR "FLOWSTORE_SANITIZE must be 'address,undefined', 'thread' or empty, not '${FLOWSTORE_SANITIZE}'")
  endif()
  add_compile_options(-fsanitize=${FLOWSTORE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${FLOWSTORE_SANITIZE})
  if(FLOWSTORE_SANITIZE STREQUAL "thread")
    # ThreadSanitizer does not model standalone fences. Asio uses them around handler calls
    # (not needed: the scheduler's mutex orders those calls) and in its reference counts
    # (release decrement + acquire fence); g++ warns about each, which -Werror would fail.
    add_compile_definitions(BOOST_ASIO_DISABLE_FENCED_BLOCK)
    add_compile_options(-Wno-tsan)
  endif()
endif()
