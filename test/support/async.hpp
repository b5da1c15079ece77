// run_async: the one way tests run a coroutine, always with a time limit.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace flowstore::test {

namespace detail {

// run_for() cannot interrupt a handler that blocks the thread; this aborts the whole test
// program instead of letting it hang (ctest then reports the test as failed).
class blocked_thread_watchdog {
 public:
  blocked_thread_watchdog(std::chrono::milliseconds limit, std::chrono::milliseconds budget)
      : thread_([this, limit, budget] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, budget, [this] { return finished_; })) {
            std::fprintf(stderr, "coroutine test timed out after %lld ms and its thread stays blocked; aborting\n",
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~blocked_thread_watchdog() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  blocked_thread_watchdog(const blocked_thread_watchdog&) = delete;
  blocked_thread_watchdog& operator=(const blocked_thread_watchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace detail

// Runs body(io) as a coroutine on a fresh io_context on the calling thread until it
// finishes, or fails the current Catch2 test when `limit` passes first. An exception
// thrown by the coroutine (a failed REQUIRE included) is rethrown here. Other work left on
// the io_context when the coroutine finishes is abandoned.
//
// Also fails when the io_context runs out of work before the coroutine finishes: then some
// operation it awaits holds no work and could never complete.
inline void run_async(std::function<boost::asio::awaitable<void>(boost::asio::io_context&)> body,
                      std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  bool finished = false;
  bool out_of_work = false;
  std::exception_ptr error;
  {
    detail::blocked_thread_watchdog watchdog(limit, limit + std::chrono::seconds(10));
    boost::asio::io_context io;
    boost::asio::co_spawn(io, body(io), [&](std::exception_ptr e) {
      finished = true;
      error = std::move(e);
      io.stop();
    });
    const auto started = std::chrono::steady_clock::now();
    io.run_for(limit);
    out_of_work = !finished && std::chrono::steady_clock::now() - started < limit;
    // Destroying io here destroys an unfinished coroutine's frame, still under the watchdog.
  }
  if (error) std::rethrow_exception(error);
  if (out_of_work) FAIL("coroutine test stopped before finishing: its io_context ran out of work");
  if (!finished) FAIL("coroutine test timed out after " << limit.count() << " ms");
}

// Runs all tasks concurrently on the current executor and returns when every one has
// finished; rethrows the first exception (a failed REQUIRE included).
inline boost::asio::awaitable<void> run_all(std::vector<boost::asio::awaitable<void>> tasks) {
  namespace asio = boost::asio;
  using spawned_op = decltype(asio::co_spawn(std::declval<asio::any_io_executor>(),
                                             std::declval<asio::awaitable<void>>(), asio::deferred));
  const auto executor = co_await asio::this_coro::executor;
  std::vector<spawned_op> ops;
  ops.reserve(tasks.size());
  for (auto& task : tasks) ops.push_back(asio::co_spawn(executor, std::move(task), asio::deferred));
  auto group = asio::experimental::make_parallel_group(std::move(ops));
  auto outcome = co_await group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const std::exception_ptr& e : std::get<1>(outcome)) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace flowstore::test
