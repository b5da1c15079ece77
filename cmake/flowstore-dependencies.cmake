# Finds what flowstore builds against: Boost (JSON compiled; Asio, Outcome, UUID header-only),
# nats.c (CMake package cnats) and threads.

find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json)
include(${CMAKE_CURRENT_LIST_DIR}/flowstore-find-cnats.cmake)
