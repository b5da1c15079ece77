// flowstore-bench: the store against raw nats.c doing the same work, in the same run, on a
// server the benchmark starts itself. Every figure is a median over repetitions with its
// spread, and every comparison is printed as an explicit ratio (store / baseline).
//
//   flowstore-bench [--quick] [--json FILE] [--url nats://…] [--flow-bytes N] [--reps N] [--only NAME]
#include <flowstore/connection.hpp>
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "bench_server.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <nats.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <malloc.h>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------------------------------------
// Settings and reporting

struct settings {
  bool quick = false;
  std::string json_path;
  std::string url;
  std::size_t flow_bytes = 1024;
  int reps = 5;
  std::string only;  // run only the scenarios whose name contains this
};

// Keeps the compiler from dropping work whose result is otherwise unused.
void benchmark_escape(const void* p) { asm volatile("" : : "g"(p) : "memory"); }

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// CPU time used so far by all threads of process `pid` (from the scheduler's own accounting,
// in nanoseconds, not clock ticks: a 40 ms scan needs better than 10 ms resolution).
double cpu_seconds(pid_t pid) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  double total = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream schedstat(task.path() / "schedstat");
    double running_ns = 0;
    if (schedstat >> running_ns) total += running_ns / 1e9;
  }
  return total;
}

struct metric {
  std::string scenario;
  std::string subject;  // "store", "raw kvStore_Get", …
  std::string unit;     // "us", "ops/s", "ms", "MB", "events"
  std::vector<double> samples;
  double median() const { return percentile(samples, 0.5); }
  double min() const { return *std::min_element(samples.begin(), samples.end()); }
  double max() const { return *std::max_element(samples.begin(), samples.end()); }
};

struct ratio {
  std::string scenario;
  std::string description;  // "store / raw kvStore_Get"
  double value;
  std::string target;  // "<= 1.15" or empty
  bool met;
};

class report {
 public:
  metric& add(std::string scenario, std::string subject, std::string unit) {
    for (auto& m : metrics_) {
      if (m.scenario == scenario && m.subject == subject) return m;
    }
    metrics_.push_back({std::move(scenario), std::move(subject), std::move(unit), {}});
    return metrics_.back();
  }
  const metric& get(const std::string& scenario, const std::string& subject) const {
    for (const auto& m : metrics_) {
      if (m.scenario == scenario && m.subject == subject) return m;
    }
    throw std::logic_error("no metric " + scenario + " / " + subject);
  }
  // numerator / denominator of medians; `at_most` / `at_least` give the target.
  void compare(const std::string& scenario, const std::string& numerator, const std::string& denominator,
               std::optional<double> at_most = std::nullopt, std::optional<double> at_least = std::nullopt) {
    const double value = get(scenario, numerator).median() / get(scenario, denominator).median();
    std::string target;
    bool met = true;
    char text[32];
    if (at_most) {
      std::snprintf(text, sizeof text, "<= %.2f", *at_most);
      target = text;
      met = value <= *at_most;
    } else if (at_least) {
      std::snprintf(text, sizeof text, ">= %.2f", *at_least);
      target = text;
      met = value >= *at_least;
    }
    ratios_.push_back({scenario, numerator + " / " + denominator, value, target, met});
  }

  // A metric's median against an absolute target.
  void limit(const std::string& scenario, const std::string& subject, std::optional<double> at_most,
             std::optional<double> at_least = std::nullopt) {
    const metric& m = get(scenario, subject);
    const double value = m.median();
    char text[48];
    std::string target;
    bool met = true;
    if (at_most) {
      std::snprintf(text, sizeof text, "<= %g %s", *at_most, m.unit.c_str());
      target = text;
      met = value <= *at_most;
    } else if (at_least) {
      std::snprintf(text, sizeof text, ">= %g %s", *at_least, m.unit.c_str());
      target = text;
      met = value >= *at_least;
    }
    limits_.push_back({scenario, subject, value, target, met});
  }

  void print(std::ostream& out) const {
    out << "\n";
    char line[256];
    std::snprintf(line, sizeof line, "%-34s %-34s %12s %12s %12s  %s\n", "scenario", "subject", "median", "min", "max",
                  "unit");
    out << line;
    for (const auto& m : metrics_) {
      std::snprintf(line, sizeof line, "%-34s %-34s %12.1f %12.1f %12.1f  %s\n", m.scenario.c_str(), m.subject.c_str(),
                    m.median(), m.min(), m.max(), m.unit.c_str());
      out << line;
    }
    out << "\nratios (medians)\n";
    for (const auto& r : ratios_) {
      std::snprintf(line, sizeof line, "%-34s %-52s %8.2f  %-9s %s\n", r.scenario.c_str(), r.description.c_str(),
                    r.value, r.target.c_str(), r.target.empty() ? "" : (r.met ? "met" : "MISSED"));
      out << line;
    }
    if (limits_.empty()) return;
    out << "\nlimits (medians)\n";
    for (const auto& l : limits_) {
      std::snprintf(line, sizeof line, "%-34s %-52s %8.2f  %-14s %s\n", l.scenario.c_str(), l.description.c_str(),
                    l.value, l.target.c_str(), l.met ? "met" : "MISSED");
      out << line;
    }
  }

  json::object to_json(const settings& s, const std::string& server) const {
    json::object root;
    root["server"] = server;
    root["quick"] = s.quick;
    root["flow_bytes"] = s.flow_bytes;
    root["repetitions"] = s.reps;
    json::array metrics;
    for (const auto& m : metrics_) {
      json::array samples;
      for (double v : m.samples) samples.push_back(v);
      metrics.push_back(json::object{{"scenario", m.scenario},
                                     {"subject", m.subject},
                                     {"unit", m.unit},
                                     {"median", m.median()},
                                     {"min", m.min()},
                                     {"max", m.max()},
                                     {"samples", std::move(samples)}});
    }
    root["metrics"] = std::move(metrics);
    json::array ratios;
    for (const auto& r : ratios_) {
      ratios.push_back(json::object{{"scenario", r.scenario},
                                    {"ratio", r.description},
                                    {"value", r.value},
                                    {"target", r.target},
                                    {"met", r.target.empty() || r.met}});
    }
    root["ratios"] = std::move(ratios);
    json::array limits;
    for (const auto& l : limits_) {
      limits.push_back(json::object{{"scenario", l.scenario},
                                    {"metric", l.description},
                                    {"value", l.value},
                                    {"target", l.target},
                                    {"met", l.met}});
    }
    root["limits"] = std::move(limits);
    return root;
  }

 private:
  std::vector<metric> metrics_;
  std::vector<ratio> ratios_;
  std::vector<ratio> limits_;
};

// ---------------------------------------------------------------------------------------------
// Raw nats.c baseline

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) fail(std::string(what) + ": " + natsStatus_GetText(s) + " " + nats_GetLastError(nullptr));
}

// A fresh inbox subject from nats.c, for replies to raw requests.
std::string new_inbox() {
  natsInbox* inbox = nullptr;
  check(natsInbox_Create(&inbox), "natsInbox_Create");
  std::string subject(inbox);
  natsInbox_Destroy(inbox);
  return subject;
}

// What a raw direct get of `key` in KV bucket `bucket` is published to.
std::string direct_get_subject(const std::string& bucket, const std::string& key) {
  return "$JS.API.DIRECT.GET.KV_" + bucket + ".$KV." + bucket + "." + key;
}

// The raw ordered scan: kvStore_WatchAll with ignore-deletes, read until the marker that ends
// the initial values.
kvWatcher* start_raw_scan(kvStore* kv) {
  kvWatchOptions options;
  kvWatchOptions_Init(&options);
  options.IgnoreDeletes = true;
  kvWatcher* w = nullptr;
  check(kvStore_WatchAll(&w, kv, &options), "kvStore_WatchAll");
  return w;
}

// An entry's value, as text.
std::string_view value_of(kvEntry* e) {
  return {static_cast<const char*>(kvEntry_Value(e)), static_cast<std::size_t>(kvEntry_ValueLen(e))};
}

// A Boost.JSON parser handler that accepts every token and builds nothing: reading a document
// this way is the least any decoder of it can do with this JSON library.
struct token_reader {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t, json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// True when `text` is one complete JSON document, read token by token without building anything.
bool read_tokens(std::string_view text) {
  json::basic_parser<token_reader> parser{json::parse_options{}};
  json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return !ec && parser.done();
}

// The scan's next entry, or null at the end of the initial values.
kvEntry* next_scanned(kvWatcher* w) {
  kvEntry* e = nullptr;
  check(kvWatcher_Next(&e, w, 30000), "kvWatcher_Next");
  return e;
}

struct raw_client {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;

  explicit raw_client(const std::string& url) {
    // The same write policy as flowstore's connection, so that neither side waits for nats.c's
    // flusher thread.
    natsOptions* options = nullptr;
    check(natsOptions_Create(&options), "raw options");
    check(natsOptions_SetURL(options, url.c_str()), "raw url");
    check(natsOptions_SetSendAsap(options, true), "raw send asap");
    check(natsConnection_Connect(&nc, options), "raw connect");
    natsOptions_Destroy(options);
    check(natsConnection_JetStream(&js, nc, nullptr), "raw jetstream");
  }
  ~raw_client() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  kvStore* bucket(const std::string& name) const {
    kvStore* kv = nullptr;
    check(js_KeyValue(&kv, js, name.c_str()), "raw bind bucket");
    return kv;
  }
};

using kv_ptr = std::unique_ptr<kvStore, decltype(&kvStore_Destroy)>;

// ---------------------------------------------------------------------------------------------
// Flows of about the requested size

flowstore::flow make_flow(const std::string& id, std::size_t target_bytes) {
  flowstore::flow f;
  f.id = id;
  f.name = "Benchmark flow " + id;
  f.state = flowstore::runtime_state::not_deployed;
  for (int i = 0; i < 3; ++i) {
    flowstore::flow_node n;
    n.id = "n" + std::to_string(i);
    n.component = i == 0 ? "udp" : "graph-processor";
    n.type = i == 0 ? flowstore::component_type::input : flowstore::component_type::processor;
    n.name = "node-" + std::to_string(i);
    n.pos = {100.0 + 300 * i, 100};
    n.config = {{"port", 5000 + i}, {"subject", "events." + std::to_string(i)}};
    f.nodes.push_back(std::move(n));
  }
  f.connections.push_back({"c0", "n0", "out", "n1", "in", {}});
  f.connections.push_back({"c1", "n1", "out", "n2", "in", {}});
  const std::size_t size = flowstore::to_json(f).value().size() + 100;  // + audit fields added by create
  if (size < target_bytes) f.nodes[0].config["padding"] = std::string(target_bytes - size, 'x');
  return f;
}

// ---------------------------------------------------------------------------------------------
// Running coroutines to completion on the benchmark's io_context

struct flowstore_side {
  asio::io_context io{1};
  std::optional<flowstore::connection> conn;

  void run(asio::awaitable<void> work) {
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(work), [&](std::exception_ptr e) {
      failure = e;
      done = true;
    });
    io.restart();
    while (!done) io.run_one();
    if (failure) std::rethrow_exception(failure);
  }

  flowstore::store open(const std::string& bucket, int history = 1) {
    std::optional<flowstore::store> opened;
    run(open_store(bucket, history, &opened));
    return *opened;
  }

  asio::awaitable<void> open_store(std::string bucket, int history, std::optional<flowstore::store>* out) {
    flowstore::store_options options;
    options.bucket = std::move(bucket);
    options.history = history;
    auto s = co_await flowstore::store::open(*conn, std::move(options));
    if (!s) fail(s.error().what());
    *out = std::move(*s);
  }
};

// `depth` workers share `total` operations; each op(i) returns whether it succeeded.
struct pipeline {
  int next = 0;
  int total = 0;
  int failures = 0;
  std::string first_failure;
  // op(worker, i): worker is 0..depth-1 and runs one op at a time, so it can own state.
  std::function<asio::awaitable<std::optional<flowstore::error>>(int, int)> op;
};

asio::awaitable<void> pipeline_worker(pipeline* p, int worker) {
  while (p->next < p->total) {
    const int i = p->next++;
    auto failed = co_await p->op(worker, i);
    if (failed) {
      if (p->failures++ == 0) p->first_failure = failed->what();
    }
  }
}

asio::awaitable<void> run_pipeline(pipeline* p, int depth) {
  auto executor = co_await asio::this_coro::executor;
  int running = depth;
  asio::steady_timer all_done(executor, clock_type::time_point::max());
  for (int w = 0; w < depth; ++w) {
    asio::co_spawn(executor, pipeline_worker(p, w), [&](std::exception_ptr) {
      if (--running == 0) all_done.cancel();
    });
  }
  boost::system::error_code ignored;
  co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

double pipelined_ops_per_second(flowstore_side& side, pipeline& p, int depth) {
  const auto start = clock_type::now();
  side.run(run_pipeline(&p, depth));
  const double elapsed = seconds_since(start);
  if (p.failures != 0) fail(std::to_string(p.failures) + " operations failed; first: " + p.first_failure);
  return p.total / elapsed;
}

// Updates the flow held in `mine` (reading flow `id` first when empty) and keeps what update
// returned, so the next update of it is one compare-and-set.
asio::awaitable<std::optional<flowstore::error>> update_owned(flowstore::store& s, std::optional<flowstore::flow>& mine,
                                                              std::string id) {
  if (!mine) {
    auto read = co_await s.get(std::move(id));
    if (!read) co_return read.error();
    mine = std::move(*read);
  }
  flowstore::flow f = std::move(*mine);
  mine.reset();
  auto r = co_await s.update(std::move(f));
  if (!r) co_return r.error();
  mine = std::move(*r);
  co_return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

class benchmark {
 public:
  benchmark(settings s, std::string url, std::optional<pid_t> server_pid)
      : settings_(std::move(s)), url_(std::move(url)), server_pid_(server_pid), raw_(url_) {
    flowstore::connect_options options;
    options.servers = {url_};
    options.operation_timeout = operation_timeout;
    side_.run(connect(std::move(options)));
  }

  void run_all() {
    const std::pair<const char*, void (benchmark::*)()> scenarios[] = {
        {"sequential latency", &benchmark::sequential_latency},
        {"pipelined throughput", &benchmark::pipelined_throughput},
        {"list", &benchmark::listing},
        {"watch", &benchmark::watching},
        {"memory", &benchmark::memory},
        {"watchers at scale", &benchmark::watchers_at_scale},
        {"stalled watchers", &benchmark::stalled_watchers},
        {"concurrent scans", &benchmark::concurrent_scans}};
    for (const auto& [name, run] : scenarios) {
      if (std::string_view(name).find(settings_.only) == std::string_view::npos) continue;
      const auto start = clock_type::now();
      std::cerr << "flowstore-bench: " << name << "..." << std::flush;
      (this->*run)();
      std::cerr << " " << static_cast<int>(seconds_since(start)) << " s\n";
    }
  }

  report results;

 private:
  asio::awaitable<void> connect(flowstore::connect_options options) {
    auto c = co_await flowstore::connect(co_await asio::this_coro::executor, std::move(options));
    if (!c) fail(c.error().what());
    side_.conn.emplace(std::move(*c));
  }

  int scaled(int full, int quick) const { return settings_.quick ? quick : full; }

  std::string encoded(const flowstore::flow& f) const { return flowstore::to_json(f).value(); }

  // Stores `count` flows named prefix.<i> through the store, pipelined.
  void populate(flowstore::store& s, const std::string& prefix, int count) {
    pipeline p;
    p.total = count;
    p.op = [&s, prefix, this](int, int i) -> asio::awaitable<std::optional<flowstore::error>> {
      auto f = make_flow(prefix + "." + std::to_string(i), settings_.flow_bytes);
      auto r = co_await s.create(std::move(f));
      if (!r && r.error().code != flowstore::errc::already_exists) co_return r.error();
      co_return std::nullopt;
    };
    pipelined_ops_per_second(side_, p, 256);
  }

  void sequential_latency() {
    const std::string scenario = "1 sequential latency";
    auto s = side_.open("bench_seq");
    kv_ptr kv(raw_.bucket("bench_seq"), &kvStore_Destroy);
    const int n = scaled(2000, 200);
    // The store and the raw client take turns in blocks, so that both meet the same conditions
    // on a machine whose speed drifts (other load, frequency changes).
    constexpr int block = 50;
    populate(s, "get", 100);
    const std::string value = encoded(make_flow("raw", settings_.flow_bytes));
    // The floor of any client that completes on the caller's io_context: the same direct get,
    // its reply handed from nats.c's delivery thread to the io_context, nothing else.
    io_reply_slot io_replies;
    io_replies.executor = side_.io.get_executor();
    io_replies.reply_subject = new_inbox();
    natsSubscription* reply_sub = nullptr;
    check(
        natsConnection_Subscribe(&reply_sub, raw_.nc, io_replies.reply_subject.c_str(), &hand_reply_to_io, &io_replies),
        "natsConnection_Subscribe");
    for (int rep = 0; rep < settings_.reps; ++rep) {
      latencies store, raw;
      std::vector<double> raw_on_io_gets, raw_on_io_decoded_gets;
      for (int begin = 0; begin < n; begin += block) {
        const int end = std::min(n, begin + block);
        side_.run(store_gets(s, begin, end, &store.gets));
        raw_gets(kv.get(), begin, end, &raw.gets);
        side_.run(raw_gets_on_io(raw_.nc, &io_replies, begin, end, false, &raw_on_io_gets));
        side_.run(raw_gets_on_io(raw_.nc, &io_replies, begin, end, true, &raw_on_io_decoded_gets));
      }
      for (int begin = 0; begin < n; begin += block) {
        const int end = std::min(n, begin + block);
        side_.run(store_creates(s, rep, begin, end, &store.creates));
        raw_creates(kv.get(), value, rep, begin, end, &raw.creates);
      }
      std::optional<flowstore::flow> updated;  // what the last store update returned
      uint64_t raw_revision = 0;
      check(kvStore_Put(&raw_revision, kv.get(), "raw-update", value.data(), static_cast<int>(value.size())),
            "kvStore_Put");
      for (int begin = 0; begin < n; begin += block) {
        const int end = std::min(n, begin + block);
        side_.run(store_updates(s, begin, end, &updated, &store.updates));
        raw_updates(kv.get(), value, begin, end, &raw_revision, &raw.updates);
      }
      add_latencies(scenario, "store get", "raw kvStore_Get", store.gets, raw.gets);
      results.add(scenario, "raw get completed on io_context p50", "us")
          .samples.push_back(percentile(raw_on_io_gets, 0.5));
      results.add(scenario, "raw get on io_context + decode p50", "us")
          .samples.push_back(percentile(raw_on_io_decoded_gets, 0.5));
      add_latencies(scenario, "store create", "raw kvStore_Create", store.creates, raw.creates);
      add_latencies(scenario, "store update", "raw kvStore_Update", store.updates, raw.updates);
      add_context_costs(scenario);
    }
    natsSubscription_Unsubscribe(reply_sub);
    natsSubscription_Destroy(reply_sub);
    results.compare(scenario, "store get p50", "raw kvStore_Get p50", 1.15);
    results.compare(scenario, "raw get completed on io_context p50", "raw kvStore_Get p50");
    results.compare(scenario, "store get p50", "raw get completed on io_context p50");
    results.compare(scenario, "store get p50", "raw get on io_context + decode p50");
    results.compare(scenario, "store get p99", "raw kvStore_Get p99");
    results.compare(scenario, "store create p50", "raw kvStore_Create p50");
    results.compare(scenario, "store update p50", "raw kvStore_Update p50");
  }

  struct latencies {
    std::vector<double> gets, creates, updates;  // microseconds
  };

  // What naming the operation costs a get: the error context as a string formatted on every call
  // (how the store used to do it, also on success) against a descriptor of views formatted only
  // when an error is made (how it does it now). Per get, in nanoseconds, next to the get's p50.
  void add_context_costs(const std::string& scenario) {
    struct descriptor {
      std::string_view verb, id;
    };
    std::vector<std::string> ids;
    for (int i = 0; i < 1000; ++i) ids.push_back("get." + std::to_string(i % 100));
    constexpr int rounds = 200;
    std::size_t sink = 0;
    auto start = clock_type::now();
    for (int r = 0; r < rounds; ++r) {
      for (const auto& id : ids) {
        const std::string what = "get flow '" + id + "'";
        sink += what.size();
        benchmark_escape(what.data());
      }
    }
    const double eager_ns = seconds_since(start) * 1e9 / static_cast<double>(rounds * ids.size());
    start = clock_type::now();
    for (int r = 0; r < rounds; ++r) {
      for (const auto& id : ids) {
        const descriptor what{"get", id};
        sink += what.id.size();
        benchmark_escape(&what);
      }
    }
    const double descriptor_ns = seconds_since(start) * 1e9 / static_cast<double>(rounds * ids.size());
    benchmark_escape(&sink);
    results.add(scenario, "get error context, formatted on every call", "ns").samples.push_back(eager_ns);
    results.add(scenario, "get error context, descriptor", "ns").samples.push_back(descriptor_ns);
  }

  // p50 and p99 of one operation, the store's and the baseline's, as "<subject> p50" etc.
  void add_latencies(const std::string& scenario, const std::string& store_subject, const std::string& raw_subject,
                     const std::vector<double>& store_samples, const std::vector<double>& raw_samples) {
    for (const double p : {0.5, 0.99}) {
      const std::string suffix = p == 0.5 ? " p50" : " p99";
      results.add(scenario, store_subject + suffix, "us").samples.push_back(percentile(store_samples, p));
      results.add(scenario, raw_subject + suffix, "us").samples.push_back(percentile(raw_samples, p));
    }
  }

  // Where a reply to raw_gets_on_io goes: to the coroutine waiting for it, on its io_context.
  struct io_reply_slot {
    std::mutex mutex;
    // Optional: any_completion_handler's move assignment recurses without end in Boost 1.81.
    std::optional<asio::any_completion_handler<void(natsMsg*)>> waiting;
    asio::any_io_executor executor;
    std::string reply_subject;
  };

  // On nats.c's delivery thread, as in the library: only hands the reply to the io_context.
  static void hand_reply_to_io(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* slot = static_cast<io_reply_slot*>(closure);
    std::lock_guard lock(slot->mutex);
    if (!slot->waiting) return natsMsg_Destroy(msg);
    asio::post(slot->executor, asio::append(std::move(*slot->waiting), msg));
    slot->waiting.reset();
  }

  static asio::awaitable<void> raw_gets_on_io(natsConnection* nc, io_reply_slot* slot, int begin, int end, bool decode,
                                              std::vector<double>* out) {
    for (int i = begin; i < end; ++i) {
      const std::string subject = direct_get_subject("bench_seq", "get." + std::to_string(i % 100));
      const auto start = clock_type::now();
      auto request = [nc, slot, &subject](auto handler) {
        {
          std::lock_guard lock(slot->mutex);
          slot->waiting.emplace(std::move(handler));
        }
        check(natsConnection_PublishRequest(nc, subject.c_str(), slot->reply_subject.c_str(), nullptr, 0),
              "natsConnection_PublishRequest");
      };
      natsMsg* reply = co_await asio::async_initiate<const asio::use_awaitable_t<>, void(natsMsg*)>(
          std::move(request), asio::use_awaitable);
      const std::string_view value(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
      if (decode && !flowstore::flow_from_json(value)) fail("direct get of " + subject + ": not a flow");
      out->push_back(seconds_since(start) * 1e6);
      const bool found = !value.empty();
      natsMsg_Destroy(reply);  // after the clock, as raw_gets destroys its entry
      if (!found) fail("direct get of " + subject + ": empty reply");
    }
  }

  static asio::awaitable<void> store_gets(flowstore::store s, int begin, int end, std::vector<double>* out) {
    for (int i = begin; i < end; ++i) {
      const auto start = clock_type::now();
      auto r = co_await s.get("get." + std::to_string(i % 100));
      out->push_back(seconds_since(start) * 1e6);
      if (!r) fail(r.error().what());
    }
  }

  static void raw_gets(kvStore* kv, int begin, int end, std::vector<double>* out) {
    for (int i = begin; i < end; ++i) {
      const std::string key = "get." + std::to_string(i % 100);
      const auto start = clock_type::now();
      kvEntry* e = nullptr;
      check(kvStore_Get(&e, kv, key.c_str()), "kvStore_Get");
      out->push_back(seconds_since(start) * 1e6);
      kvEntry_Destroy(e);
    }
  }

  asio::awaitable<void> store_creates(flowstore::store s, int rep, int begin, int end, std::vector<double>* out) {
    for (int i = begin; i < end; ++i) {
      auto f = make_flow("sc." + std::to_string(rep) + "." + std::to_string(i), settings_.flow_bytes);
      const auto start = clock_type::now();
      auto r = co_await s.create(std::move(f));
      out->push_back(seconds_since(start) * 1e6);
      if (!r) fail(r.error().what());
    }
  }

  static void raw_creates(kvStore* kv, const std::string& value, int rep, int begin, int end,
                          std::vector<double>* out) {
    for (int i = begin; i < end; ++i) {
      const std::string key = "rc." + std::to_string(rep) + "." + std::to_string(i);
      const auto start = clock_type::now();
      uint64_t revision = 0;
      check(kvStore_Create(&revision, kv, key.c_str(), value.data(), static_cast<int>(value.size())), "kvStore_Create");
      out->push_back(seconds_since(start) * 1e6);
    }
  }

  // Updates flow get.0 with what the previous update returned: one compare-and-set each.
  static asio::awaitable<void> store_updates(flowstore::store s, int begin, int end,
                                             std::optional<flowstore::flow>* updated, std::vector<double>* out) {
    if (!*updated) {
      auto current = co_await s.get("get.0");
      if (!current) fail(current.error().what());
      *updated = std::move(*current);
    }
    for (int i = begin; i < end; ++i) {
      flowstore::flow f = std::move(**updated);
      const auto start = clock_type::now();
      auto r = co_await s.update(std::move(f));
      out->push_back(seconds_since(start) * 1e6);
      if (!r) fail(r.error().what());
      *updated = std::move(*r);
    }
  }

  static void raw_updates(kvStore* kv, const std::string& value, int begin, int end, uint64_t* revision,
                          std::vector<double>* out) {
    for (int i = begin; i < end; ++i) {
      const auto start = clock_type::now();
      check(kvStore_Update(revision, kv, "raw-update", value.data(), static_cast<int>(value.size()), *revision),
            "kvStore_Update");
      out->push_back(seconds_since(start) * 1e6);
    }
  }

  // One thread calling the blocking nats.c functions in a loop: the baseline of the pipelining
  // targets. Measured right after the store's runs at 256 in flight, in the same repetition.
  void raw_sync(kvStore* kv, const std::string& value, int total, int keys, int rep) {
    const std::string scenario = "2 pipelined throughput";
    auto start = clock_type::now();
    for (int i = 0; i < total; ++i) {
      kvEntry* e = nullptr;
      check(kvStore_Get(&e, kv, ("g." + std::to_string(i % keys)).c_str()), "kvStore_Get");
      kvEntry_Destroy(e);
    }
    results.add(scenario, "raw sync kvStore_Get", "ops/s").samples.push_back(total / seconds_since(start));
    start = clock_type::now();
    for (int i = 0; i < total; ++i) {
      uint64_t revision = 0;
      const std::string key = "rsc." + std::to_string(rep) + "." + std::to_string(i);
      check(kvStore_Create(&revision, kv, key.c_str(), value.data(), static_cast<int>(value.size())), "kvStore_Create");
    }
    results.add(scenario, "raw sync kvStore_Create", "ops/s").samples.push_back(total / seconds_since(start));
    uint64_t revision = 0;
    check(kvStore_Put(&revision, kv, "rsu", value.data(), static_cast<int>(value.size())), "kvStore_Put");
    start = clock_type::now();
    for (int i = 0; i < total; ++i) {
      check(kvStore_Update(&revision, kv, "rsu", value.data(), static_cast<int>(value.size()), revision),
            "kvStore_Update");
    }
    results.add(scenario, "raw sync kvStore_Update", "ops/s").samples.push_back(total / seconds_since(start));
  }

  void pipelined_throughput() {
    const std::string scenario = "2 pipelined throughput";
    auto s = side_.open("bench_pipe");
    kv_ptr kv(raw_.bucket("bench_pipe"), &kvStore_Destroy);
    const int total = scaled(20000, 2000);
    const int raw_total = scaled(4000, 500);
    const int keys = 1024;  // at least the deepest pipeline: each update worker owns one
    populate(s, "g", keys);
    const std::string value = encoded(make_flow("raw", settings_.flow_bytes));

    for (int depth : {1, 16, 256, 1024}) {
      const std::string d = " @" + std::to_string(depth);
      for (int rep = 0; rep < settings_.reps; ++rep) {
        // create
        pipeline creates;
        creates.total = depth == 1 ? total / 10 : total;
        const std::string prefix = "c" + std::to_string(depth) + "." + std::to_string(rep);
        // Built before the clock starts: making the caller's flows is not the store's work (the
        // raw baseline publishes bytes encoded once). create's encoding and validation are timed.
        std::vector<flowstore::flow> inputs;
        inputs.reserve(static_cast<std::size_t>(creates.total));
        for (int i = 0; i < creates.total; ++i) {
          inputs.push_back(make_flow(prefix + "." + std::to_string(i), settings_.flow_bytes));
        }
        creates.op = [&s, &inputs](int, int i) -> asio::awaitable<std::optional<flowstore::error>> {
          auto r = co_await s.create(std::move(inputs[static_cast<std::size_t>(i)]));
          if (!r) co_return r.error();
          co_return std::nullopt;
        };
        results.add(scenario, "store create" + d, "ops/s")
            .samples.push_back(pipelined_ops_per_second(side_, creates, depth));

        // get
        pipeline gets;
        gets.total = depth == 1 ? total / 10 : total;
        gets.op = [&s](int, int i) -> asio::awaitable<std::optional<flowstore::error>> {
          auto r = co_await s.get("g." + std::to_string(i % keys));
          if (!r) co_return r.error();
          co_return std::nullopt;
        };
        results.add(scenario, "store get" + d, "ops/s").samples.push_back(pipelined_ops_per_second(side_, gets, depth));

        // update: each worker owns one flow, read once, then updated with what update returned
        std::vector<std::optional<flowstore::flow>> owned(static_cast<std::size_t>(depth));
        pipeline updates;
        updates.total = depth == 1 ? total / 10 : total;
        updates.op = [&s, &owned](int worker, int) -> asio::awaitable<std::optional<flowstore::error>> {
          co_return co_await update_owned(s, owned[static_cast<std::size_t>(worker)], "g." + std::to_string(worker));
        };
        results.add(scenario, "store update" + d, "ops/s")
            .samples.push_back(pipelined_ops_per_second(side_, updates, depth));

        // raw js_PublishAsync of the same bytes to the same subjects: the pipeline limit
        results.add(scenario, "raw js_PublishAsync" + d, "ops/s")
            .samples.push_back(publish_async(value, depth, depth == 1 ? total / 10 : total, rep));
        // raw direct-get requests of the same keys, `depth` in flight: the pipeline limit for reads
        results.add(scenario, "raw async direct get" + d, "ops/s")
            .samples.push_back(direct_get_async(depth, depth == 1 ? total / 10 : total, keys));
        if (depth == 256) {
          // The floors of a store get and create: the raw calls plus decoding (encoding) the flow.
          results.add(scenario, "raw async direct get + decode" + d, "ops/s")
              .samples.push_back(direct_get_async(depth, total, keys, true));
          std::vector<flowstore::flow> to_encode;
          to_encode.reserve(static_cast<std::size_t>(total));
          for (int i = 0; i < total; ++i) {
            to_encode.push_back(make_flow("e" + std::to_string(rep) + "." + std::to_string(i), settings_.flow_bytes));
          }
          results.add(scenario, "raw js_PublishAsync + encode" + d, "ops/s")
              .samples.push_back(publish_async(value, depth, total, rep, &to_encode));
        }
        if (depth == 256) raw_sync(kv.get(), value, raw_total, keys, rep);
      }
    }
    results.compare(scenario, "store create @256", "raw js_PublishAsync @256", std::nullopt, 0.7);
    results.compare(scenario, "store get @256", "raw sync kvStore_Get", std::nullopt, 6.0);
    results.compare(scenario, "store update @256", "raw sync kvStore_Update", std::nullopt, 4.0);
    results.compare(scenario, "store create @1024", "raw js_PublishAsync @1024");
    results.compare(scenario, "store get @1024", "raw sync kvStore_Get");
    results.compare(scenario, "store get @256", "raw async direct get @256", std::nullopt, 0.85);
    results.compare(scenario, "store get @256", "raw async direct get + decode @256");
    results.compare(scenario, "raw async direct get + decode @256", "raw async direct get @256");
    results.compare(scenario, "store create @256", "raw js_PublishAsync + encode @256");
    results.compare(scenario, "raw js_PublishAsync + encode @256", "raw js_PublishAsync @256");
    results.compare(scenario, "raw async direct get @256", "raw sync kvStore_Get");
  }

  // Replies of direct_get_async, counted on nats.c's delivery thread.
  struct reply_counter {
    std::mutex mutex;
    std::condition_variable changed;
    int received = 0;
  };

  static void count_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    natsMsg_Destroy(msg);
    auto* counter = static_cast<reply_counter*>(closure);
    std::lock_guard lock(counter->mutex);
    ++counter->received;
    counter->changed.notify_one();
  }

  // The same, and each reply's document decoded into a flow first, on the delivery thread.
  static void decode_and_count_reply(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure) {
    const char* data = natsMsg_GetData(msg);
    auto decoded =
        flowstore::flow_from_json(std::string_view(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
    if (!decoded) fail("a direct get's document did not decode: " + decoded.error().what());
    count_reply(nc, sub, msg, closure);
  }

  // Direct gets of "g.N" published as requests with `depth` in flight, replies to one wildcard
  // inbox subscription; nothing decoded (unless `decode`). What nats.c and the server do for
  // pipelined reads; with `decode`, the least a get of a flow can cost.
  double direct_get_async(int depth, int total, int keys, bool decode = false) {
    reply_counter counter;
    const std::string reply_prefix = new_inbox() + ".";
    natsSubscription* sub = nullptr;
    check(natsConnection_Subscribe(&sub, raw_.nc, (reply_prefix + "*").c_str(),
                                   decode ? &decode_and_count_reply : &count_reply, &counter),
          "natsConnection_Subscribe");
    check(natsSubscription_SetPendingLimits(sub, -1, -1), "natsSubscription_SetPendingLimits");
    const auto start = clock_type::now();
    for (int i = 0; i < total; ++i) {
      {
        std::unique_lock lock(counter.mutex);
        counter.changed.wait(lock, [&] { return i - counter.received < depth; });
      }
      const std::string subject = direct_get_subject("bench_pipe", "g." + std::to_string(i % keys));
      const std::string reply = reply_prefix + std::to_string(i);
      check(natsConnection_PublishRequest(raw_.nc, subject.c_str(), reply.c_str(), nullptr, 0),
            "natsConnection_PublishRequest");
    }
    {
      std::unique_lock lock(counter.mutex);
      counter.changed.wait(lock, [&] { return counter.received == total; });
    }
    const double rate = total / seconds_since(start);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return rate;
  }

  // js_PublishAsync of `total` values with `depth` in flight; `flows`, when given, are encoded
  // one by one in the loop (the least a create of a flow can cost), else `value` is sent.
  double publish_async(const std::string& value, int depth, int total, int rep,
                       const std::vector<flowstore::flow>* flows = nullptr) {
    jsOptions options;
    jsOptions_Init(&options);
    options.PublishAsync.MaxPending = depth;
    jsCtx* js = nullptr;
    check(natsConnection_JetStream(&js, raw_.nc, &options), "jetstream");
    const std::string prefix =
        "$KV.bench_pipe.pa" + std::to_string(depth) + "." + std::to_string(rep) + (flows != nullptr ? "e." : ".");
    const auto start = clock_type::now();
    for (int i = 0; i < total; ++i) {
      const std::string subject = prefix + std::to_string(i);
      if (flows != nullptr) {
        const std::string encoded = flowstore::to_json((*flows)[static_cast<std::size_t>(i)]).value();
        check(js_PublishAsync(js, subject.c_str(), encoded.data(), static_cast<int>(encoded.size()), nullptr),
              "js_PublishAsync");
        continue;
      }
      check(js_PublishAsync(js, subject.c_str(), value.data(), static_cast<int>(value.size()), nullptr),
            "js_PublishAsync");
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 60000;
    check(js_PublishAsyncComplete(js, &wait), "js_PublishAsyncComplete");
    const double rate = total / seconds_since(start);
    jsCtx_Destroy(js);
    return rate;
  }

  void listing() {
    for (int size : {scaled(1000, 200), scaled(10000, 1000)}) {
      const std::string scenario = "3 list " + std::to_string(size);
      const std::string bucket = "bench_list_" + std::to_string(size);
      auto s = side_.open(bucket);
      kv_ptr kv(raw_.bucket(bucket), &kvStore_Destroy);
      populate(s, "l", size);
      for (int rep = 0; rep < settings_.reps; ++rep) {
        auto start = clock_type::now();
        flowstore::list_result listed;
        side_.run(list_into(s, &listed));
        // Timed until the caller holds the flows, as the raw scan until it has seen the last
        // entry; freeing them afterwards is the caller's work, outside both.
        results.add(scenario, "store list()", "ms").samples.push_back(seconds_since(start) * 1e3);
        if (listed.flows.size() != static_cast<std::size_t>(size)) {
          fail("list returned " + std::to_string(listed.flows.size()));
        }
        listed = {};

        start = clock_type::now();
        std::vector<flowstore::raw_flow> raw_listed;
        side_.run(list_raw_into(s, &raw_listed));
        results.add(scenario, "store list_raw()", "ms").samples.push_back(seconds_since(start) * 1e3);
        if (raw_listed.size() != static_cast<std::size_t>(size)) {
          fail("list_raw returned " + std::to_string(raw_listed.size()));
        }
        raw_listed = {};

        start = clock_type::now();
        kvKeysList keys;
        check(kvStore_Keys(&keys, kv.get(), nullptr), "kvStore_Keys");
        for (int i = 0; i < keys.Count; ++i) {
          kvEntry* e = nullptr;
          check(kvStore_Get(&e, kv.get(), keys.Keys[i]), "kvStore_Get");
          kvEntry_Destroy(e);
        }
        kvKeysList_Destroy(&keys);
        results.add(scenario, "raw keys + get", "ms").samples.push_back(seconds_since(start) * 1e3);

        const double cpu_before = busy_cpu_seconds();
        start = clock_type::now();
        kvWatcher* w = start_raw_scan(kv.get());
        int scanned = 0;
        double first_entry_seconds = 0;
        double cpu_at_first_entry = 0;
        while (kvEntry* e = next_scanned(w)) {
          if (scanned++ == 0) {
            first_entry_seconds = seconds_since(start);
            cpu_at_first_entry = busy_cpu_seconds();
          }
          kvEntry_Destroy(e);
        }
        kvWatcher_Destroy(w);
        const double scan_seconds = seconds_since(start);
        results.add(scenario, "raw ordered scan", "ms").samples.push_back(scan_seconds * 1e3);
        if (scanned != size) fail("raw scan saw " + std::to_string(scanned));
        // How much of the machine the scan alone keeps busy: what is left for decoding.
        const double cpu_after = busy_cpu_seconds();
        const double scan_cpu_seconds = cpu_after - cpu_before;
        const double streaming_cpu_seconds = cpu_after - cpu_at_first_entry;  // after the first entry
        if (server_pid_) {
          results.add(scenario, "raw ordered scan: cores busy", "cores")
              .samples.push_back(scan_cpu_seconds / scan_seconds);
        }

        // What any list that hands back flows must add to the scan: decoding each document.
        start = clock_type::now();
        const int decoded = raw_scan_and_decode(kv.get(), decoder_work::decode, nullptr);
        results.add(scenario, "raw ordered scan + decode", "ms").samples.push_back(seconds_since(start) * 1e3);
        if (decoded != size) fail("raw scan decoded " + std::to_string(decoded));
        // And the least of it: reading each document's tokens.
        start = clock_type::now();
        const int read = raw_scan_and_decode(kv.get(), decoder_work::read_tokens, nullptr);
        results.add(scenario, "raw ordered scan + tokens read", "ms").samples.push_back(seconds_since(start) * 1e3);
        if (read != size) fail("raw scan read the tokens of " + std::to_string(read));
        // The same work built by hand to overlap: decoding on two threads (list() decodes on
        // the caller's thread and one pool thread), keeping the flows; only parsing them; and
        // only reading their tokens, which no list can do without.
        for (const auto work : {decoder_work::decode, decoder_work::parse, decoder_work::read_tokens}) {
          kept_results kept;
          start = clock_type::now();
          const int done = raw_scan_decoding_on_threads(kv.get(), 2, work, kept);
          const double seconds = seconds_since(start);
          results.add(scenario, scan_on_threads_subject(work), "ms").samples.push_back(seconds * 1e3);
          if (done != size) fail("raw scan on threads decoded " + std::to_string(done));
        }
        // The decoding's own cost, on one core, and the parser's share of it (not wall times).
        decode_costs costs;
        raw_scan_and_decode(kv.get(), decoder_work::decode, &costs);
        results.add(scenario, "decode alone (flow_from_json)", "ms").samples.push_back(costs.decode_seconds * 1e3);
        results.add(scenario, "Boost.JSON parse alone", "ms").samples.push_back(costs.parse_seconds * 1e3);
        results.add(scenario, "Boost.JSON tokens alone", "ms").samples.push_back(costs.token_seconds * 1e3);
        // No list that returns flows can beat the CPU it needs spread over every core: the
        // scan's CPU (client and server) plus the decoding, even if both overlapped perfectly.
        if (server_pid_) {
          const double cores = std::max(1u, std::thread::hardware_concurrency());
          const double bound = std::max(scan_seconds, (scan_cpu_seconds + costs.decode_seconds) / cores);
          results.add(scenario, "list lower bound from CPU", "ms").samples.push_back(bound * 1e3);
          // Tighter: nothing can be decoded before the first entry arrives (the server first
          // builds the consumer), so only the streaming after it can overlap with decoding.
          const double streaming_bound = first_entry_seconds + (streaming_cpu_seconds + costs.decode_seconds) / cores;
          results.add(scenario, "raw ordered scan: first entry", "ms").samples.push_back(first_entry_seconds * 1e3);
          results.add(scenario, "list lower bound after first entry", "ms")
              .samples.push_back(std::max(scan_seconds, streaming_bound) * 1e3);
        }
      }
      results.compare(scenario, "store list()", "raw ordered scan",
                      size >= 10000 ? std::optional<double>(1.2) : std::nullopt);
      results.compare(scenario, "store list_raw()", "raw ordered scan",
                      size >= 10000 ? std::optional<double>(1.2) : std::nullopt);
      results.compare(scenario, "store list()", "store list_raw()");
      results.compare(scenario, "store list()", "raw ordered scan + decode");
      results.compare(scenario, "store list()", "raw scan, decoded on 2 threads");
      results.compare(scenario, "raw scan, decoded on 2 threads", "raw ordered scan");
      results.compare(scenario, "raw scan, parsed on 2 threads", "raw ordered scan");
      results.compare(scenario, "raw ordered scan + tokens read", "raw ordered scan");
      results.compare(scenario, "raw scan, tokens read on 2 threads", "raw ordered scan");
      // The ≤ 1.2 × scan target leaves 0.2 × the scan for decoding, on cores the scan keeps busy.
      if (server_pid_) {
        results.compare(scenario, "list lower bound from CPU", "raw ordered scan");
        results.compare(scenario, "list lower bound after first entry", "raw ordered scan");
      }
      results.compare(scenario, "decode alone (flow_from_json)", "raw ordered scan");
      results.compare(scenario, "Boost.JSON parse alone", "raw ordered scan");
      results.compare(scenario, "Boost.JSON tokens alone", "raw ordered scan");
      results.compare(scenario, "raw keys + get", "store list()", std::nullopt,
                      size >= 10000 ? std::optional<double>(8.0) : std::nullopt);
    }
  }

  // CPU time of this process and of the server it started.
  double busy_cpu_seconds() const { return cpu_seconds(getpid()) + (server_pid_ ? cpu_seconds(*server_pid_) : 0.0); }

  // What a baseline does with each scanned document.
  enum class decoder_work { decode, parse, read_tokens };

  struct decode_costs {
    double decode_seconds = 0;  // in flow_from_json
    double parse_seconds = 0;   // in boost::json::parse of the same bytes
    double token_seconds = 0;   // reading their tokens, building nothing: the parser's floor
  };

  // The raw ordered scan, decoding each value with flow_from_json (or only reading its tokens)
  // as it arrives. With `costs`, it decodes, and times each decode, a plain boost::json::parse
  // of the same bytes and a read of their tokens.
  int raw_scan_and_decode(kvStore* kv, decoder_work work, decode_costs* costs) {
    kvWatcher* w = start_raw_scan(kv);
    int decoded = 0;
    while (kvEntry* e = next_scanned(w)) {
      const std::string_view value = value_of(e);
      if (costs == nullptr) {
        if (work == decoder_work::read_tokens ? read_tokens(value) : flowstore::flow_from_json(value).has_value()) {
          ++decoded;
        }
      } else {
        auto start = clock_type::now();
        if (flowstore::flow_from_json(value)) ++decoded;
        costs->decode_seconds += seconds_since(start);
        start = clock_type::now();
        boost::system::error_code ec;
        const json::value parsed = json::parse(json::string_view(value.data(), value.size()), ec);
        costs->parse_seconds += seconds_since(start);
        if (ec || !parsed.is_object()) fail("boost::json::parse failed on a stored flow");
        start = clock_type::now();
        const bool read = read_tokens(value);
        costs->token_seconds += seconds_since(start);
        if (!read) fail("reading the tokens of a stored flow failed");
      }
      kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    return decoded;
  }

  // What a scan with decoding becomes when built by hand from raw parts as list() is built:
  // the caller's thread takes entries from kvWatcher_Next and hands them over in groups to
  // `decoders` threads, which decode them (or only parse them, or only read their tokens) and
  // keep the results, as a list hands them back. Returns how many documents were decoded; the results
  // are freed after the clock stops, through `kept`.
  struct kept_results {
    std::vector<std::vector<flowstore::flow>> flows;
    std::vector<std::vector<json::value>> values;
    std::vector<std::size_t> tokens_read;  // documents read, by thread
  };
  static const char* scan_on_threads_subject(decoder_work work) {
    switch (work) {
      case decoder_work::decode:
        return "raw scan, decoded on 2 threads";
      case decoder_work::parse:
        return "raw scan, parsed on 2 threads";
      case decoder_work::read_tokens:
        return "raw scan, tokens read on 2 threads";
    }
    return "";
  }
  int raw_scan_decoding_on_threads(kvStore* kv, int decoders, decoder_work work, kept_results& kept) {
    std::mutex mutex;
    std::condition_variable ready;
    std::vector<std::vector<kvEntry*>> queue;
    bool scanned = false;
    kept.flows.assign(static_cast<std::size_t>(decoders), {});
    kept.values.assign(static_cast<std::size_t>(decoders), {});
    kept.tokens_read.assign(static_cast<std::size_t>(decoders), 0);
    auto decode_groups = [&](std::size_t slot) {
      while (true) {
        std::vector<kvEntry*> group;
        {
          std::unique_lock lock(mutex);
          ready.wait(lock, [&] { return scanned || !queue.empty(); });
          if (queue.empty()) return;
          group = std::move(queue.back());
          queue.pop_back();
        }
        for (kvEntry* e : group) {
          const std::string_view value = value_of(e);
          if (work == decoder_work::read_tokens) {
            if (read_tokens(value)) ++kept.tokens_read[slot];
          } else if (work == decoder_work::parse) {
            boost::system::error_code ec;
            json::value parsed = json::parse(json::string_view(value.data(), value.size()), ec);
            if (!ec) kept.values[slot].push_back(std::move(parsed));
          } else if (auto f = flowstore::flow_from_json(value)) {
            kept.flows[slot].push_back(std::move(f).value());
          }
          kvEntry_Destroy(e);
        }
      }
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < decoders; ++i) threads.emplace_back(decode_groups, static_cast<std::size_t>(i));

    kvWatcher* w = start_raw_scan(kv);
    std::vector<kvEntry*> group;
    auto hand_over = [&] {
      {
        std::lock_guard lock(mutex);
        queue.push_back(std::move(group));
      }
      ready.notify_one();
      group.clear();
    };
    while (kvEntry* e = next_scanned(w)) {
      group.push_back(e);
      if (group.size() == 128) hand_over();  // list()'s group size
    }
    if (!group.empty()) hand_over();
    kvWatcher_Destroy(w);
    {
      std::lock_guard lock(mutex);
      scanned = true;
    }
    ready.notify_all();
    for (auto& t : threads) t.join();
    std::size_t decoded = 0;
    for (const auto& flows : kept.flows) decoded += flows.size();
    for (const auto& values : kept.values) decoded += values.size();
    for (const std::size_t read : kept.tokens_read) decoded += read;
    return static_cast<int>(decoded);
  }

  asio::awaitable<void> list_into(flowstore::store s, flowstore::list_result* out) {
    auto listed = co_await s.list();
    if (!listed) fail(listed.error().what());
    *out = std::move(listed).value();
  }

  asio::awaitable<void> list_raw_into(flowstore::store s, std::vector<flowstore::raw_flow>* out) {
    auto listed = co_await s.list_raw();
    if (!listed) fail(listed.error().what());
    *out = std::move(listed).value();
  }

  void watching() {
    const std::string scenario = "4 watch";
    // Every revision must still be in the stream when the watcher reaches it: a bucket keeping
    // 64 revisions per flow, and few enough updates per flow.
    auto s = side_.open("bench_watch", 64);
    const int total = scaled(20000, 2000);
    const int flows = std::max(64, total / 32);
    populate(s, "w", flows);
    for (int rep = 0; rep < settings_.reps; ++rep) {
      double writer_seconds = 0;
      double watcher_seconds = 0;
      std::size_t peak = 0;
      side_.run(watch_round(s, flows, total, &writer_seconds, &watcher_seconds, &peak));
      results.add(scenario, "watcher sees all", "ms").samples.push_back(watcher_seconds * 1e3);
      results.add(scenario, "writer done", "ms").samples.push_back(writer_seconds * 1e3);
      results.add(scenario, "peak buffered events", "events").samples.push_back(static_cast<double>(peak));
    }
    results.compare(scenario, "watcher sees all", "writer done", 1.5);
  }

  asio::awaitable<void> watch_round(flowstore::store s, int flows, int total, double* writer_seconds,
                                    double* watcher_seconds, std::size_t* peak) {
    flowstore::watch_options options;
    options.start = flowstore::watch_start::updates_only;
    flowstore::watcher w = s.watch(">", options);
    auto marker = co_await w.next();
    if (!marker) fail(marker.error().what());

    // `writers` in flight; writer k owns flows k, k + writers, … and updates them in turn.
    const int writers = std::min(256, flows);
    std::vector<std::optional<flowstore::flow>> owned(static_cast<std::size_t>(flows));
    std::vector<int> turns(static_cast<std::size_t>(writers));
    pipeline writes;
    writes.total = total;
    writes.op = [&s, &owned, &turns, flows, writers](int worker,
                                                     int) -> asio::awaitable<std::optional<flowstore::error>> {
      const int owned_count = (flows - worker + writers - 1) / writers;
      const int flow_index = worker + writers * (turns[static_cast<std::size_t>(worker)]++ % owned_count);
      co_return co_await update_owned(s, owned[static_cast<std::size_t>(flow_index)],
                                      "w." + std::to_string(flow_index));
    };
    const auto start = clock_type::now();
    bool writer_done = false;
    asio::co_spawn(co_await asio::this_coro::executor, run_pipeline(&writes, writers), [&](std::exception_ptr) {
      *writer_seconds = seconds_since(start);
      writer_done = true;
    });
    int seen = 0;
    while (seen < total) {
      auto event = co_await w.next();
      if (!event) fail(event.error().what());
      if (event->type == flowstore::flow_event::kind::put) ++seen;
    }
    *watcher_seconds = seconds_since(start);
    *peak = w.peak_buffered();
    w.stop();
    if (!writer_done) *writer_seconds = *watcher_seconds;  // both ended together
    if (writes.failures != 0) fail("watch writer: " + writes.first_failure);
  }

  static std::size_t status_kb(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(field, 0) == 0) return std::stoul(line.substr(std::strlen(field)));
    }
    return 0;
  }

  void memory() {
    const std::string scenario = "5 memory";
    const int size = scaled(10000, 1000);
    auto s = side_.open("bench_list_" + std::to_string(size));
    populate(s, "l", size);  // the list scenario's flows, when it did not run
    for (int rep = 0; rep < settings_.reps; ++rep) {
      // Earlier scenarios leave freed heap resident, which a list could reuse without growing
      // the RSS: hand it back first so that the growth is the list's own.
      malloc_trim(0);
      const std::size_t before = status_kb("VmRSS:");
      std::ofstream("/proc/self/clear_refs") << "5";  // resets the peak (VmHWM) to the current RSS
      std::size_t json_bytes = 0;
      std::size_t held_bytes = 0;
      side_.run(list_and_measure(s, &json_bytes, &held_bytes));
      const std::size_t peak = status_kb("VmHWM:");
      results.add(scenario, "list peak RSS growth", "MB").samples.push_back(static_cast<double>(peak - before) / 1024);
      results.add(scenario, "heap held by the listed flows", "MB")
          .samples.push_back(static_cast<double>(held_bytes) / (1024 * 1024));
      results.add(scenario, "JSON of the listed flows", "MB")
          .samples.push_back(static_cast<double>(json_bytes) / (1024 * 1024));
    }
    results.compare(scenario, "list peak RSS growth", "JSON of the listed flows");
    results.compare(scenario, "heap held by the listed flows", "JSON of the listed flows");
  }

  asio::awaitable<void> list_and_measure(flowstore::store s, std::size_t* json_bytes, std::size_t* held_bytes) {
    auto listed = co_await s.list();
    if (!listed) fail(listed.error().what());
    for (const auto& f : listed->flows) *json_bytes += flowstore::to_json(f).value().size();
    // What the result occupies is what freeing it gives back. (Measured across the list instead,
    // it would also count the scan's nats.c messages that nats.c's collector thread has not
    // freed yet, which varies from run to run.)
    const std::size_t heap_with_result = heap_in_use();
    listed = flowstore::list_result{};
    *held_bytes = heap_with_result - heap_in_use();
  }

  // Allocated bytes, including the large blocks malloc maps on their own (such as a vector of
  // 10 000 flows), which mallinfo2 counts apart from the heap.
  static std::size_t heap_in_use() {
    const auto info = mallinfo2();
    return info.uordblks + info.hblkhd;
  }

  // ---------------------------------------------------------------------------------------------
  // Scale: no thread per watcher, memory bounded by the watchers' buffers, scans side by side

  static long threads_now() { return static_cast<long>(status_kb("Threads:")); }

  struct fan_out_state {
    int ready = 0;
    int reached = 0;
    int failed = 0;
    std::uint64_t revision = 0;
  };

  static asio::awaitable<void> follow(flowstore::watcher* w, fan_out_state* state) {
    for (;;) {
      auto event = co_await w->next();
      if (!event) {
        if (event.error().code != flowstore::errc::closed) ++state->failed;
        co_return;
      }
      if (event->type == flowstore::flow_event::kind::initial_values_done) {
        ++state->ready;
      } else if (state->revision != 0 && event->revision == state->revision) {
        ++state->reached;
        co_return;
      }
    }
  }

  static asio::awaitable<void> until(std::function<bool()> done) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!done()) {
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
    }
  }

  void watchers_at_scale() {
    const std::string scenario = "6 watchers at scale";
    const int count = scaled(10000, 1000);
    const std::string n = std::to_string(count);
    auto s = side_.open("bench_scale");
    populate(s, "fan", 1);
    for (int rep = 0; rep < settings_.reps; ++rep) {
      double setup_ms = 0, fan_out_ms = 0;
      long threads_before = 0, threads_after = 0;
      side_.run(fan_out_round(s, count, &threads_before, &threads_after, &setup_ms, &fan_out_ms));
      results.add(scenario, "threads added by " + n + " watchers", "threads")
          .samples.push_back(static_cast<double>(threads_after - threads_before));
      results.add(scenario, n + " watchers set up", "ms").samples.push_back(setup_ms);
      results.add(scenario, "one write reaches " + n + " watchers", "ms").samples.push_back(fan_out_ms);
    }
    results.limit(scenario, "threads added by " + n + " watchers", 0);
    results.limit(scenario, n + " watchers set up", 5000);
  }

  asio::awaitable<void> fan_out_round(flowstore::store s, int count, long* threads_before, long* threads_after,
                                      double* setup_ms, double* fan_out_ms) {
    const auto executor = co_await asio::this_coro::executor;
    fan_out_state state;
    std::vector<flowstore::watcher> watchers;
    watchers.reserve(static_cast<std::size_t>(count));
    // One watcher first: whatever nats.c and the library start lazily runs from then on.
    watchers.push_back(s.watch("fan.0"));
    asio::co_spawn(executor, follow(&watchers.back(), &state), asio::detached);
    co_await until([&] { return state.ready + state.failed == 1; });
    *threads_before = threads_now();
    const auto started = clock_type::now();
    for (int i = 1; i < count; ++i) {
      watchers.push_back(s.watch("fan.0"));
      asio::co_spawn(executor, follow(&watchers.back(), &state), asio::detached);
    }
    co_await until([&] { return state.ready + state.failed == count; });
    *setup_ms = seconds_since(started) * 1e3;
    *threads_after = threads_now();
    if (state.failed != 0) fail(std::to_string(state.failed) + " watchers failed");
    auto current = co_await s.get("fan.0");
    if (!current) fail(current.error().what());
    current->description = "fan out " + std::to_string(clock_type::now().time_since_epoch().count());
    const auto written = clock_type::now();
    auto updated = co_await s.update(std::move(*current));
    if (!updated) fail(updated.error().what());
    state.revision = updated->revision;
    co_await until([&] { return state.reached + state.failed == count; });
    *fan_out_ms = seconds_since(written) * 1e3;
    for (auto& w : watchers) w.stop();
    co_await until([&] { return true; });
  }

  void stalled_watchers() {
    const std::string scenario = "7 stalled watchers";
    auto s = side_.open("bench_stalled", 64);
    const int updates = scaled(4000, 400);
    for (int rep = 0; rep < settings_.reps; ++rep) {
      malloc_trim(0);
      const std::size_t before = status_kb("VmRSS:");
      std::ofstream("/proc/self/clear_refs") << "5";  // resets the peak (VmHWM) to the current RSS
      std::size_t buffered = 0;
      side_.run(stalled_round(s, "big" + std::to_string(rep), updates, &buffered));
      const std::size_t peak = status_kb("VmHWM:");
      results.add(scenario, "RSS growth, 20 watchers x 64 over 24 KB", "MB")
          .samples.push_back(static_cast<double>(peak - before) / 1024);
      results.add(scenario, "events buffered by 20 watchers", "events")
          .samples.push_back(static_cast<double>(buffered));
    }
    results.limit(scenario, "RSS growth, 20 watchers x 64 over 24 KB", 50);
  }

  // 20 watchers with a buffer of 64 that read nothing while a 24 KB flow changes `updates` times.
  asio::awaitable<void> stalled_round(flowstore::store s, std::string id, int updates, std::size_t* buffered) {
    auto current = co_await s.create(make_flow(id, 24 * 1024));
    if (!current) fail(current.error().what());
    flowstore::watch_options options;
    options.buffer_capacity = 64;
    std::vector<flowstore::watcher> watchers;
    for (int i = 0; i < 20; ++i) watchers.push_back(s.watch(id, options));
    for (auto& w : watchers) {
      for (int i = 0; i < 2; ++i) {  // the current value and the marker
        auto e = co_await w.next();
        if (!e) fail(e.error().what());
      }
    }
    flowstore::flow f = std::move(*current);
    for (int i = 0; i < updates; ++i) {
      f.description = "revision " + std::to_string(i);
      auto r = co_await s.update(std::move(f));
      if (!r) fail(r.error().what());
      f = std::move(*r);
    }
    auto probe = co_await s.get(id);  // a round trip after the last write
    if (!probe) fail(probe.error().what());
    co_await until([&] {
      std::size_t n = 0;
      for (const auto& w : watchers) n += w.buffered();
      *buffered = n;
      return n >= 20 * 64;
    });
    for (auto& w : watchers) w.stop();
  }

  void concurrent_scans() {
    const std::string scenario = "8 concurrent scans";
    const int each = scaled(1000, 100);
    auto s = side_.open("bench_scans");
    populate(s, "s", 500);
    for (int rep = 0; rep < settings_.reps; ++rep) {
      scan_tally t;
      const long threads_before = threads_now();
      const auto started = clock_type::now();
      side_.run(scan_round(s, each, &t));
      results.add(scenario, "lists and histories, all complete", "ms").samples.push_back(seconds_since(started) * 1e3);
      results.add(scenario, "longest scan", "ms").samples.push_back(t.longest_ms);
      results.add(scenario, "scans failed (timeouts included)", "scans").samples.push_back(t.failed);
      results.add(scenario, "threads added meanwhile", "threads")
          .samples.push_back(static_cast<double>(t.threads_peak - threads_before));
    }
    results.limit(scenario, "lists and histories, all complete", 10000);
    // Every scan runs within the operation timeout of the benchmark's connection (a timeout would
    // count as a failure too); 5 s is the library's default.
    results.limit(scenario, "longest scan", static_cast<double>(operation_timeout.count()));
    results.limit(scenario, "scans failed (timeouts included)", 0);
    results.limit(scenario, "threads added meanwhile", 0);
  }

  struct scan_tally {
    int running = 0;
    double failed = 0;
    double longest_ms = 0;
    long threads_peak = 0;
  };

  static asio::awaitable<void> one_scan(flowstore::store s, int i, scan_tally* t) {
    const auto began = clock_type::now();
    bool ok = false;
    if (i % 2 == 0) {
      auto listed = co_await s.list();
      ok = listed && listed->flows.size() == 500;
    } else {
      auto history = co_await s.history("s." + std::to_string(i % 500));
      ok = history && !history->empty();
    }
    if (!ok) ++t->failed;
    t->longest_ms = std::max(t->longest_ms, seconds_since(began) * 1e3);
    --t->running;
  }

  asio::awaitable<void> scan_round(flowstore::store s, int each, scan_tally* t) {
    const auto executor = co_await asio::this_coro::executor;
    t->running = 2 * each;
    t->threads_peak = threads_now();
    for (int i = 0; i < 2 * each; ++i) asio::co_spawn(executor, one_scan(s, i, t), asio::detached);
    co_await until([t] {
      t->threads_peak = std::max(t->threads_peak, threads_now());
      return t->running == 0;
    });
  }

  static constexpr std::chrono::milliseconds operation_timeout{30000};

  settings settings_;
  std::string url_;
  std::optional<pid_t> server_pid_;  // known when the benchmark started the server itself
  raw_client raw_;
  flowstore_side side_;
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--quick") {
      s.quick = true;
    } else if (arg == "--json") {
      s.json_path = value();
    } else if (arg == "--url") {
      s.url = value();
    } else if (arg == "--flow-bytes") {
      s.flow_bytes = std::stoul(value());
    } else if (arg == "--reps") {
      s.reps = std::stoi(value());
    } else if (arg == "--only") {
      s.only = value();
    } else {
      std::cout << "usage: flowstore-bench [--quick] [--json FILE] [--url nats://host:port] [--flow-bytes N] [--reps N]"
                   " [--only SCENARIO]\n";
      std::exit(arg == "--help" ? 0 : 1);
    }
  }
  if (s.quick && s.reps == 5) s.reps = 2;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const settings s = parse(argc, argv);
    std::optional<flowstore::bench::throwaway_server> server;
    std::string url = s.url;
    std::string server_text = "given: " + url;
    if (url.empty()) {
      server.emplace();
      url = server->url();
      server_text = server->version() + " (file storage, loopback)";
    }
    std::cout << "flowstore-bench: " << server_text << ", flows of ~" << s.flow_bytes << " bytes, " << s.reps
              << " repetitions" << (s.quick ? ", quick" : "") << '\n';
    std::optional<pid_t> server_pid;
    if (server) server_pid = server->pid();
    benchmark b(s, url, server_pid);
    b.run_all();
    b.results.print(std::cout);
    if (!s.json_path.empty()) {
      std::ofstream(s.json_path) << json::serialize(b.results.to_json(s, server_text)) << '\n';
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "flowstore-bench: " << e.what() << '\n';
    return 1;
  }
}
