// Ties library objects that use an io_context's services (a strand, a timer) to that
// io_context's lifetime. nats.c may release the library's last reference to a connection on
// one of its own threads after the caller's io_context is gone; such objects must already be
// destroyed by then, while the io_context's services still existed.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>

namespace flowstore::detail {

class io_anchor {
 public:
  struct registry;

  /// Registers `on_shutdown`, which runs once: when the executor's context shuts down, or at
  /// release_now(), whichever comes first.
  static std::shared_ptr<io_anchor> attach(const boost::asio::any_io_executor& executor,
                                           std::function<void()> on_shutdown);

  /// Runs on_shutdown now unless the context already ran it. Idempotent.
  void release_now();

  /// Unregisters without running on_shutdown (unless the context already ran it). Idempotent.
  void forget();

  io_anchor(std::shared_ptr<registry> r, std::function<void()> f)
      : registry_(std::move(r)), on_shutdown_(std::move(f)) {}
  ~io_anchor() { forget(); }
  io_anchor(const io_anchor&) = delete;
  io_anchor& operator=(const io_anchor&) = delete;

 private:
  friend struct registry;
  std::shared_ptr<registry> registry_;
  std::function<void()> on_shutdown_;  // guarded by the registry's mutex
};

}  // namespace flowstore::detail
