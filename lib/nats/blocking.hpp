// The library's own threads: two for the nats.c calls that block (connect and close), so that
// they never occupy the caller's executor, and one for decoding the documents of a list while
// its scan goes on. Nothing else runs on them: after connect, every operation is a request.
#pragma once

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace flowstore::detail {

namespace asio = boost::asio;

/// The library's threads for blocking calls (connect, close), created on first use.
asio::thread_pool& blocking_pool();

/// The library's thread for CPU work beside the caller's (decoding a list's documents).
asio::thread_pool& decode_pool();

/// `was_cancelled(co_await asio::this_coro::cancellation_state)`: whether the awaiting
/// coroutine has been cancelled. Checked between two requests of one operation, so that it
/// ends with errc::cancelled: Asio would throw at the next co_await instead.
inline bool was_cancelled(const asio::cancellation_state& state) noexcept {
  return state.cancelled() != asio::cancellation_type::none;
}

/// From a library thread: runs `handler(args...)` on the executor that `guard` keeps busy, and
/// ends the guard there, right before the handler. Ended on the library thread after the post,
/// the guard could outlive its io_context: once the handler has run, the caller may destroy it
/// before that thread is scheduled again.
template <class Guard, class Handler, class... Args>
void complete_on_guarded(Guard guard, Handler handler, Args... args) {
  auto executor = guard.get_executor();
  asio::post(executor, [guard = std::move(guard), handler = std::move(handler), ... args = std::move(args)]() mutable {
    guard.reset();
    std::move(handler)(std::move(args)...);
  });
}

/// g++ 12 destroys a lambda twice when it is a temporary inside a co_await expression: name
/// the lambda first (`auto job = [..]{..}; co_await run_blocking(std::move(job));`).
///
/// Runs `f()` on the blocking pool; the awaiting coroutine resumes on its own executor with the
/// result. The caller's executor keeps outstanding work meanwhile, so its run() does not return.
template <class F, class Executor = asio::thread_pool::executor_type>
asio::awaitable<std::invoke_result_t<F&>> run_blocking(F f, Executor where = blocking_pool().get_executor()) {
  using result_type = std::invoke_result_t<F&>;
  auto work = std::make_shared<F>(std::move(f));
  auto initiation = [work = std::move(work), where](auto handler) mutable {
    auto guard = asio::make_work_guard(asio::get_associated_executor(handler));
    asio::post(where, [work = std::move(work), handler = std::move(handler), guard = std::move(guard)]() mutable {
      result_type value = (*work)();
      // Release everything the job captured before completing: once the caller has resumed,
      // its objects (and its io_context) may be gone.
      work.reset();
      complete_on_guarded(std::move(guard), std::move(handler), std::move(value));
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(result_type)>(std::move(initiation),
                                                                                            asio::use_awaitable);
}

}  // namespace flowstore::detail
