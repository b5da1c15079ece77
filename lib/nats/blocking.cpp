#include "nats/blocking.hpp"

#include <nats.h>

namespace flowstore::detail {

namespace asio = boost::asio;
namespace {

// The library's process-wide state: its threads, and nats.c's own global state. At exit the
// blocking pool first finishes what is queued (connections still being closed, each until its
// inbox has no message left), then nats.c releases its threads and memory.
struct library_runtime {
  library_runtime() { nats_Open(-1); }
  ~library_runtime() {
    decoder.join();
    pool.join();
    nats_CloseAndWait(5000);
  }
  // Two threads: a slow connect does not hold up a close or another connect.
  asio::thread_pool pool{2};
  asio::thread_pool decoder{1};
};

library_runtime& runtime() {
  static library_runtime instance;
  return instance;
}

}  // namespace

asio::thread_pool& blocking_pool() { return runtime().pool; }

asio::thread_pool& decode_pool() { return runtime().decoder; }

}  // namespace flowstore::detail
