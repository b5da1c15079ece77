# Finds what flowstore builds against: Boost (JSON compiled; Asio, Outcome, UUID header-only),
# nats.c (CMake package cnats), OpenSSL's libcrypto (nkey signatures) and threads.

find_package(Threads REQUIRED)
set(FLOWSTORE_BOOST_VERSION 1.81)  # also what the installed flowstoreConfig.cmake asks for
find_package(Boost ${FLOWSTORE_BOOST_VERSION} REQUIRED COMPONENTS json)
include(${CMAKE_CURRENT_LIST_DIR}/flowstore-find-cnats.cmake)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
