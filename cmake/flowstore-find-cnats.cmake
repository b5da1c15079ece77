# Provides the imported target cnats::nats.
#
# Debian 12's libnats-dev ships nats.c's CMake package, but that package names a static
# archive (and libprotobuf-c.so) which the Debian package does not install, so
# find_package(cnats) stops with a fatal error there. When the static archive is missing we
# define cnats::nats ourselves from the shared library, which carries its own dependencies.

#
# Set FLOWSTORE_CNATS_OPTIONAL before including it to only leave cnats::nats undefined when
# nats.c is missing (the installed package config then reports flowstore as not found).

if(TARGET cnats::nats)
  return()
endif()

find_library(FLOWSTORE_NATS_STATIC_LIBRARY NAMES nats_static)
if(FLOWSTORE_NATS_STATIC_LIBRARY)
  if(FLOWSTORE_CNATS_OPTIONAL)
    find_package(cnats CONFIG QUIET)
  else()
    find_package(cnats CONFIG REQUIRED)
  endif()
else()
  find_path(FLOWSTORE_NATS_INCLUDE_DIR NAMES nats.h PATH_SUFFIXES nats)
  find_library(FLOWSTORE_NATS_LIBRARY NAMES nats)
  if(NOT FLOWSTORE_NATS_INCLUDE_DIR OR NOT FLOWSTORE_NATS_LIBRARY)
    if(FLOWSTORE_CNATS_OPTIONAL)
      return()
    endif()
    message(FATAL_ERROR "nats.c not found: install libnats-dev (scripts/install-deps)")
  endif()
  add_library(cnats::nats SHARED IMPORTED)
  set_target_properties(cnats::nats PROPERTIES
    IMPORTED_LOCATION "${FLOWSTORE_NATS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${FLOWSTORE_NATS_INCLUDE_DIR}")
endif()
