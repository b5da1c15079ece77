// Runs one command's coroutine against an open store: connect, open the bucket, run, close.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>

#include "cli.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>

namespace flowstore::cli {

namespace asio = boost::asio;

/// The command itself: gets the open store and its connection, returns the exit code.
using store_command = std::function<asio::awaitable<int>(store&, connection&)>;

/// Connects with the settings, opens the bucket, runs `command` on a fresh io_context on this
/// thread and closes the connection (flushing everything) before returning its exit code.
/// The closed connection is kept alive until the process ends, which must be with std::_Exit
/// (see session.cpp for the library race this avoids).
/// Connection and bucket errors are reported and mapped to exit codes; an exception escaping
/// the command is reported as an internal error (exit 4), never as a stack trace.
/// `on_event`, when set, receives connection events (on this thread).
int run_with_store(const server_settings& settings, store_command command,
                   std::function<void(const connection_event&)> on_event);

}  // namespace flowstore::cli
