#include "nats/blocking.hpp"

#include <nats.h>

namespace flowstore::detail {
namespace {

// The library's process-wide state: the blocking pool, and nats.c's own global state. At exit
// the pool first finishes what is queued (connections still being shut down), then nats.c
// releases its threads and memory.
struct library_runtime {
  library_runtime() { nats_Open(-1); }
  ~library_runtime() {
    pool.join();
    nats_CloseAndWait(5000);
  }
  // Two threads: a slow connect or bucket call does not hold up a close or another open.
  asio::thread_pool pool{2};
  teardown_executor teardown{asio::make_strand(pool.get_executor())};
};

library_runtime& runtime() {
  static library_runtime instance;
  return instance;
}

}  // namespace

asio::thread_pool& blocking_pool() { return runtime().pool; }

teardown_executor& teardown_strand() { return runtime().teardown; }

}  // namespace flowstore::detail
